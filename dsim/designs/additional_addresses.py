"""The dual-stack design as first shipped in Istio 1.17 (behaviour of 1.17 to 1.23)."""

from dsim.designs.base import Design


class AdditionalAddresses(Design):
    name = "additional-addresses"
    description = (
        "Istio 1.17-1.23: one listener with additional_addresses, one cluster with endpoints "
        "of both families, inbound clusters with extra_source_addresses."
    )
    order = 2
