"""Documentation is tested: short module docstrings, and every docs/ page they name exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "archiver"
DOCS = ROOT / "docs"
MAX_DOCSTRING_LINES = 10
PAGE = re.compile(r"docs/([A-Za-z0-9_.-]+\.md)")
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_docstring(path: Path) -> str | None:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)


def test_the_package_has_modules() -> None:
    # Guards the parametrised tests below against passing vacuously on an empty glob.
    assert len(MODULES) > 40


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_docstring_is_present_and_short(path: Path) -> None:
    doc = module_docstring(path)
    assert doc and doc.strip(), f"{path.relative_to(ROOT)} has no module docstring: say what it is for and why."
    lines = len(doc.splitlines())
    assert lines <= MAX_DOCSTRING_LINES, (
        f"{path.relative_to(ROOT)}: module docstring is {lines} lines (max {MAX_DOCSTRING_LINES}); "
        "move measurements and long rationale to a page under docs/ and point to it."
    )


def test_docs_pages_named_in_docstrings_exist() -> None:
    named = {(path.relative_to(ROOT), page) for path in MODULES for page in PAGE.findall(module_docstring(path) or "")}
    assert named, "no module docstring points to docs/: the pattern or the docstrings changed"
    missing = sorted(f"{source}: docs/{page}" for source, page in named if not (DOCS / page).is_file())
    assert not missing, f"docstrings name docs pages that do not exist: {missing}"


def test_docs_index_lists_every_page() -> None:
    pages = sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md")
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert pages, "docs/ has no pages"
    assert [p for p in pages if f"]({p})" not in index] == []


def test_links_between_docs_pages_resolve() -> None:
    broken = [
        f"{page.name} -> {target}"
        for page in sorted(DOCS.glob("*.md"))
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text(encoding="utf-8"))
        if not (page.parent / target).is_file()
    ]
    assert broken == []
