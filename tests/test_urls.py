"""The mismatch rules of `urls.comparable`/`same_resource`, and archive reference parsing."""

from __future__ import annotations

import pytest

from archiver.models import ArchiveKind
from archiver.refs import canonical_guid, parse_archive_ref
from archiver.urls import comparable, same_page, same_resource


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://example.com/a", "https://example.com/a"),  # scheme
        ("http://EXAMPLE.com/a", "http://example.com/a"),  # host case
        ("http://bücher.de/", "http://xn--bcher-kva.de/"),  # IDNA
        ("http://example.com:80/a", "http://example.com/a"),  # default port
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com/a/", "http://example.com/a"),  # trailing slash
        ("http://example.com", "http://example.com/"),
        ("http://example.com/a#section", "http://example.com/a"),  # fragment
        ("http://example.com/%7Euser", "http://example.com/~user"),  # unreserved escapes
        ("http://example.com/%e4%b8%ad", "http://example.com/中"),  # escape case and raw UTF-8
        ("http://example.com/a?x=%41", "http://example.com/a?x=A"),
        ("http://Example.com./a", "http://example.com/a"),  # a fully qualified name
    ],
)
def test_same_resource_ignores_what_does_not_name_another_page(a: str, b: str) -> None:
    assert same_resource(a, b)
    assert comparable(a) == comparable(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://example.com/a", "http://example.com/b"),
        ("http://example.com/A", "http://example.com/a"),  # paths are case-sensitive
        ("http://example.com:8080/", "http://example.com/"),  # a non-default port is another server
        ("http://example.com/a%2Fb", "http://example.com/a/b"),  # an escaped slash is not a separator
        ("http://example.com/?a=1&b=2", "http://example.com/?b=2&a=1"),  # query order counts
        ("http://example.com/a?x=1", "http://example.com/a"),
        ("http://www.example.com/", "http://example.com/"),  # www is another host
        ("http://news.cn/politics/", "http://www.news.cn/politics/"),
    ],
)
def test_same_resource_keeps_apart_what_names_another_page(a: str, b: str) -> None:
    assert not same_resource(a, b)


@pytest.mark.parametrize(
    ("text", "guid"),
    [
        ("https://perma.cc/5UBL-GCVG", "5UBL-GCVG"),
        ("perma.cc/5ubl-gcvg", "5UBL-GCVG"),
        ("https://perma.cc/5UBL-GCVG/", "5UBL-GCVG"),
        ("http://www.perma.cc/5ubl-gcvg?type=image", "5UBL-GCVG"),
        ("5UBL-GCVG", "5UBL-GCVG"),
        ("5ubl-gcvg", "5UBL-GCVG"),
        ("perma.cc/a2b3c4d5", "A2B3-C4D5"),  # the site canonicalises it with a 301
        ("0J6pkzDeQwT", "0J6pkzDeQwT"),  # legacy GUIDs keep their case
        ("https://perma.cc/OJ6pkzDeQwT", "0J6pkzDeQwT"),  # a leading O is a 0
        ("perma.cc/1-2345", "1-2345"),
        ("perma.cc/ABCD-0001", "ABCD-0001"),  # fixture GUIDs outside the alphabet are looked up as they are
    ],
)
def test_perma_refs_are_canonical(text: str, guid: str) -> None:
    ref = parse_archive_ref(text)
    assert ref is not None and ref.kind is ArchiveKind.PERMA
    assert ref.guid == guid
    assert ref.uri == f"https://perma.cc/{guid}"
    assert ref.raw == text


def test_perma_refs_use_the_configured_site() -> None:
    ref = parse_archive_ref("http://127.0.0.1:8000/5ubl-gcvg", perma_site_url="http://127.0.0.1:8000")
    assert ref is not None and ref.guid == "5UBL-GCVG" and ref.uri == "http://127.0.0.1:8000/5UBL-GCVG"


@pytest.mark.parametrize("text", ["https://perma.cc/docs", "https://perma.cc/settings", "perma.cc/", "Statistics"])
def test_perma_site_pages_and_prose_are_not_refs(text: str) -> None:
    ref = parse_archive_ref(text, bare_guid=False)
    assert ref is None


