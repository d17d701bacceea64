"""Configuration: one declarative table of settings, read from TOML into frozen records.

Every setting is a dataclass field with a default and a help text (`metadata["help"]`); the
sections mirror the TOML tables. A file overrides only what it sets; command-line flags override
the file; an unknown key or a value of the wrong type is a ConfigError naming the file and key.
Secrets never live here: they come from the environment (PERMA_API_KEY, ARCHIVER_SMTP_PASSWORD,
ARCHIVER_WAYBACK_S3_KEY and ARCHIVER_WAYBACK_S3_SECRET for Save Page Now).
`config.toml` at the repository root documents every key and is checked against this table.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from archiver.errors import ConfigError
from archiver.urls import TRACKING_PARAMS

CONFIG_ENV = "ARCHIVER_CONFIG"
ARCHIVING_SERVICES = ("perma", "wayback")
DEFAULT_CONFIG_NAME = "config.toml"


def _s(default: Any, help: str) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class FetchConfig:
    user_agent: str = _s(
        "Mozilla/5.0 (compatible; archiver/0.1; citation checker)",
        "User-Agent sent with every request; browser-like so bot walls answer as they would to a reader.",
    )
    timeout: float = _s(15.0, "Connect and per-read timeout in seconds (httpx's read timeout is per chunk).")
    deadline: float = _s(60.0, "Total seconds one fetch may take, body included; a drip-fed body is cut here.")
    max_body_bytes: int = _s(64 * 1024 * 1024, "Bodies are cut here and recorded with WARC-Truncated: length.")
    max_decoded_bytes: int = _s(
        128 * 1024 * 1024, "Cap on decompressed size for text extraction: a gzip bomb errors instead of OOM."
    )
    max_redirects: int = _s(10, "Redirect hops followed (each one archived) before 'too_many_redirects'.")
    retries: int = _s(2, "Retries after a timeout, 408, 429 or 5xx; never for other 4xx or DNS failures.")
    backoff_base: float = _s(0.5, "First retry delay in seconds; doubles each retry.")
    backoff_max: float = _s(30.0, "Longest retry delay in seconds.")
    retry_after_max: float = _s(60.0, "Cap on a server's Retry-After, so an absurd value cannot stall a run.")
    concurrency: int = _s(32, "Fetches in flight at once, over all hosts.")
    host_concurrency: int = _s(4, "Fetches in flight at once to one host.")
    host_interval: float = _s(0.05, "Seconds between the starts of two requests to one host (lychee: 50 ms).")
    allow_private_networks: bool = _s(
        False, "Allow hosts resolving to loopback/private/link-local/reserved addresses (tests set it)."
    )
    accept_encoding: str = _s(
        "gzip, deflate",
        "Accept-Encoding sent; gzip/deflate like wget and Heritrix, because every WARC tool reads those back.",
    )
    proxy: str = _s("", "Explicit proxy URL; empty means direct connections.")
    trust_env: bool = _s(
        False, "Honour HTTP(S)_PROXY from the environment; off because a proxy sidesteps the address guard."
    )


@dataclass(frozen=True)
class PermaConfig:
    site_url: str = _s("https://perma.cc", "Perma.cc site: /{GUID} answers with Memento headers, no key needed.")
    api_url: str = _s("https://api.perma.cc", "Perma.cc API root; /v1/archives/{guid}/ needs PERMA_API_KEY.")
    legacy_public_api: bool = _s(
        False, "Use the key-free /v1/public/archives routes (removed from perma.cc in Dec 2025)."
    )
    max_substitute_days: float = _s(
        30.0, "Furthest a Wayback snapshot may be from Perma's capture date to stand in for its content."
    )


@dataclass(frozen=True)
class DownloadsConfig:
    max_members: int = _s(10_000, "Zip entries a downloaded WACZ may have; past it the file is refused.")
    max_records: int = _s(200_000, "WARC records a downloaded archive file may hold.")
    max_bytes: int = _s(1024 * 1024 * 1024, "Decompressed bytes a downloaded archive file may inflate to.")
    max_seconds: float = _s(120.0, "Seconds reading one downloaded archive file may take.")


@dataclass(frozen=True)
class DocumentsConfig:
    max_bytes: int = _s(256 * 1024 * 1024, "Largest document `check` reads (the file as it is on disk).")
    max_decoded_bytes: int = _s(
        256 * 1024 * 1024, "Cap on what a document's compressed parts (DOCX members, PDF streams) inflate to."
    )


@dataclass(frozen=True)
class WaybackConfig:
    url: str = _s("https://web.archive.org", "Wayback Machine root: /web/{ts}id_/{url} and /cdx/search/cdx.")


@dataclass(frozen=True)
class ArchivingConfig:
    services: list[str] = _s(
        ["perma", "wayback"],
        "Services asked for a new archive of a citation that has none, in this order (perma, wayback).",
    )
    all_services: bool = _s(False, "Ask every service in `services`; false stops at the first that succeeds.")
    perma_folder: int = _s(0, "Perma.cc folder id for new links; 0 is the key owner's Personal Links folder.")
    perma_batch_size: int = _s(20, "URLs per Perma.cc batch request (POST /v1/archives/batches) when many are asked.")
    poll_interval: float = _s(5.0, "Seconds between two status polls of a capture still in progress.")
    poll_timeout: float = _s(
        180.0, "Seconds a capture may take before it is given up as 'timeout' (SPN2 stops its own at 2 min)."
    )
    wayback_concurrency: int = _s(
        4, "Save Page Now captures in flight at once; SPN2 caps a user's concurrent sessions (12 at most)."
    )
    wayback_interval: float = _s(
        8.6, "Seconds between two Save Page Now requests: SPN2 allows 7 captures a minute to a logged-in user."
    )


@dataclass(frozen=True)
class DriftConfig:
    equivalent: float = _s(
        1.0, "Similarity at or above which texts are 'equivalent'; 1.0: only time stamps and edge chrome may differ."
    )
    minor: float = _s(0.88, "Share of text kept at or above which a change is 'minor' (else 'major').")
    replaced: float = _s(0.25, "Share of text kept below which the page is 'replaced' by another one.")
    title_replaced: float = _s(0.30, "Title similarity below which, with low text similarity, a page is 'replaced'.")
    max_excerpts: int = _s(5, "Changed paragraphs quoted in a report, per comparison.")


@dataclass(frozen=True)
class LiveConfig:
    soft_404_probe: bool = _s(True, "Fetch a random URL in the same directory to detect soft 404s.")


@dataclass(frozen=True)
class CheckConfig:
    exclude: list[str] = _s([], "URL regexes `check` does not fetch; such citations are reported as excluded.")
    include: list[str] = _s([], "URL regexes always checked, even if excluded; alone, only these are checked.")
    accept: list[str] = _s([], "Live statuses treated as fine besides 2xx, e.g. ['403', '520..530'].")
    max_cache_age: str = _s(
        "1d", "How old a capture `check --cache` may reuse instead of fetching again (30m, 6h, 1d; 0s: none)."
    )


@dataclass(frozen=True)
class UrlsConfig:
    tracking_params: list[str] = _s(
        list(TRACKING_PARAMS),
        "Query parameters that say who shared a link, not which page it is ('utm_*': any utm_ name); "
        "an archive of the cited URL with them added still captures the cited page.",
    )


@dataclass(frozen=True)
class WatchConfig:
    dead_after_failures: int = _s(3, "Failed nights before a link is declared gone (InternetArchiveBot: 3).")
    dead_after_days: float = _s(3.0, "Days that must separate the first and last of those failures.")


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = _s("0 3 * * *", "When the nightly run starts (crontab: minute hour day month weekday).")
    timezone: str = _s("UTC", "Time zone of the cron expression.")
    misfire_grace_seconds: int = _s(
        6 * 3600, "How late a missed run may still start (APScheduler's default of 1 s loses nights)."
    )


@dataclass(frozen=True)
class ClusterConfig:
    address: str = _s(
        "",
        "Dask scheduler for run/check/fetch: tcp://host:8786 connects, local:N starts N worker processes; "
        "empty runs in-process.",
    )
    shards_per_worker: int = _s(
        2, "Shards (each a set of whole hosts) per worker, run side by side: more balance, more overhead."
    )
    max_shard_urls: int = _s(
        5000, "More shards when they would hold more URLs than this (a host is never split); 0: no cap."
    )
    part_seconds: float = _s(
        5.0,
        "A shard sends back what it has after this many seconds and goes on as a new task, so the coordinator "
        "indexes while workers fetch; 0: once, at its end.",
    )


@dataclass(frozen=True)
class NotifyConfig:
    webhooks: list[str] = _s([], "URLs that receive a JSON POST after a run with news.")
    smtp_host: str = _s("", "SMTP server for e-mail after a run with news; empty disables e-mail.")
    smtp_port: int = _s(25, "SMTP port.")
    smtp_starttls: bool = _s(False, "Upgrade the SMTP connection with STARTTLS.")
    smtp_user: str = _s("", "SMTP user name; the password comes from ARCHIVER_SMTP_PASSWORD.")
    mail_from: str = _s("archiver@localhost", "Sender address of notification e-mail.")
    mail_to: list[str] = _s([], "Recipients of notification e-mail.")


@dataclass(frozen=True)
class PolicyConfig:
    live: dict[str, str] = _s(
        {
            "ok": "pass",
            "redirected": "warn",
            "gone": "fail",
            "soft_404": "fail",
            "blocked": "warn",
            "server_error": "warn",
            "unreachable": "fail",
            "invalid_url": "fail",
        },
        "Overall level per live verdict.",
    )
    archive: dict[str, str] = _s(
        {
            "ok": "pass",
            "mismatch": "fail",
            "not_found": "fail",
            "unavailable": "warn",
            "metadata_only": "warn",
            "pending": "warn",
            "failed": "fail",
            "none": "warn",
        },
        "Overall level per archive verdict.",
    )
    drift: dict[str, str] = _s(
        {
            "identical": "pass",
            "equivalent": "pass",
            "minor": "pass",
            "major": "warn",
            "replaced": "warn",
            "unknown": "pass",
        },
        "Overall level per drift verdict.",
    )
    gone_with_archive: str = _s(
        "warn", "Level of a gone/soft-404 live page whose archive is ok: the archive exists for exactly that."
    )


@dataclass(frozen=True)
class Config:
    archive_dir: Path = _s(Path("archive"), "The archive folder: warcs/, mirrors/, index.sqlite3, reports/.")
    warc_max_bytes: int = _s(1024 * 1024 * 1024, "A WARC file is closed and a new one begun past this size.")
    fetch: FetchConfig = field(default_factory=FetchConfig, metadata={"help": "How pages are fetched."})
    perma: PermaConfig = field(default_factory=PermaConfig, metadata={"help": "Perma.cc."})
    wayback: WaybackConfig = field(default_factory=WaybackConfig, metadata={"help": "The Wayback Machine."})
    downloads: DownloadsConfig = field(
        default_factory=DownloadsConfig, metadata={"help": "Bounds on reading downloaded archive files."}
    )
    documents: DocumentsConfig = field(default_factory=DocumentsConfig, metadata={"help": "Documents read."})
    archiving: ArchivingConfig = field(
        default_factory=ArchivingConfig, metadata={"help": "Creating missing archives (Perma.cc, Save Page Now)."}
    )
    drift: DriftConfig = field(default_factory=DriftConfig, metadata={"help": "Drift thresholds."})
    live: LiveConfig = field(default_factory=LiveConfig, metadata={"help": "Live verdict rules."})
    check: CheckConfig = field(default_factory=CheckConfig, metadata={"help": "What `archiver check` checks."})
    urls: UrlsConfig = field(default_factory=UrlsConfig, metadata={"help": "When two URLs are the same page."})
    watch: WatchConfig = field(default_factory=WatchConfig, metadata={"help": "Nightly watch list."})
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig, metadata={"help": "Nightly schedule."})
    notify: NotifyConfig = field(default_factory=NotifyConfig, metadata={"help": "Notifications."})
    cluster: ClusterConfig = field(default_factory=ClusterConfig, metadata={"help": "Scale-out over Dask."})
    policy: PolicyConfig = field(default_factory=PolicyConfig, metadata={"help": "Verdict -> level."})


T = TypeVar("T")


def _coerce(value: Any, typ: Any, where: str) -> Any:
    origin = getattr(typ, "__origin__", None)
    if typ is bool:
        if isinstance(value, bool):
            return value
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif typ is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif typ is str:
        if isinstance(value, str):
            return value
    elif typ is Path:
        if isinstance(value, str | Path):
            return Path(value)
    elif origin is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    elif origin is dict:
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return dict(value)
    name = getattr(typ, "__name__", str(typ))
    raise ConfigError(f"{where}: expected {name}, got {type(value).__name__} {value!r}")


def _build(cls: type[T], base: T, data: Mapping[str, Any], source: str, prefix: str) -> T:
    hints = get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{source}: {prefix}{key}"
        if key not in known:
            raise ConfigError(f"{where}: unknown setting (known: {', '.join(sorted(known))})")
        typ = hints[key]
        current = getattr(base, key)
        if dataclasses.is_dataclass(typ):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table [{prefix}{key}]")
            changes[key] = _build(typ, current, value, source, f"{prefix}{key}.")  # type: ignore[arg-type]
        elif getattr(typ, "__origin__", None) is dict and isinstance(value, dict):
            merged = dict(current)
            merged.update(_coerce(value, typ, where))
            if key in ("live", "archive", "drift") and cls is PolicyConfig:
                _check_policy(merged, current, where)
            changes[key] = merged
        else:
            changes[key] = _coerce(value, typ, where)
    return dataclasses.replace(base, **changes)  # type: ignore[type-var]


def _check_policy(merged: dict[str, str], defaults: dict[str, str], where: str) -> None:
    for verdict, level in merged.items():
        if verdict not in defaults:
            raise ConfigError(f"{where}.{verdict}: unknown verdict (known: {', '.join(defaults)})")
        if level not in ("pass", "warn", "fail"):
            raise ConfigError(f"{where}.{verdict}: level must be pass, warn or fail, not {level!r}")


def config_path(explicit: Path | None) -> Path | None:
    """The config file to read: the one named, else $ARCHIVER_CONFIG, else ./config.toml if present."""
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.is_file() else None


def load_config(path: Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a config file (if any) and apply overrides (a nested mapping, as TOML would give)."""
    config = Config()
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist; create it or name another with --config") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        config = _build(Config, config, data, str(path), "")
        if not config.archive_dir.is_absolute() and "archive_dir" in data:
            # A relative archive_dir in a file means relative to that file, not to wherever we run.
            config = dataclasses.replace(config, archive_dir=path.parent / config.archive_dir)
    if overrides:
        config = _build(Config, config, overrides, "command line", "")
    try:
        _validate(config)
    except ConfigError as exc:
        raise ConfigError(f"{path if path is not None else 'settings'}: {exc}") from None
    return config


