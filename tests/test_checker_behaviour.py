"""What a check tests (issue 17 §1, §2) and how check records are read back (issue 13 §2)."""
import json

import numpy as np
import pytest

from course_lib.exercises import (
    RESULT_MIME, check, get_exercise, results_from_notebook,
)
from course_lib.exercises.checker import CheckResult

# --- records in notebooks --------------------------------------------------------------------------


def _record(**change):
    rec = CheckResult("discounted_returns", "passed", True, message="ok", cases_passed=3, cases_total=3).record()
    rec.update(change)
    return rec


def _notebook(cells):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def _code_cell(records, execution_count=1):
    outputs = [{"output_type": "display_data", "metadata": {}, "data": {RESULT_MIME: r, "text/plain": "x"}}
               for r in records]
    return {"cell_type": "code", "execution_count": execution_count, "metadata": {}, "source": "check(...)",
            "outputs": outputs}


def _write(tmp_path, content, name="nb.ipynb"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_valid_records_are_read_with_their_cell(tmp_path):
    nb = _notebook([{"cell_type": "markdown", "metadata": {}, "source": "hi"},
                    _code_cell([_record()]), _code_cell([_record(exercise="gae", status="failed", passed=False,
                                                                 cases_passed=1)])])
    records = results_from_notebook(_write(tmp_path, nb))
    assert [(r["exercise"], r["status"], r["cell"]) for r in records] == [
        ("discounted_returns", "passed", 1), ("gae", "failed", 2)]
    assert records.problems == []


def test_records_in_cells_never_executed_are_ignored(tmp_path):
    nb = _notebook([_code_cell([_record()], execution_count=None)])
    records = results_from_notebook(_write(tmp_path, nb))
    assert list(records) == [] and "never executed" in records.problems[0]


@pytest.mark.parametrize("change,why", [
    ({"passed": "yes"}, "wrong type"),
    ({"status": "excellent"}, "unknown status"),
    ({"schema": "course_lib.check/99"}, "unknown schema"),
    ({"cases_passed": True}, "wrong type"),
    ({"extra": 1}, "unexpected field"),
    ({"passed": True, "status": "failed"}, "contradictory"),
    ({"cases_passed": 5, "cases_total": 3}, "contradictory"),
    ({"cases_passed": 2}, "contradictory"),
    ({"seconds": -1.0}, "seconds"),
])
def test_malformed_or_contradictory_records_are_left_out_and_reported(tmp_path, change, why):
    nb = _notebook([_code_cell([_record(**change)]), _code_cell([_record(exercise="gae")])])
    records = results_from_notebook(_write(tmp_path, nb))
    assert [r["exercise"] for r in records] == ["gae"]
    assert len(records.problems) == 1 and why in records.problems[0]


def test_a_missing_field_and_a_non_object_record_are_reported(tmp_path):
    rec = _record()
    del rec["hint"]
    nb = _notebook([_code_cell([rec, ["not", "a", "record"]])])
    records = results_from_notebook(_write(tmp_path, nb))
    assert list(records) == [] and len(records.problems) == 2
    assert "missing field 'hint'" in records.problems[0]


def test_two_records_that_disagree_in_one_cell_are_contradictory(tmp_path):
    nb = _notebook([_code_cell([_record(), _record(status="failed", passed=False, cases_passed=0)])])
    records = results_from_notebook(_write(tmp_path, nb))
    assert list(records) == [] and all("contradictory" in p for p in records.problems)


def _nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("content,why", [
    ("not json", "not JSON"),
    ("[1, 2]", "top level is a list"),
    (json.dumps({"cells": {"a": 1}}), "'cells' is a dict"),
    (json.dumps({"cells": [3]}), "cell 0 is a int"),
    (json.dumps({"cells": [{"cell_type": "code", "outputs": "x"}]}), "outputs of cell 0"),
    (json.dumps({"cells": [{"cell_type": "code", "outputs": [7]}]}), "output 0 of cell 0"),
    (json.dumps({"cells": [{"cell_type": "code", "outputs": [{"data": []}]}]}), "data of output 0"),
    ('{"cells": ' + _nested(200) + "}", "nested"),
    ('{"cells": ' + _nested(100_000) + "}", "nested"),
    (b"\xff\xfe".decode("latin-1"), "not JSON"),
])
def test_every_malformed_notebook_is_a_value_error_naming_the_file(tmp_path, content, why):
    path = _write(tmp_path, content, name="broken_notebook.ipynb")
    with pytest.raises(ValueError, match="broken_notebook.ipynb") as info:
        results_from_notebook(path)
    assert why in str(info.value)


def test_a_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="nothing_here.ipynb"):
        results_from_notebook(tmp_path / "nothing_here.ipynb")


def test_the_docstring_says_records_are_claims():
    assert "claims, not proof" in results_from_notebook.__doc__
