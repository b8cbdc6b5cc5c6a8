"""Exercises: learners write a function, ``check`` compares it with the library's reference.

    from course_lib.exercises import check, hint, solution
    check("discounted_returns", my_discounted_returns)   # shows ✅ or a specific hint
    hint("discounted_returns")                          # a nudge; hint(name, 2): the formula; 3: code
    solution("discounted_returns")                      # a short teaching solution

Every check result is also stored in the notebook's output under ``RESULT_MIME``;
``results_from_notebook`` reads them back from an executed notebook. Importing this package
starts the checker's judge process (see ``checker``).
"""
from __future__ import annotations

import json
from pathlib import Path

from .checker import (
    RECORD_SCHEMA, RESULT_MIME, STATUSES, CheckResult, ExerciseFailed, Hint, Solution, check, compare_outputs,
    hint, solution, use_if_passed,
)
from .registry import Case, Exercise, Mistake, get_exercise, list_exercises, register

__all__ = [
    "check", "hint", "solution", "use_if_passed", "list_exercises", "get_exercise", "register", "results_from_notebook",
    "NotebookRecords", "CheckResult", "ExerciseFailed", "Solution", "Hint", "Exercise", "Mistake", "Case",
    "compare_outputs", "RESULT_MIME",
]

MAX_NOTEBOOK_BYTES = 200 * 2**20
MAX_NESTING = 64  # a notebook nests about 6 levels deep; far more is not a notebook

# The record's fields and their types (CheckResult.record, schema course_lib.check/1).
_RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "schema": (str,), "exercise": (str,), "status": (str,), "passed": (bool,), "hint": (str,),
    "message": (str,), "details": (str,), "mistake": (str, type(None)), "cases_passed": (int,),
    "cases_total": (int,), "seconds": (int, float),
}
_OPTIONAL_FIELDS: dict[str, tuple[type, ...]] = {"output": (str,)}


class NotebookRecords(list):
    """The valid check records of a notebook (a list of dicts), with ``problems``: one line per
    record that was left out (malformed, contradictory, or contradicted by another)."""

    def __init__(self, records=(), problems=()):
        super().__init__(records)
        self.problems: list[str] = list(problems)


def _depth(obj, limit: int) -> int:
    """Nesting depth of a JSON value, without recursion (stops counting past ``limit``)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        x, d = stack.pop()
        deepest = max(deepest, d)
        if d > limit:
            return d
        if isinstance(x, dict):
            stack.extend((v, d + 1) for v in x.values())
        elif isinstance(x, list):
            stack.extend((v, d + 1) for v in x)
    return deepest


def record_problem(record) -> str | None:
    """Why ``record`` is not a valid check record (schema and internal consistency), or None."""
    if not isinstance(record, dict):
        return f"a record must be an object, got {type(record).__name__}"
    for key, types in _RECORD_FIELDS.items():
        if key not in record:
            return f"missing field {key!r}"
        value = record[key]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            return f"field {key!r} has the wrong type ({type(value).__name__})"
    for key in set(record) - set(_RECORD_FIELDS):
        if key not in _OPTIONAL_FIELDS or not isinstance(record[key], _OPTIONAL_FIELDS[key]):
            return f"unexpected field {key!r}"
    if record["schema"] != RECORD_SCHEMA:
        return f"unknown schema {record['schema']!r}"
    if record["status"] not in STATUSES:
        return f"unknown status {record['status']!r}"
    if record["passed"] != (record["status"] == "passed"):
        return f"contradictory: passed={record['passed']} with status {record['status']!r}"
    if not 0 <= record["cases_passed"] <= record["cases_total"]:
        return f"contradictory: {record['cases_passed']} of {record['cases_total']} cases passed"
    if record["passed"] and record["cases_passed"] != record["cases_total"]:
        return "contradictory: passed, but not every case matched"
    if not record["seconds"] >= 0:
        return f"field 'seconds' must be >= 0, got {record['seconds']!r}"
    return None


def results_from_notebook(path: str | Path) -> NotebookRecords:
    """The check records stored in an executed notebook's outputs, in cell order.

    Records in a file are **claims, not proof**: anyone can edit a notebook's JSON, or replace
    ``check`` in their kernel, and write a record saying "passed". This function reads what the
    file claims and keeps only well-formed, consistent records; grading that must be trusted
    re-runs the learner's functions (the grader does).

    Rules: a record must match the schema (``CheckResult.record``); records in a cell that was
    never executed (``execution_count`` None) are ignored; a record whose fields contradict each
    other, or two records in one cell that disagree about the same exercise, are left out and
    reported in ``.problems``.

    Args:
        path: an .ipynb file.

    Returns:
        A ``NotebookRecords`` list: one dict per valid ``check`` output (with the cell index
        added), and ``.problems`` describing every record left out.

    Raises:
        ValueError: naming the file, for a file that is not a readable notebook (not JSON, a
            top-level list, cells or outputs of the wrong type, absurd nesting, too large).
    """
    path = Path(path)

    def bad(why: str) -> ValueError:
        return ValueError(f"path must be a readable .ipynb notebook: {path} ({why})")

    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            raise bad(f"{size} bytes is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(str(exc)) from None
    try:
        nb = json.loads(text)
    except RecursionError:
        raise bad("nested too deeply") from None
    except ValueError as exc:
        raise bad(f"not JSON: {exc}") from None
    if not isinstance(nb, dict):
        raise bad(f"the top level is a {type(nb).__name__}, not an object")
    if _depth(nb, MAX_NESTING) > MAX_NESTING:
        raise bad(f"nested more than {MAX_NESTING} levels deep")
    cells = nb.get("cells", [])
    if not isinstance(cells, list):
        raise bad(f"'cells' is a {type(cells).__name__}, not a list")
    records, problems = [], []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise bad(f"cell {index} is a {type(cell).__name__}, not an object")
        if cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs", [])
        if not isinstance(outputs, list):
            raise bad(f"the outputs of cell {index} are a {type(outputs).__name__}, not a list")
        found = []
        for k, output in enumerate(outputs):
            if not isinstance(output, dict):
                raise bad(f"output {k} of cell {index} is a {type(output).__name__}, not an object")
            data = output.get("data", {})
            if not isinstance(data, dict):
                raise bad(f"the data of output {k} of cell {index} is a {type(data).__name__}, not an object")
            if RESULT_MIME in data:
                found.append(data[RESULT_MIME])
        if not found:
            continue
        if cell.get("execution_count") is None:
            problems.append(f"cell {index}: {len(found)} record(s) ignored: the cell was never executed")
            continue
        valid = []
        for record in found:
            why = record_problem(record)
            if why:
                problems.append(f"cell {index}: record left out: {why}")
            else:
                valid.append(record)
        by_exercise: dict[str, set] = {}
        for record in valid:
            by_exercise.setdefault(record["exercise"], set()).add((record["status"], record["passed"]))
        for record in valid:
            if len(by_exercise[record["exercise"]]) > 1:
                problems.append(f"cell {index}: contradictory records for {record['exercise']!r} "
                                f"({record['status']}); left out")
                continue
            records.append(dict(record, cell=index))
    return NotebookRecords(records, problems)
