"""istiod's CPU to send xDS responses: a gRPC stream over TLS on 127.0.0.1, and the cipher alone.

Prints, in one run:
1. for a server-streaming gRPC call on 127.0.0.1 (the project's grpcio, C-core; the server in its own
   process, port from the kernel), over TLS 1.3 and over plaintext, the server process's CPU per
   response for responses of 1 kB to 4 MB, and a least-squares line over the sizes: a fixed cost
   per response and a cost per byte, each with a 95% interval; the TLS/plaintext ratio of both;
2. ``openssl speed -evp aes-128-gcm`` (TLS 1.3's default suite in Go): the cipher alone, ns per byte.
The server holds the mesh's certificates (:func:`dsim.calibration.secrets.mesh_certificates`: EC
P-256, a fresh root) with ``localhost`` added to the SPIFFE identity, for gRPC's host-name check.
The server's per-response Python (a generator yielding a prebuilt ``bytes``) is part of the fixed
cost measured here; Go's istiod pays its own instead.
Run: ``python bench/send_cost.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import subprocess
import time
from concurrent import futures

import grpc
import numpy as np
from scipy import stats

from dsim.calibration.secrets import mesh_certificates

SIZES = [1_000, 10_000, 100_000, 1_000_000, 4_000_000]
_BYTES_PER_CALL = 64_000_000
_METHOD_STREAM = "/dsim.Send/Stream"
_METHOD_CPU = "/dsim.Send/Cpu"


def _serve(tls: tuple[bytes, bytes] | None, port_out: mp.connection.Connection, stop: mp.Event) -> None:
    payloads: dict[int, bytes] = {}

    def stream(request: bytes, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        size, count = (int(x) for x in request.decode().split(","))
        payload = payloads.setdefault(size, bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8)))
        for _ in range(count):
            yield payload

    def cpu(request: bytes, context: grpc.ServicerContext) -> bytes:
        return repr(time.process_time()).encode()

    handler = grpc.method_handlers_generic_handler(
        "dsim.Send",
        {
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
            "Cpu": grpc.unary_unary_rpc_method_handler(cpu),
        },
    )
    options = [("grpc.max_send_message_length", 64 << 20)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=options)
    server.add_generic_rpc_handlers((handler,))
    if tls is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(tls[0], tls[1])]))
    server.start()
    port_out.send(port)
    stop.wait()
    server.stop(None)


def _measure(secure: bool, repeats: int) -> list[tuple[int, float]]:
    """(size, server CPU seconds per response) for every size and repeat."""
    made = mesh_certificates(host="localhost")
    root, chain, key = made.root_pem, made.workload_chain_pem, made.workload_key_pem
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    stop = ctx.Event()
    proc = ctx.Process(target=_serve, args=((key, chain) if secure else None, child, stop))
    proc.start()
    port = parent.recv()
    options = [("grpc.max_receive_message_length", 64 << 20)]
    if secure:
        channel = grpc.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(root), options=options)
    else:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=options)
    stream = channel.unary_stream(_METHOD_STREAM)
    cpu = channel.unary_unary(_METHOD_CPU)
    out = []
    try:
        for _ in stream(b"1000,10"):  # warm: handshake, connection windows
            pass
        for _ in range(repeats):
            for size in SIZES:
                count = max(_BYTES_PER_CALL // size, 20)
                count = min(count, 20_000)
                before = float(cpu(b""))
                for _ in stream(f"{size},{count}".encode()):
                    pass
                out.append((size, (float(cpu(b"")) - before) / count))
    finally:
        channel.close()
        stop.set()
        proc.join()
    return out


def _fit(points: list[tuple[int, float]]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Least squares ``cpu = fixed + per_byte × size``, weighted by relative error (sizes span
    three decades: unweighted, the 4 MB points alone would set the intercept): (fixed s,
    95% half-width), (per byte s, 95% half-width)."""
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points])
    (slope, intercept), cov = np.polyfit(x, y, 1, w=1 / y, cov=True)
    t = stats.t.ppf(0.975, len(x) - 2)
    return (intercept, t * np.sqrt(cov[1, 1])), (slope, t * np.sqrt(cov[0, 0]))


def _openssl(cipher: str) -> float:
    """ns per byte for the cipher on 16 kB blocks (a TLS record), one core."""
    text = subprocess.run(
        ["openssl", "speed", "-elapsed", "-seconds", "2", "-bytes", "16384", "-evp", cipher],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = [ln for ln in text.splitlines() if ln.lower().startswith(cipher.lower())][-1]
    kbps = float(re.findall(r"([\d.]+)k", line)[-1])
    return 1e9 / (kbps * 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"grpcio {grpc.__version__}; sizes {SIZES} B; server CPU = its process_time; {args.repeats} repeats")
    fits = {}
    for secure in (True, False):
        name = "TLS" if secure else "plaintext"
        points = _measure(secure, args.repeats)
        for size in SIZES:
            per = [p[1] for p in points if p[0] == size]
            median = float(np.median(per))
            print(f"  {name:9s} {size:>9,d} B: {1e6 * median:9.1f} µs/response ({1e9 * median / size:.3f} ns/B)")
        (fixed, fixed_hw), (slope, slope_hw) = _fit(points)
        fits[name] = (fixed, slope)
        print(
            f"{name}: fixed {1e6 * fixed:.1f} ± {1e6 * fixed_hw:.1f} µs/response, "
            f"{1e9 * slope:.3f} ± {1e9 * slope_hw:.3f} ns/byte"
        )
    tls, plain = fits["TLS"], fits["plaintext"]
    print(
        f"TLS/plaintext: fixed {tls[0] / plain[0]:.2f}×, per byte {tls[1] / plain[1]:.2f}×; "
        f"TLS's own per byte {1e9 * (tls[1] - plain[1]):.3f} ns"
    )
    for cipher in ("aes-128-gcm", "aes-256-gcm"):
        print(f"openssl speed -evp {cipher} (16 kB blocks): {_openssl(cipher):.3f} ns/byte")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
