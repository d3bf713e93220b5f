"""``dsim import`` and ``dsim check`` on the command line: a real cluster in, and dsim checked against it."""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from pathlib import Path

from dsim.designs import design_names
from dsim.errors import DsimError, UnknownNameError
from dsim.files import write_text_atomically
from dsim.inventory import ImportOptions, import_inventory
from dsim.inventory.anonymize import anonymize
from dsim.inventory.call_graph import apply_call_graph, read_call_graph
from dsim.inventory.dual_stack import make_dual_stack_with_summary
from dsim.results import check_output_folder

NAME_LIMIT = 63
"""A scenario name is a DNS label."""


def _cidrs(option: str, text: str | None) -> dict[str, str]:
    """``--pod-cidrs 10.244.0.0/16,fd00:10:244::/56`` → one CIDR per family."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        try:
            if "/" not in part:
                raise ValueError("no prefix length")  # 10.0.0.0 alone would be read as a /32
            network = ipaddress.ip_network(part.strip(), strict=False)
        except ValueError:
            expected = "expected e.g. 10.244.0.0/16,fd00:10:244::/56"
            raise DsimError(f"{option}: {part.strip()!r} is not a CIDR ({expected})") from None
        family = f"ipv{network.version}"
        if family in out:
            raise DsimError(f"{option}: two IPv{network.version} CIDRs ({out[family]}, {network}); give one per family")
        out[family] = str(network)
    return out


def _share(text: str | None) -> float | None:
    """``--dual-stack all|0.3|30%`` → the share of single-stack services to turn dual-stack."""
    if text is None:
        return None
    if text == "all":
        return 1.0
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise DsimError(f"--dual-stack: expected all, a share in (0, 1] or a percentage like 30% (got {text!r})")
    return value


def _default_name(sources: list[str]) -> str:
    stem = "stdin" if sources[0] == "-" else Path(sources[0]).name.split(".")[0]
    name = re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")[:NAME_LIMIT].strip("-")
    return name if name and name[0].isalpha() else f"mesh-{name}".strip("-")[:NAME_LIMIT]


def _import(args: argparse.Namespace) -> int:
    # Every option is checked before the inventory is read.
    share = _share(args.dual_stack)
    if args.scoping and not args.call_graph:
        raise DsimError("--scoping: needs --call-graph (each namespace's Sidecar is what its workloads call)")
    name = args.name or _default_name(args.sources)
    options = ImportOptions(
        name=name,
        pod_cidrs=_cidrs("--pod-cidrs", args.pod_cidrs),
        service_cidrs=_cidrs("--service-cidrs", args.service_cidrs),
        sources=tuple(args.sources),
    )
    if args.anonymize_key is not None and not args.anonymize:
        raise DsimError("--anonymize-key: only with --anonymize (without it, the scenario keeps every real name)")
    out = None if args.out == "-" else Path(args.out or f"{name}-scenario.yaml")
    if out is not None:
        _check_out(out, args.sources)
    edges = read_call_graph(args.call_graph) if args.call_graph else None
    imported = import_inventory(args.sources, options)
    notes = []
    if edges is not None:
        imported.scenario, report = apply_call_graph(imported.scenario, edges)
        named = "" if args.anonymize else f" {args.call_graph}"  # a path can name the team
        notes.append(f"call graph{named}: {report.describe()}")
    if share is not None:
        imported.scenario, summary = make_dual_stack_with_summary(
            imported.scenario, share=share, seed=args.seed, source=f"--dual-stack {args.dual_stack}"
        )
        notes.append(f"--dual-stack {args.dual_stack}: {summary.describe()}")
    if args.scoping:
        imported.scenario["what_if"] = {"sidecar_scoping": True}
        notes.append("--scoping: `dsim run` also runs the mesh with each namespace's minimal Sidecar")
    if args.anonymize:
        if not args.anonymize_key:
            print(
                "dsim: warning: --anonymize without --anonymize-key: anyone can hash guessed names "
                "(shop, payments, web) and find them; give a key you keep private",
                file=sys.stderr,
            )
        imported.scenario = anonymize(imported.scenario, key=args.anonymize_key or "")
        notes.append("--anonymize: names hashed (their lengths kept), addresses permuted within their CIDRs")
    imported.notes.extend(notes)
    if notes:
        imported.load()  # what the what-ifs made must load too, before anything is written
    text = imported.yaml()
    for line in imported.summary():
        print(line, file=sys.stderr)
    if out is None:
        sys.stdout.write(text)
    else:
        write_text_atomically(out, text)
        print(f"scenario written to {out} (run it: dsim run {out})", file=sys.stderr)
    return 0


def _check_out(out: Path, sources: list[str]) -> None:
    """Refuse, before reading anything, an output that is a folder, has no folder, or is a capture being read."""
    if out.is_dir() or not out.parent.is_dir():
        raise DsimError(f"--out {out}: " + ("is a folder" if out.is_dir() else "its folder does not exist"))
    for source in sources:
        if source == "-":
            continue
        given = Path(source).resolve()
        if out.resolve() == given or given in out.resolve().parents:
            raise DsimError(
                f"--out {out}: would write over or into the capture {source} being read; "
                "give the scenario a file of its own (--out my-mesh.yaml)"
            )


def _add_cidr_options(command: argparse.ArgumentParser) -> None:
    """The cluster's CIDRs, for an inventory that does not state them (managed clusters)."""
    command.add_argument("--pod-cidrs", metavar="CIDRS", help="the cluster's pod CIDRs, a family each, comma-separated")
    command.add_argument("--service-cidrs", metavar="CIDRS", help="the cluster's service CIDRs, the same way")


