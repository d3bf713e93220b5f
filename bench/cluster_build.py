"""Cluster build time and peak memory for the benchmark scenarios.

Prints, per scenario: objects built, best-of-N wall time, peak memory traced during the build
(numpy and pandas buffers included), and bytes per pod; then the scaling ratio between the
two scenarios against their size ratio (1.0 = linear). Run: ``python bench/cluster_build.py``.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from pathlib import Path

from dsim import build_cluster, load_scenario

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = [ROOT / "scenarios" / "large.yaml", ROOT / "bench" / "fleet-50k.yaml"]


def measure(path: Path, repeats: int) -> dict[str, float]:
    scenario = load_scenario(path)
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        cluster = build_cluster(scenario)
        times.append(time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    cluster = build_cluster(scenario)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    held = sum(int(f.memory_usage(deep=True).sum()) for f in cluster.tables().values())
    return {
        "services": len(cluster.services),
        "pods": len(cluster.pods),
        "seconds": min(times),
        "peak_mib": peak / 2**20,
        "tables_mib": held / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = [(path.stem, measure(path, args.repeats)) for path in args.scenarios]
    print(
        f"{'scenario':<12} {'services':>9} {'pods':>9} {'build s':>8} {'peak MiB':>9} {'tables MiB':>10} {'B/pod':>7}"
    )
    for name, r in rows:
        per_pod = r["tables_mib"] * 2**20 / max(r["pods"], 1)
        print(
            f"{name:<12} {r['services']:>9,.0f} {r['pods']:>9,.0f} {r['seconds']:>8.2f} "
            f"{r['peak_mib']:>9.1f} {r['tables_mib']:>10.1f} {per_pod:>7.0f}"
        )
    if len(rows) >= 2:
        (base_name, base), (name, big) = rows[0], rows[-1]
        size = big["pods"] / base["pods"]
        print(
            f"\n{name} vs {base_name}: {size:.1f}x the pods, {big['seconds'] / base['seconds']:.1f}x the time, "
            f"{big['peak_mib'] / base['peak_mib']:.1f}x the peak memory "
            f"(time scaling {big['seconds'] / base['seconds'] / size:.2f} of linear)"
        )


if __name__ == "__main__":
    main()