def parse_statuses(text: str, where: str = "--accept") -> frozenset[int]:
    """HTTP statuses from `200..299,403` (ranges inclusive, as lychee writes them); ConfigError if none."""
    statuses: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        low, _, high = part.partition("..")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ConfigError(f"{where}: {part!r} is not a status or a range such as 200..299") from None
        if not 100 <= first <= last <= 599:
            raise ConfigError(f"{where}: {part!r} is not a range of HTTP statuses (100 to 599, low..high)")
        statuses.update(range(first, last + 1))
    return frozenset(statuses)


_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str, where: str = "--max-cache-age") -> timedelta:
    """A duration from `30m`, `6h`, `1d`, `90s` (one number, one unit); ConfigError otherwise."""
    match = _AGE.fullmatch(text.strip().lower())
    if match is None:
        raise ConfigError(f"{where}: {text!r} is not an age such as 30m, 6h or 1d (units s, m, h, d)")
    return timedelta(seconds=float(match.group(1)) * _AGE_UNITS[match.group(2)])


def _validate(config: Config) -> None:
    f = config.fetch
    positive = {
        "fetch.timeout": f.timeout,
        "fetch.deadline": f.deadline,
        "fetch.max_body_bytes": f.max_body_bytes,
        "fetch.max_decoded_bytes": f.max_decoded_bytes,
        "fetch.concurrency": f.concurrency,
        "fetch.host_concurrency": f.host_concurrency,
        "warc_max_bytes": config.warc_max_bytes,
        "cluster.shards_per_worker": config.cluster.shards_per_worker,
    }
    for name, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{name} must be greater than 0, not {value}")
    for name, value in {"fetch.max_redirects": f.max_redirects, "fetch.retries": f.retries}.items():
        if value < 0:
            raise ConfigError(f"{name} must not be negative, not {value}")
    if config.policy.gone_with_archive not in ("pass", "warn", "fail"):
        raise ConfigError(
            f"policy.gone_with_archive must be pass, warn or fail, not {config.policy.gone_with_archive!r}"
        )
    a = config.archiving
    unknown = [name for name in a.services if name not in ARCHIVING_SERVICES]
    if unknown:
        raise ConfigError(
            f"archiving.services: unknown service {unknown[0]!r} (known: {', '.join(ARCHIVING_SERVICES)})"
        )
    for name, number in {
        "archiving.poll_interval": a.poll_interval,
        "archiving.poll_timeout": a.poll_timeout,
        "archiving.wayback_concurrency": a.wayback_concurrency,
        "archiving.perma_batch_size": a.perma_batch_size,
    }.items():
        if number <= 0:
            raise ConfigError(f"{name} must be greater than 0, not {number}")
    if a.wayback_interval < 0 or a.perma_folder < 0:
        raise ConfigError("archiving.wayback_interval and archiving.perma_folder must not be negative")
    for name, patterns in (("check.exclude", config.check.exclude), ("check.include", config.check.include)):
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{name}: {pattern!r} is not a regular expression ({exc})") from None
    for text in config.check.accept:
        parse_statuses(text, f"check.accept: {text!r}")
    parse_age(config.check.max_cache_age, "check.max_cache_age")
    d = config.drift
    if not 0 <= d.replaced <= d.minor <= d.equivalent <= 1:
        raise ConfigError("drift thresholds must satisfy 0 <= replaced <= minor <= equivalent <= 1")


