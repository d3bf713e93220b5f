"""Progress bars for a run's long stages (cluster, accounting, push model).

Shown on a terminal only: by default a bar stays quiet when standard error is not a terminal
(CI logs, pipes, notebooks), so logs and captured output hold results, not bar redraws.
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


def progress_bar(description: str, total: float, unit: str, *, show: bool | None) -> tqdm[Any]:
    """A bar for one stage; ``show`` None means "only on a terminal", True always, False never.

    Use it as a context manager so it is closed (and its line finished) whatever happens.
    """
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        disable=None if show is None else not show,
        leave=True,
        dynamic_ncols=True,
        bar_format="{desc:<36} {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} {unit} [{elapsed}<{remaining}]",
    )
