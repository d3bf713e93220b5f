"""``dsim`` on the command line: a thin layer over :mod:`dsim.api`.

Bad input (any :class:`~dsim.errors.DsimError`) prints one line on stderr and exits with 2;
``dsim validate`` exits with 1 when Envoy rejects a config. SIGINT, SIGTERM and SIGHUP stop a
command after its clean-up (no Envoy, Dask worker, temporary file or partial folder is left), with
one line on stderr and exit code 128 + the signal's number (130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from dsim import api, sizing
from dsim.cli_inventory import add_check_command, add_import_command
from dsim.cluster.summary import largest_namespaces, summarize
from dsim.designs import all_designs, design_names
from dsim.errors import DsimError, UnknownNameError
from dsim.headline import pushed_anything
from dsim.interrupts import exit_code, signal_name, stop_cleanly
from dsim.parallel import Compute
from dsim.provenance import dsim_version
from dsim.report.numbers import readable
from dsim.report.scenario_section import has_churn
from dsim.report.verdict import verdict_sentences
from dsim.results import RunResult, check_output_folder
from dsim.xds.dump import DUMP_TYPES, dump_json, dump_table
from dsim.xds.envoy import TIMEOUT_S, Verdict

EXIT_BAD_INPUT = 2
EXIT_REJECTED = 1
EXIT_BROKEN_PIPE = 128 + 13  # as a shell reports a process ended by SIGPIPE


MAX_PORT = 65535
"""The largest TCP port, the top of ``dump --port``'s range."""
DEFAULT_CONCURRENCY = 2
"""``calibrate --concurrency`` when not given: Envoy's worker threads."""

NAMESPACES_SHOWN = 10
"""``dsim inspect`` lists this many namespaces, the largest, and sums up the rest."""
WIDTH = 100
"""Columns the verdict is wrapped to."""


def _print_tables(tables: dict[str, pd.DataFrame]) -> None:
    for name, frame in tables.items():
        if name == "by_namespace":
            shown, rest = largest_namespaces(frame, NAMESPACES_SHOWN)
            print(f"\nby namespace (the {len(shown)} with the most sidecars)" if rest is not None else "\nby namespace")
            print(readable(shown).to_string(index=False))
            if rest is not None:
                print(
                    f"… and {len(frame) - len(shown):,} more namespaces ({int(rest['services']):,} services, "
                    f"{int(rest['sidecars']):,} sidecars)"
                )
        else:
            print(f"\n{name.replace('_', ' ')}")
            print(readable(frame).to_string(index=False))


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


