"""The headline table: metrics × designs, each cell the value in its row's unit and its ratios
to the baseline designs that ran ("n/a" where a baseline's value is zero)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsim.headline import BASELINES, RATIO_COLUMNS
from dsim.report.document import Table
from dsim.report.numbers import NOT_AVAILABLE, ratio, scale, significant


def headline_table(summary: pd.DataFrame) -> Table:
    """Metrics × designs from the design summary; every row has its unit."""
    designs = list(summary["design"].unique())
    present = [b for b in BASELINES if b in designs]
    ratio_columns = [RATIO_COLUMNS[b] for b in present]
    rows = []
    for (metric, unit), group in summary.groupby(["metric", "unit"], sort=False):
        shown, size = scale(str(unit), group["value"].to_numpy(dtype=float))
        cells = []
        for value, *ratios in group[["value", *ratio_columns]].to_numpy(dtype=float).tolist():
            text = significant(value / size, whole=unit == "resources")
            cells.append(f"{text} ({' · '.join(ratio(r) for r in ratios)})" if ratios else text)
        rows.append((str(metric), shown, *cells))
    caption = ""
    if present:
        caption = f"Each cell: the value (its ratio {' · '.join(f'to `{b}`' for b in present)})."
        if np.isnan(summary[ratio_columns].to_numpy(dtype=float)).any():
            caption += f" {NOT_AVAILABLE}: that design's value is zero, so there is no ratio to it."
    return Table(
        header=("metric", "unit", *designs),
        rows=tuple(rows),
        align_right=(False, False, *(True,) * len(designs)),
        caption=caption,
    )
