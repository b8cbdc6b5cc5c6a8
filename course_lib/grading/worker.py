"""Grade one submitted notebook (the worker): validate, re-execute, compare claims, grade each exercise.

Run by ``grade`` as a fresh isolated interpreter (``python -I``) per submission, so the checker it
imports is the library as shipped. Writes ``result.json`` into its job folder; learner code never runs
in this process and cannot write there (the kernel and every sub-grader run in namespaces of their
own, see ``course_lib.isolation``: they see the course read-only and their own scratch folder, run
as an unprivileged user with no capability, and die with their namespace).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .capture import CAPTURE_CELL, ENV, read_captures

MAX_CANDIDATES = 5  # distinct functions graded per exercise (a learner may check several versions)


def bootstrap(root: str, module: str) -> list[str]:
    """``python -I -c ...`` running ``module.main(argv)`` with the course's own copy of course_lib."""
    code = (f"import sys; sys.path.insert(0, {root!r}); from {module} import main; "
            f"sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-I", "-c", code]


def repo_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def start_execution(notebook: Path, workdir: Path, *, fast: bool, timeout: float, memory: int, isolated: bool = True):
    """Start executing the grader's copy of a notebook in a child executor; ``finish_execution`` waits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "JPY_", "JUPYTER_"))}
    for sub in ("tmp", ".runtime", ".ipython", ".mpl"):
        (workdir / sub).mkdir(exist_ok=True)
    try:
        import matplotlib

        for cache in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
            shutil.copy(cache, workdir / ".mpl" / cache.name)  # no font-cache rebuild per notebook
    except Exception:  # noqa: BLE001
        pass
    env.update({"HOME": str(workdir), "TMPDIR": str(workdir / "tmp"), "JUPYTER_RUNTIME_DIR": str(workdir / ".runtime"),
                "IPYTHONDIR": str(workdir / ".ipython"), "MPLCONFIGDIR": str(workdir / ".mpl"),
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": repo_root(), ENV: str(workdir / "capture.jsonl"),
                "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
    if fast:
        env["COURSE_FAST"] = "1"
    cmd = bootstrap(repo_root(), "course_lib.grading.execute") + [str(workdir), notebook.name, str(timeout),
                                                                  str(memory), "1" if isolated else "0"]
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    return proc, time.perf_counter()


def finish_execution(proc, started: float, workdir: Path, timeout: float) -> dict:
    """Wait for the executor (killing it past the limit); its status.

    The executor is pid 1 of its own pid namespace: when it exits or is killed, the kernel kills
    every process the notebook started, so nothing of the learner's runs once this returns (with
    ``--unisolated`` there is no such guarantee). Every wait here is bounded.
    """
    hung, err = False, b""
    try:
        _, err = proc.communicate(timeout=max(1.0, timeout + 30 - (time.perf_counter() - started)))
    except subprocess.TimeoutExpired:
        hung = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a process outside the namespace kept the pipe: stop reading
            proc.kill()
            for stream in (proc.stderr, proc.stdout):
                if stream is not None:
                    stream.close()
            proc.wait(timeout=30)
    try:
        status = json.loads((workdir / "status.json").read_text(encoding="utf-8"))
        status = status if isinstance(status, dict) else {}
    except (OSError, ValueError):
        status = {}
    status["seconds"] = round(time.perf_counter() - started, 2)
    if hung:
        status["finished"] = False
        status["reason"] = f"the notebook did not finish within {timeout:g} s and was stopped"
    elif not status.get("finished") and not status.get("reason"):
        tail = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        status["reason"] = f"the notebook could not be executed ({tail[0][:300]})"
    return status


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
    result = {"notebook": notebook, "file": submission.name, "exercises": {}, "forged": [], "problems": [],
              "execution": {}, "mode": "fast" if fast else "full"}

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
    # The grader's copy: outputs cleared, the capture cell first.
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells.insert(0, nbformat.v4.new_code_cell(CAPTURE_CELL))
    nb.cells[0].id = "course-grader-capture"
    workdir = job / "work"
    workdir.mkdir(parents=True)
    nbformat.write(nb, workdir / f"{notebook}.ipynb")
    proc, t0 = start_execution(workdir / f"{notebook}.ipynb", workdir, fast=fast, timeout=timeout, memory=memory,
                               isolated=isolated)
    # While the notebook runs: load the pristine checker (no learner code has run in this process).
    from course_lib.exercises import get_exercise, list_exercises
    from course_lib.exercises.checker import check

    from . import regrade

    names = [n for n in list_exercises() if notebook in get_exercise(n).all_notebooks]
    claimed, problems, _ = _records(submission)
    result["problems"] += [f"in the submitted file: {p}" for p in problems]
    result["execution"] = finish_execution(proc, t0, workdir, timeout)
    if result["execution"].get("idle_timeout"):  # a cell waited on an idle kernel: a lost message; once more
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        nbformat.write(nb, workdir / f"{notebook}.ipynb")
        proc, t0 = start_execution(workdir / f"{notebook}.ipynb", workdir, fast=fast, timeout=timeout,
                                   memory=memory, isolated=isolated)
        first = result["execution"]
        result["execution"] = finish_execution(proc, t0, workdir, timeout)
        result["execution"]["retried"] = (f"the first run stopped with an idle kernel ({first.get('reason', '')}), "
                                          f"which is a lost message, not the notebook's fault; this is the second run")
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
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def main(argv: list[str]) -> int:
    """``worker SUBMISSION NOTEBOOK JOBDIR FAST TIMEOUT MEMORY LIBRARY_POLICY [ISOLATED]``: writes JOBDIR/result.json."""
    submission, notebook, job = Path(argv[0]), argv[1], Path(argv[2])
    fast, timeout, memory, policy = argv[3] == "1", float(argv[4]), int(argv[5]), argv[6]
    result = grade_notebook(submission, notebook, job, fast=fast, timeout=timeout, memory=memory,
                            library_policy=policy, isolated=argv[7:8] != ["0"])
    tmp = job / "result.json.tmp"
    tmp.write_text(json.dumps(result, indent=1), encoding="utf-8")
    os.replace(tmp, job / "result.json")
    return 0
