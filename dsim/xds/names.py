"""Istio's names for xDS resources (``docs/dual-stack-designs.md``, "Names")."""

from __future__ import annotations


def listener_name(address: str, port: int) -> str:
    """``<bind>_<port>``; socket addresses are never bracketed (``fd00:10:96::f9fc_9000``)."""
    return f"{address}_{port}"


def cluster_name(prefix: str, port: int, subset: str, host: str) -> str:
    """``outbound|9000||tcp-echo.dual-stack.svc.cluster.local``; inbound: ``inbound|9000||``."""
    return f"{prefix}|{port}|{subset}|{host}"


def sni(port: int, subset: str, host: str) -> str:
    """``outbound_.<port>_.<subset>_.<host>``, the same for every family copy."""
    return f"outbound_.{port}_.{subset}_.{host}"


def bracketed(address: str) -> str:
    """An IPv6 address as a Host header (and a virtual host domain) spells it."""
    return f"[{address}]" if ":" in address else address


def spiffe_id(trust_domain: str, namespace: str, service_account: str) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"
