"""Fast mode never contradicts the text silently: a cell whose printed result fast mode shrinks, and
whose figure the following text quotes, says so in one line (``course_lib.fast_note``)."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

# Notebooks whose cells are held to the second rule.
CHECKED = ("04", "05", "06", "07", "08", "09", "10")

# Cells that train or score less in fast mode and whose result a markdown cell describes, named one by
# one (the rule below finds them by their text; these must call fast_note whatever the text says).
MUST_NOTE = {
    "04": ("ppo04-19", "ppo04-25"),
    "05": ("5fdd8a82",),
    "08": ("8202fdba", "5a1cdd6b"),
    "09": ("live-grpo", "eureka-cp-live", "eureka-live"),
}

# Cells that shrink in fast mode but whose printout is not what the following text quotes, each with why.
NOT_QUOTED = {
    "3ca2941b": "05: fast mode loads the shipped checkpoints, whose figures are the ones the text states",
}

# A figure the text quotes: a percentage, a number of seconds, points or nats, or a ratio like 3×.
FIGURE = re.compile(r"\d(?:[\d,.]*\d)?\s?(?:%|s\b|points\b|nats\b|×)")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _fast_note_calls(source: str) -> list[ast.Call]:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: such a cell makes no fast_note call in this course
        return []
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "fast_note"]


def _depends_on_mode(source: str) -> bool:
    return bool(re.search(r"\bbudget\(|\bfast_mode\(\)", source))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_fast_note_is_one_literal_sentence(path):
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        for call in _fast_note_calls(_source(cell)):
            assert len(call.args) == 1 and not call.keywords, f"{path.name} {cell.get('id')}: fast_note takes one sentence"
            arg = call.args[0]
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), (
                f"{path.name} {cell.get('id')}: fast_note's sentence must be a string literal (a reader, and this "
                f"test, can then see what fast mode changes without running it)")
            assert len(arg.value.split()) >= 6 and not arg.value.lower().startswith("fast mode"), (
                f"{path.name} {cell.get('id')}: say what differs in a sentence, got {arg.value!r}")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] in CHECKED], ids=lambda p: p.name[:2])
def test_cells_whose_figures_the_text_quotes_say_what_fast_mode_changes(path):
    cells = _cells(path)
    missing = []
    for i, cell in enumerate(cells):
        src = _source(cell)
        if cell["cell_type"] != "code" or not _depends_on_mode(src) or cell.get("id") in NOT_QUOTED:
            continue
        following = []
        for nxt in cells[i + 1:]:  # the markdown up to the next code cell reads this cell's output
            if nxt["cell_type"] == "code":
                break
            following.append(_source(nxt))
        if FIGURE.search(" ".join(following)) and not _fast_note_calls(src):
            missing.append(cell.get("id"))
    assert not missing, (f"{path.name}: these cells shrink in fast mode and the text after them quotes figures, "
                         f"but they do not call fast_note(...): {missing}")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] in CHECKED], ids=lambda p: p.name[:2])
def test_no_ad_hoc_fast_mode_prints(path):
    for cell in _cells(path):
        src = _source(cell)
        assert not re.search(r"if fast_mode\(\):\s*\n\s*print\(", src), (
            f"{path.name} {cell.get('id')}: use fast_note(...) instead of printing under `if fast_mode():`")


@pytest.mark.parametrize("number", sorted(MUST_NOTE))
def test_the_named_cells_that_shrink_in_fast_mode_say_so(number):
    (path,) = [p for p in NOTEBOOKS if p.name[:2] == number]
    by_id = {c.get("id"): c for c in _cells(path)}
    for cell_id in MUST_NOTE[number]:
        assert cell_id in by_id, f"{path.name} has no cell {cell_id}"
        assert len(_fast_note_calls(_source(by_id[cell_id]))) == 1, f"{path.name} {cell_id} must call fast_note once"
