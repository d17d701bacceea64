"""Partitioning a batch of URLs into shards of whole hosts, of similar expected time (pure).

A host is never split: politeness (`host_concurrency`, `host_interval`, a 429's Retry-After) is
held by one Fetcher, so every URL of a host must go to the one worker that runs its shard. A
host's expected time is what its limits allow, `max(interval * (n - 1), page * n / concurrency)`
plus one page; shards are filled longest host first into the least-loaded shard (LPT, within
4/3 of the best packing), so a big host gets a shard of its own and small ones are packed
together. More shards than workers (`shards_per_worker`) keep the workers busy to the end and
make a retried shard cheap.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from archiver.errors import InvalidURLError
from archiver.urls import has_forbidden_characters, parse_url


@dataclass(frozen=True)
class Shard:
    """One task: whole hosts and their URLs (in input order), with its expected seconds."""

    id: str
    hosts: tuple[str, ...]
    urls: tuple[str, ...]
    expected_s: float


@dataclass(frozen=True)
class Pace:
    """What sets a host's time: its limits and a page's expected seconds (fetch + store)."""

    host_concurrency: int
    host_interval: float
    page_seconds: float = 0.05


# A URL's scheme and authority as urlsplit delimits them (the authority ends at the first / ? #).
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def host_key(url: str) -> str:
    """The host the Fetcher counts a URL's politeness against (IDNA, lowercase); the URL if it has none."""
    return _host_or_empty(url) or url  # without a host it will fail on its own; it cannot hold up a real one


def _host_or_empty(url: str) -> str:
    try:
        return parse_url(url).host or ""
    except (InvalidURLError, ValueError):
        return ""


def host_seconds(pages: int, pace: Pace) -> float:
    if pages <= 0:
        return 0.0
    by_interval = pace.host_interval * (pages - 1)
    by_concurrency = pace.page_seconds * pages / max(1, pace.host_concurrency)
    return max(by_interval, by_concurrency) + pace.page_seconds


def group_by_host(urls: Iterable[str]) -> dict[str, list[str]]:
    """URLs by host, each host's in input order, duplicates dropped.

    A host is worked out once per scheme and authority, not once per URL: parse_url on each of a
    nightly batch's 20,000 URLs took the coordinator 0.5 s before any shard could start, with every
    worker idle. Only URLs whose host that authority alone decides share the answer: ASCII (a lone
    surrogate in a path fails parse_url's quoting) without a space or control character anywhere."""
    groups: dict[str, list[str]] = {}
    seen: set[str] = set()
    hosts: dict[str, str] = {}
    for url in urls:
        if url in seen:
            continue
        seen.add(url)
        origin = _ORIGIN.match(url)
        key = None
        if origin is not None and url.isascii() and url == url.strip() and not has_forbidden_characters(url):
            key = hosts.get(origin.group())
            if key is None:
                key = hosts[origin.group()] = _host_or_empty(origin.group() + "/")
        groups.setdefault(key or host_key(url), []).append(url)  # "": no host there, the URL is its own key
    return groups


def plan_shards(
    urls: Sequence[str], workers: int, pace: Pace, shards_per_worker: int = 4, max_urls: int = 0
) -> tuple[Shard, ...]:
    """Shards of whole hosts, `workers * shards_per_worker` of them (more when `max_urls` caps a
    shard's size: a shard's results travel back in one message), balanced by expected time."""
    groups = group_by_host(urls)
    if not groups:
        return ()
    wanted = workers * max(1, shards_per_worker)
    if max_urls > 0:
        wanted = max(wanted, -(-sum(len(g) for g in groups.values()) // max_urls))
    count = max(1, min(len(groups), wanted))
    times = {host: host_seconds(len(members), pace) for host, members in groups.items()}
    # Longest first; ties by name so the plan is the same on every run of the same list.
    order = sorted(groups, key=lambda h: (-times[h], h))
    bins: list[tuple[float, int]] = [(0.0, i) for i in range(count)]
    members: list[list[str]] = [[] for _ in range(count)]
    for host in order:
        load, index = heapq.heappop(bins)
        members[index].append(host)
        heapq.heappush(bins, (load + times[host], index))
    position: dict[str, int] = {}
    for i, url in enumerate(urls):
        position.setdefault(url, i)  # a URL given twice keeps its first place
    shards = []
    for hosts in members:
        if not hosts:
            continue
        shard_urls = sorted((u for h in hosts for u in groups[h]), key=position.__getitem__)
        shards.append((tuple(sorted(hosts)), tuple(shard_urls), sum(times[h] for h in hosts)))
    shards.sort(key=lambda s: (-s[2], s[0]))  # the longest shards start first
    return tuple(Shard(f"s{i:05d}", hosts, members_, t) for i, (hosts, members_, t) in enumerate(shards))
