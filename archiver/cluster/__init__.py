"""Scale-out over a Dask cluster: shards of whole hosts captured by workers, indexed here.

`shards` partitions (pure), `worker` is what runs on a Dask worker (capture a shard into its own
WARC files, return rows and results), `dask_runner` is the adapter the use cases are handed
through `work_runner`. Nothing imports Dask unless a cluster is named.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from archiver.config import Config

if TYPE_CHECKING:
    from archiver.pipeline.capture import WorkRunner


@contextlib.asynccontextmanager
async def work_runner(config: Config, given: WorkRunner | None = None) -> AsyncIterator[WorkRunner | None]:
    """The runner to use: the one given, else the cluster `[cluster] address` names, else None (in-process)."""
    if given is not None or not config.cluster.address:
        yield given
        return
    from archiver.cluster.dask_runner import DaskRunner  # Dask is imported only when a cluster is named

    async with DaskRunner(config) as runner:
        yield runner
