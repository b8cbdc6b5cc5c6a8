"""Fast mode never contradicts the text silently, notebooks 04, 05, 08 and 09: every cell whose printed
result the text describes, and which fast mode shrinks, calls ``course_lib.fast_note`` with a literal
sentence (one mechanism for every such cell, tested here without running the notebooks)."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from course_lib import core

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ("04_ppo_cartpole", "05_language_model_as_policy", "08_grpo", "09_pitfalls_and_fixes")

# cells that train or score less in fast mode and whose result a markdown cell describes
MUST_NOTE = {
    "04_ppo_cartpole": ("ppo04-19", "ppo04-25"),
    "05_language_model_as_policy": ("5fdd8a82",),
    "08_grpo": ("8202fdba", "5a1cdd6b"),
    "09_pitfalls_and_fixes": ("live-grpo", "eureka-cp-live", "eureka-live"),
}


def _cells(name):
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells


def _fast_note_calls(source: str) -> list[ast.Call]:
    tree = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == "fast_note"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_fast_note_states_a_literal_sentence(name):
    for cell in _cells(name):
        if cell.cell_type != "code":
            continue
        for call in _fast_note_calls(cell.source):
            assert len(call.args) == 1 and not call.keywords, f"{name}/{cell.id}: fast_note takes one sentence"
            arg = call.args[0]
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), \
                f"{name}/{cell.id}: fast_note's sentence must be a literal string, not computed"
            words = arg.value.split()
            assert len(words) >= 6 and arg.value.strip() == arg.value, f"{name}/{cell.id}: {arg.value!r} is not a sentence"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_cells_that_shrink_in_fast_mode_say_so(name):
    by_id = {c.id: c for c in _cells(name)}
    for cell_id in MUST_NOTE[name]:
        assert cell_id in by_id, f"{name} has no cell {cell_id}"
        calls = _fast_note_calls(by_id[cell_id].source)
        assert len(calls) == 1, f"{name}/{cell_id} must call fast_note exactly once (found {len(calls)})"
        last = by_id[cell_id].source.rstrip().splitlines()[-1]
        assert "fast_note(" not in last or last.endswith(";"), \
            f"{name}/{cell_id}: a fast_note on the last line needs ';' so the cell does not also print True"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_cell_that_trains_on_a_fast_budget_notes_it_or_is_known_not_to_need_it(name):
    # budget(...) in a cell that prints: either it notes the difference, or its printout is not what the text reads
    not_quoted = {"04_ppo_cartpole": {"ppo04-27"}, "05_language_model_as_policy": {"3ca2941b"},
                  "08_grpo": {"140fd731", "43683c92", "c2936150"}, "09_pitfalls_and_fixes": {"naive-bias"}}
    for cell in _cells(name):
        src = cell.source
        if cell.cell_type == "code" and "budget(" in src and "print(" in src and not src.lstrip().startswith("import"):
            assert _fast_note_calls(src) or cell.id in not_quoted[name], \
                f"{name}/{cell.id} shrinks in fast mode and prints: call fast_note or list why not"


def test_fast_note_prints_one_line_only_in_fast_mode(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert core.fast_note("three steps instead of four hundred here") is True
    assert capsys.readouterr().out == core.FAST_NOTE_PREFIX + "three steps instead of four hundred here\n"
    monkeypatch.setenv("COURSE_FAST", "0")
    assert core.fast_note("three steps instead of four hundred here") is False
    assert capsys.readouterr().out == ""
