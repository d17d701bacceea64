"""Runs over a real Dask LocalCluster (2 worker processes) against loopback sites on 127.0.0.x.

The cluster is started once for the module (it costs seconds); each test points its config at
the scheduler's tcp:// address, as a user would point at a remote one. Results are compared with
the in-process engine on the same sites; politeness is read from the server's own access log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from archiver.cluster import dask_runner, with_cluster
from archiver.cluster.dask_runner import DaskRunner
from archiver.cluster.worker import check_folder
from archiver.config import Config, load_config
from archiver.errors import ClusterError
from archiver.models import ArchivePaths, Capture, LiveVerdict, Report
from archiver.nightly.run import run_once
from archiver.nightly.watchlist import open_watch
from archiver.pipeline import stored as store_ops
from archiver.pipeline.capture import capture_urls
from archiver.pipeline.check import CheckOptions, Document, check_documents
from archiver.store.index import Index
from tests.wire import WireConnection, WireRequest, WireServer, response

distributed = pytest.importorskip("distributed")

HOSTS = 6


class Site:
    """Pages whose text depends on the path; optional latency, 429s, and a log of start/end times."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.host_latency: dict[str, float] = {}  # host -> its own latency, instead of `latency`
        self.too_many: dict[str, float] = {}  # host -> Retry-After seconds, answered once
        self.log: list[tuple[str, float, float, str]] = []  # host, start, end, path
        self._lock = threading.Lock()

    def __call__(self, request: WireRequest, conn: WireConnection) -> None:
        host = (request.header("host") or "").split(":")[0]
        start = time.monotonic()
        latency = self.host_latency.get(host, self.latency)
        if latency:
            conn.wait(latency)
        with self._lock:
            retry_after = self.too_many.pop(host, None)
        if retry_after is not None:
            data = response(429, b"slow down", [("Retry-After", f"{retry_after:g}")])
        elif request.path.startswith("/gone"):
            data = response(404, b"<title>Not found</title>", [("Content-Type", "text/html")])
        else:
            words = " ".join(f"word{i}" for i in range(len(request.path) * 7))
            html = f"<html><head><title>page {request.path}</title></head><body><p>{words}</p></body></html>"
            data = response(200, html.encode(), [("Content-Type", "text/html; charset=utf-8")])
        conn.send(data)
        with self._lock:
            self.log.append((host, start, time.monotonic(), request.path))


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.ERROR
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def site() -> Iterator[tuple[Site, int]]:
    handler = Site()
    with WireServer(handler, host="0.0.0.0") as server:
        yield handler, server.port


def settings(archive: Path, cluster: str = "", **fetch: Any) -> Config:
    values: dict[str, Any] = {
        "allow_private_networks": True,
        "timeout": 10.0,
        "deadline": 20.0,
        "retries": 1,
        "backoff_base": 0.05,
        "host_interval": 0.0,
    }
    values.update(fetch)
    return load_config(
        None,
        {
            "archive_dir": str(archive),
            "fetch": values,
            "live": {"soft_404_probe": False},
            "cluster": {"address": cluster, "shards_per_worker": 2},
        },
    )


def site_urls(port: int, per_host: int, hosts: int = HOSTS) -> list[str]:
    return [f"http://127.0.0.{2 + h}:{port}/h{h}/page-{i}" for h in range(hosts) for i in range(per_host)]


def capture(urls: list[str], config: Config) -> list[Capture]:
    """What `archiver fetch [--cluster]` does: the cluster `[cluster] address` names, else in-process."""
    return asyncio.run(with_cluster(config, lambda runner: capture_urls(urls, config, runner=runner)))


def check(docs: list[Document], config: Config) -> Report:
    return asyncio.run(with_cluster(config, lambda runner: check_documents(docs, config, runner=runner)))


def comparable(capture: Capture) -> tuple[object, ...]:
    return (capture.url, capture.final_url, capture.status, capture.payload_sha256, capture.text_sha256, capture.title)


