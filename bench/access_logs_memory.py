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

import argparse
import json

import pandas as pd

import dsim
from dsim.calibration.campaign import config_facts
from dsim.calibration.measure import measure
from dsim.calibration.model import ACCESS_LOG_TERMS
from dsim.interrupts import stop_cleanly
from dsim.xds.envoy import envoy_binary

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


def scenario(services: int, mesh: dict[str, str]) -> dsim.Scenario:
    return dsim.scenario_from_dict(
        {
            "name": "access-logs",
            "seed": 7,
            "mesh": mesh,
            "synthetic": {
                "namespaces": 4,
                "services": services,
                "protocols": {"http": 0.4, "grpc": 0.1, "tcp": 0.4, "auto": 0.1},
                "ports_per_service": {2: 1.0},
                "families": {"dual_ipv4_primary": 1.0},
                "replicas": {"distribution": "fixed", "mean": 1, "max": 1},
                "call_graph": {"model": "none"},
            },
        }
    )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--services", type=int, default=400)
    options.add_argument("--profile", default="istio", help="stats profile (istio or envoy-default)")
    arguments = options.parse_args()
    binary = envoy_binary()
    calibration = dsim.load_calibration()
    rows = []
    for label, mesh in FORMATS.items():
        cluster = dsim.build_cluster(scenario(arguments.services, mesh))
        config = dsim.generate(cluster, 0, "additional-addresses")
        facts = pd.DataFrame([config_facts(config)])
        predicted = calibration.predict_envoy(facts, "additional-addresses", arguments.profile)
        unpriced = calibration.predict_envoy(
            facts.assign(**dict.fromkeys(ACCESS_LOG_TERMS, 0)), "additional-addresses", arguments.profile
        )
        taken = measure(config, profile=arguments.profile, concurrency=2, binary=binary)
        rows.append(
            {
                "access logs": label,
                "logs": int(facts["access_logs"].iloc[0]),
                "operators": int(facts["access_log_operators"].iloc[0]),
                "measured_mib": taken.allocated_bytes / 2**20,
                "predicted_mib": float(predicted["envoy_memory_bytes"].iloc[0]) / 2**20,
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
    print(
        f"{arguments.services} services (mixed protocols, 2 ports each, dual-stack), the first sidecar; "
        f"additional-addresses, stats profile {arguments.profile}, Envoy {binary}"
    )
    print(frame.round(2).to_string(index=False))
    print(
        f"predicted: {calibration.source}; unpriced: the same with its access log terms left out (as dsim "
        "predicted before it modelled access logs); bytes_per_log: what each access log adds against the "
        "sidecar without (measured in this run, and predicted)"
    )


if __name__ == "__main__":
    with stop_cleanly():  # SIGTERM stops the Envoy it runs as Ctrl-C does
        main()
