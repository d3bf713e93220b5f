"""Retry policies of HTTP routes, as Istio's ``route/retry/retry.go`` writes them.

Istio gives every route that forwards a retry policy: a VirtualService route's ``retries``, else the
mesh's ``defaultHttpRetryPolicy``, else its own default (2 retries on connect failures, refused
streams, unavailable and cancelled, and 503), converted alike (``ConvertPolicy``).
"""

from __future__ import annotations

import re

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.extensions.retry.priority.previous_priorities.v3.previous_priorities_config_pb2 import (
    PreviousPrioritiesConfig,
)
from google.protobuf import wrappers_pb2

from dsim.scenario.istio.virtual_service import HTTPRetry
from dsim.xds.common import duration, pack

_STATUS_CODE = re.compile(r"[+-]?[0-9]+")
RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
RETRIABLE_STATUS_CODES = "retriable-status-codes"
PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities"


def default_retry_policy(consistent_hash: bool = False) -> rc.RetryPolicy:
    """Istio's retry policy where neither the route nor the mesh sets one (``retry.DefaultPolicy``;
    with ``[503]`` as through Istio 1.23, as the golden dumps show); a route with a consistent hash
    has no previous-hosts predicate (``DefaultConsistentHashPolicy``)."""
    return rc.RetryPolicy(
        retry_on=RETRY_ON,
        num_retries=wrappers_pb2.UInt32Value(value=2),
        retry_host_predicate=[] if consistent_hash else [previous_hosts()],
        host_selection_retry_max_attempts=5,
        retriable_status_codes=[503],
    )


def previous_hosts() -> rc.RetryPolicy.RetryHostPredicate:
    """Retry on another host than the ones tried."""
    return rc.RetryPolicy.RetryHostPredicate(
        name="envoy.retry_host_predicates.previous_hosts",
        typed_config=pack(previous_hosts_pb2.PreviousHostsPredicate()),
    )


def retry_policy(retries: HTTPRetry | None, consistent_hash: bool = False) -> rc.RetryPolicy | None:
    """``ConvertPolicy``: the default without ``retries``, none for ``attempts: 0``, else the route's;
    under a consistent hash without the previous-hosts predicate (a retry stays on its host) unless
    ``retryIgnorePreviousHosts`` asks for it; ``retryRemoteLocalities`` as Envoy's previous-priorities
    retry priority (updated every 2 attempts, ``buildPreviousPrioritiesConfig``); ``backoff`` as the
    base interval."""
    if retries is None:
        return default_retry_policy(consistent_hash)
    if retries.attempts <= 0:
        return None
    policy = default_retry_policy(consistent_hash)
    policy.num_retries.value = retries.attempts
    if retries.retry_on:
        names, codes = [], []
        for part in (p.strip() for p in retries.retry_on.split(",")):
            if _STATUS_CODE.fullmatch(part):  # Go's strconv.Atoi, as Istio's parseRetryOn: "+503" too
                codes.append(int(part))
            elif part:
                names.append(part)
        if codes and RETRIABLE_STATUS_CODES not in names:
            names.append(RETRIABLE_STATUS_CODES)
        policy.retry_on = ",".join(names)
        del policy.retriable_status_codes[:]
        policy.retriable_status_codes.extend(codes)
    if retries.per_try_timeout is not None:
        policy.per_try_timeout.CopyFrom(duration(retries.per_try_timeout))
    if retries.retry_ignore_previous_hosts is not None:
        del policy.retry_host_predicate[:]
        if retries.retry_ignore_previous_hosts:  # asked for, even under a consistent hash
            policy.retry_host_predicate.append(previous_hosts())
    if retries.retry_remote_localities:
        policy.retry_priority.name = PREVIOUS_PRIORITIES
        policy.retry_priority.typed_config.Pack(PreviousPrioritiesConfig(update_frequency=2))
    if retries.backoff is not None:
        policy.retry_back_off.base_interval.CopyFrom(duration(retries.backoff))
    return policy
