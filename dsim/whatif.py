"""What Sidecar scoping buys (issue 16 item 6): the mesh as given against the same mesh with each
namespace's minimal Sidecar, as a table of figures per design.

The scoped mesh is the scenario with ``istio_objects.sidecars.per_namespace`` on
(:func:`scoped_scenario`): every namespace with a sidecar proxy gets a namespace-wide Sidecar
``default`` whose egress hosts are ``./*``, the generator's ``extra_hosts`` (``istio-system/*``) and
``<namespace>/<host>`` of every service its workloads call in other namespaces
(:func:`dsim.cluster.sidecars.generated_sidecars`, as :func:`dsim.cluster.scoping.minimal_sidecars`
writes them). Same seed, same churn parameters, same designs. Sidecars the scenario already has stay
in force, as Istio would keep them: the generated ones come after them in scenario order, so a
namespace's own selector-less Sidecar (the oldest, for Istio) and any workload-selector Sidecar keep
their workloads; only workloads no Sidecar of their namespace selects take the minimal one (in
place of ``visibility``, or of the root namespace's mesh-wide default). A scenario whose generator
is already on is its own scoped mesh: every saving is zero.

:func:`scoping_table` builds the ``scoping_what_if`` table from the two runs' tables; ``dsim.run``
writes it when ``what_if.sidecar_scoping`` is on, and :func:`dsim.scoping_what_if` returns it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from dsim.cluster import Cluster
from dsim.headline import pushed_anything
from dsim.scenario import Scenario
from dsim.scenario.model import WhatIf

SCOPING_TABLE = "scoping_what_if"
"""The result table's name."""
COLUMNS = ("design", "metric", "unit", "as_given", "with_sidecars", "saved", "ratio", "proxy_pushes")
"""Per (design, metric): the figure as given and with the minimal Sidecars, ``saved`` (as given minus
with Sidecars: negative when scoping costs more), ``ratio`` (with Sidecars over as given; NaN when as
given is zero) and, for the push model's figures, the fewer proxy pushes of the two runs they rest on."""

CONFIG_MEAN = "config bytes per proxy, mean"
CONFIG_P99 = "config bytes per proxy, p99"
MEMORY_MEAN = "Envoy memory per proxy, mean"
MEMORY_P99 = "Envoy memory per proxy, p99"
MEMORY_FLEET = "Envoy memory, fleet"
ISTIOD = "istiod CPU per full push"
TRAFFIC = "bytes pushed per second"
CONVERGENCE = "convergence p99"
PUSH_METRICS = (TRAFFIC, CONVERGENCE)
"""The metrics of the push model: in the table only when it pushed to some proxy in both runs."""


def scoped_scenario(scenario: Scenario) -> Scenario:
    """``scenario`` with each namespace's minimal Sidecar generated (``istio_objects.sidecars.per_namespace``
    on, the rest of that section kept) and no what-if of its own."""
    objects = scenario.istio_objects
    sidecars = dataclasses.replace(objects.sidecars, per_namespace=True)
    return dataclasses.replace(
        scenario, istio_objects=dataclasses.replace(objects, sidecars=sidecars), what_if=WhatIf()
    )


def _config_p99(sizes: pd.DataFrame) -> pd.Series:
    per_proxy = sizes.groupby(["design", "proxy"], sort=False)["bytes"].sum()
    return per_proxy.groupby(level="design", sort=False).quantile(0.99).astype(float)


def _figures(tables: dict[str, pd.DataFrame], pushed: bool) -> dict[tuple[str, str], pd.Series]:
    """(metric, unit) → the value per design."""
    summary = tables["design_summary"]
    by_metric = {str(m): group.set_index("design")["value"].astype(float) for m, group in summary.groupby("metric")}
    totals = tables["proxy_cost_totals"].set_index("design")
    found: dict[tuple[str, str], pd.Series] = {
        (CONFIG_MEAN, "bytes"): by_metric["config bytes per proxy"],
        (CONFIG_P99, "bytes"): _config_p99(tables["config_sizes"]),
        (MEMORY_MEAN, "MiB"): totals["envoy_memory_mean_mib"].astype(float),
        (MEMORY_P99, "MiB"): totals["envoy_memory_p99_mib"].astype(float),
        (MEMORY_FLEET, "GiB"): totals["envoy_memory_fleet_gib"].astype(float),
        (ISTIOD, "s"): totals["istiod_full_push_cpu_s"].astype(float),
    }
    if pushed:
        push = tables["push_summary"].set_index("design")
        found[(TRAFFIC, "bytes/s")] = push["bytes_sent_per_s"].astype(float)
        found[(CONVERGENCE, "s")] = push["convergence_p99_s"].astype(float)
    return found


def _pushes(tables: dict[str, pd.DataFrame]) -> pd.Series:
    return tables["push_convergence"].groupby("design")["proxy_pushes"].sum()


def scoping_table(
    as_given: dict[str, pd.DataFrame], with_sidecars: dict[str, pd.DataFrame], designs: list[str] | tuple[str, ...]
) -> pd.DataFrame:
    """The ``scoping_what_if`` table (:data:`COLUMNS`) from two runs' tables over the same designs. The
    push model's figures are there only when it pushed to some proxy in both runs."""
    pushed = pushed_anything(as_given) and pushed_anything(with_sidecars)
    before, after = _figures(as_given, pushed), _figures(with_sidecars, pushed)
    pushes = np.minimum(_pushes(as_given), _pushes(with_sidecars)) if pushed else None
    rows = []
    for design in designs:
        for (metric, unit), values in before.items():
            a, b = float(values[design]), float(after[(metric, unit)][design])
            count = int(pushes[design]) if pushes is not None and metric in PUSH_METRICS else None
            rows.append((design, metric, unit, a, b, a - b, b / a if a else np.nan, count))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["proxy_pushes"] = frame["proxy_pushes"].astype("Int64")
    return frame


def sidecar_coverage(scoped: Cluster) -> dict[str, int]:
    """Of the scoped mesh: the namespaces given a minimal Sidecar (a generated one that applies to some
    workload), the sidecar proxies it applies to, and those a Sidecar of the scenario's own keeps."""
    generated = scoped.sidecars["generated"].to_numpy(dtype=bool)
    used = scoped.sidecar_workloads
    by_workload = dict(zip(used["workload"].tolist(), used["sidecar"].tolist(), strict=True))
    proxy_sidecar = np.asarray([by_workload.get(w, -1) for w in scoped.proxies["workload"].tolist()], dtype=np.int64)
    minimal = np.append(generated, False)[proxy_sidecar]  # no Sidecar (-1) reads the appended False
    own = (proxy_sidecar >= 0) & ~minimal
    namespaces = {int(s) for s in used["sidecar"].tolist() if generated[int(s)]}
    return {
        "namespaces_given_a_minimal_sidecar": len(namespaces),
        "proxies_scoped_by_it": int(minimal.sum()),
        "proxies_keeping_their_own_sidecar": int(own.sum()),
    }