def test_bare_guids_only_when_asked() -> None:
    assert parse_archive_ref("5UBL-GCVG", bare_guid=False) is None


def test_canonical_guid_follows_perma() -> None:
    assert canonical_guid("a2b3c4d5") == "A2B3-C4D5"
    assert canonical_guid("a2b3-c4d5") == "A2B3-C4D5"
    assert canonical_guid("A2B3--C4D5") == "A2B3-C4D5"
    assert canonical_guid("0J6pkzDeQwT") == "0J6pkzDeQwT"
    assert canonical_guid("OJ6pkzDeQwT") == "0J6pkzDeQwT"


@pytest.mark.parametrize(
    ("text", "timestamp", "original"),
    [
        ("https://web.archive.org/web/20250426010203/http://example.com/a", "20250426010203", "http://example.com/a"),
        (
            "https://web.archive.org/web/20250426010203id_/http://example.com/a",
            "20250426010203",
            "http://example.com/a",
        ),
        ("web.archive.org/web/20250426010203if_/example.com/b", "20250426010203", "http://example.com/b"),
        ("https://web.archive.org/web/2025/https://example.com/", "2025", "https://example.com/"),
        ("https://web.archive.org/web/20250426010203/https:/example.com/", "20250426010203", "https://example.com/"),
        (
            "https://web.archive.org/web/20250426010203/http://example.com/p?a=1&b=2",
            "20250426010203",
            "http://example.com/p?a=1&b=2",
        ),
    ],
)
def test_wayback_refs(text: str, timestamp: str, original: str) -> None:
    ref = parse_archive_ref(text)
    assert ref is not None and ref.kind is ArchiveKind.WAYBACK
    assert ref.timestamp == timestamp
    assert ref.original_url == original
    assert ref.uri == f"https://web.archive.org/web/{timestamp}/{original}"  # modifiers dropped: the replay page


def test_wayback_search_pages_are_not_snapshots() -> None:
    assert parse_archive_ref("https://web.archive.org/web/*/example.com") is None


def test_memento_and_local_refs() -> None:
    memento = parse_archive_ref("https://archive.today/2025.01.01-000000/https://example.com/")
    assert memento is not None and memento.kind is ArchiveKind.MEMENTO
    local = parse_archive_ref("capture:abc123")
    assert local is not None and local.kind is ArchiveKind.LOCAL and local.capture_id == "abc123"
    assert parse_archive_ref("not a link") is None


@pytest.mark.parametrize(
    ("cited", "captured"),
    [
        ("http://www.news.cn/politics/c.html", "https://news.cn/politics/c.html"),
        ("https://example.org/a/b", "https://example.org:443/a/b/?utm_source=twitter&utm_medium=social"),
        (
            "https://mp.weixin.qq.com/s?__biz=MzA&mid=1&idx=1&sn=ab",
            "https://mp.weixin.qq.com/s?__biz=MzA&mid=1&idx=1&sn=ab&scene=21",
        ),
        (
            "https://item.example.cn/x.htm?id=7",
            "https://item.example.cn/x.htm?spm=a1z10.1&id=7&from=timeline&isappinstalled=0",
        ),
        ("https://example.com/p", "https://example.com/p?fbclid=IwAR0&gclid=Cj0&share_token=abc"),
    ],
)
def test_same_page_ignores_www_ports_slashes_and_tracking_parameters(cited: str, captured: str) -> None:
    assert same_page(cited, captured)


@pytest.mark.parametrize(
    ("cited", "captured"),
    [
        ("https://example.org/article?id=7", "https://example.org/article?id=8"),
        ("https://example.org/a", "https://example.org/b"),
        ("https://blog.example.org/a", "https://example.org/a"),
    ],
)
def test_same_page_still_tells_other_pages_apart(cited: str, captured: str) -> None:
    assert not same_page(cited, captured)


def test_tracking_patterns_are_configurable() -> None:
    assert same_page("https://e.org/a?ref=x", "https://e.org/a", ("ref",))
    assert not same_page("https://e.org/a?ref=x", "https://e.org/a")
