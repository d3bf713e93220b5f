"""Where a run's independent pieces (one design's push simulation each) are computed: in this
process, or as Dask tasks on a local cluster of worker processes or on a running scheduler by
address. What is computed does not depend on where: every piece is seeded from the scenario."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from dsim.errors import DsimError

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
) -> list[Result]:
    """``[task(item, **shared) for item in items]``, computed where ``compute`` says (``shared``
    sent to each worker once); ``on_done(item, result)`` as each finishes."""
    if compute.in_process:
        results = []
        for item in items:
            results.append(task(item, **shared))
            if on_done is not None:
                on_done(item, results[-1])
        return results
    from distributed import as_completed

    with _client(compute) as client:
        sent = {name: client.scatter(value, broadcast=True) for name, value in shared.items()}
        futures = [client.submit(task, item, **sent, pure=False) for item in items]
        position = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            if on_done is not None:
                on_done(items[position[future.key]], future.result())
        return list(client.gather(futures))


@contextlib.contextmanager
def _client(compute: Compute) -> Iterator[Client]:
    from distributed import Client, LocalCluster

    if compute.scheduler is not None:
        try:
            client = Client(compute.scheduler, timeout=f"{compute.connect_timeout_s}s")
        except (OSError, TimeoutError) as error:
            raise DsimError(
                f"scheduler: cannot reach a Dask scheduler at {compute.scheduler!r} "
                f"within {compute.connect_timeout_s:g} s ({error})"
            ) from None
        with client:
            yield client
        return
    # One thread per process: the simulation is NumPy-bound Python, which threads would serialize.
    with (
        LocalCluster(
            n_workers=compute.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
