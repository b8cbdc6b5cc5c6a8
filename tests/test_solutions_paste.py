"""The last rung of the help ladder: every ``solution(name)`` text passes its own check when
pasted alone into a fresh namespace (no stub cell, no notebook imports before it)."""
from __future__ import annotations

import pytest

from course_lib.exercises import check, list_exercises, solution


@pytest.mark.parametrize("name", list_exercises())
def test_every_solution_passes_its_check_when_pasted_alone(name):
    source = solution(name).source
    namespace: dict = {"__name__": "__pasted__"}
    exec(compile(source, f"<solution {name}>", "exec"), namespace)  # a fresh namespace: nothing else
    fn = namespace.get(name)
    assert callable(fn), f"solution({name!r}) does not define a function named {name}"
    result = check(name, fn)
    assert result.passed, f"solution({name!r}) pasted alone fails its check: {result.text()}"


def _code(nb_path):
    import json

    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_every_notebook_with_a_check_imports_solution():
    # Hint 3 ends with "solution(name) shows a worked answer": the name must exist in the notebook.
    import re
    from pathlib import Path

    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
    checked = [p for p in notebooks if re.search(r"\bcheck\(", _code(p))]
    assert checked, "no notebook calls check(): the test looks in the wrong place"
    missing = [p.name for p in checked
               if not re.search(r"from course_lib\.exercises import [^\n]*\bsolution\b", _code(p))]
    assert not missing, f"these notebooks call check() but do not import solution: {missing}"
