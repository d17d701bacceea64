"""Shards are whole hosts, balanced by expected time, the same on every run of the same list."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archiver.cluster.shards as shards_module
from archiver.cluster.shards import Pace, group_by_host, host_key, host_seconds, plan_shards
from archiver.urls import ParsedURL

PACE = Pace(host_concurrency=2, host_interval=1.0, page_seconds=0.1)


def urls_for(counts: dict[str, int]) -> list[str]:
    return [f"http://{host}/p/{i}" for host, n in counts.items() for i in range(n)]


def test_host_key_is_what_the_fetcher_limits() -> None:
    assert host_key("http://Example.COM:8080/a") == "example.com"
    assert host_key("https://bücher.de/") == "xn--bcher-kva.de"
    assert host_key("not a url") == "not a url"


def test_host_time_is_set_by_the_interval_or_the_concurrency() -> None:
    assert host_seconds(0, PACE) == 0
    assert host_seconds(11, PACE) == 10 * 1.0 + 0.1  # the interval dominates
    fast = Pace(host_concurrency=4, host_interval=0.0, page_seconds=0.1)
    assert abs(host_seconds(40, fast) - (1.0 + 0.1)) < 1e-9


def test_a_big_host_is_never_split_and_gets_a_shard_of_its_own() -> None:
    counts = {"big.test": 300} | {f"small{i}.test": 3 for i in range(40)}
    shards = plan_shards(urls_for(counts), workers=2, pace=PACE, shards_per_worker=4)
    owners = Counter(host for s in shards for host in s.hosts)
    assert set(owners.values()) == {1}, "every host is in exactly one shard"
    big = next(s for s in shards if "big.test" in s.hosts)
    assert big.hosts == ("big.test",) and len(big.urls) == 300
    assert shards[0] is big, "the longest shard starts first"
    small = [s for s in shards if s is not big]
    times = [s.expected_s for s in small]
    assert max(times) - min(times) <= max(host_seconds(3, PACE), 0.25 * max(times))


@settings(deadline=None, max_examples=40)
@given(st.dictionaries(st.sampled_from([f"h{i}.test" for i in range(30)]), st.integers(1, 50), min_size=1))
def test_every_url_once_in_input_order_and_the_plan_is_deterministic(counts: dict[str, int]) -> None:
    urls = urls_for(counts)
    shards = plan_shards(urls + urls[:3], workers=3, pace=PACE)
    flat = [u for s in shards for u in s.urls]
    assert sorted(flat) == sorted(urls)
    hosts = {u: host_key(u) for u in urls}
    for shard in shards:
        assert list(shard.urls) == [u for u in urls if hosts[u] in shard.hosts]
    assert len(shards) <= 12
    assert shards == plan_shards(urls, workers=3, pace=PACE)
    assert set(group_by_host(urls)) == {h for s in shards for h in s.hosts}


def test_nothing_imports_dask_without_a_cluster(tmp_path: Path) -> None:
    """A capture, a check and a nightly run in-process leave `dask` and `distributed` unimported."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.wire import WireServer, response, routes
        from archiver.cli import main  # noqa: F401  (the whole CLI, as a user starts it)
        from archiver.config import load_config
        from archiver.nightly.run import run_once
        from archiver.nightly.watchlist import open_watch
        from archiver.pipeline.capture import capture_urls
        from archiver.pipeline.check import Document, check_documents
        page = response(200, b"<title>t</title><p>hello</p>", headers=[("Content-Type", "text/html")])
        with WireServer(routes({{}}, default=page)) as server:
            cfg = load_config(None, {{"archive_dir": {str(tmp_path / "a")!r},
                                      "fetch": {{"allow_private_networks": True}}}})
            url = server.base + "/x"
            assert asyncio.run(capture_urls([url], cfg))[0].ok
            asyncio.run(check_documents([Document("d.md", ("See <" + url + ">.").encode())], cfg))
            with open_watch(cfg) as watch:
                watch.add(url)
            run_once(cfg)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        print("LOADED", loaded)
        assert not loaded, loaded
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LOADED []" in done.stdout


def test_a_size_cap_makes_more_shards_but_never_splits_a_host() -> None:
    counts = {"big.test": 900} | {f"small{i}.test": 10 for i in range(100)}
    shards = plan_shards(urls_for(counts), workers=2, pace=PACE, shards_per_worker=1, max_urls=100)
    assert len(shards) >= 19
    assert max(len(s.urls) for s in shards if "big.test" not in s.hosts) <= 200
    assert next(s for s in shards if "big.test" in s.hosts).hosts == ("big.test",)


_PIECES = ["http://", "HTTPS://", "ftp://", "//", "a.test", "B.TEST", "bücher.test", "0x7f.1", "[::1]", "[",
           ":8080", ":99999", "@", "u:p@", "/", "?", "#", "\\", " ", "\t", "\x85", "\u00a0", "%zz", "\ud800", "/p",
           "."]  # fmt: skip


@settings(deadline=None, max_examples=300)
@given(st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6).map("".join), max_size=8))
def test_hosts_worked_out_once_an_authority_are_those_of_each_url(urls: list[str]) -> None:
    expected: dict[str, list[str]] = {}
    for url in dict.fromkeys(urls):
        expected.setdefault(host_key(url), []).append(url)
    assert group_by_host(urls) == expected


def test_a_batch_parses_one_url_per_authority(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20,000 URLs cost the coordinator 0.5 s of parse_url before any shard could start.
    calls: list[str] = []
    real = shards_module.parse_url

    def counting(url: str) -> ParsedURL:
        calls.append(url)
        return real(url)

    monkeypatch.setattr(shards_module, "parse_url", counting)
    urls = [f"http://127.0.0.{2 + h}:8080/p{h}/{i}" for h in range(20) for i in range(100)] + ["https://b.test/\ud800"]
    groups = group_by_host(urls)
    assert len(groups) == 21 and len(groups["127.0.0.2"]) == 100
    assert len(calls) == 21  # one per authority, and the URL that is not plain ASCII on its own
