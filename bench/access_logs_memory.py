"""What the mesh's access logs cost a real Envoy, against what the memory model prices them at.

The calibrated model prices an access log and each command operator of its format
(``dsim.calibration.model.ACCESS_LOG_TERMS``, fitted on the plan's ``ACCESS_LOG_POINTS``). This
measures one sidecar of a synthetic mesh no plan point is (mixed protocols, two ports per service,
dual-stack) with the access logs off, with Istio's text and JSON formats and with two formats of
its own, beside the model's prediction, and beside the prediction of a model that does not price
access logs (the same fit, its access log terms left out: what dsim predicted before it modelled
them): per format, the bytes each access log adds, measured and predicted, and each prediction's
error on the whole sidecar.

Run: ``python bench/access_logs_memory.py [--services 400] [--profile istio]``.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import pandas as pd

import dsim
from dsim.calibration.model import ACCESS_LOG_TERMS
from dsim.interrupts import stop_cleanly

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_variants import measured, options, synthetic

_OWN_JSON = json.dumps({f"field_{i}": f"%REQ(X-FIELD-{i})%" for i in range(12)} | {"code": "%RESPONSE_CODE%"})
FORMATS: dict[str, dict[str, str]] = {
    "off": {},
    "Istio's text": {"access_log_file": "/dev/stdout"},
    "Istio's JSON": {"access_log_file": "/dev/stdout", "access_log_encoding": "JSON"},
    "own text, 6 operators": {
        "access_log_file": "/dev/stdout",
        "access_log_format": "%START_TIME% %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %DURATION% %UPSTREAM_HOST%",
    },
    "own JSON, 13 operators": {
        "access_log_file": "/dev/stdout",
        "access_log_encoding": "JSON",
        "access_log_format": _OWN_JSON,
    },
}


def main() -> None:
    arguments = options(__doc__.splitlines()[0])
    rows = []
    protocols = {"http": 0.4, "grpc": 0.1, "tcp": 0.4, "auto": 0.1}
    build = functools.partial(synthetic, "access-logs", arguments.services, protocols=protocols, ports=2)
    calibration = dsim.load_calibration()
    for label, config, checked in measured(FORMATS, build, arguments.profile, calibration):
        facts = checked.facts
        unpriced = calibration.predict_envoy(
            facts.assign(**dict.fromkeys(ACCESS_LOG_TERMS, 0)), config.design, arguments.profile
        )
        rows.append(
            {
                "access logs": label,
                "logs": int(facts["access_logs"].iloc[0]),
                "operators": int(facts["access_log_operators"].iloc[0]),
                "measured_mib": checked.measured_bytes / 2**20,
                "predicted_mib": checked.predicted_bytes / 2**20,
                "unpriced_mib": float(unpriced["envoy_memory_bytes"].iloc[0]) / 2**20,
            }
        )
    frame = pd.DataFrame(rows)
    frame["error_pct"] = 100 * (frame["predicted_mib"] / frame["measured_mib"] - 1)
    frame["unpriced_error_pct"] = 100 * (frame["unpriced_mib"] / frame["measured_mib"] - 1)
    off = frame["access logs"] == "off"
    for column, source in (("measured", "measured_mib"), ("predicted", "predicted_mib")):
        added = (frame[source] - frame.loc[off, source].iloc[0]) * 2**20
        frame[f"{column}_bytes_per_log"] = (added / frame["logs"].where(frame["logs"] > 0)).fillna(0)
    print(f"{arguments.services} services (mixed protocols, 2 ports each, dual-stack)")
    print(frame.round(2).to_string(index=False))
    print(
        "unpriced: the shipped model with its access log terms left out (as dsim "
        "predicted before it modelled access logs); bytes_per_log: what each access log adds against the "
        "sidecar without (measured in this run, and predicted)"
    )


if __name__ == "__main__":
    with stop_cleanly():  # SIGTERM stops the Envoy it runs as Ctrl-C does
        main()
