"""What ServiceEntry hosts inside ``svc.<cluster domain>`` cost to price: E entries of two hosts each
(``vm-<i>-a.apps.svc.cluster.local`` and ``-b``, one address they share, an HTTP port), against the
same entries whose hosts lie outside it (``.svc.cluster.locax``: the same lengths, no short names),
in the same run.

A host inside ``svc.<cluster domain>`` has short names, so its virtual host is built twice, for the
proxies of the namespace its text names and for the others (``docs/istio-objects.md`` 1.3); both
meshes pay for deciding which host keeps the shared address. Prints, per E (100, 300, 1,000) under
``additional-addresses-1.24``: the wall time of ``design_accounting`` for both meshes, the ratio, and
the time per host the short names add.

Run: ``python bench/entry_short_names.py``. The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

from typing import Any

from per_endpoint_pricing import accounting_seconds  # a sibling script: bench/ is the script's path


def mesh(entries: int, inside: bool) -> dict[str, Any]:
    suffix = "svc.cluster.local" if inside else "svc.cluster.locax"
    return {
        "namespaces": [{"name": "apps"}, {"name": "web"}, {"name": "ext"}],
        "services": [{"name": "web", "namespace": "web", "ports": [{"port": 80, "name": "http"}]}],
        "workloads": [
            {"name": "web", "namespace": "web", "replicas": 2, "ip_families": ["IPv4", "IPv6"]},
            {"name": "local", "namespace": "apps", "replicas": 2, "ip_families": ["IPv4", "IPv6"]},
        ],
        "service_entries": [
            {
                "name": f"vm-{i}",
                "namespace": "ext",
                "spec": {
                    "hosts": [f"vm-{i}-a.apps.{suffix}", f"vm-{i}-b.apps.{suffix}"],
                    "addresses": [f"240.{i // 256 % 256}.{i % 256}.1"],
                    "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                    "resolution": "STATIC",
                    "endpoints": [{"address": f"10.{i // 256 % 256}.{i % 256}.9"}],
                },
            }
            for i in range(entries)
        ],
    }


def main() -> None:
    design = "additional-addresses-1.24"
    print(f"{design}, E entries of two hosts sharing an address, an HTTP port each:")
    for entries in (100, 300, 1_000):
        inside = accounting_seconds(mesh(entries, True), design)
        outside = accounting_seconds(mesh(entries, False), design)
        print(
            f"  E={entries:,} ({2 * entries:,} hosts): inside svc.cluster.local {inside:.2f} s, "
            f"outside {outside:.2f} s ({inside / outside:.2f}x), "
            f"{(inside - outside) / (2 * entries) * 1e3:.2f} ms per host for its short names"
        )


if __name__ == "__main__":
    main()
