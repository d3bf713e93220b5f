"""The shipped dual-stack design as it stands since Istio 1.24."""

from dsim.designs.base import Design


class AdditionalAddresses124(Design):
    name = "additional-addresses-1.24"
    description = (
        "Istio 1.24+: as additional-addresses, but one endpoint per pod with "
        "Endpoint.additional_addresses, one inbound passthrough cluster, both VIPs as domains."
    )
    order = 3
