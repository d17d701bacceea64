"""The Dask adapter: shards submitted to a scheduler, their rows indexed here as each part returns.

`tcp://host:8786` connects to a running scheduler (`dask worker --nthreads K`, K matching
`shards_per_worker`); `local:N` starts a LocalCluster of N worker processes. One task per part of
a shard of whole hosts, the next part submitted as the last returns; a worker killed mid-part is
Dask's to notice (it runs the task again elsewhere, where worker.py takes over what the dead one
stored). The coordinator indexes each part's rows once (deduped by capture id) and releases its
future so Dask never recomputes it; before the first part every worker must read the batch's token
from the archive folder. The synchronous client is waited on from a thread. See docs/scale.md."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import shutil
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import dask.config
from distributed import Client, Future, LocalCluster, as_completed, get_worker

from archiver.cluster.shards import Pace, plan_shards
from archiver.cluster.worker import (
    TOKEN_NAME,
    ShardResult,
    ShardTask,
    batch_folder,
    check_folder,
    hurry,
    journal_captures,
    prepare_worker,
    run_shard,
)
from archiver.config import Config
from archiver.errors import ClusterError, ClusterLost
from archiver.models import Capture
from archiver.pipeline.capture import CaptureEngine, CaptureResult

_log = logging.getLogger(__name__)

LOCAL_PREFIX = "local:"
CONNECT_TIMEOUT = "10s"
COORDINATOR_LOCK = "coordinator.lock"  # held while a batch runs, so a later one never replays it
# What a local cluster's workers are started with, measured on bench/cluster.py (docs/scale.md): a
# worker's shard loop cost 1.9 ms a page under Dask's defaults and 1.4 ms, as in-process, without
# them. Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 for numpy-sized arrays: glibc then hands
# freed memory back to the kernel all the time (and stops tuning its mmap threshold), and a capture
# that allocates and frees many small bodies pays it in page faults (the capture engine now sets
# the thresholds itself, pipeline/heap.py, so a real cluster's nanny cannot undo it). Its statistical profiler
# samples every thread 100 times a second, its system monitor reads /proc twice a second and its
# tick wakes the worker's loop every 20 ms, each taking the GIL from the shard loop: nobody reads
# a dashboard here. A real cluster's workers take these from their own Dask config (docs/scale.md).
LOCAL_WORKER_SETTINGS: dict[str, object] = {
    "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1},
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "10s",
    "distributed.admin.tick.interval": "1s",
}


# A part hands back its hosts split between idle workers only if each piece gets this many URLs:
# a smaller one costs a round trip for less work than it saves.
MIN_PIECE_URLS = 64


class PartRates:
    """How fast each running part is expected to get through its URLs: as fast as the part it
    follows did (URLs a second), unknown for a first part. A part nearly done is then not asked to
    end early for the little it has left; one whose pace is unknown is."""

    def __init__(self) -> None:
        self._running: dict[str, tuple[float, float | None]] = {}  # key -> (began, expected rate)

    def begin(self, key: str, now: float, rate: float | None = None) -> None:
        self._running[key] = (now, rate)

    def end(self, key: str, urls_done: int, now: float) -> float | None:
        """The rate the part `key` kept (None if it cannot tell), for the parts that follow it."""
        began, _ = self._running.pop(key, (now, None))
        return urls_done / (now - began) if now > began and urls_done > 0 else None

    def left(self, key: str, urls: int, now: float) -> float:
        """The URLs of the `urls` of part `key` it is expected not to have started yet."""
        began, rate = self._running.get(key, (now, None))
        return float(urls) if rate is None else max(0.0, urls - rate * (now - began))


def split_remaining(
    task: ShardTask,
    result: ShardResult,
    priors_of: dict[str, tuple[Capture, ...]],
    pieces: int,
    pace: Pace,
) -> list[ShardTask]:
    """What follows a part that handed back URLs: its continuation and, for `pieces` > 1, up to
    `pieces - 1` more parts that take some of its hosts (whole hosts, balanced by expected time).

    The first keeps the shard and the next part number (it goes back to the same worker); the
    others are new shards named after it, so every part keeps a journal folder of its own. Each
    host's next allowed start goes with the part that now holds the host.
    """
    remaining = result.remaining
    pieces = min(pieces, len(remaining) // MIN_PIECE_URLS) if pieces > 1 else 1
    plan = plan_shards(remaining, pieces, pace, 1) if pieces > 1 else ()
    groups = [(shard.urls, shard.hosts) for shard in plan] if len(plan) > 1 else [(remaining, task.hosts)]
    following = []
    for number, (urls, hosts) in enumerate(groups):
        held = set(hosts)  # the worker reports waits for its part's hosts only, so one piece keeps them all
        not_before = tuple((h, t) for h, t in result.not_before if h in held)
        priors = tuple(p for url in urls for p in priors_of.get(url, ()))
        piece = dataclasses.replace(task, urls=urls, hosts=hosts, not_before=not_before, priors=priors)
        if number == 0:
            following.append(dataclasses.replace(piece, part=task.part + 1))
        else:
            following.append(dataclasses.replace(piece, shard_id=f"{task.shard_id}.{task.part + 1}-{number}", part=0))
    return following


def _describe(address: str) -> str:
    return f"the Dask scheduler at {address}"


def run_here(task: ShardTask) -> tuple[str, ShardResult]:
    """The Dask task: one part of a shard, with the address of the worker that ran it."""
    return get_worker().address, run_shard(task)


class DaskRunner:
    """A WorkRunner over a Dask cluster (open it with `async with`)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.address = config.cluster.address
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        self.shards_done = 0
        self.parts_done = 0  # shard parts returned (a shard returns every cluster.part_seconds)
        self.hurried = 0  # parts asked to end early because a worker had gone idle
        self.splits = 0  # parts made of hosts handed back, for idle workers
        self.recovered = 0  # captures taken over from dead attempts (for reports and tests)
        self.replayed = 0  # captures of earlier, lost batches indexed at the start of a batch

    async def __aenter__(self) -> DaskRunner:
        await asyncio.to_thread(self._connect)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self._close)

    def _connect(self) -> None:
        address = self.address
        try:
            if address.startswith(LOCAL_PREFIX):
                count = address[len(LOCAL_PREFIX) :]
                if not count.isdigit() or int(count) < 1:
                    raise ClusterError(f"cluster address {address!r}: write local:N (N worker processes), e.g. local:2")
                with dask.config.set(LOCAL_WORKER_SETTINGS):  # the nannies hand these to their workers
                    self._cluster = LocalCluster(
                        n_workers=int(count),
                        # A worker runs its shards side by side (on one event loop: worker.shard_loop),
                        # so every host of the batch is fetched at once: a politeness-bound batch needs it.
                        threads_per_worker=self.config.cluster.shards_per_worker,
                        processes=True,
                        dashboard_address=":0",  # a random port: a second cluster on the machine must not clash
                        silence_logs=logging.ERROR,
                    )
                self._client = Client(self._cluster)
            else:
                self._client = Client(address, timeout=CONNECT_TIMEOUT)
            # The workers there now get ready while we set up; one that cannot run archiver's code
            # is named by the folder check, when a batch starts.
            self._client.run(prepare_worker, on_error="return")
        except (OSError, TimeoutError) as exc:
            self._close()
            raise ClusterError(
                f"no Dask scheduler answers at {address} ({exc}); start one (`dask scheduler`, then "
                "`dask worker ADDRESS` on each machine), or use --cluster local:N"
            ) from exc

    def _close(self) -> None:
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        with contextlib.suppress(Exception):  # closing after a lost scheduler must not hide why we stopped
            if client is not None:
                client.close(timeout=5)
        with contextlib.suppress(Exception):
            if cluster is not None:
                cluster.close(timeout=10)

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("DaskRunner used outside 'async with'")
        return self._client

    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    def _check_workers(self, batch: str, token: str) -> int:
        """Every worker reads the token; ClusterError names the ones that see another folder."""
        try:
            self.client.wait_for_workers(1, timeout=60)
            seen = self.client.run(check_folder, self.config.archive_dir, batch, token, on_error="return")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"{_describe(self.address)} has no worker that answers ({exc}); start workers") from exc
        wrong = [str(r) for r in seen.values() if isinstance(r, ClusterError)]
        broken = [f"{w} ({type(r).__name__}: {r})" for w, r in seen.items() if isinstance(r, BaseException)]
        if wrong:
            raise ClusterError("; ".join(wrong))
        if broken:
            raise ClusterError(
                f"workers cannot run archiver's tasks: {', '.join(broken)}; install the same archiver (with the "
                "[cluster] extra) on the scheduler and every worker"
            )
        return len(seen)

    def _tasks(
        self,
        urls: Sequence[str],
        engine: CaptureEngine,
        batch: str,
        token: str,
        workers: int,
        main: bool,
        with_text: bool,
        pace: Pace,
    ) -> tuple[list[ShardTask], dict[str, tuple[Capture, ...]]]:
        """The batch's shards, and each URL's priors (a later part of a shard is sent its URLs' again)."""
        index = engine.index
        tasks = []
        priors_of: dict[str, tuple[Capture, ...]] = {}
        cluster = self.config.cluster
        shards = plan_shards(urls, workers, pace, cluster.shards_per_worker, cluster.max_shard_urls)
        if index is not None:
            # Batched lookups (by URL, then by the final URL of those that redirected), a few hundred
            # URLs a query, instead of one or two queries per URL on the coordinator's one core.
            latest = index.latest_captures(u for shard in shards for u in shard.urls)
            finals = {c.final_url for u, c in latest.items() if c is not None and c.final_url and c.final_url != u}
            by_final = index.latest_captures(finals) if finals else {}
            for url, capture in latest.items():
                if capture is None:
                    continue
                found = [capture]
                if capture.final_url and capture.final_url != url:
                    extra = by_final.get(capture.final_url)
                    if extra is not None:
                        found.append(extra)
                priors_of[url] = tuple(found)
        for shard in shards:
            priors = tuple(p for url in shard.urls for p in priors_of.get(url, ()))
            tasks.append(
                ShardTask(self.config, batch, shard.id, shard.urls, token, main, priors, with_text, shard.hosts)
            )
        return tasks, priors_of

    async def capture_batches(
        self, urls: Sequence[str], engine: CaptureEngine, *, with_main_text: bool, with_text: bool = True
    ) -> AsyncGenerator[list[CaptureResult], None]:
        """Capture `urls` on the cluster; each shard's results are adopted into `engine`, then yielded."""
        if not urls:
            return
        batch = uuid.uuid4().hex[:16]
        folder = batch_folder(self.config.archive_dir, batch)
        folder.mkdir(parents=True, exist_ok=True)
        held = (folder / COORDINATOR_LOCK).open("w")
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        try:
            async for results in self._run_batch(urls, engine, batch, folder, with_main_text, with_text):
                yield results
        finally:
            held.close()

    async def _run_batch(
        self,
        urls: Sequence[str],
        engine: CaptureEngine,
        batch: str,
        folder: Path,
        with_main_text: bool,
        with_text: bool,
    ) -> AsyncGenerator[list[CaptureResult], None]:
        self.replayed += await asyncio.to_thread(self._replay_leftovers, engine, folder)
        token = uuid.uuid4().hex
        (folder / TOKEN_NAME).write_text(token + "\n", encoding="ascii")
        workers = await asyncio.to_thread(self._check_workers, batch, token)
        slots = sum((await asyncio.to_thread(self.client.nthreads)).values())  # parts that run at once
        pace = Pace(self.config.fetch.host_concurrency, self.config.fetch.host_interval)
        tasks, priors_of = self._tasks(urls, engine, batch, token, workers, with_main_text, with_text, pace)
        running: dict[str, ShardTask] = {}
        hurried: set[str] = set()
        rates = PartRates()
        futures: list[Future[Any]] = []

        def submit(task: ShardTask, where: str | None = None, rate: float | None = None) -> Future[Any]:
            # A later part goes back to the worker of the part before (its hosts' clocks and
            # connections are there), or anywhere if that worker is gone.
            key = f"archiver-{batch}-{task.part_id}"
            running[key] = task
            rates.begin(key, time.monotonic(), rate)
            if where is None:
                future = self.client.submit(run_here, task, key=key)
            else:
                future = self.client.submit(run_here, task, key=key, workers=[where], allow_other_workers=True)
            futures.append(future)
            return future

        completed = as_completed([submit(task) for task in tasks])
        loop = asyncio.get_running_loop()
        arrived: asyncio.Queue[Future[Any] | BaseException | None] = asyncio.Queue()
        stopping = threading.Event()
        taken = threading.Semaphore(0)

        def pump() -> None:
            try:
                for future in completed:
                    if stopping.is_set():
                        return
                    loop.call_soon_threadsafe(arrived.put_nowait, future)
                    # Wait until the shard's next part (if any) is added: the iteration must not
                    # run dry and end in between.
                    taken.acquire()
                    if stopping.is_set():
                        return
                loop.call_soon_threadsafe(arrived.put_nowait, None)
            except BaseException as exc:  # handed to the loop, which raises it where it is understood
                loop.call_soon_threadsafe(arrived.put_nowait, exc)

        pumping = asyncio.ensure_future(asyncio.to_thread(pump))
        indexed: set[str] = set()
        done, total = 0, len(tasks)
        try:
            while done < total:
                item = await arrived.get()
                if item is None:
                    raise ClusterError(f"the cluster returned {done} of {total} shards and then nothing more")
                if isinstance(item, BaseException):
                    raise self._lost(done, total, item) from item
                try:
                    where, result = await asyncio.to_thread(self._result, item, done, total)
                    task = running.pop(str(item.key))
                    rate = rates.end(str(item.key), len(task.urls) - len(result.remaining), time.monotonic())
                    if result.remaining:
                        # With a place free (a worker idle or about to be), the hosts handed back are
                        # split: the continuation goes back to this worker, the other pieces anywhere.
                        following = split_remaining(task, result, priors_of, slots - len(running), pace)
                        completed.add(submit(following[0], where, rate))
                        for piece in following[1:]:
                            completed.add(submit(piece, rate=rate))
                        total += len(following) - 1
                        self.splits += len(following) - 1
                    else:
                        done += 1
                        self.shards_done += 1
                finally:
                    taken.release()
                if not result.remaining and running:
                    await self._hurry(batch, running, hurried, rates)
                rows = [r for r in result.rows if r.id not in indexed]
                indexed.update(r.id for r in rows)
                engine.adopt(result.results, rows, result.hosts or None)
                self.recovered += result.recovered
                self.parts_done += 1
                item.release()
                yield list(result.results)
            # Files of attempts that died and were not taken over (rare: see worker.py) are sealed
            # and indexed here, so `archiver verify` finds every record indexed.
            engine.recover()
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            stopping.set()
            taken.release()
            for future in futures:
                with contextlib.suppress(Exception):  # a lost scheduler cannot be told
                    if not future.done():
                        future.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(pumping, timeout=5)

    async def _hurry(self, batch: str, running: dict[str, ShardTask], hurried: set[str], rates: PartRates) -> None:
        """A shard has ended: if that left a worker with nothing to do, the parts that could give
        it hosts are asked to end now (at 0 ms the last 0.2-0.9 s of a run had one worker idle).
        Only an optimisation: a worker that cannot be told just runs its part to the end."""
        now = time.monotonic()
        worthwhile = {key for key, task in running.items() if key not in hurried and len(task.hosts) > 1
                      and rates.left(key, len(task.urls), now) >= 2 * MIN_PIECE_URLS}  # fmt: skip
        if not worthwhile:
            return
        try:
            processing = await asyncio.to_thread(self.client.processing)
            if all(processing.values()):
                return  # every worker still has a part: none idle
            holders = [worker for worker, keys in processing.items() if worthwhile & {str(k) for k in keys}]
            if not holders:
                return
            ids = [running[key].part_id for key in worthwhile]
            await asyncio.to_thread(self.client.run, hurry, batch, ids, workers=holders, on_error="return")
        except (OSError, TimeoutError, ClusterError) as exc:
            _log.debug("parts of %s not hurried: %s", batch, exc)
            return
        hurried.update(worthwhile)
        self.hurried += len(worthwhile)

    def _replay_leftovers(self, engine: CaptureEngine, current: Path) -> int:
        """Index what the workers of an earlier, lost batch stored, then forget that batch.

        A batch whose scheduler went away leaves WARC files its coordinator never indexed (shards
        finished but not returned, attempts killed); their journals name them all.
        """
        index = engine.index
        if index is None:
            return 0
        count = 0
        for folder in sorted(current.parent.iterdir()):
            if folder == current or not folder.is_dir():
                continue
            with (folder / COORDINATOR_LOCK).open("a") as lock:
                try:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # another coordinator's batch, still going on
                for name, captures in journal_captures(self.config.archive_dir, folder):
                    index.sync_file(name, captures)
                    count += len(captures)
            shutil.rmtree(folder, ignore_errors=True)
        return count

    def _result(self, future: Future[Any], done: int, total: int) -> tuple[str, ShardResult]:
        try:
            result: Any = future.result()
        except ClusterError:
            raise
        except (asyncio.CancelledError, OSError, TimeoutError) as exc:
            raise self._lost(done, total, exc) from exc
        except Exception as exc:
            if future.status == "cancelled" or type(exc).__name__ in ("CommClosedError", "FutureCancelledError"):
                raise self._lost(done, total, exc) from exc
            raise ClusterError(f"shard {future.key} failed on the cluster: {type(exc).__name__}: {exc}") from exc
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], ShardResult)):
            raise ClusterError(f"shard {future.key} returned {type(result).__name__}, not a ShardResult")
        return str(result[0]), result[1]

    def _lost(self, done: int, total: int, exc: BaseException) -> ClusterLost:
        return ClusterLost(
            f"{_describe(self.address)} went away after {done} of {total} shards ({type(exc).__name__}: {exc}); "
            "the captures of finished shards are indexed, and running again resumes the rest"
        )
