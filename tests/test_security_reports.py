"""Learner names and files cannot break or rewrite the gradebook: odd names, links, formulas, collisions.

No notebook is executed here (every submission is not a notebook, or only discovery and the
report writer run), so these tests take seconds.
"""
from __future__ import annotations

import csv
import json
import os

import pytest

from course_lib.grading import grade as grade_mod
from course_lib.grading import report

NB = "00_welcome"


def _result(learner: str, points: int = 1) -> dict:
    return {"learner": learner, "notebook": NB, "file": f"{learner}.ipynb", "forged": [], "problems": [],
            "execution": {"finished": True}, "exercises": {"discounted_returns": {
                "status": "passed" if points else "failed", "points": points, "reason": "", "hint": "",
                "mistake": None, "flag": ""}}}


SUMMARY = {"seconds": 1.0, "jobs": 1, "mode": "fast", "library_policy": "zero", "ignored": []}


@pytest.fixture
def odd_folder(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / f"plain__{NB}.ipynb").write_text("not JSON")
    os.close(os.open(os.path.join(os.fsencode(subs), b"l\xffarner__" + NB.encode() + b".ipynb"),
                     os.O_CREAT | os.O_WRONLY))
    (subs / f".hidden__{NB}.ipynb").write_text("not JSON")
    (subs / f"eve__{NB}.ipynb").symlink_to("/etc/hostname")
    (subs / "x y").mkdir()
    (subs / "x y" / f"{NB}.ipynb").write_text("not JSON")
    (subs / "x_y").mkdir()
    (subs / "x_y" / f"{NB}.ipynb").write_text("not JSON")
    (subs / f"=HYPERLINK(1)__{NB}.ipynb").write_text("not JSON")
    return subs


def test_odd_names_hidden_files_and_outside_links_are_left_out_and_listed(odd_folder):
    subs, left_out = grade_mod.discover(odd_folder)
    assert sorted(s.learner for s in subs) == ["=HYPERLINK(1)", "plain", "x y", "x_y"]
    text = "\n".join(left_out)
    assert "l\\udcffarner" in text and "not printable UTF-8" in text
    assert f".hidden__{NB}.ipynb: a hidden file" in text
    assert f"eve__{NB}.ipynb: a symbolic link to a place outside" in text
    text.encode("utf-8")  # every line can be written


def test_a_class_with_odd_names_gets_a_complete_gradebook(odd_folder, tmp_path):
    out = tmp_path / "book"
    assert grade_mod.main([str(odd_folder), "--out", str(out), "--jobs", "2", "--no-progress"]) == 0
    rows = list(csv.DictReader((out / "gradebook.csv").open(encoding="utf-8")))
    # a name that starts like a spreadsheet formula is stored as text
    assert sorted(r["learner"] for r in rows) == ["'=HYPERLINK(1)", "plain", "x y", "x_y"]
    md = (out / "gradebook.md").read_text(encoding="utf-8")
    assert "l\\udcffarner" in md and "Files left out" in md
    # "x y" and "x_y" each get their own feedback; nothing is shared or overwritten
    feedback = sorted(p.name for p in (out / "feedback").iterdir())
    assert len(feedback) == 4 and "x_y.md" in feedback
    assert all(not p.name.startswith(".") for p in out.rglob("*"))  # no temporary file left
    assert json.loads((out / "results.json").read_text())["summary"]["ignored"]


def test_reports_are_all_or_nothing(tmp_path):
    out = tmp_path / "book"
    out.mkdir()
    (out / "gradebook.csv").write_text("last run\n")
    bad = _result("b\udcffad")  # a name that cannot be stored as UTF-8 (discovery never lets one through)
    with pytest.raises(UnicodeEncodeError):
        report.write_all([_result("alice"), bad], dict(SUMMARY), out)
    assert sorted(p.name for p in out.iterdir()) == ["gradebook.csv"]
    assert (out / "gradebook.csv").read_text() == "last run\n"
    report.write_all([_result("alice")], dict(SUMMARY), out)
    assert "alice" in (out / "gradebook.csv").read_text()


def test_feedback_files_of_different_learners_never_collide():
    names = ["x y", "x_y", "x/y", "x.y", "..", ".", "X Y"]
    files = [report.feedback_name(n) for n in names]
    assert len(set(files)) == len(names)
    assert all("/" not in f and not f.startswith(".") for f in files)
