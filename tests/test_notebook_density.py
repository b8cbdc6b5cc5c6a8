"""No English notebook is a wall of text (issue 23 §3.8): at most 18,000 characters of markdown in all,
and no markdown cell over 1,500 characters (split a long cell into readable steps instead)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))  # the English edition; notebooks/ko/ is not globbed
MAX_MARKDOWN = 18_000
MAX_CELL = 1_500



def _markdown(path):
    return [(c.id, c.source) for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


def test_the_english_notebooks_are_found():
    assert len(NOTEBOOKS) >= 12 and not any("ko" in p.parent.parts[-1] for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_markdown_in_all_stays_under_the_limit(path):
    total = sum(len(src) for _, src in _markdown(path))
    assert total <= MAX_MARKDOWN, f"{path.name}: {total:,} characters of markdown, more than {MAX_MARKDOWN:,}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_no_markdown_cell_is_too_long(path):
    long = [(cid, len(src)) for cid, src in _markdown(path) if len(src) > MAX_CELL]
    assert not long, f"{path.name}: markdown cells over {MAX_CELL:,} characters (id, length): {long}"
