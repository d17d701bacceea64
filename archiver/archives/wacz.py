"""What `wacz validate` (py-wacz 0.6) would reject in a WACZ, said as values, not printed.

Why not call py-wacz: its `Validation` extracts the whole zip to a temporary folder, prints what
it finds and returns only pass/fail at the first failure, and it brings frictionless and its tree
(also why downloads.py reads WACZs itself). The checks are py-wacz's, applied as it means them:
`datapackage.json` present with `wacz_version` 1.1.1 and a `resources` list (frictionless's
descriptor check), every file of the zip listed there (but the two datapackage files), every
resource hashed and its hash matching (downloads.verify_wacz, which also checks
`datapackage-digest.json`), a WARC under `archive/`, an index (`indexes/index.cdx[.gz]` or
`index.idx`), and `pages/pages.jsonl` whose first line has `format` and `id` and the rest `url` and `ts`.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any

WACZ_VERSION = "1.1.1"
PAGES = "pages/pages.jsonl"
INDEXES = ("indexes/index.cdx", "indexes/index.cdx.gz", "indexes/index.idx")
_PACKAGE_FILES = ("datapackage.json", "datapackage-digest.json")


def structure_failures(archive: zipfile.ZipFile, package: dict[str, Any]) -> tuple[str, ...]:
    """What `wacz validate` would fail on besides the hashes (downloads.verify_wacz checks those)."""
    names = {n for n in archive.namelist() if not n.endswith("/")}
    if "datapackage.json" not in names:
        return ("datapackage.json is missing",)
    failures: list[str] = []
    version = package.get("wacz_version")
    if version != WACZ_VERSION:
        failures.append(f"datapackage.json gives wacz_version {version!r}, `wacz validate` accepts {WACZ_VERSION!r}")
    resources = package.get("resources")
    listed = {str(r.get("path")) for r in resources if isinstance(r, dict)} if isinstance(resources, list) else set()
    if not listed:
        failures.append("datapackage.json lists no resources")
    unlisted = sorted(n for n in names - listed if n not in _PACKAGE_FILES)
    if unlisted:
        failures.append(f"not listed in datapackage.json: {', '.join(unlisted[:5])}")
    if not any(n.startswith("archive/") and n.endswith((".warc", ".warc.gz")) for n in names):
        failures.append("no WARC file under archive/")
    if not names & set(INDEXES):
        failures.append(f"no index ({', '.join(INDEXES)})")
    if PAGES not in names:
        failures.append(f"{PAGES} is missing")
    else:
        failures.extend(_pages_failures(archive.read(PAGES)))
    return tuple(failures)


def _pages_failures(data: bytes) -> list[str]:
    lines = [line for line in data.splitlines() if line.strip()]
    if not lines:
        return [f"{PAGES} is empty (it needs its header line)"]
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except ValueError:
            return [f"{PAGES} line {number} is not JSON"]
        required = ("format", "id") if number == 1 else ("url", "ts")
        missing = [key for key in required if not isinstance(entry, dict) or key not in entry]
        if missing:
            return [f"{PAGES} line {number} lacks {' and '.join(missing)}"]
    return []


def validate_note(failures: tuple[str, ...]) -> str | None:
    """One sentence for `archiver mirror`'s output, or None when `wacz validate` would pass."""
    if not failures:
        return None
    return "this WACZ would fail `wacz validate`: " + "; ".join(failures)
