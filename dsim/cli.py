"""``dsim`` on the command line: a thin layer over :mod:`dsim.api`.

Bad input (any :class:`~dsim.errors.DsimError`) prints one line on stderr and exits with 2;
``dsim validate`` exits with 1 when Envoy rejects a config.
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
from dsim.xds.dump import DUMP_TYPES, check_type, dump_json, dump_table
from dsim.xds.envoy import Verdict

EXIT_BAD_INPUT = 2
EXIT_REJECTED = 1


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
    shown = ("cluster_totals", "cluster_by_ip_family", "cluster_by_protocol")
    _print_tables({name.removeprefix("cluster_"): result.tables[name] for name in shown})
    totals = result.tables["config_size_totals"]
    per_proxy = totals.pivot(index="design", columns="xds_type", values="bytes_per_proxy")
    per_proxy = per_proxy.loc[list(result.scenario.designs), ["listeners", "clusters", "routes", "endpoints"]]
    per_proxy["total"] = per_proxy.sum(axis=1)
    print("\nconfig size per proxy, kB (Istio's kb/msg: serialized resources / 1000)")
    print((per_proxy / 1000).round(1).to_string())
    print(f"\nresults written to {folder}")
    return 0


def _dump(args: argparse.Namespace) -> int:
    check_type(args.type)
    config = api.generate(args.scenario, args.proxy, args.design)
    render = dump_table if args.format == "table" else dump_json
    sys.stdout.write(render(config, args.type, args.port))
    return 0


def _print_verdict(verdict: Verdict) -> None:
    print(f"{verdict.design:<28} {verdict.proxy:<40} {'accepted' if verdict.accepted else 'REJECTED'}", flush=True)
    if not verdict.accepted:
        print("    " + verdict.message.replace("\n", "\n    "), flush=True)


def _validate(args: argparse.Namespace) -> int:
    designs = [args.design] if args.design else None
    verdicts = api.validate_configs(args.scenario, designs=designs, sample=args.sample, on_verdict=_print_verdict)
    rejected = int((~verdicts["accepted"]).sum())
    print(f"\n{len(verdicts) - rejected} of {len(verdicts)} configs accepted by Envoy")
    return EXIT_REJECTED if rejected else 0


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

    dump = commands.add_parser("dump", help="print one sidecar's generated config (JSON as /config_dump, or tables)")
    dump.add_argument("scenario", help="scenario YAML file")
    dump.add_argument("--proxy", required=True, help="NAMESPACE/POD, or NAMESPACE/WORKLOAD for its first pod")
    dump.add_argument("--design", default="additional-addresses", help="design (default: additional-addresses)")
    dump.add_argument("--type", default="all", help=f"one of {', '.join(DUMP_TYPES)} (default: all)")
    dump.add_argument("--port", type=int, help="only resources on this port, as istioctl's --port")
    dump.add_argument("--format", choices=["json", "table"], default="json", help="output format (default: json)")
    dump.set_defaults(handler=_dump)

    validate = commands.add_parser("validate", help="check generated configs with the real Envoy (--mode validate)")
    validate.add_argument("scenario", help="scenario YAML file")
    validate.add_argument("--design", help="only this design (default: the scenario's designs)")
    validate.add_argument("--sample", type=int, default=5, help="proxies per design (default: 5)")
    validate.set_defaults(handler=_validate)
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
