"""What follows a part that handed back URLs: its continuation, and pieces of its hosts for idle workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.cluster.shards import Pace, host_key
from archiver.cluster.worker import ShardResult, ShardTask
from archiver.config import load_config

dask_runner = pytest.importorskip("archiver.cluster.dask_runner")
PACE = Pace(host_concurrency=1, host_interval=0.0)


def _task(tmp_path: Path, counts: dict[str, int]) -> tuple[ShardTask, ShardResult]:
    config = load_config(None, {"archive_dir": str(tmp_path)})
    urls = tuple(f"http://{host}/p{i}" for i in range(max(counts.values())) for host, n in counts.items() if i < n)
    hosts = tuple(sorted(counts))
    task = ShardTask(config, "b", "s00001", urls, "t", False, (), True, hosts, part=2)
    waits = tuple((host, 1000.0 + n) for n, host in enumerate(hosts))
    return task, ShardResult("s00001", "w", (), (), 0, hosts, urls[10:], waits)


def test_pieces_take_whole_hosts_and_their_waits_and_the_first_continues_the_shard(tmp_path: Path) -> None:
    task, result = _task(tmp_path, {"a.test": 200, "b.test": 120, "c.test": 90, "d.test": 60})
    following = dask_runner.split_remaining(task, result, {}, 3, PACE)
    assert len(following) == 3
    first, *others = following
    assert (first.shard_id, first.part) == ("s00001", 3), "the continuation: same shard, next part"
    assert [(p.shard_id, p.part) for p in others] == [("s00001.3-1", 0), ("s00001.3-2", 0)]
    assert len({p.part_id for p in following}) == 3, "each piece keeps a journal folder of its own"
    held = [set(p.hosts) for p in following]
    assert set().union(*held) == set(task.hosts) and sum(map(len, held)) == len(task.hosts)
    assert sorted(u for p in following for u in p.urls) == sorted(result.remaining)
    for piece in following:
        assert {host_key(u) for u in piece.urls} == set(piece.hosts)
        assert list(piece.urls) == [u for u in result.remaining if u in piece.urls], "input order kept"
        assert dict(piece.not_before) == {h: t for h, t in result.not_before if h in piece.hosts}
    assert first.hosts == ("a.test",), "the longest host stays where its connections are"


def test_no_split_without_a_free_place_or_with_too_few_urls(tmp_path: Path) -> None:
    task, result = _task(tmp_path, {"a.test": 40, "b.test": 40})
    alone = dask_runner.split_remaining(task, result, {}, 1, PACE)
    assert len(alone) == 1
    assert (alone[0].urls, alone[0].hosts, alone[0].not_before) == (result.remaining, task.hosts, result.not_before)
    assert len(dask_runner.split_remaining(task, result, {}, 4, PACE)) == 1, "70 URLs: no two pieces of 64"
    one_host, single = _task(tmp_path, {"a.test": 500})
    assert len(dask_runner.split_remaining(one_host, single, {}, 4, PACE)) == 1, "a host is never split"


def test_a_part_is_expected_to_go_as_fast_as_the_part_it_follows() -> None:
    rates = dask_runner.PartRates()
    rates.begin("first", 0.0)
    assert rates.left("first", 500, 3.0) == 500, "a first part's pace is unknown: all may be left"
    rate = rates.end("first", 400, 2.0)
    assert rate == 200.0
    rates.begin("next", 2.0, rate)
    assert rates.left("next", 500, 3.0) == 300.0
    assert rates.left("next", 500, 10.0) == 0.0
    assert rates.end("unknown", 10, 1.0) is None