def assert_archive_clean(config: Config, expected: list[Capture]) -> None:
    """No file left open, every capture indexed exactly once, and `archiver verify` finds nothing wrong."""
    paths = ArchivePaths(config.archive_dir)
    assert not list(paths.warcs.glob("*.open")), "a writer's file was left open"
    with Index(paths.index) as index:
        indexed = index.all_captures()
    ids = [c.id for c in indexed]
    assert len(ids) == len(set(ids))
    assert {c.id for c in expected} <= set(ids)
    report = store_ops.verify(config)
    assert report.ok, report.problems
    assert not (config.archive_dir / "cluster").exists() or not any((config.archive_dir / "cluster").iterdir())


def test_fetch_on_the_cluster_equals_the_in_process_run(scheduler: str, site: tuple[Site, int], tmp_path: Path) -> None:
    _, port = site
    urls = site_urls(port, 4) + [f"http://127.0.0.2:{port}/gone/x"]
    here = capture(urls, settings(tmp_path / "here"))
    there_cfg = settings(tmp_path / "there", scheduler)
    there = capture(urls, there_cfg)
    assert [comparable(c) for c in there] == [comparable(c) for c in here]
    assert [c.status for c in there].count(404) == 1
    # The workers wrote the records: one file per shard attempt, none by the coordinator.
    files = {c.warc.file for c in there if c.warc is not None}
    assert len(files) >= 2
    assert_archive_clean(there_cfg, there)

    # A second pass over unchanged pages stores revisits, as in-process: the coordinator sent the priors.
    again = capture(urls, there_cfg)
    assert all(c.revisit_of is not None for c in again if c.status == 200)
    assert_archive_clean(there_cfg, there + again)


# In parts, a shard hands its hosts' next start times to its next part: the interval holds across
# (an interval longer than a part's hand-over, which takes a tenth of a second or two).
@pytest.mark.parametrize(("part_seconds", "interval"), [(0.0, 0.25), (0.5, 0.6)], ids=["whole-shards", "in-parts"])
def test_politeness_holds_across_the_cluster(
    scheduler: str, site: tuple[Site, int], tmp_path: Path, part_seconds: float, interval: float
) -> None:
    handler, port = site
    handler.latency = 0.02
    handler.too_many["127.0.0.3"] = 1.0
    base = settings(tmp_path / "a", scheduler, host_interval=interval, host_concurrency=1)
    config = dataclasses.replace(base, cluster=dataclasses.replace(base.cluster, part_seconds=part_seconds))
    urls = site_urls(port, 5, hosts=4)
    captures = capture(urls, config)
    assert all(c.status == 200 for c in captures), [c.error for c in captures if c.status != 200]
    files = {c.warc.file for c in captures if c.warc is not None}
    # One WARC file per part: 4 one-host shards, each over a second long, come back in several parts.
    assert len(files) == 4 if not part_seconds else len(files) >= 8, sorted(files)
    by_host: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for host, start, end, _path in handler.log:
        by_host[host].append((start, end))
    assert len(by_host) == 4
    for host, spans in by_host.items():
        spans.sort()
        for (start_a, end_a), (start_b, _) in zip(spans, spans[1:], strict=False):
            assert start_b >= end_a - 0.001, f"{host}: two requests in flight at once"
            # The log is the server's: arrival jitter on a loaded machine is a few tens of ms.
            assert start_b - start_a >= interval - 0.06, f"{host}: started {start_b - start_a:.3f} s apart"
        starts = [s for s, _ in spans]
        assert starts[-1] - starts[0] >= (len(starts) - 1) * interval - 0.06, f"{host}: faster than the interval"
    throttled = sorted(s for s, _ in by_host["127.0.0.3"])
    assert throttled[1] - throttled[0] >= 1.0 - 0.06, "Retry-After was not honoured"
    assert_archive_clean(config, captures)


def test_check_on_the_cluster_equals_the_in_process_run(scheduler: str, site: tuple[Site, int], tmp_path: Path) -> None:
    _, port = site
    urls = site_urls(port, 2) + [f"http://127.0.0.4:{port}/gone/page"]
    text = "\n".join(f"Source {i}: <{u}>" for i, u in enumerate(urls)).encode()
    docs = [Document("paper.md", text)]
    here = check(docs, settings(tmp_path / "here"))
    there_cfg = settings(tmp_path / "there", scheduler)
    there = check(docs, there_cfg)

    def verdicts(report: Any) -> list[tuple[object, ...]]:
        return [
            (r.citation.url, r.live_verdict, r.overall, r.live_capture.payload_sha256, r.reasons)
            for r in report.results
        ]

    assert verdicts(there) == verdicts(here)
    assert_archive_clean(there_cfg, [r.live_capture for r in there.results])


