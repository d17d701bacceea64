"""Scale-out over a Dask cluster: shards of whole hosts captured by workers, indexed here.

`shards` partitions (pure), `worker` is what runs on a Dask worker (capture a shard into its own
WARC files, return rows and results), `dask_runner` is the adapter the use cases are handed
through `work_runner` / `with_cluster` (by the CLI, the API and the nightly run: the pipeline only
takes a runner). Nothing imports Dask unless a cluster is named.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from archiver.config import Config

if TYPE_CHECKING:
    from archiver.pipeline.capture import WorkRunner

T = TypeVar("T")


@contextlib.asynccontextmanager
async def work_runner(config: Config, given: WorkRunner | None = None) -> AsyncIterator[WorkRunner | None]:
    """The runner to use: the one given, else the cluster `[cluster] address` names, else None (in-process)."""
    if given is not None or not config.cluster.address:
        yield given
        return
    from archiver.cluster.dask_runner import DaskRunner  # Dask is imported only when a cluster is named

    async with DaskRunner(config) as runner:
        yield runner


async def with_cluster(config: Config, job: Callable[[WorkRunner | None], Awaitable[T]]) -> T:
    """Run `job(runner)` with the cluster `[cluster] address` names (None: in-process), then close it."""
    async with work_runner(config) as runner:
        return await job(runner)
