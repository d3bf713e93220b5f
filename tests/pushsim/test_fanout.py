"""The push model on tiny worlds whose outcome is known exactly: a fan-out through T workers
(the closed form), a push arriving mid fan-out (merge and re-queue), and the churn a push carries;
each on the compiled kernels and on their NumPy twins."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsim import build_cluster, get_design, load_calibration
from dsim.accounting.columns import cluster_columns
from dsim.accounting.proxies import design_accounting
from dsim.cluster import Cluster
from dsim.pushsim.churn import ChurnStream
from dsim.pushsim.hotpath import ENV
from dsim.pushsim.reference import fan_out_one_by_one
from dsim.pushsim.simulate import DesignRun, _Simulation, simulate_design
from dsim.pushsim.visibility import Seers
from dsim.randomness import generator

COST_S = 0.1


@pytest.fixture(autouse=True, params=["kernels", "numpy-twins"])
def hot_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on the compiled kernels and on their NumPy twins (the spec they are held to)."""
    monkeypatch.setenv(ENV, "1" if request.param == "numpy-twins" else "0")
    return str(request.param)


def tiny(write_scenario: Callable[..., Path], *, replicas: int, throttle: int, cores: int, istiods: int = 1) -> Cluster:
    """One HTTP service behind ``replicas`` sidecars; ``istiods`` istiod replicas, each costing
    exactly COST_S per proxy push."""
    return build_cluster(
        write_scenario(
            {
                "name": "tiny",
                "designs": ["single-stack"],
                "namespaces": [{"name": "app"}],
                "services": [{"name": "web", "namespace": "app", "ports": [{"name": "http", "port": 80}]}],
                "workloads": [{"name": "web", "namespace": "app", "replicas": replicas}],
                "istiod": {
                    "eds_debounce": False,
                    "push_throttle": throttle,
                    "gomaxprocs": cores,
                    "push_overhead_ms": COST_S * 1000,
                    "go_cost_scale": 0.0,
                    "send_cost_scale": 0.0,
                    "send_bandwidth_mbps": 1e12,
                    "replicas": istiods,
                },
            }
        )
    )


def endpoint_events(cluster: Cluster, times: list[float]) -> ChurnStream:
    """A stream of endpoint changes of the one workload (same pods, new addresses)."""
    pods = tuple(range(len(cluster.pods)))
    events = pd.DataFrame(
        {
            "time": times,
            "seq": range(len(times)),
            "kind": "endpoints",
            "cause": "pod_replacement",
            "workload": 0,
            "service": -1,
            "namespace": 0,
            "proxy": -1,
            "state": 0,
        }
    )
    return ChurnStream(
        events=events,
        states=[(0, pods)],
        proxy_workload=cluster.proxies["workload"].to_numpy(),
        initial_proxies=len(cluster.proxies),
        service_source=np.arange(len(cluster.services)),
        service_namespace=cluster.services["namespace"].to_numpy(),
        duration_s=max(times) + 1,
    )


def simulate(cluster: Cluster, stream: ChurnStream) -> DesignRun:
    cols = cluster_columns(cluster)
    accounting = design_accounting(cluster, get_design("single-stack"), cols)
    return simulate_design(cluster, cols, stream, Seers(cluster), accounting, load_calibration())


