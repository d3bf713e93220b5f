"""``dsim`` on the command line: a thin layer over :mod:`dsim.api`.

Bad input (any :class:`~dsim.errors.DsimError`) prints one line on stderr and exits with 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

from dsim import api
from dsim.cluster.summary import summarize
from dsim.designs import all_designs
from dsim.errors import DsimError
from dsim.provenance import dsim_version

EXIT_BAD_INPUT = 2


def _print_tables(tables: dict[str, pd.DataFrame]) -> None:
    for name, frame in tables.items():
        print(f"\n{name.replace('_', ' ')}")
        print(frame.to_string(index=False))


def _designs(args: argparse.Namespace) -> int:
    width = max(len(d.name) for d in all_designs())
    for design in all_designs():
        print(f"{design.name:<{width}}  {design.description}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    cluster = api.build_cluster(args.scenario)
    s = cluster.scenario
    print(f"scenario {s.name} (seed {s.seed}, visibility {s.visibility}, mTLS {s.mesh.mtls})")
    _print_tables(summarize(cluster))
    return 0


def _run(args: argparse.Namespace) -> int:
    result = api.run(args.scenario)
    folder = result.save(args.out or api.default_output_folder(result))
    _print_tables(
        {
            name.removeprefix("cluster_"): frame
            for name, frame in result.tables.items()
            if name != "cluster_by_namespace"
        }
    )
    print(f"\nresults written to {folder}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="dsim",
        description="Simulate what Istio's dual-stack designs cost a mesh: config, memory, CPU, push latency.",
    )
    top.add_argument("--version", action="version", version=f"dsim {dsim_version()}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    designs = commands.add_parser("designs", help="list the dual-stack designs dsim compares")
    designs.set_defaults(handler=_designs)

    inspect = commands.add_parser("inspect", help="summarize the cluster a scenario describes")
    inspect.add_argument("scenario", help="scenario YAML file")
    inspect.set_defaults(handler=_inspect)

    run = commands.add_parser("run", help="run a scenario and write its results folder")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--out", help="results folder to create (default results/<scenario>/<time>-<hash>)")
    run.set_defaults(handler=_run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except DsimError as e:
        print(f"dsim: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
