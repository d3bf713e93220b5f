"""Run a calibration plan on the real Envoy: every point × design × stats profile × repeat, one
fresh Envoy each, one row of measurements each (with the point's mesh size, zones and workload
certificate profile)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from dsim.calibration.measure import Measurement, measure
from dsim.calibration.model import Calibration
from dsim.calibration.plan import Plan
from dsim.designs import get_design
from dsim.xds.generate import XDS_TYPES, ProxyConfig, proxy_config
from dsim.xds.sizes import COUNT_COLUMNS, config_count_row
from dsim.xds.view import index_for

MEASURED_COLUMNS = [field.name for field in dataclasses.fields(Measurement)]
MEASUREMENT_COLUMNS = [
    "point",
    "design",
    "stats_profile",
    "certificate_profile",
    "services",
    "zones",
    "repeat",
    *COUNT_COLUMNS,
    "config_bytes",
    *MEASURED_COLUMNS,
]
MEASURED_PROXY_ROW = 0  # the first pod of the first workload: it has every family the point gives pods


def config_facts(config: ProxyConfig) -> dict[str, object]:
    """What the model predicts from: the object counts and the serialized bytes of one config."""
    return {
        **config_count_row(config),
        "config_bytes": sum(m.ByteSize() for t in XDS_TYPES for m in config.resources(t)),
    }


@dataclasses.dataclass(frozen=True, kw_only=True)
class Checked:
    """One config measured on the real Envoy beside what a calibration predicts for it."""

    facts: pd.DataFrame
    """:func:`config_facts`, one row (what a prediction is made from)."""
    measured_bytes: int
    """Envoy's allocated memory with the config loaded."""
    predicted_bytes: float
    """The calibration's prediction of it."""


def check_against(
    config: ProxyConfig, calibration: Calibration, *, profile: str, binary: Path, concurrency: int = 2
) -> Checked:
    """``config`` loaded into a fresh Envoy (``binary``, stats ``profile``) and predicted by ``calibration``
    (the benches that set a model's price against a measurement)."""
    facts = pd.DataFrame([config_facts(config)])
    predicted = calibration.predict_envoy(facts, config.design, profile)
    taken = measure(config, profile=profile, concurrency=concurrency, binary=binary)
    return Checked(
        facts=facts,
        measured_bytes=taken.allocated_bytes,
        predicted_bytes=float(predicted["envoy_memory_bytes"].iloc[0]),
    )


def run_campaign(
    plan: Plan,
    *,
    designs: Sequence[str],
    profiles: Sequence[str],
    concurrency: int,
    binary: Path,
    on_row: Callable[[dict[str, object], int, int], None] | None = None,
) -> pd.DataFrame:
    """Measure every combination; ``on_row(row, done, total)`` follows progress."""
    total = len(plan.points) * len(designs) * len(profiles) * plan.repeats
    rows: list[dict[str, object]] = []
    for point in plan.points:
        index = index_for(point.cluster())
        for design in designs:
            config = proxy_config(index, MEASURED_PROXY_ROW, get_design(design))
            facts = config_facts(config)
            for profile in profiles:
                for repeat in range(plan.repeats):
                    taken = measure(
                        config,
                        profile=profile,
                        concurrency=concurrency,
                        binary=binary,
                        certificate=point.certificate,
                    )
                    row = {
                        **facts,
                        "point": point.name,
                        "stats_profile": profile,
                        "certificate_profile": point.certificate,
                        "services": point.services,
                        "zones": point.zones,
                        "repeat": repeat,
                        **dataclasses.asdict(taken),
                    }
                    rows.append(row)
                    if on_row is not None:
                        on_row(row, len(rows), total)
    return pd.DataFrame(rows, columns=MEASUREMENT_COLUMNS)
