"""`dsim import` on a fleet-sized inventory: export time, import time, objects per second, peak memory.

Builds the 50,000-service, 200,000-pod mesh of ``bench/fleet-50k.yaml``, writes it as kubectl would
print it (``-o json`` and a YAML stream) into a temporary folder, then imports each file with
``dsim.inventory.import_inventory`` in a fresh process (so its peak RSS is the import's alone). The
baseline is the same file read by the plain parser in the same run: ``json.load``, and libyaml's
``CSafeLoader`` (over the stream's first ``--yaml-baseline-mib`` MiB only, its time scaled to the
whole file by bytes, and marked so: the whole stream takes it minutes and gigabytes).
Run: ``python bench/import.py [--scenario FILE]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsim.inventory.export import InventoryForm

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "bench" / "fleet-50k.yaml"
FORMS: tuple[tuple[InventoryForm, str], ...] = (("json", "inventory.json"), ("yaml-stream", "inventory.yaml"))


def _child(task: str, path: Path, limit: int) -> None:
    """Run one measured task in this (fresh) process and print its figures as JSON."""
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    if task == "import":
        from dsim.inventory import import_inventory

        imported = import_inventory([path])
        objects = sum(imported.counts.values())
        extra = {"summary": imported.summary()[0]}
    elif task == "json":
        with path.open(encoding="utf-8") as f:
            objects = len(json.load(f)["items"])
    else:  # CSafeLoader over the stream's first ``limit`` MiB, cut at a document boundary
        import yaml

        with path.open(encoding="utf-8") as f:
            head = f.read(limit * 2**20)
        head = head[: head.rfind("\n---\n") + 1] if len(head) == limit * 2**20 else head
        objects = sum(1 for _ in yaml.load_all(head, Loader=yaml.CSafeLoader))
        extra = {"bytes": len(head.encode())}
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "objects": objects, "peak_mib": _peak_rss_kib() / 1024} | extra))


def _peak_rss_kib() -> int:
    """This process's peak resident memory. Linux's ``VmHWM`` belongs to the process image, whereas
    ``ru_maxrss`` carries over from before ``exec``: the forking bench's own size, cluster and all."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def _measure(task: str, path: Path, limit: int = 0) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", task, str(path), "--yaml-baseline-mib", str(limit)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _export(scenario: Path, folder: Path) -> list[tuple[InventoryForm, Path, int, float]]:
    """Write the scenario's inventory in each form: (form, path, objects, seconds)."""
    from dsim import build_cluster
    from dsim.inventory.export import write_inventory

    start = time.perf_counter()
    cluster = build_cluster(scenario)
    print(
        f"built {scenario.name}: {len(cluster.services):,} services, {len(cluster.pods):,} pods "
        f"in {time.perf_counter() - start:.1f} s"
    )
    written = []
    for form, name in FORMS:
        path = folder / name
        start = time.perf_counter()
        count = write_inventory(cluster, path, form=form)
        written.append((form, path, count, time.perf_counter() - start))
    return written


def _row(label: str, result: dict[str, Any], note: str = "") -> str:
    if "error" in result:
        return f"{label:<24} could not run: {result['error']}"
    seconds, objects = float(result["seconds"]), int(result["objects"])
    rate = objects / seconds if seconds else float("inf")
    return f"{label:<24} {seconds:>9.1f} {objects:>10,} {rate:>12,.0f} {float(result['peak_mib']):>9.0f}{note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT)
    parser.add_argument("--yaml-baseline-mib", type=int, default=50, help="MiB of the stream CSafeLoader reads")
    parser.add_argument("--child", nargs=2, metavar=("TASK", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), args.yaml_baseline_mib)
        return
    with tempfile.TemporaryDirectory(prefix="dsim-import-bench-") as tmp:
        written = _export(args.scenario, Path(tmp))
        print(f"\n{'export':<24} {'seconds':>9} {'objects':>10} {'objects/s':>12} {'MiB':>9}")
        for form, path, count, seconds in written:
            size = path.stat().st_size / 2**20
            print(f"{form:<24} {seconds:>9.1f} {count:>10,} {count / seconds:>12,.0f} {size:>9.0f} (file)")
        print(f"\n{'read':<24} {'seconds':>9} {'objects':>10} {'objects/s':>12} {'peak MiB':>9}")
        for form, path, count, _ in written:
            imported = _measure("import", path) | {"objects": count}
            baseline = _measure("json" if form == "json" else "yaml", path, args.yaml_baseline_mib)
            note = ""
            if "bytes" in baseline:  # a prefix was parsed: scale its time to the whole file
                share = int(baseline["bytes"]) / path.stat().st_size
                baseline |= {"seconds": float(baseline["seconds"]) / share, "objects": count}
                note = f" (time scaled by bytes from the first {share:.0%} of the file)"
            print(_row(f"dsim import ({form})", imported))
            print(_row(f"{'json.load' if form == 'json' else 'CSafeLoader'} ({form})", baseline, note))
            if "error" not in imported and "error" not in baseline:
                ratio = float(baseline["seconds"]) / float(imported["seconds"])
                print(f"  -> dsim import takes {1 / ratio:.2f}x the plain parser's time on the same file")


if __name__ == "__main__":
    main()