def test_the_coordinators_probes_wait_out_the_workers_host_interval(
    scheduler: str, site: tuple[Site, int], tmp_path: Path
) -> None:
    """A soft-404 probe is fetched by the coordinator right after the host's shard returns: the
    host interval must still hold between the worker's last request and the probe."""
    handler, port = site
    interval = 0.6
    urls = site_urls(port, 2, hosts=2)
    docs = [Document("paper.md", "\n".join(f"<{u}>" for u in urls).encode())]
    base = settings(tmp_path / "a", scheduler, host_interval=interval, host_concurrency=1)
    config = dataclasses.replace(base, live=dataclasses.replace(base.live, soft_404_probe=True))
    report = check(docs, config)
    assert [r.live_verdict for r in report.results] == [LiveVerdict.OK] * len(urls)
    cited = {urlsplit(u).path for u in urls}
    by_host: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for host, start, _end, path in handler.log:
        by_host[host].append((start, path))
    assert len(by_host) == 2
    for host, starts in by_host.items():
        starts.sort()
        assert any(path not in cited for _, path in starts), f"{host}: no probe was fetched"
        for (start_a, path_a), (start_b, path_b) in zip(starts, starts[1:], strict=False):
            assert start_b - start_a >= interval - 0.06, (
                f"{host}: {path_b} started {start_b - start_a:.3f} s after {path_a}"
            )


def test_check_with_cache_on_the_cluster_sends_the_cluster_nothing(
    scheduler: str, site: tuple[Site, int], tmp_path: Path
) -> None:
    handler, port = site
    docs = [Document("paper.md", "\n".join(f"<{u}>" for u in site_urls(port, 2)).encode())]
    config = settings(tmp_path / "archive", scheduler)
    options = CheckOptions(cache_age=timedelta(days=1))

    def checked() -> list[tuple[object, ...]]:
        report = asyncio.run(with_cluster(config, lambda runner: check_documents(docs, config, options, runner=runner)))
        return [(r.citation.url, r.live_verdict, r.overall) for r in report.results]

    first = checked()
    assert handler.log
    handler.log.clear()
    assert checked() == first
    assert handler.log == [], "every page came from the archive; no shard was sent"


def test_nightly_run_on_the_cluster_equals_the_in_process_run(
    scheduler: str, site: tuple[Site, int], tmp_path: Path
) -> None:
    _, port = site
    urls = site_urls(port, 2) + [f"http://127.0.0.5:{port}/gone/one"]
    summaries = {}
    for name, cluster in (("here", ""), ("there", scheduler)):
        config = settings(tmp_path / name, cluster)
        with open_watch(config) as watch:
            for url in urls:
                watch.add(url)
        nights = [run_once(config, run_id=f"night-{n}") for n in (1, 2)]
        summaries[name] = nights
        with Index(ArchivePaths(config.archive_dir).index) as index:
            assert len(index.all_captures()) == 2 * len(urls), "one capture per source per night"

    def outcome(summary: Any) -> list[tuple[object, ...]]:
        return [
            (s.key, s.result.live_verdict, s.result.overall, s.condition, s.result.live_capture.payload_sha256)
            for s in summary.sources
        ]

    for here, there in zip(summaries["here"], summaries["there"], strict=True):
        assert outcome(there) == outcome(here)
        assert there.counts == here.counts
    # Night 2 found every page unchanged, by a revisit, on the cluster as in-process.
    second = summaries["there"][1]
    assert all(
        s.result.live_capture.revisit_of is not None for s in second.sources if s.result.live_capture.status == 200
    )
    assert store_ops.verify(settings(tmp_path / "there")).ok


