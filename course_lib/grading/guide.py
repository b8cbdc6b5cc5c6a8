"""The generated part of ``docs/instructors.md``: every exercise, what it checks, its mistakes and hints.

``python -m course_lib.grading.guide`` rewrites the block between the markers in
``docs/instructors.md`` from the exercise registry; ``tests/test_grading.py`` fails when the file
is stale, so the guide never drifts from what the checker does.
"""
from __future__ import annotations

import sys
from pathlib import Path

BEGIN = "<!-- BEGIN GENERATED FROM THE EXERCISE REGISTRY: python -m course_lib.grading.guide -->"
END = "<!-- END GENERATED -->"


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    """The exercise catalogue as Markdown, grouped by the notebook that teaches each exercise."""
    from course_lib.exercises import get_exercise, list_exercises

    exercises = [get_exercise(n) for n in list_exercises()]
    by_nb: dict[str, list] = {}
    for ex in exercises:
        by_nb.setdefault(ex.notebook or "(no notebook)", []).append(ex)
    lines = [f"{len(exercises)} exercises are registered. Each is worth one point in the gradebook; a check "
             "passes when the learner's function matches the library's reference on every seeded case.", ""]
    for nb in sorted(by_nb):
        lines += [f"### Notebook {nb}", ""]
        for ex in by_nb[nb]:
            what = [f"called as `{ex.signature}`", f"time limit {ex.time_limit:g} s for all cases",
                    f"tolerance rtol {ex.rtol:g}, atol {ex.atol:g}"]
            if ex.grad_args:
                what.append(f"gradients with respect to {', '.join(ex.grad_args)} are compared too")
            if ex.tensor_out:
                what.append("must return a torch tensor")
            if len(ex.all_notebooks) > 1:
                what.append(f"also checked in {', '.join(n for n in ex.all_notebooks if n != ex.notebook)}")
            if ex.library:
                what.append("refused if it is or calls " + ", ".join(f"`{q.replace(':', '.')}`" for q in ex.library))
            lines += [f"#### `{ex.name}`", "", "; ".join(what) + ".", "",
                      f"- Nudge (hint level 1): {_one_line(ex.hint) or '—'}",
                      f"- Formula (hint level 2): {_one_line(ex.formula) or '—'}", ""]
            if ex.mistakes:
                lines += ["| registered mistake | hint the learner gets |", "|---|---|"]
                lines += [f"| `{m.name}` | {_one_line(m.hint)} |" for m in ex.mistakes]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def current(text: str) -> str:
    """``text`` (the guide) with its generated block replaced by ``render()``."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"docs/instructors.md must contain the markers {BEGIN!r} and {END!r}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render()}{END}{tail}"


def guide_path() -> Path:
    from .worker import repo_root

    return Path(repo_root()) / "docs" / "instructors.md"


def main(argv: list[str] | None = None) -> int:
    path = guide_path()
    new = current(path.read_text(encoding="utf-8"))
    path.write_text(new, encoding="utf-8")
    print(f"wrote the generated part of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
