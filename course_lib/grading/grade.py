"""``python -m course_lib grade SUBMISSIONS/ --out GRADEBOOK/``: grade collected notebooks.

Submissions come in either layout (both may be mixed):

    SUBMISSIONS/alice/01_mdp_and_discounted_return.ipynb      one folder per learner
    SUBMISSIONS/bob__01_mdp_and_discounted_return.ipynb        <learner>__<notebook>.ipynb

A notebook is recognised by its name (``01_mdp_and_discounted_return``) or its number (``01``, as in
``01_mine.ipynb``). Each submission is re-executed and graded by a fresh process of its own, forked by
one of ``--jobs`` warm workers (see ``pool`` and ``worker``). The stored outputs of a submission are
never trusted.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from . import report
from .worker import repo_root


@dataclass(frozen=True)
class Submission:
    """One submitted file: who, which notebook, where."""

    learner: str  # folder name, or the part before "__"
    notebook: str  # the course notebook's stem, e.g. "01_mdp_and_discounted_return"
    path: Path


def course_notebooks() -> list[str]:
    """Stems of every notebook the course has or its exercises name, sorted."""
    from course_lib.exercises import get_exercise, list_exercises

    stems = {p.stem for p in (Path(repo_root()) / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    for name in list_exercises():
        stems.update(get_exercise(name).all_notebooks)
    return sorted(stems)


def match_notebook(stem: str, known: list[str]) -> str | None:
    """The course notebook a file stem names: exactly, or by its two-digit number."""
    if stem in known:
        return stem
    m = re.match(r"(\d\d)(?:_|$)", stem)
    if m:
        hits = [k for k in known if k.startswith(m.group(1) + "_")]
        if len(hits) == 1:
            return hits[0]
    return None


def shown(name: str) -> str:
    """A file name as text that can always be printed and stored (undecodable bytes as escapes)."""
    return ascii(name)[1:-1] if not name.isprintable() or _undecodable(name) else name


def _undecodable(name: str) -> bool:
    try:
        name.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _refusal(entry: Path, folder: Path) -> str | None:
    """Why a file or folder in SUBMISSIONS is left out before its name is read, or None."""
    name = entry.name
    if _undecodable(name) or not name.isprintable():
        return "its name is not printable UTF-8 text; rename it"
    if name.startswith("."):
        return "a hidden file (its name starts with '.'); rename it to grade it"
    if entry.is_symlink():
        target = entry.resolve()
        if not target.is_relative_to(folder.resolve()):
            return "a symbolic link to a place outside the submissions folder"
    return None


def discover(folder: Path) -> tuple[list[Submission], list[str]]:
    """Every submission in ``folder`` and one line per file that was left out, and why.

    Names that are not printable UTF-8, hidden files and links that lead out of ``folder`` are left
    out (and listed), so every learner name that reaches the reports is plain text.
    """
    known = course_notebooks()
    subs, ignored = [], []

    def add(learner: str, file: Path, stem: str) -> None:
        nb = match_notebook(stem, known)
        if nb is None:
            ignored.append(f"{file.relative_to(folder)}: names no course notebook (expected e.g. "
                           f"{known[1] if len(known) > 1 else known[0]}.ipynb)")
        else:
            subs.append(Submission(learner, nb, file))

    for entry in sorted(folder.iterdir()):
        if (why := _refusal(entry, folder)) is not None:
            ignored.append(f"{shown(entry.name)}: {why}")
        elif entry.is_dir():
            for file in sorted(entry.iterdir()):
                if (why := _refusal(file, folder)) is not None:
                    ignored.append(f"{entry.name}/{shown(file.name)}: {why}")
                elif file.is_file():
                    add(entry.name, file, file.stem)
        elif entry.is_file():
            learner, sep, stem = entry.stem.partition("__")
            if not sep or not learner:
                ignored.append(f"{entry.name}: not <learner>__<notebook>.ipynb and not in a learner's folder")
            else:
                add(learner, entry, stem)
    seen: dict[tuple[str, str], Submission] = {}
    for s in subs:
        if (s.learner, s.notebook) in seen:
            ignored.append(f"{s.path.relative_to(folder)}: a second file for {s.learner}'s {s.notebook}; "
                           f"graded {seen[(s.learner, s.notebook)].path.relative_to(folder)}")
            continue
        seen[(s.learner, s.notebook)] = s
    return list(seen.values()), ignored


def not_graded(sub: Submission, reason: str) -> dict:
    """The result of a submission the grader could not grade: zero for each of its exercises, with why."""
    from course_lib.exercises import get_exercise, list_exercises

    names = [n for n in list_exercises() if sub.notebook in get_exercise(n).all_notebooks]
    return {"notebook": sub.notebook, "file": sub.path.name, "forged": [], "problems": [], "execution": {},
            "exercises": {n: {"status": "not graded", "points": 0, "reason": reason or "no result",
                              "hint": "", "mistake": None, "flag": ""} for n in names}}


def grade_one(pool, sub: Submission, limit: float) -> dict:
    """Grade one submission on a warm worker of ``pool``; a worker that fails twice gives zero with the reason."""
    started = time.perf_counter()
    result, why = pool.grade(sub.path.resolve(), sub.notebook, limit)
    if result is None:
        result = not_graded(sub, why)
    result["learner"] = sub.learner
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    if isinstance(result.get("timings"), dict) and isinstance(result.get("seconds"), (int, float)):
        result["timings"]["start"] = round(result["wall_seconds"] - result["seconds"], 3)
    return result


def notebook_limit(notebook: str, fast: bool, timeout: float | None) -> float:
    """Seconds a cell of ``notebook`` may run when graded: ``timeout`` when given, else five times the
    README's run time for the mode (at least 180 s, at most 600 s; ``headless.cell_limit``)."""
    if timeout is not None:
        return timeout
    from .headless import cell_limit, readme_times

    readme = Path(repo_root()) / "README.md"
    stated = readme_times(readme.read_text(encoding="utf-8")) if readme.exists() else {}
    return cell_limit(stated.get(notebook[:2], {}).get("fast" if fast else "full"), 600.0)


