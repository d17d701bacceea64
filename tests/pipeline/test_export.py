"""`archiver export`: a WACZ of everything a check relied on, accepted by py-wacz, and verified.

py-wacz (`wacz validate`, a test-only dependency) checks every package written; a tampered byte
and a forged signature fail `verify_wacz`. Replay with pywb is tested only where the replay
set-up (`.ci/pywb-replay`) exists, which it does not yet on this branch.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from archiver.config import Config, load_config
from archiver.pipeline.check import Document
from archiver.pipeline.export import export_documents
from archiver.warc.wacz import new_signing_key, verify_wacz
from tests.imitations import serve
from tests.imitations.perma import PermaImitation, StoredLink
from tests.imitations.wayback import WaybackCapture, WaybackImitation

ROOT = Path(__file__).resolve().parents[2]
CITED = datetime(2025, 4, 26, 8, 0, tzinfo=UTC)
PAGE = b"<html><head><title>Story {n}</title></head><body><p>The text of story {n}, as published.</p></body></html>"


def page(n: str) -> bytes:
    return PAGE.replace(b"{n}", n.encode())


def live_app(environ: dict[str, Any], start_response: Any) -> Any:
    name = Request(environ).path.strip("/")
    return Response(page(name), 200, content_type="text/html; charset=utf-8")(environ, start_response)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Config, str, str]]:
    with serve(live_app) as live:
        perma = PermaImitation([StoredLink("2AAA-2AAA", f"{live}/a", CITED)])
        wayback = WaybackImitation([WaybackCapture("20250426090000", f"{live}/a", body=page("a"))])
        with serve(perma.api) as api, serve(perma.site) as site, serve(wayback) as wb:
            config = load_config(
                None,
                {
                    "archive_dir": str(tmp_path / "archive"),
                    "fetch": {"allow_private_networks": True, "timeout": 3.0, "retries": 0, "host_interval": 0.0},
                    "perma": {"api_url": api, "site_url": site},
                    "wayback": {"url": wb},
                },
            )
            yield config, live, site


def export(config: Config, live: str, site: str, output: Path, **kwargs: Any) -> Any:
    text = f"Source: {live}/a\nArchived: {site}/2AAA-2AAA\nAnd {live}/b with no archive.\n"
    return asyncio.run(export_documents([Document("doc.txt", text.encode())], config, output, **kwargs))


def wacz_validate(path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("wacz") or str(Path(sys.executable).parent / "wacz")
    if not Path(tool).exists():
        pytest.skip("py-wacz is not installed (pip install wacz): the package cannot be validated by it")
    return subprocess.run([tool, "validate", "-f", str(path)], capture_output=True, text=True, timeout=120)


def test_export_is_a_valid_wacz_with_every_record(world: tuple[Config, str, str], tmp_path: Path) -> None:
    config, live, site = world
    out = tmp_path / "evidence.wacz"
    result = export(config, live, site, out)
    checked = wacz_validate(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Validation succeeded" in checked.stdout
    assert verify_wacz(out).ok, verify_wacz(out).problems
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert {"archive/data.warc.gz", "indexes/index.cdxj", "pages/pages.jsonl", "datapackage.json"} <= names
        assert {"reports/check.json", "reports/check.html", "datapackage-digest.json"} <= names
        assert archive.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
        pages = [json.loads(line) for line in archive.read("pages/pages.jsonl").splitlines()]
        assert pages[0]["format"] == "json-pages-1.0"
        assert {p["url"] for p in pages[1:]} == {f"{live}/a", f"{live}/b"}
        assert all(p["title"].startswith("Story") and "as published" in p["text"] for p in pages[1:])
        index = archive.read("indexes/index.cdxj").decode()
        assert f'"url": "{live}/a"' in index and f'"url": "{live}/b"' in index
        assert "20250426090000id_" in index, "the archived copy's record is in the package"
        package = json.loads(archive.read("datapackage.json"))
        assert package["wacz_version"] == "1.1.1"
        assert all(r["hash"].startswith("sha256:") for r in package["resources"])
        report = json.loads(archive.read("reports/check.json"))
    assert len(report["results"]) == len(result.report.results) == 2
    assert result.package.records >= 3


def test_a_tampered_byte_fails_verify(world: tuple[Config, str, str], tmp_path: Path) -> None:
    config, live, site = world
    out = tmp_path / "evidence.wacz"
    export(config, live, site, out)
    data = bytearray(out.read_bytes())
    with zipfile.ZipFile(out) as archive:
        info = archive.getinfo("archive/data.warc.gz")
    # A byte inside the stored (uncompressed) WARC member: its data starts after the local header.
    spot = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    data[spot] ^= 0x01
    tampered = tmp_path / "tampered.wacz"
    tampered.write_bytes(bytes(data))
    check = verify_wacz(tampered)
    assert not check.ok and any("archive/data.warc.gz" in p for p in check.problems), check.problems


def test_signed_package_verifies_and_a_forged_one_does_not(world: tuple[Config, str, str], tmp_path: Path) -> None:
    config, live, site = world
    out = tmp_path / "signed.wacz"
    export(config, live, site, out, signing_key=new_signing_key())
    check = verify_wacz(out)
    assert check.ok and check.signed and check.public_key, check.problems
    checked = wacz_validate(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    forged = tmp_path / "forged.wacz"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(forged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "datapackage-digest.json":
                doc = json.loads(data)
                other = verify_wacz(out)  # the same key pair signs nothing else: use another key's signature
                assert other.ok
                from archiver.warc.wacz import sign_hash

                doc["signedData"]["signature"] = sign_hash(
                    new_signing_key(), doc["hash"], doc["signedData"]["created"], "x/1"
                )["signature"]
                data = json.dumps(doc).encode()
            target.writestr(item, data)
    bad = verify_wacz(forged)
    assert not bad.ok and any("signature" in p for p in bad.problems)


def test_replay_with_pywb(world: tuple[Config, str, str], tmp_path: Path) -> None:
    replay = ROOT / ".ci" / "pywb-replay"
    if not replay.exists():
        pytest.skip("no pywb replay set-up (.ci/pywb-replay, .venv-pywb) on this branch: replay is not tested here")
    config, live, site = world
    out = tmp_path / "evidence.wacz"
    export(config, live, site, out)
    proc = subprocess.run([str(replay), str(out), f"{live}/a"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
