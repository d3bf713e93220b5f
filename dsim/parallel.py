"""Where a run's independent pieces (one design's push simulation each) are computed: in this
process, or as Dask tasks on a local cluster of worker processes or on a running scheduler by
address. What is computed does not depend on where: every piece is seeded from the scenario."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from dsim.errors import DsimError
from dsim.interrupts import deferred

if TYPE_CHECKING:
    from distributed import Client

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Compute:
    """Where to compute."""

    workers: int = 1
    """Worker processes of a local Dask cluster; 1 computes in this process, without Dask."""
    scheduler: str | None = None
    """Address of a running Dask scheduler (``tcp://host:8786``); its workers compute (``workers``
    is then not used)."""
    connect_timeout_s: float = 10.0
    """How long to try reaching ``scheduler``."""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise DsimError(f"workers: must be at least 1 (got {self.workers})")

    @property
    def in_process(self) -> bool:
        return self.scheduler is None and self.workers == 1

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"dask scheduler {self.scheduler}"
        return "this process" if self.workers == 1 else f"local dask cluster, {self.workers} worker processes"


def map_in_order(
    task: Callable[..., Result],
    items: Sequence[Item],
    *,
    compute: Compute,
    shared: dict[str, Any],
    on_done: Callable[[Item, Result], None] | None = None,
    client: Client | None = None,
) -> list[Result]:
    """``[task(item, **shared) for item in items]``, computed where ``compute`` says (``shared``
    sent to each worker once); ``on_done(item, result)`` as each finishes. ``client``: one already
    open on ``compute`` (:func:`connected`), kept open for further calls; default: a new one, closed
    on return."""
    if compute.in_process:
        results = []
        for item in items:
            results.append(task(item, **shared))
            if on_done is not None:
                on_done(item, results[-1])
        return results
    from distributed import as_completed

    with contextlib.nullcontext(client) if client is not None else _client(compute) as opened:
        with deferred():  # cut short, the scheduler's broadcast fails on the closing workers, loudly
            sent = {name: opened.scatter(value, broadcast=True) for name, value in shared.items()}
        futures = [opened.submit(task, item, **sent, pure=False) for item in items]
        position = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            if on_done is not None:
                on_done(items[position[future.key]], future.result())
        return list(opened.gather(futures))


@contextlib.contextmanager
def connected(compute: Compute) -> Iterator[Client | None]:
    """A Dask client on ``compute`` for several :func:`map_in_order` calls (a local cluster starts
    once, not per call), closed when the block ends; None when ``compute`` is this process."""
    if compute.in_process:
        yield None
        return
    with _client(compute) as client:
        yield client


@contextlib.contextmanager
def _client(compute: Compute) -> Iterator[Client]:
    with contextlib.ExitStack() as started:
        # Interrupted halfway, a starting cluster could not be closed (its workers would outlive
        # dsim): a signal waits until it is up, then closes it like any other.
        with deferred():
            client = _start(compute, started)
        yield client


def _start(compute: Compute, started: contextlib.ExitStack) -> Client:
    """A client of the scheduler ``compute`` names, or of a new local cluster; ``started``
    closes them."""
    import dask
    from distributed import Client, LocalCluster

    if compute.scheduler is not None:
        try:
            client = Client(compute.scheduler, timeout=f"{compute.connect_timeout_s}s")
        except (OSError, TimeoutError) as error:
            raise DsimError(
                f"scheduler: cannot reach a Dask scheduler at {compute.scheduler!r} "
                f"within {compute.connect_timeout_s:g} s ({error})"
            ) from None
        return started.enter_context(client)
    # The scheduler's and workers' scratch space is this run's own temporary folder, removed once
    # they have stopped (Dask's default, a shared dask-scratch-space under $TMPDIR, outlives runs).
    scratch = started.enter_context(tempfile.TemporaryDirectory(prefix="dsim-dask-"))
    started.enter_context(dask.config.set({"temporary-directory": scratch}))
    # One thread per process: the simulation is NumPy-bound Python, which threads would serialize.
    # Logs: a task's error reaches the client as its exception; below CRITICAL, workers only
    # report their scheduler going away, which an interrupted run (Ctrl-C, SIGTERM) makes happen.
    cluster = started.enter_context(
        LocalCluster(
            n_workers=compute.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # Without an address the scheduler still serves HTTP, on every interface and first on
            # Dask's 8787: busy (another Dask on the machine), it warns on stderr. A free loopback port.
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.CRITICAL,
        )
    )
    return started.enter_context(Client(cluster))
