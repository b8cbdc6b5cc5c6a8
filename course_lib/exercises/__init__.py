"""Exercises: learners write a function, ``check`` compares it with the library's reference.

    from course_lib.exercises import check, solution
    check("discounted_returns", my_discounted_returns)   # shows ✅ or a specific hint
    solution("discounted_returns")                      # shows the reference code

Every check result is also stored in the notebook's output under ``RESULT_MIME``;
``results_from_notebook`` reads them back from an executed notebook for grading.
"""
from __future__ import annotations

import json
from pathlib import Path

from .checker import RESULT_MIME, CheckResult, ExerciseFailed, Solution, check, compare_outputs, solution
from .registry import Case, Exercise, Mistake, get_exercise, list_exercises, register

__all__ = [
    "check", "solution", "list_exercises", "get_exercise", "register", "results_from_notebook",
    "CheckResult", "ExerciseFailed", "Solution", "Exercise", "Mistake", "Case",
    "compare_outputs", "RESULT_MIME",
]


def results_from_notebook(path: str | Path) -> list[dict]:
    """The check records stored in an executed notebook's outputs, in cell order.

    Args:
        path: an .ipynb file.

    Returns:
        One dict per ``check`` output (see ``CheckResult.record``), with the cell index added.
    """
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"path must be a readable .ipynb notebook: {path} ({exc})") from None
    records = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            record = output.get("data", {}).get(RESULT_MIME)
            if isinstance(record, dict):
                records.append(dict(record, cell=index))
    return records