def test_a_worker_that_sees_another_folder_is_refused(scheduler: str, tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="does not see the coordinator's archive folder"):
        check_folder(tmp_path, "batch", "token")

    async def ask() -> None:
        async with DaskRunner(settings(tmp_path / "a", scheduler)) as runner:
            runner._check_workers("no-such-batch", "token")

    with pytest.raises(ClusterError, match="every worker must mount the same archive folder") as caught:
        asyncio.run(ask())
    assert str(caught.value).count("does not see") == 2, "both workers are named"


def test_no_scheduler_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.cluster import dask_runner
    from tests.wire import free_port

    monkeypatch.setattr(dask_runner, "CONNECT_TIMEOUT", "1s")
    config = settings(tmp_path / "a", f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(ClusterError, match="no Dask scheduler answers at tcp://127.0.0.1"):
        capture(["http://127.0.0.2/"], config)


@pytest.mark.slow
@pytest.mark.parametrize("part_seconds", [0.0, 0.5], ids=["whole-shards", "in-parts"])
def test_a_worker_killed_mid_shard_loses_nothing_and_doubles_nothing(
    scheduler: str, site: tuple[Site, int], tmp_path: Path, part_seconds: float
) -> None:
    """SIGKILL one worker while it captures: its shard (or the part of it running) runs again
    elsewhere, taking over its WARC; parts already returned stay indexed once."""
    handler, port = site
    handler.latency = 0.05
    base = settings(tmp_path / "a", scheduler, host_interval=0.1, host_concurrency=1)
    config = dataclasses.replace(base, cluster=dataclasses.replace(base.cluster, part_seconds=part_seconds))
    urls = site_urls(port, 12, hosts=4)
    client = distributed.Client(scheduler, timeout="10s")
    try:
        pids = client.run(os.getpid)
    finally:
        client.close()
    result: dict[str, Any] = {}

    def night() -> None:
        async def go() -> None:
            async with DaskRunner(config) as runner:
                result["captures"] = await capture_urls(urls, config, runner=runner)
                result["recovered"] = runner.recovered

        asyncio.run(go())

    thread = threading.Thread(target=night)
    thread.start()
    warcs = ArchivePaths(config.archive_dir).warcs
    deadline = time.monotonic() + 30
    victim = None
    # Wait until a worker has stored a few captures into its open file, then kill that worker.
    while victim is None and time.monotonic() < deadline:
        if len(handler.log) >= 8 and list(warcs.glob("*.open")):
            with distributed.Client(scheduler, timeout="10s") as probe:
                busy = [w for w, tasks in probe.processing().items() if tasks]
            if busy:
                victim = pids[busy[0]]
        time.sleep(0.05)
    assert victim is not None, "no worker was busy"
    os.kill(victim, signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive()
    captures = result["captures"]
    assert [c.url for c in captures] == urls
    assert all(c.status == 200 for c in captures), [c.error for c in captures if c.status != 200]
    # Whole shards: the victim had stored some of its shard. In parts it may have been killed as a
    # part began, with nothing to take over; what holds either way is below.
    assert result["recovered"] > 0 or part_seconds, "the retry took over what the dead worker had stored"
    with Index(ArchivePaths(config.archive_dir).index) as index:
        indexed = index.all_captures()
    per_url = defaultdict(int)
    for capture in indexed:
        per_url[capture.url] += 1
    assert dict(per_url) == dict.fromkeys(urls, 1), "every URL captured exactly once in the archive"
    fetched = defaultdict(int)
    for _host, _s, _e, path in handler.log:
        fetched[path] += 1
    assert max(fetched.values()) <= 2 and sum(fetched.values()) < 2 * len(urls)
    assert_archive_clean(config, captures)


def test_an_idle_worker_takes_hosts_from_a_busy_one(
    scheduler: str, site: tuple[Site, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One shard's hosts are slow, the other's fast. When the fast one ends its worker is idle, so
    the slow part is asked to end at once (its time is 30 s) and the hosts it hands back are split
    between the two workers; nothing is lost or doubled and a host is still fetched one at a time."""
    handler, port = site
    # plan_shards puts 127.0.0.2 and .4 in one shard, .3 and .5 in the other (equal hosts, by name).
    handler.host_latency = {"127.0.0.2": 0.05, "127.0.0.4": 0.05}
    monkeypatch.setattr(dask_runner, "MIN_PIECE_URLS", 4)  # the coordinator's; the split is planned there
    base = settings(tmp_path / "a", scheduler, host_concurrency=1)
    cluster = dataclasses.replace(base.cluster, shards_per_worker=1, part_seconds=30.0)
    config = dataclasses.replace(base, cluster=cluster)
    urls = site_urls(port, 30, hosts=4)
    counts: dict[str, int] = {}

    async def go() -> list[Capture]:
        async with DaskRunner(config) as runner:
            captures = await capture_urls(urls, config, runner=runner)
            counts.update(hurried=runner.hurried, splits=runner.splits)
            return captures

    captures = asyncio.run(go())
    assert counts["hurried"] >= 1 and counts["splits"] >= 1, counts
    assert [c.url for c in captures] == urls
    assert all(c.status == 200 for c in captures), [c.error for c in captures if c.status != 200]
    by_host: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for host, start, end, _path in handler.log:
        by_host[host].append((start, end))
    for host, spans in by_host.items():
        spans.sort()
        for (_, end_a), (start_b, _) in zip(spans, spans[1:], strict=False):
            assert start_b >= end_a - 0.001, f"{host}: two requests in flight at once"
    assert sorted(path for *_, path in handler.log) == sorted(urlsplit(u).path for u in urls), "each URL once"
    assert_archive_clean(config, captures)


def test_cli_fetch_with_cluster_option(scheduler: str, site: tuple[Site, int], tmp_path: Path) -> None:
    """`archiver fetch --cluster ADDRESS` through `main(argv)`: captured on the workers, exit 0."""
    from tests.cli.test_cli_capture import captures_of, run, write_config

    _, port = site
    config = write_config(tmp_path)
    urls = site_urls(port, 2, hosts=3)
    done = run(config, "fetch", *urls, "--cluster", scheduler, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [c["url"] for c in captures_of(done)] == urls
    assert {c["status"] for c in captures_of(done)} == {200}
    assert len({c["warc"]["file"] for c in captures_of(done)}) >= 2, "written by the workers, a file per shard"
    with pytest.raises(ClusterError, match="write local:N"):
        capture(urls, settings(tmp_path / "b", "local:none"))


def test_the_worker_settings_file_gives_real_workers_what_local_clusters_get() -> None:
    """examples/dask-worker.yaml (for `dask worker` machines) and LOCAL_WORKER_SETTINGS (for local:N)
    must not drift apart: the same effective values, and no MALLOC_TRIM_THRESHOLD_ either way."""
    import dask.config

    from archiver.cluster.dask_runner import LOCAL_WORKER_SETTINGS

    path = Path(__file__).resolve().parents[2] / "examples" / "dask-worker.yaml"
    from_file = dask.config.merge(dask.config.config, dask.config.collect(paths=[str(path)], env={}))

    def effective(key: str, config: dict[str, Any] | None) -> object:
        value = dask.config.get(key, config=config) if config is not None else dask.config.get(key)
        if isinstance(value, dict):  # the nanny drops None: that is how a default variable is unset
            return {k: str(v) for k, v in value.items() if v is not None}
        return value

    with dask.config.set(LOCAL_WORKER_SETTINGS):
        local = {key: effective(key, None) for key in LOCAL_WORKER_SETTINGS}
    assert {key: effective(key, from_file) for key in LOCAL_WORKER_SETTINGS} == local
    environ = local["distributed.nanny.pre-spawn-environ"]
    assert isinstance(environ, dict) and "MALLOC_TRIM_THRESHOLD_" not in environ
    assert local["distributed.worker.profile.enabled"] is False


def _readiness() -> tuple[bool, bool]:
    from archiver.pipeline import heap

    return any(t.name == "archiver-shards" for t in threading.enumerate()), heap._tuned is True


def test_workers_are_made_ready_as_the_cluster_starts(tmp_path: Path) -> None:
    """Imports, heap tuning and the shard loop are paid for at start-up, not in a run's first part."""

    async def ask() -> dict[str, tuple[bool, bool]]:
        async with DaskRunner(settings(tmp_path / "a", "local:1")) as runner:
            return dict(runner.client.run(_readiness))  # no batch has run on this fresh worker

    (ready,) = asyncio.run(ask()).values()
    assert ready == (True, True)
