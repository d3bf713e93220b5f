"""Access logs, as istiod writes them from ``meshConfig.accessLogFile`` (Istio 1.17 to HEAD, but the
empty ``json_format_options`` of a JSON format, written since 1.21 (#48882):
``pilot/pkg/networking/core/accesslog.go``, ``pilot/pkg/model/telemetry_logging.go``).

One file access log, built once from the mesh's path, encoding and format, goes into every HTTP
connection manager and every ``tcp_proxy`` a sidecar has (``setHTTPAccessLog``,
``setTCPAccessLog``), except the two blackhole chains of the virtual listeners, which Istio builds
without one (``blackholeFilterChain`` and virtualInbound's port-15006 chain). Both virtual
listeners also carry it at listener level, filtered to the connections no chain takes (response
flag ``NR``), unless ``meshConfig.disableEnvoyListenerLog`` (``setListenerAccessLog``).

dsim adds the logs to listeners after building them (:func:`add_access_logs`), in the protobuf
path and to the accounting's templates alike, so both carry the same bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from typing import Any

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.formatter.req_without_query.v3 import req_without_query_pb2
from google.protobuf import struct_pb2
from google.protobuf.message import Message

from dsim.scenario.model import Mesh
from dsim.xds.common import BLACKHOLE_CHAIN_SUFFIX, HCM_NAME, TCP_PROXY_NAME, pack

FILE_ACCESS_LOG = "envoy.access_loggers.file"

ISTIO_TEXT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% '
    '%PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% '
    "%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% '
    '%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" '
    '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" '
    "%UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% "
    "%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)
"""Istio's text format without ``accessLogFormat`` (``EnvoyTextLogFormat``, the same since Istio 1.9's
``UPSTREAM_CLUSTER_RAW`` change, up to HEAD)."""

ISTIO_JSON_FORMAT: dict[str, str] = {
    "start_time": "%START_TIME%",
    "route_name": "%ROUTE_NAME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "duration": "%DURATION%",
    "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
    "user_agent": "%REQ(USER-AGENT)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "authority": "%REQ(:AUTHORITY)%",
    "upstream_host": "%UPSTREAM_HOST%",
    "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",
    "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "requested_server_name": "%REQUESTED_SERVER_NAME%",
    "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
}
"""Istio's JSON format without ``accessLogFormat`` (``EnvoyJSONLogFormatIstio``, Istio 1.9 to HEAD)."""

REQ_WITHOUT_QUERY = "%REQ_WITHOUT_QUERY"
"""A format using this command gets Envoy's ``req_without_query`` formatter extension
(``accessLogTextFormatters``, ``accessLogJSONFormatters``)."""


COMMAND_OPERATOR = re.compile(r"%[A-Z][A-Z0-9_]*(?:\([^)]*\))?(?::[0-9]+)?%")
"""One of Envoy's command operators in a format string (``%NAME%``, ``%NAME(args)%``, ``%NAME(args):Z%``):
Envoy builds a formatter of its own for each, which is what an access log's memory grows with."""


def command_operators(log: file_pb2.FileAccessLog) -> int:
    """The command operators in ``log``'s format: its text, or every string of its JSON object."""
    log_format = log.log_format
    if log_format.HasField("json_format"):
        return sum(len(COMMAND_OPERATOR.findall(text)) for text in _strings(log_format.json_format))
    return len(COMMAND_OPERATOR.findall(log_format.text_format_source.inline_string))


def _strings(value: struct_pb2.Struct | struct_pb2.ListValue) -> list[str]:
    items = value.fields.values() if isinstance(value, struct_pb2.Struct) else value.values
    found: list[str] = []
    for item in items:
        kind = item.WhichOneof("kind")
        if kind == "string_value":
            found.append(item.string_value)
        elif kind in ("struct_value", "list_value"):
            found.extend(_strings(getattr(item, kind)))
    return found


def _mentions_req_without_query(value: Any) -> bool:
    """Whether a JSON format's top-level string values use ``%REQ_WITHOUT_QUERY`` (Istio looks no deeper)."""
    return isinstance(value, str) and REQ_WITHOUT_QUERY in value


