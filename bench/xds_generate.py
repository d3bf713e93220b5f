"""Protobuf build and serialize throughput of dsim's reference generator, per design.

For a sample of a scenario's proxies, builds every proxy's config under each design, then
serializes it, and prints resources and megabytes per second for both steps, with each
design's ratio to ``single-stack`` measured in the same run. Like istiod, the generator builds
a cluster or endpoint set once for all the proxies that see it; caches start empty per design.
Run: ``python bench/xds_generate.py [scenario] [--proxies N]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dsim import build_cluster, design_names, get_design
from dsim.api import sample_proxies
from dsim.xds.generate import XDS_TYPES, clear_caches, proxy_config
from dsim.xds.view import index_for

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=ROOT / "scenarios" / "quickstart.yaml")
    parser.add_argument("--proxies", type=int, default=40, help="proxies sampled per design (default 40)")
    args = parser.parse_args()
    cluster = build_cluster(args.scenario)
    index = index_for(cluster)
    proxies = sample_proxies(cluster, args.proxies)
    index.proxy(proxies[0])  # warm the per-service caches so every design pays the same
    rows = []
    for name in design_names():
        design = get_design(name)
        clear_caches()  # each design builds its shared clusters and endpoint sets itself, once
        start = time.perf_counter()
        configs = [proxy_config(index, p, design) for p in proxies]
        built = time.perf_counter() - start
        messages = [m for c in configs for t in XDS_TYPES for m in c.resources(t)]
        start = time.perf_counter()
        size = sum(len(m.SerializeToString()) for m in messages)
        serialized = time.perf_counter() - start
        rows.append((name, len(messages), size, built, serialized))
    print(f"{args.scenario.name}: {len(proxies)} of {len(cluster.proxies)} proxies\n")
    print(
        f"{'design':<28}{'resources':>10}{'MB':>8}{'build res/s':>13}{'build MB/s':>11}"
        f"{'ser. res/s':>12}{'ser. MB/s':>10}{'build s vs baseline':>21}"
    )
    base_time = rows[0][3]
    for name, count, size, built, serialized in rows:
        mb = size / 1e6
        print(
            f"{name:<28}{count:>10,}{mb:>8.1f}{count / built:>13,.0f}{mb / built:>11.2f}"
            f"{count / serialized:>12,.0f}{mb / serialized:>10.1f}{built / base_time:>20.2f}x"
        )


if __name__ == "__main__":
    main()
