"""How long a passing check takes, and how much of it is the checker's isolation.

    python -m course_lib.exercises.bench [--repeats 5]

For every registered exercise with a teaching solution: the first check (the judge builds the
cases and computes the expectations then), the median of the following checks, and the median
time of calling the same function on every case directly in this process. The difference is
the checker's overhead (fork, limits, data transfer, comparison in the judge).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import platform
import statistics
import time


def _direct(ex) -> float:
    cases = ex.cases()
    start = time.perf_counter()
    for case in cases:
        args, kwargs = copy.deepcopy((case.args, case.kwargs))
        ex.teaching(*args, **kwargs)
    return time.perf_counter() - start


def measure(repeats: int = 5) -> list[dict]:
    """One row per exercise: first, median and direct times in seconds."""
    from . import check, get_exercise, list_exercises

    rows = []
    for name in list_exercises():
        ex = get_exercise(name)
        if ex.teaching is None:
            continue
        times = []
        for _ in range(repeats + 1):
            with contextlib.redirect_stdout(io.StringIO()):
                start = time.perf_counter()
                result = check(name, ex.teaching)
                times.append(time.perf_counter() - start)
            if not result.passed:
                raise RuntimeError(f"the teaching solution of {name} does not pass: {result.text()}")
        direct = statistics.median(_direct(ex) for _ in range(repeats))
        rows.append({"exercise": name, "first": times[0], "median": statistics.median(times[1:]),
                     "direct": direct, "cases": result.cases_total})
    return rows


def _fresh_import_seconds() -> float:
    import subprocess
    import sys

    code = "import time; t = time.perf_counter(); import course_lib.exercises; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="checks per exercise after the first")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    imported = _fresh_import_seconds()
    from .checker import JudgeClient

    start = time.perf_counter()
    client = JudgeClient()  # a second judge, only to time the fork
    forked = time.perf_counter() - start
    if client.sock is not None:
        client.sock.close()
        os.waitpid(client.pid, 0)
    rows = measure(args.repeats)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}, "
          f"Python {platform.python_version()}")
    print(f"import of course_lib.exercises in a fresh process (torch, the catalog, the judge's fork): "
          f"{imported:.2f} s; forking the judge alone: {forked * 1000:.1f} ms")
    print(f"{'exercise':<24}{'cases':>6}{'first s':>10}{'median s':>10}{'direct s':>10}{'overhead s':>12}")
    for r in rows:
        print(f"{r['exercise']:<24}{r['cases']:>6}{r['first']:>10.3f}{r['median']:>10.3f}{r['direct']:>10.4f}"
              f"{r['median'] - r['direct']:>12.3f}")
    worst = max(rows, key=lambda r: r["median"])
    worst_first = max(rows, key=lambda r: r["first"])
    print(f"slowest passing check: {worst['exercise']} {worst['median']:.3f} s (median); slowest first check: "
          f"{worst_first['exercise']} {worst_first['first']:.3f} s; target: under 1 s")


if __name__ == "__main__":
    main()
