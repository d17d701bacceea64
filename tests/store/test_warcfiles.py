"""The WARC store against real files read back by warcio (library and CLI) and by our own reader.

Fetch outcomes are built directly from `archiver.net.exchange`, so these tests do not depend on the
fetcher; the store must not care where the bytes came from.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver.content.body import Body
from archiver.models import ArchivePaths, Capture, ErrorKind, Failure, Hop, Truncation
from archiver.net.exchange import Attempt, Exchange, FetchOutcome
from archiver.store.recovery import read_manifest
from archiver.store.warcfiles import WarcStore, lock_new_file
from archiver.warc.metadata import compact_revisit_document, decode_document, iter_captures, iter_file_captures
from archiver.warc.read import read_decoded, read_payload
from archiver.warc.scan import iter_records, warc_files
from archiver.warc.writer import REVISIT_PROFILE

T0 = datetime(2025, 4, 26, 8, 30, 0, 123456, tzinfo=UTC)
WARCIO = Path(sys.executable).with_name("warcio")
REPO = Path(__file__).resolve().parents[2]


def ids(start: int = 0) -> Callable[[], str]:
    counter = itertools.count(start)
    return lambda: uuid.UUID(int=next(counter)).hex


def make_store(root: Path, max_bytes: int = 10**9, **kwargs: Any) -> WarcStore:
    return WarcStore(ArchivePaths(root), max_bytes, clock=lambda: T0, new_id=kwargs.pop("new_id", ids()), **kwargs)


def exchange(
    url: str,
    body: bytes,
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/html"),),
    *,
    status: int = 200,
    reason: str = "OK",
    at: datetime = T0,
    truncated: Truncation | None = None,
) -> Exchange:
    host = url.split("/")[2]
    return Exchange(
        url=url,
        method="GET",
        request_headers=(("Host", host), ("User-Agent", "archiver-test")),
        http_version="HTTP/1.1",
        status=status,
        reason=reason,
        response_headers=headers,
        body=Body.from_bytes(body),
        started_at=at,
        ip_address="127.0.0.1",
        truncated=truncated,
    )


def outcome(url: str, *exchanges: Exchange, failure: Failure | None = None) -> FetchOutcome:
    return FetchOutcome(
        requested=url,
        started_at=T0,
        exchanges=list(exchanges),
        failure=failure,
        attempts=[Attempt(url, 503, None, 0.25)],
        elapsed_ms=42,
    )


def capture_for(result: FetchOutcome, capture_id: str) -> Capture:
    final = result.final
    return Capture(
        id=capture_id,
        url=result.requested,
        final_url=None if final is None else final.url,
        status=None if final is None else final.status,
        redirects=tuple(Hop(e.url, e.status, e.header("location")) for e in result.exchanges[:-1]),
        fetched_at=result.started_at,
        content_type=None if final is None else final.header("content-type"),
        payload_sha256=None if final is None else final.body.sha256,
        payload_size=None if final is None else final.body.size,
        text_sha256="ab" * 32 if final is not None else None,
        title="A title" if final is not None else None,
        warc=None,
        error=result.failure,
        truncated=None if final is None else final.truncated,
        ip_address=None if final is None else final.ip_address,
        elapsed_ms=result.elapsed_ms,
    )


def store_page(
    store: WarcStore, url: str, body: bytes, capture_id: str, revisit_of: Capture | None = None, **kw: Any
) -> Capture:
    with outcome(url, exchange(url, body, **kw)) as result:
        return store.write(result, capture_for(result, capture_id), revisit_of)


def records_of(path: Path) -> list[Any]:
    """(WARC headers, HTTP headers, payload bytes, offset) of every record, read by warcio."""
    out = []
    with path.open("rb") as fh:
        iterator = ArchiveIterator(fh)
        for record in iterator:
            payload = record.content_stream().read()
            out.append((record.rec_headers, record.http_headers, payload, iterator.get_record_offset()))
    return out


def warcio_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WARCIO), *args], capture_output=True, text=True, timeout=60)


def only_file(root: Path) -> Path:
    files = warc_files(root / "warcs")
    assert len(files) == 1, files
    return files[0]


def test_payload_digest_same_whether_chunked_or_not(archive_dir: Path) -> None:
    body = b"<html><body>" + b"same body " * 300 + b"</body></html>"
    with make_store(archive_dir) as store:
        plain = store_page(
            store, "http://a.test/p", body, "c1", headers=(("Content-Type", "text/html"), ("Content-Length", "3012"))
        )
        chunked = store_page(
            store,
            "http://a.test/c",
            body,
            "c2",
            headers=(("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")),
        )
    path = only_file(archive_dir)
    responses = [r for r in records_of(path) if r[0].get_header("WARC-Type") == "response"]
    assert len(responses) == 2
    digests = {r[0].get_header("WARC-Payload-Digest") for r in responses}
    assert digests == {f"sha256:{hashlib.sha256(body).hexdigest()}"}
    assert plain.payload_sha256 == chunked.payload_sha256
    for _warc, http, payload, _offset in responses:
        assert http.get_header("Transfer-Encoding") is None
        assert http.get_header("Content-Length") == str(len(body))
        assert payload == body
    assert responses[1][1].get_header("X-Crawler-Transfer-Encoding") == "chunked"
    # The original Content-Length, being wrong for the stored body, is kept under another name.
    assert responses[0][1].get_header("X-Crawler-Content-Length") == "3012"
    assert warcio_cli("check", str(path)).returncode == 0


def test_gzip_payload_is_kept_and_decoded_on_read(archive_dir: Path) -> None:
    html = b"<html><title>gz</title>" + "中文 text ".encode() * 200 + b"</html>"
    packed = gzip.compress(html, mtime=0)
    with make_store(archive_dir) as store:
        stored = store_page(
            store,
            "http://a.test/gz",
            packed,
            "g1",
            headers=(("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")),
        )
    assert stored.warc is not None
    (warc, http, decoded, _offset) = [r for r in records_of(only_file(archive_dir)) if r[1] is not None][0]
    assert warc.get_header("WARC-Payload-Digest") == f"sha256:{hashlib.sha256(packed).hexdigest()}"
    assert decoded == html  # warcio's content_stream() undoes Content-Encoding
    assert read_payload(archive_dir, stored.warc) == packed
    assert read_decoded(archive_dir, stored.warc, 1 << 20) == (html, False)
    assert read_decoded(archive_dir, stored.warc, 10) == (html[:10], True)


def test_capture_event_records_are_paired(archive_dir: Path) -> None:
    hop1 = exchange(
        "http://a.test/old",
        b"",
        (("Location", "http://a.test/new"), ("Content-Length", "0")),
        status=301,
        reason="Moved Permanently",
    )
    hop2 = exchange("http://a.test/new", b"<p>new</p>", at=T0 + timedelta(seconds=1))
    with make_store(archive_dir) as store, outcome("http://a.test/old", hop1, hop2) as result:
        stored = store.write(result, capture_for(result, "r1"))
    records = records_of(only_file(archive_dir))
    types = [r[0].get_header("WARC-Type") for r in records]
    assert types == ["warcinfo", "response", "request", "response", "request", "metadata"]
    warcinfo_id = records[0][0].get_header("WARC-Record-ID")
    assert all(r[0].get_header("WARC-Warcinfo-ID") == warcinfo_id for r in records[1:])
    for response, request, url in (
        (records[1], records[2], "http://a.test/old"),
        (records[3], records[4], "http://a.test/new"),
    ):
        assert response[0].get_header("WARC-Date") == request[0].get_header("WARC-Date")
        assert request[0].get_header("WARC-Concurrent-To") == response[0].get_header("WARC-Record-ID")
        assert response[0].get_header("WARC-Target-URI") == request[0].get_header("WARC-Target-URI") == url
        assert response[0].get_header("WARC-IP-Address") == "127.0.0.1"
    assert records[1][0].get_header("WARC-Date") != records[3][0].get_header("WARC-Date")
    metadata = records[5]
    assert metadata[0].get_header("WARC-Concurrent-To") == records[3][0].get_header("WARC-Record-ID")
    assert metadata[0].get_header("WARC-Date") == records[3][0].get_header("WARC-Date")
    assert metadata[0].get_header("Content-Type") == "application/warc-fields"  # pywb does not index it
    assert metadata[0].get_header("WARC-Target-URI") == "http://a.test/new"
    document = decode_document("application/warc-fields", metadata[2])
    assert document is not None
    assert document["capture"]["id"] == "r1"
    assert document["capture"]["warc"] == {
        "file": stored.warc.file,
        "offset": stored.warc.offset,
        "length": stored.warc.length,
    }  # type: ignore[union-attr]
    assert [h["status"] for h in document["hops"]] == [301, 200]
    assert document["redirects"] == [{"url": "http://a.test/old", "status": 301, "location": "http://a.test/new"}]
    assert document["attempts"] == [{"url": "http://a.test/old", "status": 503, "error": None, "waited_s": 0.25}]
    assert records[3][3] == stored.warc.offset  # type: ignore[union-attr]
    info = next(iter_records(only_file(archive_dir)))
    assert info.type == "warcinfo" and info.block_digest is not None


def test_revisit_points_at_the_original_and_reads_through(archive_dir: Path) -> None:
    body = b"<html>unchanged</html>"
    with make_store(archive_dir) as store:
        first = store_page(store, "http://a.test/", body, "v1")
        second = store_page(store, "http://a.test/", body, "v2", revisit_of=first)
        third = store_page(store, "http://a.test/", body, "v3", revisit_of=second)
        changed = store_page(store, "http://a.test/", b"<html>changed</html>", "v4", revisit_of=third)
    assert (second.revisit_of, third.revisit_of, changed.revisit_of) == ("v1", "v1", None)
    records = {r[3]: r for r in records_of(only_file(archive_dir))}
    original = records[first.warc.offset][0]  # type: ignore[union-attr]
    for revisit in (second, third):
        warc = records[revisit.warc.offset][0]  # type: ignore[union-attr]
        assert warc.get_header("WARC-Type") == "revisit"
        assert warc.get_header("WARC-Profile") == REVISIT_PROFILE
        assert warc.get_header("WARC-Payload-Digest") == original.get_header("WARC-Payload-Digest")
        assert warc.get_header("WARC-Refers-To") == original.get_header("WARC-Record-ID")
        assert warc.get_header("WARC-Refers-To-Target-URI") == original.get_header("WARC-Target-URI")
        assert warc.get_header("WARC-Refers-To-Date") == original.get_header("WARC-Date")
        assert read_payload(archive_dir, revisit.warc) == body  # type: ignore[arg-type]
    assert records[changed.warc.offset][0].get_header("WARC-Type") == "response"  # type: ignore[union-attr]
    assert warcio_cli("check", str(only_file(archive_dir))).returncode == 0


def test_truncated_body_is_marked_and_self_consistent(archive_dir: Path) -> None:
    with make_store(archive_dir) as store:
        stored = store_page(
            store,
            "http://a.test/big",
            b"x" * 1000,
            "t1",
            headers=(("Content-Length", "10000000000"),),
            truncated=Truncation.LENGTH,
        )
    warc, http, payload, _ = [r for r in records_of(only_file(archive_dir)) if r[1] is not None][0]
    assert warc.get_header("WARC-Truncated") == "length"
    assert http.get_header("Content-Length") == "1000"
    assert http.get_header("X-Crawler-Content-Length") == "10000000000"
    assert payload == b"x" * 1000 and stored.truncated is Truncation.LENGTH


def test_failed_fetch_writes_only_metadata(archive_dir: Path) -> None:
    failure = Failure(ErrorKind.DNS, "no such host: nowhere.invalid")
    with make_store(archive_dir) as store, outcome("http://nowhere.invalid/ä b", failure=failure) as result:
        stored = store.write(result, capture_for(result, "f1"))
    assert stored.warc is None
    records = records_of(only_file(archive_dir))
    assert [r[0].get_header("WARC-Type") for r in records] == ["warcinfo", "metadata"]
    assert records[1][0].get_header("WARC-Target-URI") == "http://nowhere.invalid/%C3%A4%20b"
    assert list(iter_captures(archive_dir)) == [stored]
    assert warcio_cli("check", str(only_file(archive_dir))).returncode == 0


def test_warcio_check_and_index_accept_every_file(archive_dir: Path) -> None:
    with make_store(archive_dir, max_bytes=6000) as store:
        first = store_page(store, "http://a.test/1", os.urandom(2000), "w1")
        store_page(
            store, "http://a.test/gz", gzip.compress(b"<p>x</p>" * 500), "w2", headers=(("Content-Encoding", "gzip"),)
        )
        store_page(store, "http://a.test/1", read_payload(archive_dir, first.warc), "w3", revisit_of=first)  # type: ignore[arg-type]
        store_page(store, "http://a.test/t", b"y" * 300, "w4", truncated=Truncation.TIME)
        with outcome("http://a.test/x", failure=Failure(ErrorKind.CONNECT, "refused")) as result:
            store.write(result, capture_for(result, "w5"))
    files = warc_files(archive_dir / "warcs")
    assert len(files) >= 2
    for path in files:
        checked = warcio_cli("check", "-v", str(path))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "failed" not in checked.stdout
        indexed = warcio_cli("index", str(path))
        assert indexed.returncode == 0, indexed.stderr
        lines = [json.loads(line) for line in indexed.stdout.splitlines()]
        assert lines[0]["warc-type"] == "warcinfo"
        assert [int(line["offset"]) for line in lines] == [r.offset for r in iter_records(path)]


def test_rolls_over_at_the_cap_without_splitting_records(archive_dir: Path) -> None:
    cap = 8000
    with make_store(archive_dir, max_bytes=cap) as store:
        payloads = [os.urandom(1500) for _ in range(12)]
        stored = [store_page(store, f"http://a.test/{i}", payloads[i], f"r{i}") for i in range(12)]
        store.rollover()  # an idle rollover finalises the open file
        assert store.current_file is None
        assert not list((archive_dir / "warcs").glob("*.open"))
    files = warc_files(archive_dir / "warcs")
    assert len(files) >= 3
    manifest = read_manifest(archive_dir / "warcs")
    seen = []
    file_of: dict[str, str] = {}
    for path in files:
        assert path.stat().st_size <= cap
        records = list(iter_records(path))
        assert records[0].type == "warcinfo" and all(r.ok for r in records)
        assert records[-1].offset + records[-1].length == path.stat().st_size  # ends on a record boundary
        assert manifest[path.name] == hashlib.sha256(path.read_bytes()).hexdigest()
        in_file = [c.id for c in iter_file_captures(path)]
        seen += in_file
        file_of.update(dict.fromkeys(in_file, f"warcs/{path.name}"))
    assert seen == [c.id for c in stored]
    for capture, payload in zip(stored, payloads, strict=True):  # response and metadata in one file
        assert capture.warc is not None and capture.warc.file == file_of[capture.id]
        assert read_payload(archive_dir, capture.warc) == payload
    check = subprocess.run(["sha256sum", "--check", "manifest.sha256"], cwd=archive_dir / "warcs", capture_output=True)
    assert check.returncode == 0, check.stdout


def test_two_stores_started_together_never_share_a_file(archive_dir: Path) -> None:
    stores = [make_store(archive_dir, new_id=ids()) for _ in range(6)]  # same clock, same IDs
    barrier = threading.Barrier(len(stores))

    def run(number: int) -> None:
        barrier.wait()
        store_page(stores[number], f"http://a.test/{number}", b"page", f"s{number}")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = {store.current_file for store in stores}
    assert len(names) == len(stores)
    for store in stores:
        store.close()
    assert len(warc_files(archive_dir / "warcs")) == len(stores)
    assert len(read_manifest(archive_dir / "warcs")) == len(stores)


def test_concurrent_writes_to_one_store(archive_dir: Path) -> None:
    with make_store(archive_dir, max_bytes=50_000) as store:

        def run(worker: int) -> list[Capture]:
            return [
                store_page(store, f"http://h{worker}.test/{i}", os.urandom(700), f"{worker}-{i}") for i in range(10)
            ]

        results: list[list[Capture]] = []
        threads = [threading.Thread(target=lambda w=w: results.append(run(w))) for w in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    written = sorted(c.id for batch in results for c in batch)
    assert sorted(c.id for c in iter_captures(archive_dir)) == written
    for capture in (c for batch in results for c in batch):
        assert hashlib.sha256(read_payload(archive_dir, capture.warc)).hexdigest() == capture.payload_sha256  # type: ignore[arg-type]


def test_close_renames_fsyncs_and_lists_in_manifest(archive_dir: Path) -> None:
    store = make_store(archive_dir)
    stored = store_page(store, "http://a.test/", b"hello", "m1")
    open_file = store.current_file
    assert open_file is not None and open_file.name.endswith(".warc.gz.open")
    assert stored.warc is not None and stored.warc.file == f"warcs/{open_file.name[: -len('.open')]}"
    assert read_payload(archive_dir, stored.warc) == b"hello"  # readable while still open
    store.close()
    final = archive_dir / stored.warc.file
    assert final.exists() and not open_file.exists()
    assert read_manifest(archive_dir / "warcs") == {final.name: hashlib.sha256(final.read_bytes()).hexdigest()}


# -- crash recovery ------------------------------------------------------------------------------


def test_recover_cuts_a_copy_truncated_in_its_last_record(archive_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    store = make_store(source)
    stored = [store_page(store, f"http://a.test/{i}", os.urandom(3000), f"k{i}") for i in range(3)]
    open_file = store.current_file
    assert open_file is not None
    records = list(iter_records(open_file))
    last = records[-1]
    crashed = archive_dir / "warcs" / open_file.name
    crashed.parent.mkdir(parents=True)
    crashed.write_bytes(open_file.read_bytes()[: last.offset + last.length // 2])
    store.close()

    report = make_store(archive_dir).recover()
    (recovered,) = report.files
    assert recovered.valid and recovered.records_kept == len(records) - 1
    assert recovered.bytes_kept == last.offset and recovered.bytes_cut == last.length // 2
    assert [c.id for c in report.captures] == ["k0", "k1"]  # k2's metadata record was the cut one
    final = archive_dir / recovered.final_name
    assert final.exists() and not crashed.exists()
    assert [r.offset for r in iter_records(final)] == [r.offset for r in records[:-1]]
    for capture in stored:  # every response, k2's included, is intact
        assert read_payload(archive_dir, capture.warc).__len__() == 3000  # type: ignore[arg-type]
    assert warcio_cli("check", str(final)).returncode == 0
    assert read_manifest(archive_dir / "warcs")[final.name] == hashlib.sha256(final.read_bytes()).hexdigest()


def test_recover_marks_a_file_with_no_complete_record_invalid(archive_dir: Path, tmp_path: Path) -> None:
    store = make_store(tmp_path / "source")
    store_page(store, "http://a.test/", b"page", "i1")
    open_file = store.current_file
    assert open_file is not None
    crashed = archive_dir / "warcs" / open_file.name
    crashed.parent.mkdir(parents=True)
    crashed.write_bytes(open_file.read_bytes()[:100])  # inside the warcinfo record
    store.close()
    (recovered,) = make_store(archive_dir).recover().files
    assert not recovered.valid and recovered.final_name.endswith(".warc.gz.invalid")
    assert (archive_dir / recovered.final_name).exists()
    assert warc_files(archive_dir / "warcs") == []


def test_recover_leaves_a_live_writers_file_alone(archive_dir: Path) -> None:
    live = make_store(archive_dir)
    store_page(live, "http://a.test/", b"page", "l1")
    assert make_store(archive_dir).recover().files == ()
    assert live.current_file is not None and live.current_file.exists()
    live.close()


CHILD = textwrap.dedent(
    """
    import dataclasses, itertools, json, os, sys, time, uuid
    from datetime import UTC, datetime
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from tests.store.test_warcfiles import capture_for, exchange, outcome
    from archiver.content.body import Body
    from archiver.jsonform import capture_to_dict
    from archiver.models import ArchivePaths
    from archiver.store.warcfiles import WarcStore

    class SlowBody(Body):
        # Hands out the body slowly so the parent can kill us in the middle of the record.
        def open(self):
            stream = super().open()
            class Slow:
                def read(self, n=-1):
                    time.sleep(0.01)
                    return stream.read(min(n, 16384) if n and n > 0 else 16384)
            return Slow()

    counter = itertools.count()
    store = WarcStore(ArchivePaths(Path(sys.argv[1])), 10**9, clock=lambda: datetime.now(UTC),
                      new_id=lambda: uuid.UUID(int=next(counter)).hex)
    for i in range(5):
        with outcome(f"http://a.test/{i}", exchange(f"http://a.test/{i}", os.urandom(5000))) as result:
            stored = store.write(result, capture_for(result, f"k{i}"))
        print(json.dumps(capture_to_dict(stored)), flush=True)
    big = exchange("http://a.test/big", b"")
    big.body.close()
    body = SlowBody()
    for _ in range(100):
        body.write(os.urandom(16384))
    big = dataclasses.replace(big, body=body)
    print("BIG", flush=True)
    with outcome("http://a.test/big", big) as result:
        store.write(result, capture_for(result, "big"))
    print("DONE", flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_mid_write_then_recover(archive_dir: Path, tmp_path: Path) -> None:
    from archiver.jsonform import capture_from_dict

    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(archive_dir), str(REPO)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert child.stdout is not None
    returned: list[Capture] = []
    for line in child.stdout:
        if line.startswith("BIG"):
            break
        returned.append(capture_from_dict(json.loads(line)))
    (open_file,) = (archive_dir / "warcs").glob("*.open")
    size_after_returned = max(c.warc.offset + c.warc.length for c in returned if c.warc)  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while open_file.stat().st_size < size_after_returned + 64 * 1024 and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    killed_size = open_file.stat().st_size
    assert killed_size > size_after_returned  # the kill landed inside the big record

    report = make_store(archive_dir).recover()
    (recovered,) = report.files
    assert recovered.valid and recovered.bytes_cut > 0
    final = archive_dir / recovered.final_name
    assert final.stat().st_size < killed_size
    assert [c.id for c in report.captures] == [c.id for c in returned]
    assert list(iter_captures(archive_dir)) == returned  # nothing lost that `write` returned
    for capture in returned:
        assert hashlib.sha256(read_payload(archive_dir, capture.warc)).hexdigest() == capture.payload_sha256  # type: ignore[arg-type]
    assert all(r.ok for r in iter_records(final))
    assert warcio_cli("check", str(final)).returncode == 0
    assert not list((archive_dir / "warcs").glob("*.open"))


def test_recovered_archive_copy_is_byte_stable(archive_dir: Path, tmp_path: Path) -> None:
    """Recovering a file that needs no cut keeps it byte for byte (fsync happened before the crash)."""
    store = make_store(tmp_path / "src")
    store_page(store, "http://a.test/", b"page", "b1")
    assert store.current_file is not None
    target = archive_dir / "warcs" / store.current_file.name
    target.parent.mkdir(parents=True)
    shutil.copyfile(store.current_file, target)
    original = target.read_bytes()
    store.close()
    (recovered,) = make_store(archive_dir).recover().files
    assert recovered.bytes_cut == 0 and (archive_dir / recovered.final_name).read_bytes() == original


def test_idle_rollover_finalises_the_open_file(archive_dir: Path) -> None:
    now = [T0]
    store = WarcStore(ArchivePaths(archive_dir), 10**9, clock=lambda: now[0], new_id=ids())
    assert not store.rollover_if_idle(60)  # nothing open
    store_page(store, "http://a.test/", b"page", "idle")
    now[0] = T0 + timedelta(seconds=59)
    assert not store.rollover_if_idle(60) and store.current_file is not None
    now[0] = T0 + timedelta(seconds=61)
    assert store.rollover_if_idle(60) and store.current_file is None
    assert [p.name.endswith(".warc.gz") for p in warc_files(archive_dir / "warcs")] == [True]
    store.close()


def test_incompressible_payloads_are_stored_not_deflated_again(archive_dir: Path) -> None:
    noise, text = os.urandom(100_000), b"<p>words words words</p>" * 4000
    with make_store(archive_dir) as store:
        random_page = store_page(store, "http://a.test/noise", noise, "n1")
        text_page = store_page(store, "http://a.test/text", text, "n2")
    assert random_page.warc is not None and text_page.warc is not None
    assert len(noise) < random_page.warc.length < len(noise) + 2000  # a stored member
    assert text_page.warc.length < len(text) // 20  # deflated
    assert read_payload(archive_dir, random_page.warc) == noise
    assert warcio_cli("check", str(only_file(archive_dir))).returncode == 0


def test_a_revisit_is_two_small_records_and_reads_back_whole(archive_dir: Path, tmp_path: Path) -> None:
    """Storage that stays flat: revisit + compact metadata, no request; readers restore the capture."""
    body = b"<html>unchanged</html>" * 50
    source = tmp_path / "source"
    store = make_store(source)
    first = store_page(store, "http://a.test/", body, "f1")
    second = store_page(store, "http://a.test/", body, "f2", revisit_of=first)
    open_file = store.current_file
    assert open_file is not None and second.warc is not None
    crashed = archive_dir / "warcs" / open_file.name
    crashed.parent.mkdir(parents=True)
    shutil.copyfile(open_file, crashed)  # a copy as a crash would leave it, for recover() below
    store.close()
    records = records_of(only_file(source))
    assert [r[0].get_header("WARC-Type") for r in records] == ["warcinfo", "response", "request", "metadata"] + [
        "revisit",
        "metadata",
    ]
    revisit, metadata = records[4], records[5]
    assert revisit[3] == second.warc.offset
    assert revisit[0].get_header("WARC-Warcinfo-ID") == metadata[0].get_header("WARC-Warcinfo-ID") is not None
    assert revisit[0].get_header("WARC-IP-Address") == "127.0.0.1"
    assert revisit[1].statusline == "200 OK" and revisit[1].get_header("Content-Type") == "text/html"
    assert metadata[0].get_header("WARC-Concurrent-To") == revisit[0].get_header("WARC-Record-ID")
    document = decode_document(metadata[0].get_header("Content-Type"), metadata[2])
    assert document is not None
    # What the revisit record already says is not said again...
    assert "revisit_of" not in document and "warc" not in document["capture"]
    assert "payload_sha256" not in document["capture"]
    assert document["hops"] == [{"method": "GET", "record_type": "revisit"}]
    # ...and every reader puts it back: the file scan, rebuild, verify's audit and recovery.
    assert [c for c in iter_file_captures(only_file(source)) if c.id == "f2"] == [second]
    assert list(iter_captures(source)) == [first, second]
    assert [c.id for c in make_store(archive_dir).recover().captures] == ["f1", "f2"]
    assert list(iter_captures(archive_dir)) == [first, second]
    assert read_payload(source, second.warc) == body
    assert len(metadata[2]) < 700 and second.warc.length < 700
    assert warcio_cli("check", "-v", str(only_file(source))).returncode == 0


def test_compact_revisit_document_keeps_what_differs() -> None:
    capture = {"id": "c", "url": "http://a.test/", "fetched_at": "T2", "status": 200, "ip_address": "10.0.0.1"}
    capture |= {"payload_sha256": "p", "payload_size": 3, "warc": {"file": "f", "offset": 1, "length": 2}}
    redirect = {"url": "http://a.test/", "status": 301, "started_at": "T1", "ip_address": "10.0.0.1"}
    redirect |= {"response_record_id": "<r1>", "request_record_id": "<q1>", "reason": "Moved", "method": "GET"}
    final = {"url": "http://a.test/b", "status": 200, "started_at": "T2", "ip_address": "10.0.0.2"}
    final |= {"response_record_id": "<r2>", "request_record_id": None, "reason": "OK", "http_version": "HTTP/1.1"}
    final |= {"payload_sha256": "p", "payload_size": 3, "method": "GET", "record_type": "revisit"}
    document = {"format": "f", "capture": capture, "requested": "http://a.test/", "hops": [redirect, final]}
    document |= {"error": None, "attempts": [{"url": "http://a.test/", "status": 503}], "revisit_of": {"file": "x"}}
    compact = compact_revisit_document(document)
    assert compact["capture"] == {k: v for k, v in capture.items() if k not in ("warc", "payload_sha256")}
    assert compact["attempts"] == document["attempts"] and "revisit_of" not in compact and "requested" not in compact
    # A redirect hop keeps its own record ids and what differs; the last keeps only what is its own.
    assert compact["hops"] == [
        {"status": 301, "started_at": "T1", "response_record_id": "<r1>", "request_record_id": "<q1>"}
        | {"reason": "Moved", "method": "GET"},
        {"url": "http://a.test/b", "ip_address": "10.0.0.2", "method": "GET", "record_type": "revisit"},
    ]


def test_a_new_file_waits_for_a_probe_holding_its_lock(tmp_path: Path) -> None:
    """verify and recovery tell a live file by trying its lock: a writer that meets one waits for it."""
    path = tmp_path / "new.warc.gz.open"
    with path.open("xb") as fh, path.open("rb") as probe:
        fcntl.flock(probe.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)  # verify's is_live, mid-probe
        release = threading.Timer(0.05, fcntl.flock, (probe.fileno(), fcntl.LOCK_UN))
        release.start()
        lock_new_file(fh)
        release.join()
        with path.open("rb") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)  # now the writer's
    with path.open("rb") as fh, path.open("rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)  # held for good: the writer gives up
        with pytest.raises(BlockingIOError):
            lock_new_file(fh, attempts=3)