def _listed(option: str, text: str, valid: Sequence[str], kind: str) -> list[str]:
    """A comma-separated option's names, in the order given, once each; one that is not valid
    is refused naming the option, so the user knows which of their flags to fix."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise DsimError(f"{option}: no {kind} named; valid {kind}s: {', '.join(valid)}")
    for name in names:
        if name not in valid:
            raise DsimError(f"{option}: {UnknownNameError(kind, name, valid)}")
    return names


def _at_least_one(option: str, value: int) -> None:
    if value < 1:
        raise DsimError(f"{option}: must be at least 1 (got {value})")


def _one_design(option: str, name: str) -> str:
    if name not in design_names():
        raise DsimError(f"{option}: {UnknownNameError('design', name, design_names())}")
    return name


def _run(args: argparse.Namespace) -> int:
    # Every argument is checked here, before the run, not after minutes of it.
    designs = _listed("--designs", args.designs, design_names(), "design") if args.designs is not None else None
    _at_least_one("--workers", args.workers)
    out = Path(args.out) if args.out else None
    if out is not None:
        check_output_folder(out, option="--out", new=True)
    else:  # the default folder's name needs the result, but where it goes is known now
        parent = api.default_output_parent(api.load_scenario(args.scenario))
        try:
            check_output_folder(parent, option="default output folder", new=False, make_parents=True)
        except DsimError as e:
            raise DsimError(f"{e}; choose another folder with --out") from None
    compute = Compute(workers=args.workers, scheduler=args.scheduler)
    result = api.run(args.scenario, designs=designs, pushsim=not args.no_pushsim, compute=compute)
    folder = result.save(out or api.default_output_folder(result))
    sentences = verdict_sentences(result.tables, list(result.scenario.designs))
    print(textwrap.fill(" ".join(sentences), width=WIDTH, break_on_hyphens=False))
    shown = ("cluster_totals", "cluster_by_ip_family", "cluster_by_protocol")
    _print_tables({name.removeprefix("cluster_"): result.tables[name] for name in shown})
    totals = result.tables["config_size_totals"]
    per_proxy = totals.pivot(index="design", columns="xds_type", values="bytes_per_proxy")
    per_proxy = per_proxy.loc[list(result.scenario.designs), ["listeners", "clusters", "routes", "endpoints"]]
    per_proxy["total"] = per_proxy.sum(axis=1)
    print("\nconfig size per proxy, kB (Istio's kb/msg: serialized resources / 1000)")
    print(readable(per_proxy / 1000).to_string())
    costs = result.tables["proxy_cost_totals"].set_index("design")
    memory = costs[["envoy_memory_mean_mib", "envoy_memory_p99_mib", "envoy_memory_fleet_gib"]]
    memory.columns = ["mean MiB", "p99 MiB", "fleet GiB"]
    memory = memory.assign(**{"istiod CPU s": costs["istiod_full_push_cpu_s"]})
    print(f"\nEnvoy memory per proxy and istiod CPU (model: {result.provenance['calibration']})")
    print("(istiod CPU: one full push to every proxy, generating each config afresh, no cache)")
    print(readable(memory).to_string())
    if "push_summary" in result.tables:
        _print_push_summary(result)
    print(f"\nresults written to {folder} (report: {folder / 'report.html'})")
    return 0


def _print_push_summary(result: RunResult) -> None:
    churn = result.scenario.churn
    events = len(result.tables["churn_events"])
    if not events:
        why = "its churn drew no events" if has_churn(churn) else "the scenario has no churn"
        print(f"\npush model: {why}, so nothing was pushed")
        return
    if not pushed_anything(result.tables):  # convergence of no push is undefined: say so, not NaN
        print(f"\npush model: {churn.duration_s:g} s of churn ({events} events): nothing pushed, no push figures")
        return
    summary = result.tables["push_summary"].set_index("design")
    shown = summary[["convergence_p50_s", "convergence_p99_s", "istiod_cpu_s", "istiod_utilization_mean"]].copy()
    shown["MB sent/s"] = summary["bytes_sent_per_s"] / 1e6
    shown.columns = ["converge p50 s", "converge p99 s", "istiod CPU s", "utilization", "MB sent/s"]
    print(f"\npush model: {churn.duration_s:g} s of churn ({events} events), convergence from enqueue to Envoy applied")
    print(readable(shown).to_string())


def _sweep(args: argparse.Namespace) -> int:
    from dsim import sweep as sweeps  # only this command needs the sweep layer

    _at_least_one("--workers", args.workers)
    loaded = sweeps.load_sweep(args.sweep)  # every point resolved and checked before any work
    folder = Path(args.out) if args.out else sweeps.default_sweep_folder(loaded)
    sweeps.check_sweep_folder(folder, option="--out" if args.out else "default output folder")
    compute = Compute(workers=args.workers, scheduler=args.scheduler)
    result = sweeps.run_sweep(
        loaded, folder, compute=compute, retry_failed=args.retry_failed, report=not args.no_report
    )
    from dsim.sweep.report import verdict

    done = result.progress
    print(textwrap.fill(" ".join(verdict(result.tables, loaded)), width=WIDTH, break_on_hyphens=False))
    print(
        f"\n{done.points} points: {done.computed} computed ({done.failed} failed), {done.reused} already in {folder}; "
        f"{done.wall_s:.1f} s on {compute.describe()}"
    )
    print(f"table: {folder / 'points.parquet'}" + ("" if args.no_report else f" (report: {folder / 'report.html'})"))
    return 0


def _dump(args: argparse.Namespace) -> int:
    if args.type not in DUMP_TYPES:
        raise DsimError(f"--type: {UnknownNameError('type', args.type, DUMP_TYPES)}")
    _one_design("--design", args.design)
    if args.port is not None and not 1 <= args.port <= MAX_PORT:
        raise DsimError(f"--port: must be a port number from 1 to {MAX_PORT} (got {args.port})")
    config = api.generate(args.scenario, args.proxy, args.design)
    render = dump_table if args.format == "table" else dump_json
    sys.stdout.write(render(config, args.type, args.port))
    return 0


def _print_verdict(verdict: Verdict) -> None:
    said = "accepted" if verdict.accepted else "REJECTED" if verdict.answered else "NO ANSWER"
    print(f"{verdict.design:<28} {verdict.proxy:<40} {said}", flush=True)
    if not verdict.accepted:
        print("    " + verdict.message.replace("\n", "\n    "), flush=True)


def _validate(args: argparse.Namespace) -> int:
    if args.sample < 1:
        raise DsimError(f"--sample {args.sample}: must be at least 1 proxy per design")
    designs = [_one_design("--design", args.design)] if args.design is not None else None
    verdicts = api.validate_configs(args.scenario, designs=designs, sample=args.sample, on_verdict=_print_verdict)
    unanswered = int((~verdicts["answered"]).sum())
    rejected = int((~verdicts["accepted"]).sum()) - unanswered
    accepted = len(verdicts) - rejected - unanswered
    late = f"; {unanswered} not answered in {TIMEOUT_S} s" if unanswered else ""
    print(f"\n{accepted} of {len(verdicts)} configs accepted by Envoy, {rejected} rejected{late}")
    return EXIT_REJECTED if rejected or unanswered else 0


def _calibration_row(row: dict[str, object], done: int, total: int) -> None:
    print(
        f"[{done:>4}/{total}] {row['point']:<32} {row['design']:<26} {row['stats_profile']:<13} "
        f"{row['allocated_bytes'] / 2**20:8.1f} MiB {row['apply_cpu_ms']:8.1f} ms CPU",  # type: ignore[operator]
        flush=True,
    )


def _measuring_options(args: argparse.Namespace) -> list[tuple[str, bool]]:
    """``calibrate``'s options that only a measuring run uses, and whether each was given."""
    return [
        ("--quick", bool(args.quick)),
        ("--designs", args.designs is not None),
        ("--profiles", args.profiles is not None),
        ("--concurrency", args.concurrency is not None),
    ]


