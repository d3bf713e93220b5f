"""What a VirtualService's hosts that are other domains of its Service add, and cost
(``docs/istio-objects.md`` 1.4, "Hosts that are a service's other domain"): a VirtualService for a
Service that also lists ``<name>.<namespace>.svc`` and ``<name>.<namespace>`` gives each a virtual
host of its own, with the same routes, wherever it builds the Service's virtual host, and takes the
domain from the Service's.

Prints, in one run, for ``bench/accounting.py``'s part 3 mesh (10,000 services, a generated
VirtualService for each, 100 namespaces) with the generator's ``virtual_services.hosts: 3`` (the
host, ``<name>.<namespace>.svc``, ``<name>.<namespace>``), what ``bench/cross_port.py`` prints for
its own change: with no scoping, under a ``./*`` Sidecar per namespace and under ``visibility:
dependencies``, each built with these virtual hosts and without them (the rule before: not built,
counted) in the same run, the wall times and their ratios, and the mean route bytes and virtual
hosts per proxy.

Run: ``python bench/domain_hosts.py``. The machine may be shared: wall times move with its load.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dsim.cluster.istio as istio_module
from dsim.cluster.service_domain_hosts import ServiceDomainHosts

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accounting import ISTIO_OBJECTS
from alternated import compare_scopings, replaced


class _NoDomainHosts(ServiceDomainHosts):
    """The baseline: no host is taken up as a Service's other domain (each is left out, counted)."""

    def __init__(self, *_: Any) -> None:
        self.of_pair = {}
        self.owner = {}


def main() -> None:
    objects = ISTIO_OBJECTS["istio_objects"]
    generated = {**objects, "virtual_services": {**objects["virtual_services"], "hosts": 3}}
    compare_scopings(
        {**ISTIO_OBJECTS, "istio_objects": generated},
        lambda: replaced(istio_module, "ServiceDomainHosts", _NoDomainHosts),
    )


if __name__ == "__main__":
    main()
