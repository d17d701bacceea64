"""Titles: site-name suffixes with or without spaces, and titles in another script than the document."""

from __future__ import annotations

import pytest

from archiver.judge.drift import title_similarity
from archiver.judge.title import DocumentText, TitleMatch, headline, title_in_text


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("习近平在上海考察-新华网", "习近平在上海考察"),
        ("习近平在上海考察 - 新华网", "习近平在上海考察"),
        ("国务院部署春耕生产_时政频道_东方新闻网", "国务院部署春耕生产"),
        ("国务院部署春耕生产｜人民网", "国务院部署春耕生产"),
        ("COVID-19 vaccine rollout reaches rural clinics - BBC News", "COVID-19 vaccine rollout reaches rural clinics"),
        ("Budget talks stall over defence spending–Financial Times", "Budget talks stall over defence spending"),
        ("Budget talks stall over defence spending — The Economist", "Budget talks stall over defence spending"),
        ("Forum::Thread about long-term archiving of web pages", "Thread about long-term archiving of web pages"),
        ("Self-driving cars and the well-known trade-offs", "Self-driving cars and the well-known trade-offs"),
    ],
)
def test_headline_strips_site_names_with_or_without_spaces(title: str, expected: str) -> None:
    assert headline(title) == expected


def test_news_cn_title_without_spaces_is_found_in_the_document() -> None:
    doc = DocumentText.of("本文译自新华网报道《习近平在上海考察》，原文见 http://www.news.cn/politics/c.html")
    assert title_in_text("习近平在上海考察-新华网", doc) is TitleMatch.FOUND


def test_a_chinese_title_in_an_english_brief_is_another_script_not_missing() -> None:
    doc = DocumentText.of("Translation: Xi Jinping inspects Shanghai. The source text: http://www.news.cn/c.html")
    assert title_in_text("习近平在上海考察-新华网", doc) is TitleMatch.OTHER_SCRIPT
    assert title_in_text("An unrelated English headline here", doc) is TitleMatch.MISSING


def test_no_usable_title_is_no_answer() -> None:
    assert title_in_text(None, DocumentText.of("abc")) is None
    assert title_in_text("首页", DocumentText.of("任何文字")) is None


def test_a_chinese_document_full_of_urls_is_still_chinese() -> None:
    doc = DocumentText.of(
        "本文所引报告见 http://127.0.0.1:8080/zh/some/long/path.html 存档：https://perma.cc/2HHH-2HHH"
    )
    assert doc.cjk
    assert title_in_text("人工智能健康有序发展", doc) is TitleMatch.MISSING


def test_title_similarity_reads_unspaced_site_suffixes() -> None:
    assert title_similarity("国务院部署春耕生产-新华网", "国务院部署春耕生产_人民网") == 1.0
    assert title_similarity("国务院部署春耕生产-新华网", "两会闭幕新闻发布会-新华网") < 0.3