@dataclasses.dataclass(frozen=True, kw_only=True)
class AccessLogging:
    """The mesh's access log settings, and the messages istiod builds from them."""

    path: str
    encoding: str
    format: str
    listener_log: bool

    @classmethod
    def of(cls, mesh: Mesh) -> AccessLogging | None:
        """The mesh's access logging; ``None`` when ``access_log_file`` is empty (no access log)."""
        if not mesh.access_log_file:
            return None
        return cls(
            path=mesh.access_log_file,
            encoding=mesh.access_log_encoding,
            format=mesh.access_log_format,
            listener_log=not mesh.disable_envoy_listener_log,
        )

    def _file_log(self) -> file_pb2.FileAccessLog:
        """``FileAccessLogFromMeshConfig``: the path, and the format of the encoding."""
        log = file_pb2.FileAccessLog(path=self.path)
        formatter_needed = False
        if self.encoding == "TEXT":
            text = self.format or ISTIO_TEXT_FORMAT
            if not text.endswith("\n"):  # the API: "Istio will insert a newline on all formats (if missing)"
                text += "\n"
            log.log_format.text_format_source.inline_string = text
            formatter_needed = REQ_WITHOUT_QUERY in text
        else:
            fields = json.loads(self.format) if self.format else ISTIO_JSON_FORMAT
            log.log_format.json_format.CopyFrom(_struct(fields))
            # Istio 1.21+ writes it, empty (SortProperties: false); dsim follows the newer versions.
            log.log_format.json_format_options.SetInParent()
            formatter_needed = any(_mentions_req_without_query(v) for v in fields.values())
        if formatter_needed:
            log.log_format.formatters.add(
                name="envoy.formatter.req_without_query", typed_config=pack(req_without_query_pb2.ReqWithoutQuery())
            )
        return log

    @functools.cached_property
    def operators(self) -> int:
        """Command operators in each of its access logs (:func:`command_operators`)."""
        return command_operators(self._file_log())

    @functools.cached_property
    def entry(self) -> accesslog_pb2.AccessLog:
        """What every connection manager and ``tcp_proxy`` carries (built once, as istiod caches it;
        appending it copies it)."""
        return accesslog_pb2.AccessLog(name=FILE_ACCESS_LOG, typed_config=pack(self._file_log()))

    @functools.cached_property
    def listener_entry(self) -> accesslog_pb2.AccessLog:
        """What a virtual listener carries: the same, for connections no chain took (``NR``)."""
        entry = accesslog_pb2.AccessLog()
        entry.CopyFrom(self.entry)
        entry.filter.response_flag_filter.flags.append("NR")
        return entry


def _struct(fields: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(fields)
    return message


_TERMINALS: dict[str, type[Message]] = {
    HCM_NAME: hcm_pb2.HttpConnectionManager,
    TCP_PROXY_NAME: tcp_proxy_pb2.TcpProxy,
}
"""The network filters that carry access logs (every dsim chain ends in one), by name: their configs."""


def _chains(listener: listener_pb2.Listener) -> list[lc.FilterChain]:
    """The listener's chains, its default one included."""
    chains = [*listener.filter_chains]
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    return chains


def add_chain_logs(chain: lc.FilterChain, logging: AccessLogging | None) -> None:
    """The mesh's access log in ``chain``'s connection manager or ``tcp_proxy`` (nothing when
    ``logging`` is ``None``)."""
    if logging is None:
        return
    for network_filter in chain.filters:
        kind = _TERMINALS.get(network_filter.name)
        if kind is not None:
            message = kind()
            network_filter.typed_config.Unpack(message)
            message.access_log.append(logging.entry)
            network_filter.typed_config.CopyFrom(pack(message))


def add_access_logs(listener: listener_pb2.Listener, logging: AccessLogging | None, *, virtual: bool = False) -> None:
    """Istio's access logs in ``listener`` (built without them): in each chain's connection manager or
    ``tcp_proxy``, and at listener level on a ``virtual`` one (virtualOutbound, virtualInbound), whose
    blackhole chain gets none. Nothing when ``logging`` is ``None``."""
    if logging is None:
        return
    for chain in _chains(listener):
        if not (virtual and chain.name.endswith(BLACKHOLE_CHAIN_SUFFIX)):
            add_chain_logs(chain, logging)
    if virtual and logging.listener_log:
        listener.access_log.append(logging.listener_entry)


def access_log_counts(listener: listener_pb2.Listener) -> tuple[int, int]:
    """The access logs Envoy instantiates for ``listener`` (its own and its chains' filters'), and
    the command operators in their formats."""
    logs = list(listener.access_log)
    for chain in _chains(listener):
        for network_filter in chain.filters:
            kind = _TERMINALS.get(network_filter.name)
            if kind is not None:
                message = kind()
                network_filter.typed_config.Unpack(message)
                logs.extend(message.access_log)
    operators = 0
    for log in logs:
        file_log = file_pb2.FileAccessLog()
        log.typed_config.Unpack(file_log)
        operators += command_operators(file_log)
    return len(logs), operators
