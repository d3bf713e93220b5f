"""Writing a file so that a reader never sees half of it: a temporary beside it, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dsim.interrupts import deferred


def write_text_atomically(path: Path, text: str) -> None:
    """``path`` holds ``text`` whole, or keeps what it held (an error or Ctrl-C leaves no temporary)."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(tmp, 0o644)  # a file the user reads and shares, not a private temporary
        with deferred():
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
