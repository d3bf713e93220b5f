"""What ``dsim check`` found, as a table, a plot of the errors, and a report section that says
how far dsim's what-ifs can be trusted on this mesh, and why.

The verdict rests on what the comparison measured: config bytes per proxy and type (exact, or
within a few percent, or not), the resources that differ, what dsim could not see (objects its
import skipped, EnvoyFilters, Telemetry and WasmPlugins, dump resources it could not parse, types
the dumps lack) and the memory model's error against the sidecars' own ``/memory``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dsim.report.images import image_bytes
from dsim.report.numbers import percent, significant
from dsim.report.plots import ReviewFigure
from dsim.results import write_folder
from dsim.xds.vocabulary import XDS_TYPES

PROXY_COLUMNS = ["proxy", "status", "static_clusters", "secrets", "unparsed", "wasm_resources", "endpoints_dumped"]
CLOSE = 0.05
"""A relative byte error up to which dsim's config is "close" to the real one (5%: the agreement
dsim's own listeners reach with Istio's dumps, kind by kind)."""
_TYPE_COLORS = {"listeners": "#4C72B0", "clusters": "#DD8452", "routes": "#55A868", "endpoints": "#C44E52"}


@dataclasses.dataclass(frozen=True, eq=False)
class CheckResult:
    """A bug-report checked against dsim."""

    archive: str
    design: str
    origin: str
    """Where the compared cluster came from (a scenario, or the archive's own inventory)."""
    table: pd.DataFrame
    """Per proxy and xDS type: resources and bytes, dsim's and the archive's, and the error."""
    differences: pd.DataFrame
    """Per differing resource: proxy, type, name, status, bytes on each side."""
    pushes: pd.DataFrame
    """Per proxy and type with a logged full push: dsim's bytes against istiod's."""
    logged_pushes: int
    memory: pd.DataFrame
    """Per proxy with a ``memory`` file: observed allocated bytes against dsim's prediction."""
    memory_note: str
    """Why memory was not predicted (empty when it was)."""
    proxies: pd.DataFrame
    """Per proxy folder of the archive: compared, or why not, and what its dump held."""
    skipped: dict[str, int]
    unmodeled: dict[str, int]

    def exact(self) -> bool:
        """Every compared proxy and type matches to the byte, with no resource differing."""
        compared = self._compared()
        return bool(len(compared)) and bool((compared["byte_error"] == 0).all()) and self.differences.empty

    def _compared(self) -> pd.DataFrame:
        return self.table[self.table["compared"].astype(bool)]

    # -- figures -----------------------------------------------------------------------------

    def figure(self) -> Figure:
        """The error distribution: per xDS type (and memory), each proxy's relative error in %."""
        figure = ReviewFigure(figsize=(7.5, 4.2), layout="constrained")
        axes = figure.add_subplot()
        axes.set_title("dsim against the archive: relative error per proxy", fontsize=11)
        axes.grid(True, alpha=0.3)
        axes.set_axisbelow(True)
        groups = [*XDS_TYPES, "memory"]
        rng = np.random.default_rng(0)  # a fixed jitter: the same archive gives the same image
        compared = self._compared()
        for position, group in enumerate(groups):
            if group == "memory":
                values = pd.to_numeric(self.memory["relative_error"], errors="coerce").dropna().to_numpy()
                color = "#8172B3"
            else:
                part = compared[compared["xds_type"] == group]
                values = pd.to_numeric(part["relative_error"], errors="coerce").dropna().to_numpy()
                color = _TYPE_COLORS[group]
            if values.size:
                jitter = rng.uniform(-0.18, 0.18, values.size)
                axes.scatter(position + jitter, values * 100, s=14, alpha=0.7, color=color)
            else:
                axes.annotate("not compared", (position, 0), ha="center", va="bottom", fontsize=8, color="grey")
        axes.axhline(0, color="black", linewidth=0.8)
        axes.set_xticks(range(len(groups)), groups)
        axes.set_ylabel("(dsim − archive) / archive, %")
        return figure

    # -- text --------------------------------------------------------------------------------

    def summary(self) -> str:
        """A few lines for the terminal."""
        counts = self.proxies["status"].value_counts()
        lines = [
            f"checked {self.archive} against {self.origin} under {self.design}: "
            f"{int(counts.get('compared', 0))} proxies compared, {int(counts.get('no dsim proxy', 0))} without a "
            f"dsim proxy, {int(counts.get('no config_dump', 0))} without a config_dump"
        ]
        compared = self._compared()
        if len(compared):
            worst = ", ".join(
                f"{xds_type} {_largest(errors)}"
                for xds_type, errors in compared.groupby("xds_type", sort=False)["relative_error"]
            )
            lines.append(f"config bytes: largest error per type {worst}; {len(self.differences)} resources differ")
        if self.logged_pushes:
            agree = int(self.pushes["agrees"].sum()) if len(self.pushes) else 0
            lines.append(f"istiod's logged pushes: {agree} of {len(self.pushes)} agree with dsim's sizes")
        lines.append(self._memory_sentence())
        lines.append(f"trust: {self.trust()[0]}")
        return "\n".join(lines)

    def _memory_sentence(self) -> str:
        errors = pd.to_numeric(self.memory["relative_error"], errors="coerce").dropna()
        if self.memory.empty:
            return "memory: no memory files in the archive"
        if errors.empty:
            return f"memory: not predicted ({self.memory_note or 'no prediction'})"
        median, largest = percent(float(errors.abs().median())), percent(float(errors.abs().max()))
        return f"memory: {len(errors)} sidecars, dsim's prediction off by a median {median} (largest {largest})"

    def trust(self) -> tuple[str, list[str]]:
        """How far to trust the what-ifs on this mesh (``high``, ``moderate`` or ``low``), and why."""
        reasons: list[str] = []
        compared = self._compared()
        level = "high"
        if compared.empty:
            return "low", ["no proxy of the archive could be compared: dsim has not been checked on this mesh"]
        errors = pd.to_numeric(compared["relative_error"], errors="coerce").abs()
        if self.exact():
            reasons.append("every compared proxy's config matches the real one to the byte, resource by resource")
        elif bool((errors.fillna(0) <= CLOSE).all()):
            level = "moderate"
            reasons.append(
                f"config bytes within {CLOSE:.0%} per proxy and type, but {len(self.differences)} resources "
                "differ (listed in check.md): what-ifs hold as ratios, not to the byte"
            )
        else:
            level = "low"
            far = compared[errors > CLOSE]
            reasons.append(
                f"{len(far)} of {len(compared)} proxy-types are off by more than {CLOSE:.0%} in bytes: "
                "dsim does not build this mesh's config, so its what-ifs are estimates of a different config"
            )
        skipped = sum(self.skipped.values())
        if skipped:
            reasons.append(f"the import skipped {skipped} objects dsim cannot model ({_listing(self.skipped)})")
        present = {k: v for k, v in self.unmodeled.items() if v}
        if present:
            level = _lower(level, "moderate")
            reasons.append(f"the mesh has {_listing(present)}, which change the config and dsim does not model")
        unparsed = int(pd.to_numeric(self.proxies["unparsed"], errors="coerce").fillna(0).sum())
        wasm = int(pd.to_numeric(self.proxies["wasm_resources"], errors="coerce").fillna(0).sum())
        if unparsed:
            level = _lower(level, "moderate")
            reasons.append(f"{unparsed} dumped resources hold types dsim cannot read (EnvoyFilter extensions, WASM)")
        if wasm:
            reasons.append(f"{wasm} dumped resources carry WASM filters, whose memory dsim's model does not include")
        endpoints = self.table[self.table["xds_type"] == "endpoints"]
        skipped_eds = int((~endpoints["compared"].astype(bool)).sum())
        if skipped_eds:
            reasons.append(
                f"endpoints were not compared for {skipped_eds} of {len(endpoints)} proxies (their dumps were "
                "taken without ?include_eds)"
            )
        if len(self.pushes):
            disagree = int((~self.pushes["agrees"].astype(bool)).sum())
            if disagree:
                reasons.append(
                    f"{disagree} of {len(self.pushes)} of istiod's logged full pushes disagree with dsim's "
                    "resources or bytes"
                )
        elif not self.logged_pushes:
            reasons.append("the archive has no istiod push lines (discovery.log) to hold dsim's push sizes against")
        missing = int((self.proxies["status"] == "no dsim proxy").sum())
        if missing:
            reasons.append(f"{missing} proxies of the archive have no dsim counterpart")
        memory = pd.to_numeric(self.memory["relative_error"], errors="coerce").dropna().abs()
        if len(memory):
            median = float(memory.median())
            reasons.append(f"memory predicted within a median {percent(median)} of the sidecars' allocated bytes")
            if median > 0.1:
                level = _lower(level, "moderate")
        elif self.memory_note:
            reasons.append(f"memory not predicted: {self.memory_note}")
        return level, reasons

    def markdown(self) -> str:
        """The report section: verdict and reasons, then the table per type and the differing resources."""
        level, reasons = self.trust()
        out = [
            "## dsim against this mesh's own numbers",
            "",
            f"Archive `{self.archive}`, checked against {self.origin} under `{self.design}`.",
            "",
            f"**How far to trust the what-ifs here: {level}.**",
            "",
            *[f"- {reason}" for reason in reasons],
            "",
            "Static clusters (the bootstrap's, not xDS) and secrets are left out of the comparison.",
            "",
        ]
        compared = self._compared()
        if len(compared):
            grouped = compared.groupby("xds_type", sort=False).agg(
                proxies=("proxy", "count"),
                dsim_bytes=("dsim_bytes", "sum"),
                archive_bytes=("archive_bytes", "sum"),
                exact=("byte_error", lambda e: int((e == 0).sum())),
            )
            differing = self.differences.groupby("xds_type").size()
            out += ["| xDS type | proxies | exact | dsim bytes | archive bytes | error | resources differing |"]
            out += ["|---|---:|---:|---:|---:|---:|---:|"]
            for xds_type, row in grouped.iterrows():
                total = float(row["archive_bytes"])
                error = (float(row["dsim_bytes"]) - total) / total if total else math.nan
                out.append(
                    f"| {xds_type} | {row['proxies']} | {row['exact']} | {significant(float(row['dsim_bytes']))} | "
                    f"{significant(total)} | {percent(error) if not math.isnan(error) else 'n/a'} | "
                    f"{int(differing.get(xds_type, 0))} |"
                )
            out.append("")
        if len(self.differences):
            out += ["| proxy | type | resource | status | dsim bytes | archive bytes |", "|---|---|---|---|---:|---:|"]
            for item in self.differences.head(50).itertuples():
                out.append(
                    f"| {item.proxy} | {item.xds_type} | `{item.name}` | {item.status} | {_count(item.dsim_bytes)} | "
                    f"{_count(item.archive_bytes)} |"
                )
            if len(self.differences) > 50:
                out.append(f"\n… and {len(self.differences) - 50} more (check.csv, differences.csv).")
            out.append("")
        if self.logged_pushes:
            agree = int(self.pushes["agrees"].sum()) if len(self.pushes) else 0
            out += [
                f"istiod's logged full pushes: {agree} of {len(self.pushes)} agree with dsim's resources and "
                "bytes within the precision istiod prints them with.",
                "",
            ]
        out += [self._memory_sentence().capitalize() + ".", ""]
        out.append("![relative error per proxy](errors.png)")
        return "\n".join(out) + "\n"

    # -- files -------------------------------------------------------------------------------

    def write(self, folder: str | Path) -> Path:
        """Write ``check.csv`` (per proxy and type), ``differences.csv``, ``errors.png`` and
        ``check.md`` into a new ``folder`` (built in a temporary folder, renamed at the end)."""

        def fill(tmp: Path) -> None:
            self.table.to_csv(tmp / "check.csv", index=False)
            self.differences.to_csv(tmp / "differences.csv", index=False)
            (tmp / "errors.png").write_bytes(image_bytes(self.figure(), "png"))
            (tmp / "check.md").write_text(self.markdown())

        return write_folder(Path(folder), fill)


def _largest(relative_errors: pd.Series) -> str:
    """The largest absolute relative error, as a percentage ("n/a" when none could be computed)."""
    errors = pd.to_numeric(relative_errors, errors="coerce").abs().dropna()
    return percent(float(errors.max())) if len(errors) else "n/a"


def _lower(level: str, cap: str) -> str:
    order = ["low", "moderate", "high"]
    return order[min(order.index(level), order.index(cap))]


def _listing(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _count(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{int(value):,}"  # type: ignore[call-overload]
