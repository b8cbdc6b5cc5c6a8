"""Grade one submitted notebook: validate, re-execute, compare claims, grade each exercise.

``grade_notebook`` runs in a grading process of its own per submission, forked by a warm worker
(``pool``) that has imported the course but never ran learner code nor read a submission, so the
checker it imports afterwards is the library as shipped. It writes ``result.json`` into its job folder;
learner code never runs in this process and cannot write there (the executor and every sub-grader
run in namespaces of their own, see ``course_lib.isolation``: they see the course read-only and their
own scratch folder, run as an unprivileged user with no capability, and die with their namespace).
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from . import cut, execute
from .capture import CAPTURE_CELL, ENV, read_captures

CAPTURE_INDEX = -1  # the capture cell's index in the plan: before the notebook's first cell

MAX_CANDIDATES = 5  # distinct functions graded per exercise (a learner may check several versions)


def bootstrap(root: str, module: str) -> list[str]:
    """``python -I -c ...`` running ``module.main(argv)`` with the course's own copy of course_lib."""
    code = (f"import sys; sys.path.insert(0, {root!r}); from {module} import main; "
            f"sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-I", "-c", code]


def repo_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def _records(path: Path) -> tuple[list[dict], list[str], str | None]:
    from course_lib.exercises import results_from_notebook

    try:
        recs = results_from_notebook(path)
        return list(recs), list(recs.problems), None
    except ValueError as exc:
        return [], [], str(exc)


def forged_claims(claimed: list[dict], reproduced: list[dict]) -> list[str]:
    """Each record the submission claims that the re-execution did not reproduce, in words."""
    seen = {(r["exercise"], r["status"]) for r in reproduced}
    out = []
    for r in claimed:
        if (r["exercise"], r["status"]) not in seen:
            again = sorted({s for (e, s) in seen if e == r["exercise"]}) or ["no check at all"]
            out.append(f"{r['exercise']}: the submission shows {r['status']!r} (cell {r['cell']}), "
                       f"re-execution gave {', '.join(again)}")
    return out


def unconfirmed_passes(claimed: list[dict], graded: dict, forged: list[str]) -> list[str]:
    """Each "passed" the submission claims for an exercise whose graded verdict is a definite
    non-pass (failed, not attempted, error, timeout, library), in words. Re-execution reproduces a
    record the notebook's own code prints, so only grading the function itself tells such a record
    from a real one; exercises already reported by ``forged_claims`` are not reported twice."""
    out = []
    for r in claimed:
        verdict = graded.get(r["exercise"], {})
        if r["status"] == "passed" and verdict.get("status") in ("failed", "not attempted", "error", "timeout",
                                                                  "library", "not graded") \
                and not any(f.startswith(f"{r['exercise']}:") for f in forged + out):
            out.append(f"{r['exercise']}: the submission shows 'passed' (cell {r['cell']}), grading the function "
                       f"its check received gave {verdict['status']!r}")
    return out


