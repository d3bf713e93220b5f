"""What dsim derives from a cluster and caches per cluster (its config index, mesh objects, port-80
virtual hosts, ServiceEntry index, import scopes, ingress rows) lets the cluster go when nobody
else holds it: a long-lived process (a sweep's points computed in process, a notebook's what-ifs)
builds many clusters, and memory must not grow with each one."""

from __future__ import annotations

import gc
import pickle
import weakref

from dsim import build_cluster, get_design, load_calibration, scenario_from_dict
from dsim.accounting.proxies import vectorized_sizes
from dsim.pushsim.runner import push_tables
from dsim.xds.mesh_objects import mesh_objects
from dsim.xds.port80_vhosts import port80_vhosts
from dsim.xds.view import index_for
from tests.config_helpers import config_of
from tests.test_port80_vhosts import mesh_spec


def _used_and_dropped() -> list[weakref.ref[object]]:
    spec = {**mesh_spec("dependencies"), "churn": {"duration_s": 60, "virtual_service_changes_per_hour": 600}}
    cluster = build_cluster(scenario_from_dict(spec))
    vectorized_sizes(cluster, get_design("duplicate"))  # the accounting's caches
    config_of(cluster, "pay/api", "additional-addresses")  # the protobuf path's
    push_tables(cluster, ["single-stack"], load_calibration())  # the push model's
    derived = [index_for(cluster), mesh_objects(cluster), port80_vhosts(cluster)]
    return [weakref.ref(cluster), *(weakref.ref(d) for d in derived)]


def test_a_cluster_nobody_holds_is_freed_with_what_was_derived_from_it() -> None:
    gone = _used_and_dropped()
    gc.collect()
    assert [ref() is None for ref in gone] == [True] * len(gone)


def test_what_is_kept_on_a_cluster_is_left_behind_when_it_is_pickled() -> None:
    """A cluster sent to a Dask worker goes without its derived objects (the worker derives its own)."""
    cluster = build_cluster(scenario_from_dict(mesh_spec()))
    index_for(cluster)
    mesh_objects(cluster)
    copy = pickle.loads(pickle.dumps(cluster))
    assert cluster.keep("mesh_objects", lambda: None) is mesh_objects(cluster)
    assert copy.keep("mesh_objects", lambda: None) is None  # nothing kept came along
    assert len(copy.services) == len(cluster.services)
