"""A shard's parts, run by the worker code itself (no Dask): time-boxed, and always moving on."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from archiver.cluster.worker import TOKEN_NAME, ShardTask, batch_folder, run_shard
from archiver.config import load_config
from tests.wire import WireServer, response, routes

PAGE = response(200, b"<title>t</title><p>some text</p>", headers=[("Content-Type", "text/html")])


def test_a_part_whose_time_is_up_at_once_still_takes_one_url_a_feeder(tmp_path: Path) -> None:
    """With other shards holding the worker's gate, a part can start after its time is up: it
    must still capture something, or its shard would be handed back and forth for ever."""
    with WireServer(routes({}, default=PAGE), host="0.0.0.0") as server:
        urls = [f"http://127.0.0.{2 + h}:{server.port}/h{h}/p{i}" for h in range(3) for i in range(4)]
        config = load_config(
            None,
            {
                "archive_dir": str(tmp_path / "archive"),
                "fetch": {"allow_private_networks": True, "host_concurrency": 1, "host_interval": 0.0},
                "cluster": {"part_seconds": 1e-9},
            },
        )
        folder = batch_folder(config.archive_dir, "batch")
        folder.mkdir(parents=True)
        (folder / TOKEN_NAME).write_text("token\n", encoding="ascii")
        hosts = tuple(f"127.0.0.{2 + h}" for h in range(3))
        task = ShardTask(config, "batch", "s00000", tuple(urls), "token", False, (), True, hosts)
        captured: list[str] = []
        parts = 0
        while True:
            result = run_shard(task)
            parts += 1
            assert result.results, f"part {task.part} captured nothing"
            captured += [r.capture.url for r in result.results if r.capture.status == 200]
            if not result.remaining:
                break
            assert set(result.remaining) == set(urls) - set(captured)
            task = dataclasses.replace(task, urls=result.remaining, part=task.part + 1, not_before=result.not_before)
    assert sorted(captured) == sorted(urls)
    assert parts == 4, "one URL a host (one feeder each) per part"
