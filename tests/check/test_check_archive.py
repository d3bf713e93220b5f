"""``dsim check`` on archives dsim built itself: exact agreement, and exactly the edits reported."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from dsim import Cluster
from dsim.check import check_archive, write_archive
from dsim.check.compare import DIFFERENT, ONLY_ARCHIVE, ONLY_DSIM
from dsim.check.write_archive import ROOT
from dsim.errors import DsimError
from tests.check.conftest import DESIGN, SCENARIO


def assert_exact(result: Any) -> None:
    compared = result.table
    assert len(compared) == 4 * len(result.proxies)
    assert compared["compared"].all()
    assert (compared["byte_error"] == 0).all(), compared[compared["byte_error"] != 0].to_string()
    assert (compared["dsim_resources"] == compared["archive_resources"]).all()
    assert result.differences.empty, result.differences.to_string()
    assert result.exact()


def test_dsims_own_archive_checks_with_zero_error(pristine_archive: Path, objects_cluster: Cluster) -> None:
    result = check_archive(pristine_archive, design=DESIGN, scenario=SCENARIO)
    assert (result.proxies["status"] == "compared").all()
    assert len(result.proxies) == len(objects_cluster.proxies)
    assert_exact(result)
    assert len(result.pushes) == len(result.table)
    assert result.pushes["agrees"].all()
    assert len(result.memory) == len(result.proxies)
    assert (result.memory["error_bytes"] == 0).all()
    assert (result.proxies["static_clusters"] == 1).all()  # the bootstrap's xds-grpc: not compared
    level, reasons = result.trust()
    assert level == "high", reasons


def test_a_tar_gz_checks_like_the_folder(tmp_path: Path, objects_cluster: Cluster) -> None:
    archive = write_archive(objects_cluster, tmp_path / "bug-report.tar.gz", design=DESIGN, proxies=[0, 5])
    result = check_archive(archive, design=DESIGN, scenario=SCENARIO)
    assert len(result.proxies) == 2
    assert_exact(result)
    assert result.memory.empty


def _dump(archive: Path, proxy: str) -> tuple[Path, dict[str, Any]]:
    path = archive / ROOT / "proxies" / proxy / "config_dump"
    return path, json.loads(path.read_text())


def _section(dump: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(s for s in dump["configs"] if s["@type"].endswith(kind))


def test_edited_dumps_report_exactly_the_edited_resources(archive_copy: Callable[[], Path]) -> None:
    archive = archive_copy()
    proxies = sorted(
        p.parent.relative_to(archive / ROOT / "proxies").as_posix()
        for p in (archive / ROOT).glob("proxies/*/*/config_dump")
    )
    first, second, third = proxies[0], proxies[1], proxies[-1]

    path, dump = _dump(archive, first)  # a cluster's connect timeout changed
    cluster = _section(dump, "ClustersConfigDump")["dynamicActiveClusters"][0]["cluster"]
    cluster["connectTimeout"] = "1.500s"
    path.write_text(json.dumps(dump))

    path, dump = _dump(archive, second)  # a listener removed
    listeners = _section(dump, "ListenersConfigDump")["dynamicListeners"]
    removed = listeners.pop(2)["name"]
    path.write_text(json.dumps(dump))

    path, dump = _dump(archive, third)  # a route configuration added
    routes = _section(dump, "RoutesConfigDump")["dynamicRouteConfigs"]
    added = json.loads(json.dumps(routes[0]))
    added["routeConfig"]["name"] = "8088"
    routes.append(added)
    path.write_text(json.dumps(dump))

    result = check_archive(archive, design=DESIGN, scenario=SCENARIO)
    found = result.differences[["proxy", "xds_type", "name", "status"]].sort_values(["proxy", "xds_type"])
    expected = pd.DataFrame(
        [
            (first, "clusters", cluster["name"], DIFFERENT),
            (second, "listeners", removed, ONLY_DSIM),
            (third, "routes", "8088", ONLY_ARCHIVE),
        ],
        columns=["proxy", "xds_type", "name", "status"],
    ).sort_values(["proxy", "xds_type"])
    pd.testing.assert_frame_equal(found.reset_index(drop=True), expected.reset_index(drop=True))
    wrong = result.table[result.table["byte_error"] != 0]
    assert sorted(zip(wrong["proxy"], wrong["xds_type"], strict=True)) == sorted(
        [(first, "clusters"), (second, "listeners"), (third, "routes")]
    )
    assert not result.exact()
    assert result.trust()[0] != "high"
    markdown = result.markdown()
    for name in (removed, "8088", cluster["name"]):
        assert name in markdown


def test_a_proxy_dsim_lacks_and_a_dump_without_endpoints(archive_copy: Callable[[], Path]) -> None:
    archive = archive_copy()
    proxies = archive / ROOT / "proxies"
    first = sorted(proxies.glob("*/*/config_dump"))[0]
    ghost = proxies / "elsewhere" / "ghost-7d4f9-abcde"
    ghost.mkdir(parents=True)
    (ghost / "config_dump").write_text(first.read_text())
    dump = json.loads(first.read_text())
    dump["configs"] = [s for s in dump["configs"] if not s["@type"].endswith("EndpointsConfigDump")]
    first.write_text(json.dumps(dump))

    result = check_archive(archive, design=DESIGN, scenario=SCENARIO)
    status = result.proxies.set_index("proxy")["status"]
    assert status["elsewhere/ghost-7d4f9-abcde"] == "no dsim proxy"
    own = first.parent.relative_to(proxies).as_posix()
    endpoints = result.table[(result.table["proxy"] == own) & (result.table["xds_type"] == "endpoints")].iloc[0]
    assert not endpoints["compared"]
    assert pd.isna(endpoints["archive_bytes"])
    assert result.differences.empty
    reasons = result.trust()[1]
    assert any("endpoints were not compared" in r for r in reasons)
    assert any("no dsim counterpart" in r for r in reasons)


def test_an_unknown_filter_is_unparsed_not_a_crash(archive_copy: Callable[[], Path]) -> None:
    archive = archive_copy()
    path = sorted((archive / ROOT / "proxies").glob("*/*/config_dump"))[0]
    dump = json.loads(path.read_text())
    entry = _section(dump, "ListenersConfigDump")["dynamicListeners"][0]
    listener = entry["activeState"]["listener"]
    filters = listener["filterChains"][0]["filters"]
    filters.insert(
        0, {"name": "acme.wasm", "typedConfig": {"@type": "type.googleapis.com/acme.filters.v1.Wasm", "vmId": "x"}}
    )
    path.write_text(json.dumps(dump))

    result = check_archive(archive, design=DESIGN, scenario=SCENARIO)
    assert len(result.differences) == 1
    row = result.differences.iloc[0]
    assert (row["name"], row["status"]) == (entry["name"], "unparsed in archive")
    assert "type.googleapis.com/acme.filters.v1.Wasm" in row["detail"]
    assert int(result.proxies["unparsed"].sum()) == 1
    assert (result.table["byte_error"] == 0).all()  # named, and left out of the bytes on both sides
    assert any("types dsim cannot read" in r for r in result.trust()[1])


def test_write_makes_the_three_files_once(tmp_path: Path, pristine_archive: Path) -> None:
    result = check_archive(pristine_archive, design=DESIGN, scenario=SCENARIO, output=tmp_path / "check")
    names = sorted(p.name for p in (tmp_path / "check").iterdir())
    assert names == ["check.csv", "check.md", "differences.csv", "errors.png"]
    assert (tmp_path / "check" / "errors.png").read_bytes().startswith(b"\x89PNG")
    assert len(pd.read_csv(tmp_path / "check" / "check.csv")) == len(result.table)
    assert "How far to trust the what-ifs here: high" in (tmp_path / "check" / "check.md").read_text()
    assert "trust: high" in result.summary()
    with pytest.raises(DsimError, match="already exists"):
        result.write(tmp_path / "check")


@pytest.mark.parametrize("scenario", [SCENARIO, None], ids=["scenario given", "imported"])
def test_envoyfilters_and_telemetry_lower_the_trust(archive_copy: Callable[[], Path], scenario: Path | None) -> None:
    archive = archive_copy()
    crs = archive / ROOT / "cluster" / "crs"
    extra = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter", "metadata": {"name": "lua"}},
            {"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter", "metadata": {"name": "ratelimit"}},
            {"apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry", "metadata": {"name": "mesh-default"}},
        ],
    }
    crs.write_text(crs.read_text() + "---\n" + yaml.safe_dump(extra))
    result = check_archive(archive, design=DESIGN, scenario=scenario)
    assert result.unmodeled == {"EnvoyFilter": 2, "Telemetry": 1, "WasmPlugin": 0}
    level, reasons = result.trust()
    assert level == "moderate"
    assert any("2 EnvoyFilter, 1 Telemetry" in r for r in reasons)


def test_without_a_scenario_the_archive_imports_its_own_cluster(pristine_archive: Path) -> None:
    """The whole round trip: dsim's inventory export → the archive → dsim's importer → the same configs."""
    result = check_archive(pristine_archive, design=DESIGN)
    assert result.origin == "the mesh imported from its inventory"
    assert (result.proxies["status"] == "compared").all()
    assert_exact(result)