def _calibrate(args: argparse.Namespace) -> int:
    from dsim.calibration import calibrate, model, tables  # only this command needs gRPC and certificates

    if args.refit and args.complete:
        raise DsimError(
            "--refit and --complete: give one (a refit measures nothing; --complete measures what is missing)"
        )
    if args.complete:  # it measures under the bundle's own designs and profiles
        given = [option for option, value in _measuring_options(args) if value and option != "--concurrency"]
        if given:
            raise DsimError(
                f"--complete: cannot be combined with {', '.join(given)} (it measures the full plan's missing "
                "points under the designs and stats profiles the bundle already has)"
            )
    if args.refit:  # a refit measures nothing: these options would be silently ignored
        given = [option for option, value in _measuring_options(args) if value]
        if given:
            raise DsimError(
                f"--refit: cannot be combined with {', '.join(given)} (a refit runs no Envoy; "
                "it fits again the measurements already taken)"
            )
    concurrency = DEFAULT_CONCURRENCY if args.concurrency is None else args.concurrency
    _at_least_one("--concurrency", concurrency)
    mode = "refit" if args.refit else "complete" if args.complete else "quick" if args.quick else "full"
    if args.out:
        folder = Path(args.out)
        check_output_folder(folder, option="--out", new=False)  # say so before minutes of measuring
    else:  # a new folder: the shipped calibration (or a refit's source) is replaced only when --out names it
        folder = Path("results") / "calibration" / f"{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%SZ}-{mode}"
    designs = _listed("--designs", args.designs, design_names(), "design") if args.designs is not None else None
    profiles = (
        _listed("--profiles", args.profiles, calibrate.STATS_PROFILES, "stats profile")
        if args.profiles is not None
        else calibrate.STATS_PROFILES
    )
    if args.refit:
        fitted, measurements, timings = calibrate.refit(Path(args.refit))
    elif args.complete:
        fitted, measurements, timings = calibrate.complete(
            Path(args.complete), concurrency=concurrency, on_row=_calibration_row
        )
    else:
        fitted, measurements, timings = calibrate.calibrate(
            mode,
            designs=designs,
            profiles=profiles,
            concurrency=concurrency,
            on_row=_calibration_row,
        )
    path = calibrate.write_calibration(folder, fitted, measurements, timings)
    memory = tables.coefficient_table(fitted, shared=True)
    memory = memory[memory["target"].isin(["allocated_bytes", "apply_cpu_ms"])]
    print("\nfitted coefficients (per object; intercept = the idle sidecar)")
    print(memory.drop(columns=["std_error", "observations"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        f"\nistiod: go_cost_scale {fitted.istiod.go_cost_scale} (dsim generator R² {fitted.istiod.fit.r_squared:.3f})"
    )
    if path.resolve() == model.shipped_path().resolve():
        print("\nthis replaced the package's shipped calibration: every run now uses it")
    else:
        compared = tables.agreement(fitted, model.load_calibration())
        memory_rows = compared[compared["target"] == "allocated_bytes"]
        used = (memory_rows["difference"].abs() / memory_rows["tolerance"]).max()
        print(
            f"agreement with the shipped calibration (memory): {int(memory_rows['agrees'].sum())} of "
            f"{len(memory_rows)} coefficients with overlapping confidence intervals "
            f"(the closest uses {used:.0%} of its tolerance)"
        )
    print(f"\ncalibration written to {path}")
    return 0


def _memory_size(text: str) -> int:
    try:
        return sizing.parse_memory(text)
    # ArithmeticError too: whatever slips past parse_memory's own checks is still bad input.
    except (ValueError, ArithmeticError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _within_max_memory(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    with sizing.memory_limit(args.max_memory, described="--max-memory"):
        return handler(args)


def _add_max_memory(command: argparse.ArgumentParser) -> None:
    """``--max-memory`` for a command that builds a cluster: the size guard refuses a scenario whose
    estimated peak is larger (the machine's available memory is the limit either way)."""
    command.add_argument(
        "--max-memory",
        type=_memory_size,
        metavar="SIZE",
        help="refuse the scenario if dsim's estimated peak memory is above SIZE (512M, 8G; "
        "default: what the machine has available)",
    )
    command.set_defaults(handler=functools.partial(_within_max_memory, command.get_default("handler")))


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
    _add_max_memory(inspect)

    run = commands.add_parser("run", help="run a scenario and write its results folder")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--out", help="results folder to create (default results/<scenario>/<time>-<hash>)")
    run.add_argument("--designs", help="comma-separated designs to compare (default: the scenario's)")
    run.add_argument("--no-pushsim", action="store_true", help="skip the push model (churn, convergence, CPU)")
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="simulate the designs' push models on a local Dask cluster of N processes (default: 1, in process)",
    )
    run.add_argument(
        "--scheduler", help="simulate them on the Dask scheduler at this address instead (tcp://host:port)"
    )
    run.set_defaults(handler=_run)
    _add_max_memory(run)

    sweep = commands.add_parser("sweep", help="run a scenario along axes of its fields: growth, formulas, headroom")
    sweep.add_argument("sweep", help="sweep YAML file")
    sweep.add_argument(
        "--out", help="sweep folder (default results/sweeps/<name>); run again into it, only missing points run"
    )
    where = sweep.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        metavar="N",
        help="points run on a local Dask cluster of N processes (default: min(2, CPUs); 1 runs them in process)",
    )
    where.add_argument("--scheduler", help="points run on the Dask scheduler at this address (tcp://host:port)")
    sweep.add_argument("--retry-failed", action="store_true", help="compute again the points recorded as failed")
    sweep.add_argument("--no-report", action="store_true", help="the table and fits only: no plots or report")
    sweep.set_defaults(handler=_sweep)
    _add_max_memory(sweep)

    dump = commands.add_parser("dump", help="print one sidecar's generated config (JSON as /config_dump, or tables)")
    dump.add_argument("scenario", help="scenario YAML file")
    dump.add_argument("--proxy", required=True, help="NAMESPACE/POD, or NAMESPACE/WORKLOAD for its first pod")
    dump.add_argument("--design", default="additional-addresses", help="design (default: additional-addresses)")
    dump.add_argument("--type", default="all", help=f"one of {', '.join(DUMP_TYPES)} (default: all)")
    dump.add_argument("--port", type=int, help="only resources on this port, as istioctl's --port")
    dump.add_argument("--format", choices=["json", "table"], default="json", help="output format (default: json)")
    dump.set_defaults(handler=_dump)
    _add_max_memory(dump)

    validate = commands.add_parser("validate", help="check generated configs with the real Envoy (--mode validate)")
    validate.add_argument("scenario", help="scenario YAML file")
    validate.add_argument("--design", help="only this design (default: the scenario's designs)")
    validate.add_argument("--sample", type=int, default=5, help="proxies per design (default: 5)")
    validate.set_defaults(handler=_validate)
    _add_max_memory(validate)

    calibrate = commands.add_parser("calibrate", help="fit the Envoy memory/CPU model on the real Envoy over ADS")
    calibrate.add_argument("--quick", action="store_true", help="small plan, one run per point (a few minutes)")
    calibrate.add_argument(
        "--out",
        help="folder for the files (default: a new results/calibration/<time>-<full|quick|refit|complete>/; "
        "the package's shipped calibration is replaced only when --out names its folder)",
    )
    calibrate.add_argument("--designs", help="comma-separated designs (default: all)")
    calibrate.add_argument("--profiles", help="comma-separated stats profiles (default: istio,envoy-default)")
    calibrate.add_argument(  # no default here: --refit must tell a given --concurrency from none
        "--concurrency", type=int, help=f"Envoy worker threads (default: {DEFAULT_CONCURRENCY})"
    )
    calibrate.add_argument(
        "--refit", metavar="JSON", help="no Envoy runs: fit again the measurements beside this calibration file"
    )
    calibrate.add_argument(
        "--complete",
        metavar="JSON",
        help="measure the full plan's points the bundle beside this calibration file lacks, add them, fit again",
    )
    calibrate.set_defaults(handler=_calibrate)

    add_import_command(commands)
    add_check_command(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with stop_cleanly():
            return int(args.handler(args))
    except DsimError as e:
        print(f"dsim: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP: every clean-up has run by now
        print(f"dsim: interrupted by {signal_name(e)}", file=sys.stderr)
        return exit_code(e)
    except BrokenPipeError:
        # The reader went away (`dsim inspect … | head`): what it wanted, it has. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
