"""``python -m course_lib bench grading``: how long grading a class takes, where the time goes, and
the projection to a class of 30 learners turning in all 11 graded notebooks.

Builds a synthetic class (``course_lib.grading.synthetic``: per notebook, each learner is correct,
a mix of correct, wrong and untouched answers, a caller of the library, or a forger), grades it with
``grade`` exactly as an instructor would (every protection on, ``--jobs`` at once), and prints

* per notebook: submissions, the median wall time of one submission and where it went (the stages
  the grader times: starting its process, isolation, the interpreter's shell, the notebook's cells,
  the judge that grades each captured function),
* the class: wall time, notebooks per minute, the projection to 30 x 11 at the same ``--jobs``,
* whether every learner got exactly the marks the synthetic answers earn (correct and teaching-copy
  answers 1 point, wrong, untouched and library-calling answers 0, forged outputs 0 and reported),
  and how many results were lost (a submission whose execution did not finish or that was not graded).

The figures depend on the machine's load: the command prints the load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

TARGET_MINUTES = 20.0  # issue 25: a class of 30 x 11 graded in at most 20 minutes with --jobs 2 on 2 cores
STAGES = ("start", "isolation", "shell", "cells", "judge")


def graded_notebooks() -> list[Path]:
    """The course notebooks that have at least one exercise (the ones a learner hands in)."""
    import nbformat

    from course_lib.grading import synthetic
    from course_lib.grading.worker import repo_root

    out = []
    for path in sorted((Path(repo_root()) / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if synthetic.stub_cells(nbformat.read(path, as_version=4)):
            out.append(path)
    return out


def build_class(folder: Path, size: int, notebooks: list[Path], seed: int = 0) -> dict[tuple[str, str], str]:
    """``size`` synthetic learners x ``notebooks`` in ``folder``: (learner, notebook stem) -> what it is."""
    from course_lib.grading import synthetic

    kinds = {}
    for k, path in enumerate(notebooks):
        for learner, what in synthetic.make_class(path, folder, size, seed=seed + k).items():
            kinds[(learner, path.stem)] = what
    return kinds


def expected_points(what: str, exercise: str) -> int:
    """The points a synthetic learner of kind ``what`` earns for ``exercise`` (``--library zero``)."""
    if what == "correct":
        return 1
    if what.startswith("mixed: "):
        answers = dict(part.split("=", 1) for part in what[len("mixed: "):].split(", "))
        return 1 if answers.get(exercise) == "correct" else 0
    return 0  # calls the library (zero by default), or forged outputs of an untouched stub


def check_marks(results: list[dict], kinds: dict) -> tuple[int, list[str]]:
    """(exercises compared, one line per learner whose marks differ from what their answers earn)."""
    compared, wrong = 0, []
    for r in results:
        what = kinds.get((r["learner"], r["notebook"]))
        if what is None:
            continue
        for name, entry in r["exercises"].items():
            compared += 1
            if entry["points"] != expected_points(what, name):
                wrong.append(f"{r['learner']} {r['notebook'][:2]} {name}: {entry['points']} point(s), "
                             f"expected {expected_points(what, name)} ({what}; {entry['status']}: "
                             f"{entry.get('reason', '')[:120]})")
        if what == "forged outputs" and not r["forged"]:
            wrong.append(f"{r['learner']} {r['notebook'][:2]}: forged outputs not reported")
    return compared, wrong


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def timings(r: dict) -> dict:
    """A result's stages in seconds: its ``timings``, or for a grader that kept none (before the warm
    workers) what its totals allow: process start, the executor (kernel start, imports and cells
    together, under "cells") and the rest (judge)."""
    if isinstance(r.get("timings"), dict):
        return r["timings"]
    run = r.get("execution", {}).get("seconds")
    if not isinstance(run, (int, float)) or not isinstance(r.get("seconds"), (int, float)):
        return {}
    return {"start": round(r["wall_seconds"] - r["seconds"], 2), "cells": run, "judge": round(r["seconds"] - run, 2)}


def summarise(results: list[dict]) -> list[dict]:
    """Per notebook: count, median seconds per submission and per stage (``timings``)."""
    rows = []
    for nb in sorted({r["notebook"] for r in results}):
        mine = [r for r in results if r["notebook"] == nb]
        row = {"notebook": nb, "n": len(mine), "seconds": _median([r["wall_seconds"] for r in mine])}
        stages = [timings(r) for r in mine]
        for stage in [*STAGES, "skipped_cells"]:
            row[stage] = _median([t[stage] for t in stages if isinstance(t.get(stage), (int, float))])
        rows.append(row)
    return rows


def lost(results: list[dict]) -> list[str]:
    """Submissions whose notebook did not run to its end or that were not graded, in words."""
    out = []
    for r in results:
        ex = r.get("execution", {})
        if not ex.get("finished") or any(e["status"] == "not graded" for e in r["exercises"].values()):
            out.append(f"{r['learner']} {r['notebook']}: {ex.get('reason') or 'not graded'}")
    return out


def _fmt(x) -> str:
    return "—" if x is None else (f"{x:.2f}" if isinstance(x, float) else str(x))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib bench grading", description=__doc__.split("\n\n")[0])
    parser.add_argument("--class-size", type=int, default=5, help="synthetic learners (default 5)")
    parser.add_argument("--jobs", type=int, default=2, help="grade's --jobs (default 2)")
    parser.add_argument("--only", action="append", metavar="NN", help="only this notebook (number; repeat)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic class (default 0)")
    parser.add_argument("--out", type=Path, default=None, help="keep the class and its gradebook here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.class_size < 1 or args.jobs < 1:
        parser.error("--class-size and --jobs must be >= 1")
    from course_lib.grading import grade as grade_mod

    notebooks = graded_notebooks()
    if args.only:
        notebooks = [p for p in notebooks if p.stem[:2] in {n[:2] for n in args.only}]
        if not notebooks:
            parser.error(f"--only: none of {args.only} is a graded notebook")
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-grading-"))
    subs, book = root / "submissions", root / "gradebook"
    shutil.rmtree(subs, ignore_errors=True)
    kinds = build_class(subs, args.class_size, notebooks, seed=args.seed)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    summary = grade_mod.grade(subs, book, jobs=args.jobs, progress=False)
    wall = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    results = summary["results"]
    rows = summarise(results)
    compared, wrong = check_marks(results, kinds)
    missing = lost(results)
    n = len(results)
    workers = summary.get("workers") or {}
    warmup = workers.get("warmup_seconds") or 0.0  # the workers start together, once per grade run
    projected = (warmup + (wall - warmup) / n * 30 * 11) / 60  # minutes, same --jobs, same notebook mix
    per_learner_all = sum(r["seconds"] for r in rows if r["seconds"] is not None)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; "
          f"load average {load_before:.1f} before, {load_after:.1f} after")
    print(f"class: {args.class_size} learner(s) x {len(notebooks)} notebook(s) = {n} submissions, --jobs {args.jobs}, "
          f"fast mode, --library zero, every protection on")
    if workers:
        print(f"warm workers: {workers.get('count')} started, {_fmt(workers.get('warmup_seconds'))} s each to start "
              f"Python and import the course (once per worker, not per submission)")
    print()
    print("| notebook | n | s per submission | " + " | ".join(STAGES) + " | cells skipped |")
    print("|---|---|---|" + "---|" * (len(STAGES) + 1))
    for r in rows:
        print(f"| {r['notebook']} | {r['n']} | {_fmt(r['seconds'])} | "
              + " | ".join(_fmt(r[s]) for s in STAGES) + f" | {_fmt(r['skipped_cells'])} |")
    print()
    print(f"graded {n} submissions in {wall:.1f} s ({n / wall * 60:.1f} per minute, {wall / n:.2f} s each "
          f"with {args.jobs} job(s)); one learner's {len(rows)} notebooks: {per_learner_all:.1f} s of worker time")
    if len(notebooks) == len(graded_notebooks()):
        print(f"projection, 30 learners x 11 notebooks with --jobs {args.jobs}: {projected:.1f} min, the workers' "
              f"start once and {(wall - warmup) / n:.2f} s per submission as measured "
              f"(target {TARGET_MINUTES:g} min: {'met' if projected <= TARGET_MINUTES else 'NOT met'})")
    else:
        projected = None
        print("projection to 30 x 11: not made (--only graded a part of the notebooks, whose times differ)")
    print(f"marks: {compared - len([w for w in wrong if ' point(s)' in w])} of {compared} exercises exactly as the "
          f"answers earn; {len(missing)} lost or unfinished result(s)")
    for line in (wrong + missing)[:20]:
        print(f"  {line}")
    figures = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_before": load_before,
               "load_after": load_after, "class_size": args.class_size, "notebooks": [p.stem for p in notebooks],
               "jobs": args.jobs, "submissions": n, "wall_seconds": round(wall, 1),
               "projected_minutes_30x11": None if projected is None else round(projected, 1), "rows": rows, "wrong_marks": wrong, "lost": missing,
               "workers": workers}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    if args.out is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if not wrong and not missing else 1


if __name__ == "__main__":
    raise SystemExit(main())
