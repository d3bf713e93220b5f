"""Prices measured as the difference between twin meshes: the same mesh measured with and without
one kind of object.

Some objects cost a few hundred bytes apiece and come one or a few per cluster or route: a TCP keepalive's
socket options add about 1% to a sidecar (up to 1.4% on the plan's twins), no more than what one
calibration mesh's residual from the fit may be (Envoy's memory grows in steps the linear model
does not follow). Fitted with every other term, such a price is lost in those residuals: the
plan's keepalive meshes, measured as meshes of their own, priced a socket option at 0.14 KiB ±71%
(2026-12-06). Measured against the same mesh without them, same design, stats and certificate
profile and repeat, what the mesh holds cancels: the plan's ``KEEPALIVE_POINTS`` are such twins, and
so are its ``RETRY_PRIORITY_POINTS`` (a retry policy's retry priority, about 0.4 KiB per route: on
meshes of thousands of routes the regression resolves it too, 0.41 KiB ±3.3%, but the twins price it
to ±1.3% and leave every other price as it was), and so are its ``FAILOVER_POINTS`` (an endpoint
set's priorities past the first, about 2.8 KiB each, against bases measured for them: :data:`TWIN_BASE_MARKS`), and
:func:`twin_price` prices a :data:`TWIN_TERMS` term from their differences alone, each weighted by
1 / the mesh's value² as the main fit weights its measurements, its interval robust to what the
pairs of one mesh share. What does not cancel: the twin was measured in a later campaign than its
mesh, so a drift of the machine between the two would load onto the price. The main fit then takes
that price as known and prices every other term on the measurements without the term, so the twins
change no other price (:func:`dsim.calibration.calibrate.fit_calibration`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dsim.calibration.fit import CONFIDENCE, Coefficient, fit_difference
from dsim.xds.vocabulary import COUNT_COLUMNS

TWIN_TERMS = ("keepalive_options", "retry_priorities", "failover_priorities")
"""Terms priced from twin meshes wherever the measurements have twins of enough meshes (:func:`twinned_terms`)."""
TWIN_BASE_MARKS = {"failover_priorities": "nofailover"}
"""Terms whose twins pair with meshes measured for them alone (no other plan mesh has what the
twins have but the term: :data:`dsim.calibration.plan.FAILOVER_BASES`), by the mark those meshes'
names (``point``) carry. Where the term is priced from its twins, the main fit leaves those bases
out with the twins: they are there to be subtracted, and fitted they would move every other price
with a campaign chosen for one term."""
_SAME = ("design", "stats_profile", "certificate_profile", "repeat", "services", "zones")
"""What a twin shares with its mesh beside every other object count. ``services`` and ``zones`` tell
apart meshes whose counts coincide; ``repeat`` pairs runs one to one (a twin was measured in a later
campaign than its mesh, so its first run shares no more with the mesh's first than with its second:
the pairing only keeps each run in one pair)."""
MIN_MESHES = 2
"""Twins of fewer meshes leave no degree of freedom for an interval: the term is then fitted with the others."""


def twin_pairs(measurements: pd.DataFrame, term: str) -> pd.DataFrame:
    """Each measurement with ``term`` beside its twin's: the row of a mesh whose every other object
    count, design, profiles, repeat, services and zones are the same and which has none of ``term``
    (``_twin``-suffixed columns). A row without a twin is left out, and so is one that two meshes
    without the term would match (two meshes of the same counts: which is its twin is unknown)."""
    keys = [c for c in (*_SAME, *COUNT_COLUMNS) if c in measurements.columns and c != term]
    having = measurements[measurements[term] > 0]
    without = measurements[measurements[term] == 0].drop_duplicates(keys, keep=False)
    return having.merge(without, on=keys, how="inner", suffixes=("", "_twin"), validate="many_to_one")


def twinned_terms(measurements: pd.DataFrame) -> list[str]:
    """The :data:`TWIN_TERMS` of ``measurements`` that twins of at least :data:`MIN_MESHES` meshes
    price; a term with fewer is fitted with the others (a plan of meshes of their own, say)."""
    return [
        t
        for t in TWIN_TERMS
        if t in measurements.columns and twin_pairs(measurements, t)["point_twin"].nunique() >= MIN_MESHES
    ]


def without_twins(measurements: pd.DataFrame, twinned: Sequence[str] | None = None) -> pd.DataFrame:
    """The measurements every other term is fitted on: those with none of the ``twinned`` terms
    (:func:`twinned_terms` unless the caller has them already; a twin repeats its mesh, so fitted
    again it would count that mesh twice), nor a base measured for their twins alone
    (:data:`TWIN_BASE_MARKS`)."""
    twinned = twinned_terms(measurements) if twinned is None else list(twinned)
    kept = (measurements[twinned] == 0).all(axis=1)
    for term in twinned:
        if term in TWIN_BASE_MARKS:
            kept &= ~measurements["point"].astype(str).str.contains(TWIN_BASE_MARKS[term], regex=False)
    return measurements[kept]


def twin_price(measurements: pd.DataFrame, target: str, term: str, confidence: float = CONFIDENCE) -> Coefficient:
    """The price of one ``term`` in ``target`` from the twin pairs of ``measurements``
    (:func:`twin_pairs`; :func:`twinned_terms` says whether there are enough): the least-squares line
    through the origin of the pairs' differences, relative to the twin's value, its error clustered
    by the twin's mesh (its pairs under every design and repeat share what the mesh does beyond the
    line)."""
    pairs = twin_pairs(measurements, term)
    base = pairs[f"{target}_twin"].to_numpy(dtype=np.float64)
    scale = 1.0 / np.where(base > 0, base, 1.0)
    difference = pairs[target].to_numpy(dtype=np.float64) - base
    count = pairs[term].to_numpy(dtype=np.float64)
    meshes = pairs["point_twin"].to_numpy()
    return fit_difference(count * scale, difference * scale, meshes, term, confidence=confidence)
