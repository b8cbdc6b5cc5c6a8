"""``python -m course_lib bench sandbox``: programs scored per second in the code sandbox.

Scores the hand-written candidates of ``course_lib.tasks.code`` (all but the two that run into the
time limit on purpose: they measure the limit, not the sandbox) on their hidden tests, round
robin, ``--workers`` sandboxes at a time, with every limit on. Then times one sandboxed run of a
trivial program against a bare ``python -c pass`` subprocess, run one after the other: the
overhead the sandbox adds. Also the CPU time each program costs (this process and the sandboxes'),
which on a shared machine says more than the wall-clock rate. Prints the machine and the
protections that were in force.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

FLOOR = 20.0  # programs per second notebook 06's code reward needs on 2 cores


def _cpu_seconds() -> float:
    """CPU seconds used by this process and its reaped children (the sandboxes), user + system."""
    import resource
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib bench sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--programs", type=int, default=200, help="programs to score (default 200)")
    parser.add_argument("--workers", type=int, default=None,
                        help="sandboxes at a time (default: run_programs' default, 4 per CPU core)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs for each overhead median (default: min(20, programs))")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    workers = args.workers or 4 * cores
    repeats = args.repeats or min(20, args.programs)
    if args.programs < 1 or workers < 1 or repeats < 1:
        parser.error("--programs, --workers and --repeats must be positive")

    from ..tasks.code import candidates, problem
    from ..sandbox import available_protections, run_program, run_programs

    protections, missing = available_protections()
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {cores} CPU core(s), {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}, uid {os.getuid()}, load average {load[0]:.1f} at start")
    print("protections in force: " + "; ".join(protections))
    print("protections missing: " + ("; ".join(missing) if missing else "none"))

    # 1. throughput: the candidates on their hidden tests, every limit on
    pool = [c for c in candidates() if c.kind != "slow" and c.name != "spin-forever"]
    chosen = [pool[i % len(pool)] for i in range(args.programs)]
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    results = run_programs([c.source for c in chosen], [problem(c.problem).tests("hidden") for c in chosen],
                           workers=workers)
    elapsed = time.perf_counter() - start
    cpu_per_program = (_cpu_seconds() - cpu_start) / args.programs
    rate = args.programs / elapsed
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1

    # 2. overhead of one run over a bare interpreter start, one at a time
    trivial = [{"call": "f()", "expected": 1}]
    sandboxed = _median_seconds(lambda: run_program("def f():\n    return 1\n", trivial), repeats)
    bare = _median_seconds(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeats)

    print(f"programs scored per second: {rate:.1f} ({args.programs} programs in {elapsed:.1f} s, "
          f"{workers} workers, every limit on; floor {FLOOR:g}/s {'met' if rate >= FLOOR else 'NOT met'})")
    print(f"CPU time per program (this process and every sandbox process): {1000 * cpu_per_program:.1f} ms, "
          f"so {cores} idle core(s) could score at most {cores / cpu_per_program:.0f} programs/s")
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    print(f"one run, one at a time (median of {repeats}): sandboxed {1000 * sandboxed:.0f} ms, bare "
          f"`python -c pass` {1000 * bare:.0f} ms, overhead {1000 * (sandboxed - bare):.0f} ms "
          f"({sandboxed / bare:.1f}x)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes share the cores)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"programs": args.programs, "workers": workers, "seconds": elapsed, "programs_per_s": rate, "cpu_s_per_program": cpu_per_program,
                       "statuses": statuses, "sandboxed_run_s": sandboxed, "bare_python_s": bare,
                       "overhead_s": sandboxed - bare, "cores": cores, "protections": list(protections),
                       "missing": list(missing), "load_average_start": load[0]}, f, indent=1)
        print(f"wrote {args.json}")
    return 0
