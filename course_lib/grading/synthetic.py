"""Synthetic submissions made from the course's real notebooks, for tests and grading benchmarks.

``fill(notebook, answers)`` returns the notebook with each exercise's stub replaced: ``"correct"``
(the teaching solution under the stub's name), ``"wrong"`` (the body returns its first argument
unchanged), ``"library"`` (the stub calls the library's implementation), ``"stub"`` (left as
shipped). ``forge(nb)`` adds a "passed" record to every check cell's outputs, as an edited file would.
``python -m course_lib.grading.synthetic OUT --class-size 30 --notebook 01`` writes a class of
learners with a mix of the three.
"""
from __future__ import annotations

import argparse
import copy
import random
import re
from pathlib import Path

import nbformat

CHECK_CALL = re.compile(r"""check\(\s*["'](\w+)["']\s*,\s*(\w+)\s*\)""")


def stub_cells(nb) -> dict[str, tuple[int, str]]:
    """exercise name -> (index of the cell defining its stub function, the function's name)."""
    out = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for name, fname in CHECK_CALL.findall(cell.source):
            for i, c in enumerate(nb.cells):
                if c.cell_type == "code" and re.search(rf"^def {fname}\(", c.source, re.M) \
                        and "NotImplementedError" in c.source:
                    out[name] = (i, fname)
    return out


def _answer(exercise: str, fname: str, kind: str, stub: str) -> str:
    from course_lib.exercises import get_exercise
    from course_lib.exercises.checker import teaching_source

    ex = get_exercise(exercise)
    header = re.search(rf"^def {fname}\(.*?\):\s*$", stub, re.M | re.S)
    signature = header.group(0) if header else f"def {fname}(*args):"
    if kind == "correct":
        return re.sub(rf"^def {exercise}\(", f"def {fname}(", teaching_source(ex), count=1, flags=re.M)
    if kind == "wrong":
        first = re.search(r"\(\s*(\w+)", signature)
        return f"{signature}\n    return {first.group(1) if first else 'None'}\n"
    if kind == "library":
        if not ex.library:
            raise ValueError(f"answers[{exercise!r}] is 'library', but {exercise} has no library function to call "
                             f"(its answer is data); use correct, wrong or stub")
        module, _, attr = ex.library[0].partition(":")
        # import_module, not `import a.b as _lib`: that takes the package's attribute, which for
        # course_lib.lm.generate is the function generate, not the module
        return (f"{signature}\n    import importlib\n    _lib = importlib.import_module({module!r})\n"
                f"    return _lib.{attr}(*[v for k, v in locals().items() if k not in ('_lib', 'importlib')])\n")
    if kind == "stub":
        return stub
    raise ValueError(f"kind must be correct, wrong, library or stub, got {kind!r}")


def fill(nb, answers: dict[str, str]):
    """A copy of ``nb`` with each named exercise's stub replaced by an answer of the given kind."""
    nb = copy.deepcopy(nb)
    for exercise, (i, fname) in stub_cells(nb).items():
        kind = answers.get(exercise, "stub")
        source = nb.cells[i].source
        start = re.search(rf"^def {fname}\(", source, re.M).start()  # keep the cell's imports above the stub
        nb.cells[i].source = source[:start] + _answer(exercise, fname, kind, source[start:])
    return nb


def forge(nb):
    """``nb`` with a "passed" check record written into every check cell, as a hand-edited file would."""
    from course_lib.exercises import RESULT_MIME

    nb = copy.deepcopy(nb)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for name, _ in CHECK_CALL.findall(cell.source):
            count += 1
            cell.execution_count = count
            record = {"schema": "course_lib.check/1", "exercise": name, "status": "passed", "passed": True,
                      "hint": "", "message": "all cases match.", "details": "", "mistake": None,
                      "cases_passed": 5, "cases_total": 5, "seconds": 0.01}
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": f"✅ {name}",
                                                                          RESULT_MIME: record})]
    return nb


def make_class(notebook: Path, out: Path, size: int, seed: int = 0) -> dict[str, str]:
    """Write ``size`` learners' submissions of ``notebook`` into ``out``: what each learner is."""
    from course_lib.exercises import get_exercise

    rng = random.Random(seed)
    nb = nbformat.read(notebook, as_version=4)
    exercises = list(stub_cells(nb))
    kinds = {}
    out.mkdir(parents=True, exist_ok=True)
    for k in range(size):
        learner = f"learner{k:02d}"
        roll = rng.random()
        if roll < 0.5:
            answers, what = {e: "correct" for e in exercises}, "correct"
        elif roll < 0.8:
            answers = {e: rng.choice(["correct", "wrong", "stub"]) for e in exercises}
            what = "mixed: " + ", ".join(f"{e}={a}" for e, a in answers.items())
        elif roll < 0.9:
            # an exercise whose answer is data (no library function) is left as its stub
            answers = {e: "library" if get_exercise(e).library else "stub" for e in exercises}
            what = "calls the library"
        else:
            answers, what = {}, "forged outputs"
        sub = fill(nb, answers)
        if what == "forged outputs":
            sub = forge(sub)
        nbformat.write(sub, out / f"{learner}__{notebook.name}")
        kinds[learner] = what
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading.synthetic")
    parser.add_argument("out", type=Path)
    parser.add_argument("--class-size", type=int, default=30)
    parser.add_argument("--notebook", default="01")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from .worker import repo_root

    matches = sorted((Path(repo_root()) / "notebooks").glob(f"{args.notebook}*.ipynb"))
    if not matches:
        raise SystemExit(f"no notebook matches {args.notebook!r}")
    kinds = make_class(matches[0], args.out, args.class_size, args.seed)
    for learner, what in kinds.items():
        print(f"{learner}: {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
