"""Writing a results folder: atomically, with the mode the user's umask gives any folder, and a
failure of the file system is one line naming the folder, not a traceback."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

import pytest

from dsim.errors import DsimError
from dsim.results import write_folder


def _write_one_file(folder: Path) -> None:
    (folder / "table.csv").write_text("a\n1\n")


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o755), (0o027, 0o750), (0o077, 0o700)])
def test_a_results_folder_has_the_mode_the_umask_gives(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        folder = write_folder(tmp_path / "run", _write_one_file)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == mode  # mkdtemp alone would leave 0o700
    assert os.umask(old) == old, "the umask is left as it was"


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_: object) -> str:
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(DsimError) as caught:
        write_folder(tmp_path / "run", _write_one_file)
    assert str(caught.value) == f"{tmp_path / 'run'}: cannot create a folder in {tmp_path} (Permission denied)"


def test_a_rename_that_fails_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: object, target: object) -> None:
        raise OSError(errno.ENOTEMPTY, "Directory not empty")

    monkeypatch.setattr(os, "rename", refuse)
    with pytest.raises(DsimError) as caught:
        write_folder(tmp_path / "run", _write_one_file)
    assert str(caught.value) == f"{tmp_path / 'run'}: cannot move the results into place (Directory not empty)"
    assert list(tmp_path.iterdir()) == [], "the temporary folder is removed"
