"""The original dual-stack RFC (Istio's experimental-dual-stack branch): config per IP family."""

from dsim.designs.base import Design


class Duplicate(Design):
    name = "duplicate"
    description = (
        "Original RFC (experimental-dual-stack branch): listeners, clusters, routes and "
        "endpoint sets duplicated per IP family for dual-stack services."
    )
    order = 1
