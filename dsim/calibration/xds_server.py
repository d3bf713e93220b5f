"""An in-process xDS server on 127.0.0.1, the way istiod serves a sidecar: ADS (state of the
world) for listeners, clusters, routes and endpoints, and SDS for certificates (istio-agent's part).

It holds one snapshot. Nothing is sent until :meth:`XdsServer.release` — so the caller can read
Envoy's idle CPU time first — and then every request is answered with the resources it names
(all of them for the wildcard types). It records ACKs and NACKs, and marks the moment the
whole snapshot has been accepted.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent import futures

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from envoy.service.secret.v3 import sds_pb2_grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message

from dsim.xds.common import pack

TYPE_PREFIX = "type.googleapis.com/"
_VERSION = "1"
_MAX_MESSAGE_BYTES = 1 << 30  # a whole large config in one response, as Envoy accepts it


def type_url(message: Message) -> str:
    return TYPE_PREFIX + message.DESCRIPTOR.full_name


@dataclasses.dataclass
class _TypeState:
    resources: dict[str, any_pb2.Any]
    sent_names: frozenset[str] | None = None
    nonce: str = ""
    acked_names: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Rejection:
    """A NACK: the type and Envoy's error detail."""

    type_url: str
    message: str


class XdsServer:
    """Serves one snapshot of named resources over ADS and SDS; see the module docstring."""

    def __init__(
        self,
        resources: Mapping[str, Mapping[str, Message]],
        *,
        served: Mapping[str, Mapping[str, Message]],
    ) -> None:
        """``resources`` must all be ACKed; ``served`` (certificates) are answered when asked for."""
        self._types = {url: _TypeState({n: pack(m) for n, m in named.items()}) for url, named in resources.items()}
        self._required = frozenset(self._types)
        for url, named in served.items():
            self._types[url] = _TypeState({n: pack(m) for n, m in named.items()})
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._connected = threading.Event()
        self._done = threading.Event()
        self._nonces = 0
        self.rejections: list[Rejection] = []
        self.released_at = 0.0
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="dsim-xds"),
            options=[
                ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ],
        )
        streams = _Streams(self)
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(streams, self._server)
        sds_pb2_grpc.add_SecretDiscoveryServiceServicer_to_server(streams, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def __enter__(self) -> XdsServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()  # unblock any stream still waiting, so the server can stop
        self._server.stop(grace=None)

    def wait_connected(self, timeout: float) -> bool:
        """Whether Envoy opened its ADS stream within ``timeout`` seconds."""
        return self._connected.wait(timeout)

    def release(self) -> None:
        """Start answering requests."""
        self.released_at = time.perf_counter()
        self._released.set()

    def wait_accepted(self, timeout: float) -> bool:
        """Whether every resource was ACKed (or something was NACKed) within ``timeout`` seconds."""
        return self._done.wait(timeout)

    def stream(self, requests: Iterator[discovery_pb2.DiscoveryRequest]) -> Iterator[discovery_pb2.DiscoveryResponse]:
        for request in requests:
            self._connected.set()
            self._released.wait()
            response = self._answer(request)
            if response is not None:
                yield response

    def _answer(self, request: discovery_pb2.DiscoveryRequest) -> discovery_pb2.DiscoveryResponse | None:
        with self._lock:
            state = self._types.setdefault(request.type_url, _TypeState({}))
            if request.response_nonce and request.response_nonce == state.nonce:
                if request.HasField("error_detail"):
                    self.rejections.append(Rejection(type_url=request.type_url, message=request.error_detail.message))
                    self._done.set()
                else:
                    state.acked_names = state.sent_names or frozenset()
                    self._check_accepted()
            names = frozenset(request.resource_names) or frozenset(state.resources)
            if names == state.sent_names:
                return None
            self._nonces += 1
            state.sent_names, state.nonce = names, str(self._nonces)
            return discovery_pb2.DiscoveryResponse(
                version_info=_VERSION,
                type_url=request.type_url,
                nonce=state.nonce,
                resources=[state.resources[n] for n in sorted(names) if n in state.resources],
            )

    def _check_accepted(self) -> None:
        if self._done.is_set():
            return
        if all(set(self._types[url].resources) <= self._types[url].acked_names for url in self._required):
            self._done.set()


class _Streams(ads_pb2_grpc.AggregatedDiscoveryServiceServicer, sds_pb2_grpc.SecretDiscoveryServiceServicer):
    """Both services' state-of-the-world streams, answered by one server (as ADS and SDS share
    a protocol: the request names a type and resources, the response carries them)."""

    def __init__(self, server: XdsServer) -> None:
        self._server = server

    def StreamAggregatedResources(  # noqa: N802 (the gRPC method's name)
        self, request_iterator: Iterator[discovery_pb2.DiscoveryRequest], context: grpc.ServicerContext
    ) -> Iterator[discovery_pb2.DiscoveryResponse]:
        return self._server.stream(request_iterator)

    StreamSecrets = StreamAggregatedResources  # SDS: the same exchange on another service name