def grade(folder: Path, out: Path, *, jobs: int = 1, fast: bool = True, timeout: float | None = None,
          memory: int = 8 * 2**30, policy: str = "zero", progress: bool = True, isolated: bool = True) -> dict:
    """Grade every submission in ``folder`` and write the gradebook into ``out``; returns a summary."""
    subs, ignored = discover(folder)
    if not subs:
        raise ValueError(f"SUBMISSIONS has no notebook to grade: {folder} "
                         + (f"({len(ignored)} file(s) left out: {ignored[0]})" if ignored else "(it is empty)"))
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="course-grade-"))
    results, started = [], time.perf_counter()
    pool = None
    try:
        from tqdm import tqdm

        from .pool import Pool

        pool = Pool(min(jobs, len(subs)), scratch, fast=fast, memory=memory, policy=policy, isolated=isolated,
                    notebooks=[s.notebook for s in subs])
        bar = tqdm(total=len(subs), desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
        with ThreadPoolExecutor(max_workers=jobs) as threads:
            futures = [threads.submit(grade_one, pool, s, notebook_limit(s.notebook, fast, timeout)) for s in subs]
            for fut in as_completed(futures):
                results.append(fut.result())
                bar.update(1)
        bar.close()
    finally:
        workers = pool.close() if pool is not None else {}
        shutil.rmtree(scratch, ignore_errors=True)
    summary = {"seconds": round(time.perf_counter() - started, 1), "jobs": jobs, "mode": "fast" if fast else "full",
               "library_policy": policy, "ignored": ignored, "isolated": isolated, "workers": workers}
    report.write_all(results, summary, out)
    return {"results": results, **summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="folder of learners' notebooks")
    parser.add_argument("--out", type=Path, required=True, help="folder for the gradebook (created)")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="submissions graded at once (default: half the cores)")
    parser.add_argument("--full", action="store_true", help="execute in full mode (default: fast mode)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per cell (default: 5x the notebook's README time, at least 180 s, at most 600 s; "
                             "the whole notebook at most 30 s more)")
    parser.add_argument("--memory-gb", type=float, default=8.0, help="address-space limit per notebook (default 8)")
    parser.add_argument("--library", choices=("zero", "flag"), default="zero",
                        help="a function that is or calls or copies the library's implementation: zero points "
                             "(default) or full points with a flag in the gradebook")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--unisolated", action="store_true",
                        help="run learner code without the kernel's isolation (only where the kernel refuses "
                             "namespaces, e.g. macOS, and only for a class whose code you trust: a submission "
                             "can then change other learners' files and marks)")
    parser.add_argument("--lang", choices=("en", "ko"), default=None,
                        help="language of gradebook.md's headings and the feedback files (default: COURSE_LANG, else en)")
    args = parser.parse_args(argv)
    if args.lang:  # read by the report's messages; the learners' kernels never see COURSE_* variables
        os.environ["COURSE_LANG"] = args.lang
    if not args.submissions.exists():
        print(f"grade: SUBMISSIONS folder not found: {args.submissions}", file=sys.stderr)
        return 2
    if not args.submissions.is_dir():
        print(f"grade: SUBMISSIONS must be a folder, got a file: {args.submissions}", file=sys.stderr)
        return 2
    if args.jobs < 1 or (args.timeout is not None and args.timeout <= 0) or args.memory_gb <= 0:
        print("grade: --jobs must be >= 1, --timeout and --memory-gb > 0", file=sys.stderr)
        return 2
    try:
        summary = grade(args.submissions, args.out, jobs=args.jobs, fast=not args.full, timeout=args.timeout,
                        memory=int(args.memory_gb * 2**30), policy=args.library, progress=not args.no_progress,
                        isolated=not args.unisolated)
    except ValueError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    n = len(summary["results"])
    learners = len({r["learner"] for r in summary["results"]})
    print(f"graded {n} notebook(s) of {learners} learner(s) in {summary['seconds']:.1f} s "
          f"({summary['mode']} mode, {args.jobs} job(s)); gradebook in {args.out}")
    for line in summary["ignored"]:
        print(f"  left out: {line}")
    return 0
