"""Kubernetes object metadata for an exported inventory, derived from names alone.

The API server gives every object a uid, a resourceVersion and a creationTimestamp; an inventory
without them would not look like one ``kubectl get`` printed, and an importer must be tried on what
it will really read. They are drawn here from a hash of the object's kind, namespace and name, so
the same cluster always exports byte-identical files (a diff of two exports shows only what changed
in the mesh) and an owner's uid can be recomputed wherever an ``ownerReference`` needs it.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from typing import Any

# Every object was created in the 30 days after this instant (kubectl prints UTC, to the second).
_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
_WINDOW_S = 30 * 24 * 3600
# Characters of a pod-template-hash and of generated name suffixes (apimachinery's SafeEncodeString:
# no vowels, no look-alike digits, so no words and no ambiguity).
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# A generated name is its base cut to 58 characters plus 5 random ones (names are at most 63).
GENERATED_BASE_LENGTH = 58


def _digest(kind: str, namespace: str, name: str) -> bytes:
    return hashlib.blake2b(f"{kind}/{namespace}/{name}".encode(), digest_size=16).digest()


def object_uid(kind: str, namespace: str, name: str) -> str:
    """The uid of an object, a random-looking (version 4) UUID fixed by kind, namespace and name."""
    return str(uuid.UUID(bytes=_digest(kind, namespace, name), version=4))


def safe_suffix(seed: str, length: int) -> str:
    """``length`` characters of the alphabet Kubernetes generates names from, fixed by ``seed``."""
    value = int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=16).digest())
    chars = []
    for _ in range(length):
        value, index = divmod(value, len(_SAFE_ALPHABET))
        chars.append(_SAFE_ALPHABET[index])
    return "".join(chars)


def metadata(
    kind: str,
    namespace: str,
    name: str,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: dict[str, Any] | None = None,
    generate_name: str = "",
    generation: bool = False,
    order: int | None = None,
) -> dict[str, Any]:
    """An object's ``metadata`` in ObjectMeta's field order (what ``-o json`` prints; YAML sorts keys).

    ``namespace`` empty: a cluster-scoped object. ``owner``: one ``ownerReferences`` entry
    (:func:`owner_reference`). ``generation``: the object has a spec the API server versions.
    ``order``: its place among the objects of its kind, which its creation time keeps (else the time
    is drawn from the hash).
    """
    digest = _digest(kind, namespace, name)
    meta: dict[str, Any] = {"name": name}
    if generate_name:
        meta["generateName"] = generate_name
    if namespace:
        meta["namespace"] = namespace
    meta["uid"] = str(uuid.UUID(bytes=digest, version=4))
    meta["resourceVersion"] = str(1000 + int.from_bytes(digest[:4]) % 9_000_000)
    if generation:
        meta["generation"] = 1
    # An object whose place among its kind matters (an Istio object: Istio orders them by creation
    # time) was created ``order`` seconds after every other object, so the times keep the scenario's
    # order and the Services (first in dsim's registry) are older than the ServiceEntries.
    offset = _WINDOW_S + order if order is not None else int.from_bytes(digest[4:8]) % _WINDOW_S
    created = _EPOCH + datetime.timedelta(seconds=offset)
    meta["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    if owner:
        meta["ownerReferences"] = [owner]
    return meta


def owner_reference(api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
    """The controller ``ownerReferences`` entry pointing at an object (its uid recomputed from its name)."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": object_uid(kind, namespace, name),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def generated_name(base: str, seed: str) -> tuple[str, str]:
    """(generateName, name) of an object named by the API server from ``base`` (an EndpointSlice)."""
    prefix = f"{base}-"[:GENERATED_BASE_LENGTH]
    return prefix, prefix + safe_suffix(seed, 5)