def add_import_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "import",
        help="read a cluster's inventory (kubectl -o yaml|json, a bug-report archive) into a scenario",
        description="Read what `kubectl get ... -A -o yaml|json` or `istioctl bug-report` captured into a scenario "
        "file with every object explicit. What dsim does not model is counted by kind and reason.",
    )
    command.add_argument("sources", nargs="+", metavar="SOURCE", help="files, folders, .tar.gz archives, or - (stdin)")
    command.add_argument("--out", "-o", help="scenario file to write (default: NAME-scenario.yaml; - prints it)")
    command.add_argument("--name", help="scenario name (default: from the first source's file name)")
    _add_cidr_options(command)
    command.add_argument(
        "--dual-stack",
        metavar="all|SHARE",
        help="what if: turn all (or this share, 0.3 or 30%%) of the single-stack services dual-stack, with the "
        "pods they select",
    )
    command.add_argument("--seed", type=int, default=0, help="which services --dual-stack picks (default: 0)")
    command.add_argument(
        "--call-graph", metavar="FILE", help="who calls whom: a Kiali graph export or a Prometheus istio_requests_total"
    )
    command.add_argument(
        "--scoping",
        action="store_true",
        help="what if: also run with each namespace's minimal Sidecar (needs --call-graph)",
    )
    command.add_argument(
        "--anonymize", action="store_true", help="hash names (lengths kept) and permute addresses, to share the file"
    )
    command.add_argument("--anonymize-key", metavar="KEY", help="a secret salt for --anonymize's hashes")
    command.set_defaults(handler=_import)


def _check(args: argparse.Namespace) -> int:
    from dsim.check import check_archive  # only this command needs the checker

    if args.design not in design_names():
        raise DsimError(f"--design: {UnknownNameError('design', args.design, design_names())}")
    options = ImportOptions(
        pod_cidrs=_cidrs("--pod-cidrs", args.pod_cidrs), service_cidrs=_cidrs("--service-cidrs", args.service_cidrs)
    )
    archive = Path(args.archive)
    if not archive.exists():
        raise DsimError(f"{archive}: no such file or folder (expected an istioctl bug-report archive or its folder)")
    out = Path(args.out) if args.out else Path("results") / "check" / archive.name.split(".")[0]
    check_output_folder(
        out, option="--out" if args.out else "default output folder", new=True, make_parents=not args.out
    )
    result = check_archive(archive, design=args.design, scenario=args.scenario, output=out, import_options=options)
    print(result.summary())
    print(f"\ncheck written to {out} (report: {out / 'check.md'})")
    return 0


def add_check_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "check",
        help="compare dsim's configs, pushes and memory with a bug-report archive's real ones",
        description="For every proxy of an `istioctl bug-report` archive: dsim's generated config against its "
        "config_dump (resources and bytes per xDS type, the resources that differ), dsim's push sizes against "
        "istiod's discovery.log, predicted against observed Envoy memory; and how far to trust the what-ifs.",
    )
    command.add_argument("archive", help="the bug-report: a .tar.gz or its unpacked folder")
    command.add_argument(
        "--design",
        default="additional-addresses",
        help="design the mesh runs (default: additional-addresses, Istio ≥ 1.17)",
    )
    command.add_argument("--scenario", help="compare with this scenario instead of the one imported from the archive")
    command.add_argument("--out", help="folder to write (default: results/check/<archive name>)")
    _add_cidr_options(command)
    command.set_defaults(handler=_check)
