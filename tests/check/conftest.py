"""A bug-report archive of ``scenarios/istio-objects.yaml`` built by dsim, shared by the check's tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from dsim import Cluster, build_cluster
from dsim.check import predicted_memory_files, write_archive
from tests.conftest import SCENARIOS

SCENARIO = SCENARIOS / "istio-objects.yaml"
DESIGN = "additional-addresses"


@pytest.fixture(scope="session")
def objects_cluster() -> Cluster:
    return build_cluster(SCENARIO)


@pytest.fixture(scope="session")
def pristine_archive(tmp_path_factory: pytest.TempPathFactory, objects_cluster: Cluster) -> Path:
    """An unpacked archive of every sidecar, with memory files from dsim's own prediction."""
    folder = tmp_path_factory.mktemp("archive") / "unpacked"
    return write_archive(objects_cluster, folder, design=DESIGN, memory=predicted_memory_files(objects_cluster, DESIGN))


@pytest.fixture
def archive_copy(tmp_path: Path, pristine_archive: Path) -> Callable[[], Path]:
    """A fresh copy of the pristine archive to edit."""

    def copy() -> Path:
        target = tmp_path / "edited"
        shutil.copytree(pristine_archive, target)
        return target

    return copy