def grade_notebook(submission: Path, notebook: str, job: Path, *, fast: bool, timeout: float, memory: int,
                   library_policy: str, isolated: bool = True) -> dict:
    """Everything ``result.json`` holds for one submission (see ``grade``)."""
    import nbformat

    started = time.perf_counter()
    timings: dict = {}
    result = {"notebook": notebook, "file": submission.name, "exercises": {}, "forged": [], "problems": [],
              "execution": {}, "mode": "fast" if fast else "full", "timings": timings}

    def zero_all(reason: str) -> dict:
        from course_lib.exercises import get_exercise, list_exercises

        for n in [n for n in list_exercises() if notebook in get_exercise(n).all_notebooks]:
            result["exercises"][n] = {"status": "not graded", "points": 0, "reason": reason, "hint": "",
                                      "mistake": None, "flag": ""}
        result["seconds"] = round(time.perf_counter() - started, 2)
        return result

    if submission.suffix != ".ipynb":
        return zero_all(f"{submission.name} is not a notebook (.ipynb file)")
    try:
        raw = submission.read_bytes()
        if len(raw) > 200 * 2**20:
            return zero_all("the file is larger than 200 MB")
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - every way a file can fail to be a notebook
        return zero_all(f"{submission.name} is not a valid notebook ({type(exc).__name__}: {str(exc)[:200]})")
    # The grader's copy: outputs cleared; the cells to run: the capture cell first, then the notebook's
    if fast:
        plan = cut.plan(nb, cut.course_sources(notebook, repo_root()))
    else:
        plan = cut.Plan([(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"])
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    workdir = job / "work"
    workdir.mkdir(parents=True)
    timings["parse"] = round(time.perf_counter() - started, 3)
    ex = execute.start([(CAPTURE_INDEX, CAPTURE_CELL), *plan.cells], str(workdir), memory=memory,
                       isolated=isolated, env={ENV: str(workdir / "capture.jsonl")})
    # While the notebook runs: load the pristine checker (no learner code has run in this process; the
    # executor was forked before, so it holds nothing of the checker's).
    t = time.perf_counter()
    from course_lib.exercises import get_exercise, list_exercises
    from course_lib.exercises.checker import check

    from . import regrade

    names = [n for n in list_exercises() if notebook in get_exercise(n).all_notebooks]
    claimed, problems, _ = _records(submission)
    timings["checker_import"] = round(time.perf_counter() - t, 3)
    result["problems"] += [f"in the submitted file: {p}" for p in problems]
    result["execution"] = execute.finish(ex, timeout)
    result["execution"]["skipped_cells"] = plan.skipped
    stages = result["execution"].pop("stages", {})
    timings.update(stages)
    timings["skipped_cells"] = len(plan.skipped)
    judged = time.perf_counter()
    outputs = execute.read_outputs(str(workdir))
    for i, cell in enumerate(nb.cells):
        if i in outputs:
            cell.outputs, cell.execution_count = outputs[i]["outputs"], outputs[i]["execution_count"]
    (workdir / "executed.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    executed = workdir / "executed.ipynb"
    reproduced, _, _ = _records(executed) if executed.exists() else ([], [], None)
    result["forged"] = forged_claims(claimed, reproduced)
    captures, cap_problems = read_captures(str(workdir / "capture.jsonl"))
    result["problems"] += cap_problems
    reason_run = "" if result["execution"].get("finished") else result["execution"].get("reason", "")
    for name in names:
        ex = get_exercise(name)
        mine = [c for c in captures if c["exercise"] == name]
        sources, candidates = set(), []
        for c in mine:
            key = c.get("source") or c.get("error")
            if key not in sources:
                sources.add(key)
                candidates.append(c)
        candidates = candidates[-MAX_CANDIDATES:]
        best = None
        for c in candidates:
            if "error" in c:
                graded = {"status": "invalid", "passed": False, "hint": "", "mistake": None, "details": "",
                          "message": f"the function passed to check could not be recorded: {c['error']}"}
            else:
                graded = regrade.grade_capture(name, c, check, time_limit=max(60.0, 4 * ex.time_limit + 30),
                                               isolated=isolated)
                copy = regrade.copied_from(c["source"], ex)
                graded["flag"] = f"copy of {copy}" if copy else ""
                if graded["status"] == "library":
                    graded["flag"] = graded["flag"] or "calls the library's own implementation"
            rank = (graded["passed"] and not graded.get("flag", "").startswith("copy of the library"),
                    graded["status"] == "library", graded["passed"])
            if best is None or rank > best[0]:
                best = (rank, graded)
        if best is None:
            why = "no check of this exercise ran"
            why += f" ({reason_run})" if reason_run else " (the check cell is missing or was never reached)"
            entry = {"status": "not graded", "points": 0, "reason": why, "hint": "", "mistake": None, "flag": ""}
        else:
            g = best[1]
            library_like = g["status"] == "library" or g.get("flag", "").startswith("copy of the library")
            points = 1 if g["passed"] else 0
            if library_like:
                points = 1 if library_policy == "flag" else 0
            reason = g.get("message", "")
            if library_like and library_policy == "zero":
                reason = f"{g['flag']}: zero (--library zero)"
            entry = {"status": g["status"], "points": points, "reason": reason, "hint": g.get("hint", ""),
                     "mistake": g.get("mistake"), "flag": g.get("flag", ""), "details": g.get("details", "")[:2000]}
        result["exercises"][name] = entry
    result["forged"] += unconfirmed_passes(claimed, result["exercises"], result["forged"])
    shutil.rmtree(workdir, ignore_errors=True)
    timings["judge"] = round(time.perf_counter() - judged, 3)
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result