@pytest.mark.parametrize(("proxies", "throttle", "cores"), [(23, 5, 8), (40, 10, 4), (7, 1, 1)])
def test_fan_out_to_n_proxies_through_t_workers(
    write_scenario: Callable[..., Path], proxies: int, throttle: int, cores: int
) -> None:
    cluster = tiny(write_scenario, replicas=proxies, throttle=throttle, cores=cores)
    run = simulate(cluster, endpoint_events(cluster, [1.0]))
    width = min(throttle, cores)
    converged = np.sort(run.recorder.proxy_last_converged)
    np.testing.assert_allclose(converged, 1.0 + (np.arange(proxies) // width + 1) * COST_S, atol=1e-9)
    assert run.recorder.jobs_by_kind.tolist() == [proxies, 0, 0]


def test_a_push_mid_fan_out_merges_waiting_proxies_and_requeues_the_busy_one(
    write_scenario: Callable[..., Path],
) -> None:
    # One worker, four proxies, pushes at 1.0 and 1.15: the first proxy is done (pushed again,
    # at the tail), the second is being pushed (re-queued when done), the last two still wait
    # (the second push merges into their entries). Six proxy pushes, the last done at 1.6.
    cluster = tiny(write_scenario, replicas=4, throttle=1, cores=1)
    run = simulate(cluster, endpoint_events(cluster, [1.0, 1.15]))
    jobs = run.recorder.proxy_jobs[:4]
    assert sorted(jobs.tolist()) == [1, 1, 2, 2]
    assert np.nanmax(run.recorder.proxy_last_converged) == pytest.approx(1.6)
    twice = np.flatnonzero(jobs == 2)
    order = np.argsort(run.recorder.proxy_last_converged[:4])
    assert set(order[-2:].tolist()) == set(twice.tolist()), "the two pushed again come last"
    assert [p.push for p in run.pushes] == [0, 1]


def test_the_debouncer_batches_endpoint_events_when_eds_debounce_is_on(write_scenario: Callable[..., Path]) -> None:
    cluster = tiny(write_scenario, replicas=3, throttle=4, cores=4)
    on = build_cluster(
        write_scenario(
            {**{"name": "tiny"}, **_scenario_dict(cluster), "istiod": {**_istiod(cluster), "eds_debounce": True}},
            name="debounced",
        )
    )
    run = simulate(on, endpoint_events(on, [1.0, 1.05, 1.09]))
    assert len(run.pushes) == 1
    assert run.pushes[0].events == 3
    assert run.pushes[0].time == pytest.approx(1.09 + on.scenario.istiod.debounce_after_s)
    assert run.pushes[0].debounce_s == pytest.approx(0.09 + on.scenario.istiod.debounce_after_s)


def _scenario_dict(cluster: Cluster) -> dict:
    return {
        "designs": ["single-stack"],
        "namespaces": [{"name": "app"}],
        "services": [{"name": "web", "namespace": "app", "ports": [{"name": "http", "port": 80}]}],
        "workloads": [{"name": "web", "namespace": "app", "replicas": len(cluster.pods)}],
    }


def _istiod(cluster: Cluster) -> dict:
    i = cluster.scenario.istiod
    return {
        "push_throttle": i.push_throttle,
        "gomaxprocs": i.gomaxprocs,
        "push_overhead_ms": i.push_overhead_ms,
        "go_cost_scale": i.go_cost_scale,
        "send_cost_scale": i.send_cost_scale,
        "send_bandwidth_mbps": i.send_bandwidth_mbps,
    }


def one_by_one(
    pushes: list[float], proxies: int, *, throttle: int, cores: int, seed: int, replica: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Istio's loop push by push for one istiod replica's ``proxies``, each push costing COST_S,
    idle proxies in the seeded rotation the fan-out uses."""
    rotation = generator(seed, f"push-order-{replica}")
    return fan_out_one_by_one(pushes, proxies, cost_s=COST_S, throttle=throttle, cores=cores, rotation=rotation)


@pytest.mark.parametrize(("throttle", "cores"), [(3, 2), (4, 8), (1, 1)])
def test_the_vectorized_fan_out_equals_istios_loop_push_by_push(
    write_scenario: Callable[..., Path], throttle: int, cores: int
) -> None:
    # Pushes faster than a fan-out drains: proxies merge, get re-queued, are pushed again.
    proxies = 12
    cluster = tiny(write_scenario, replicas=proxies, throttle=throttle, cores=cores)
    times = np.round(np.cumsum(np.random.default_rng(throttle + cores).exponential(0.23, 15)) + 1.0, 4).tolist()
    run = simulate(cluster, endpoint_events(cluster, times))
    jobs, done = one_by_one(times, proxies, throttle=throttle, cores=cores, seed=cluster.scenario.seed)
    assert run.recorder.proxy_jobs[:proxies].tolist() == jobs.tolist()
    np.testing.assert_allclose(run.recorder.proxy_last_converged[:proxies], done, atol=1e-9)
    assert jobs.sum() < proxies * len(times), "some pushes merged"


def test_a_config_over_the_grpc_limit_is_reported(write_scenario: Callable[..., Path]) -> None:
    # A sidecar connecting gets its whole config; with the limit below its cluster bytes it is over.
    cluster = tiny(write_scenario, replicas=2, throttle=2, cores=2)
    stream = endpoint_events(cluster, [1.0])
    connect = stream.events.iloc[[0]].assign(kind="connect", cause="scale", proxy=len(cluster.proxies), state=-1)
    stream = dataclasses.replace(
        stream,
        events=pd.concat([stream.events, connect.assign(time=2.0)], ignore_index=True),
        proxy_workload=np.append(stream.proxy_workload, 0),
    )
    limited = dataclasses.replace(
        cluster,
        scenario=dataclasses.replace(
            cluster.scenario, istiod=dataclasses.replace(cluster.scenario.istiod, max_grpc_message_bytes=100)
        ),
    )
    run = simulate(limited, stream)
    assert run.recorder.proxy_over_limit.tolist() == [False, False, True]
    assert run.recorder.jobs_by_kind.tolist() == [2, 0, 1]


def test_an_istiod_restart_reconnects_every_proxy_at_the_admission_rate(write_scenario: Callable[..., Path]) -> None:
    # Ten sidecars, five new connections admitted per second: a reconnect storm of 1.8 s, each
    # proxy getting its whole config (same cost for all), one every 0.2 s.
    base = tiny(write_scenario, replicas=10, throttle=4, cores=4)
    cluster = dataclasses.replace(
        base,
        scenario=dataclasses.replace(
            base.scenario, istiod=dataclasses.replace(base.scenario.istiod, max_requests_per_second=5.0)
        ),
    )
    stream = endpoint_events(cluster, [1.0])
    stream = dataclasses.replace(stream, events=stream.events.assign(kind="istiod_restart", cause="istiod_restart"))
    run = simulate(cluster, stream)
    assert run.recorder.jobs_by_kind.tolist() == [0, 0, 10]
    converged = np.sort(run.recorder.proxy_last_converged[:10])
    np.testing.assert_allclose(np.diff(converged), 0.2, atol=1e-9)
    assert converged[0] > 1.0 + COST_S
    assert run.connected[:10].all()


def test_istiod_replicas_fan_out_apart_and_each_equals_istios_loop(write_scenario: Callable[..., Path]) -> None:
    # Three istiod replicas serve proxies p % 3 with their own queue, slots and cores; the
    # replicas are scheduled together (one row each), which must change nothing: each replica's
    # proxies get what one istiod pushing only them would give.
    proxies, istiods, throttle, cores = 17, 3, 2, 1
    cluster = tiny(write_scenario, replicas=proxies, throttle=throttle, cores=cores, istiods=istiods)
    times = np.round(np.cumsum(np.random.default_rng(7).exponential(0.3, 12)) + 1.0, 4).tolist()
    run = simulate(cluster, endpoint_events(cluster, times))
    for r in range(istiods):
        mine = np.arange(r, proxies, istiods)
        jobs, done = one_by_one(times, len(mine), throttle=throttle, cores=cores, seed=cluster.scenario.seed, replica=r)
        assert run.recorder.proxy_jobs[mine].tolist() == jobs.tolist(), r
        np.testing.assert_allclose(run.recorder.proxy_last_converged[mine], done, atol=1e-9)
    assert run.recorder.proxy_jobs[:proxies].sum() < proxies * len(times), "some pushes merged"


def test_the_config_model_refuses_a_change_the_fan_out_did_not_commit_before(
    write_scenario: Callable[..., Path],
) -> None:
    # A proxy push dispatched before a change must be priced from the configs as they were: the
    # fan-out commits first, and the config model it prices from refuses any change made past it.
    cluster = tiny(write_scenario, replicas=3, throttle=1, cores=1)
    stream = endpoint_events(cluster, [1.0])
    cols = cluster_columns(cluster)
    accounting = design_accounting(cluster, get_design("single-stack"), cols)
    simulation = _Simulation(cluster, cols, stream, Seers(cluster), accounting, load_calibration(), None)
    with pytest.raises(RuntimeError, match="before the push fan-out committed"):
        simulation.model.set_state(0, 0)
    with pytest.raises(RuntimeError, match="before the push fan-out committed"):
        simulation.model.delete_service(0)
    changed = simulation.fanout.set_endpoints(0.5, 0, 0)  # through the fan-out: committed, then changed
    assert changed.tolist() == [0]
    simulation.fanout.delete_service(0.6, 0)
    assert not simulation.model.alive[0]
