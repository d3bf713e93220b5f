"""Names of generated objects, shared by the checks (clashes) and the generator (creation)."""


def synthetic_namespace_name(index: int) -> str:
    return f"ns-{index:04d}"


def synthetic_service_name(index: int) -> str:
    return f"svc-{index:05d}"