def settings_table() -> list[tuple[str, Any, str]]:
    """Every setting as (dotted name, default, help): for docs and for the test that checks them."""
    rows: list[tuple[str, Any, str]] = []

    def walk(cls: type, obj: Any, prefix: str) -> None:
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], value, f"{prefix}{f.name}.")
            else:
                rows.append((f"{prefix}{f.name}", value, f.metadata.get("help", "")))

    walk(Config, Config(), "")
    return rows


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return f'"{value.as_posix()}"'
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def default_toml() -> str:
    """config.toml with every setting at its default, each with its help as a comment."""
    lines = [
        "# archiver configuration: every key, its default, and why. A file overrides only what it sets;",
        "# command-line flags override the file. Secrets come from the environment, never from here:",
        "# PERMA_API_KEY (Perma.cc API key), ARCHIVER_SMTP_PASSWORD (SMTP password),",
        "# ARCHIVER_WAYBACK_S3_KEY and ARCHIVER_WAYBACK_S3_SECRET (archive.org S3 keys for Save Page Now).",
        "",
    ]
    section = ""
    # Within a table, plain keys must come before sub-tables, or TOML would declare the table twice.
    rows = sorted(settings_table(), key=lambda row: (row[0].rpartition(".")[0], isinstance(row[1], dict)))
    order = {row[0].rpartition(".")[0]: i for i, row in reversed(list(enumerate(settings_table())))}
    rows.sort(key=lambda row: order[row[0].rpartition(".")[0]])
    for name, value, help_text in rows:
        head, _, key = name.rpartition(".")
        if isinstance(value, dict):
            lines.append("")
            lines.append(f"# {help_text}")
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
            section = name
            continue
        if head != section:
            lines.append("")
            lines.append(f"[{head}]")
            section = head
        lines.append(f"# {help_text}")
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
