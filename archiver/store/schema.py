"""The index schema: a plain list of named migrations, each applied once and atomically.

A list of named steps, not an ORM or a version number (sqlite-utils' pattern): `Index.migrate`
applies each in one `BEGIN IMMEDIATE` transaction with its row in `migrations`, so a failure leaves
neither half a table nor a record of having run. Append new steps to `MIGRATIONS`; never edit or
reorder one that has shipped. Only the indexes the queries use exist, because each nightly row
pays for them. See docs/warc-layout.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

Step = tuple[str, ...] | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    """A named schema change: SQL statements, or a function given the connection (in a transaction)."""

    name: str
    step: Step


MIGRATIONS: list[Migration] = [
    Migration(
        "0001_captures",
        (
            """
            CREATE TABLE captures (
                id TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                final_url TEXT,
                status INTEGER,
                redirects TEXT NOT NULL,
                fetched_at TEXT NOT NULL,
                content_type TEXT,
                payload_sha256 TEXT,
                payload_size INTEGER,
                text_sha256 TEXT,
                title TEXT,
                warc_file TEXT,
                warc_offset INTEGER,
                warc_length INTEGER,
                error_kind TEXT,
                error_message TEXT,
                truncated TEXT,
                ip_address TEXT,
                encoding TEXT,
                text_error TEXT,
                revisit_of TEXT,
                elapsed_ms INTEGER
            )
            """,
            "CREATE INDEX captures_url ON captures (url, fetched_at)",
            "CREATE INDEX captures_final_url ON captures (final_url, fetched_at)",
            "CREATE INDEX captures_payload ON captures (payload_sha256)",
            "CREATE INDEX captures_warc_file ON captures (warc_file)",
        ),
    ),
    Migration(
        "0002_mementos",
        (
            """
            CREATE TABLE mementos (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                ref TEXT NOT NULL,
                kind TEXT NOT NULL,
                verdict TEXT NOT NULL,
                original_url TEXT,
                memento_datetime TEXT,
                obtained_via TEXT NOT NULL,
                capture_id TEXT,
                mirror_file TEXT,
                mirror_sha256 TEXT,
                recorded_at TEXT NOT NULL,
                document TEXT NOT NULL
            )
            """,
            "CREATE INDEX mementos_ref ON mementos (ref, recorded_at)",
            "CREATE INDEX mementos_original ON mementos (original_url)",
        ),
    ),
    # The nightly watch list (archiver/watchlist.py): sources, their link state, runs, per-run results.
    Migration(
        "0003_watch",
        (
            """
            CREATE TABLE watch (
                key TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                label TEXT NOT NULL DEFAULT '',
                archives TEXT NOT NULL DEFAULT '[]',
                found_in TEXT,
                added_at TEXT NOT NULL,
                baseline_id TEXT,
                state TEXT NOT NULL DEFAULT '{}',
                last_run TEXT,
                doc_run TEXT
            )
            """,
            """
            CREATE TABLE watch_runs (
                run_id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                label TEXT NOT NULL,
                started_at TEXT NOT NULL,
                finished_at TEXT,
                outcome TEXT NOT NULL,
                summary TEXT NOT NULL DEFAULT '{}'
            )
            """,
            """
            CREATE TABLE watch_results (
                run_id TEXT NOT NULL,
                key TEXT NOT NULL,
                checked_at TEXT NOT NULL,
                capture_id TEXT,
                live TEXT,
                archive TEXT NOT NULL,
                drift TEXT NOT NULL,
                overall TEXT NOT NULL,
                condition TEXT NOT NULL,
                event TEXT,
                document BLOB NOT NULL,
                doc_run TEXT,
                PRIMARY KEY (run_id, key)
            ) WITHOUT ROWID
            """,
        ),
    ),
    # Leaner capture indexes (bench/nightly.py: they were ~400 of the ~1,300 bytes an unchanged
    # page added to the index each night). What the queries need, by EXPLAIN QUERY PLAN:
    # - `history` / `latest_capture` look a URL up as `url` or as `final_url`; the ORDER BY
    #   fetched_at is sorted in a temp B-tree after the OR anyway, so fetched_at in the index
    #   bought nothing: (url) alone serves the same plan.
    # - `final_url` is worth indexing only where it differs from `url` (a redirect): the other
    #   rows are found through `url`. Queries say `final_url <> url` so the partial index applies.
    # - Nothing looks captures up by payload digest: the index is dropped.
    # - `warc_file` is only searched by recovery and by `index` maintenance (captures_in,
    #   sync_file), rare operations that can afford a scan of the table.
    Migration(
        "0004_lean_capture_indexes",
        (
            "DROP INDEX captures_payload",
            "DROP INDEX captures_warc_file",
            "DROP INDEX captures_final_url",
            "DROP INDEX captures_url",
            "CREATE INDEX captures_by_url ON captures (url)",
            "CREATE INDEX captures_redirected ON captures (final_url) WHERE final_url <> url",
        ),
    ),
    # What each capture's page shows (issue 10): a wall, a notice or a shell is no evidence of what
    # a citation said, and every verdict reads it. Old rows keep NULL ("not read").
    Migration(
        "0005_capture_page_kind",
        (
            "ALTER TABLE captures ADD COLUMN page_kind TEXT",
            "ALTER TABLE captures ADD COLUMN page_evidence TEXT",
        ),
    ),
]
