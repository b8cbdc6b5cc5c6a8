"""Command line: ``python -m course_lib <command> ...``.

    doctor             check versions, CPU/GPU, widgets and the shipped data files
    diagnose RUN.json  why isn't it learning? the run doctor's findings on a saved History
    manifest           rewrite data/MANIFEST.json (sizes and SHA-256 of the shipped files)
    bench <what>       benchmarks that print figures (bench ppo, lm, grpo, sandbox, trl, rlhf, checks, diagnose, grading)
    train-lm           rebuild the small language model's shipped checkpoints
    train-rm           rebuild the preference pairs and the reward model of notebook 06
    grade SUBMISSIONS/ --out GRADEBOOK/    re-execute and grade learners' notebooks (see docs/instructors.md)
    run [--full] [--out DIR]               execute every notebook headless; run times and claimed results
    sweep <what>       recompute a cached sweep in data/ (sweep ppo, grpo, rlhf, pitfalls, eureka)

Each command lives in its topic's module as ``main(argv) -> int``; this table only routes.
"""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "doctor": ("course_lib.doctor", "main"),
    "diagnose": ("course_lib.diagnose.cli", "main"),
    "manifest": ("course_lib.data", "manifest_main"),
    "train-lm": ("course_lib.tasks.recipe", "main"),
    "train-rm": ("course_lib.rlhf.reward_model", "main"),
    "grade": ("course_lib.grading.grade", "main"),
    "run": ("course_lib.grading.headless", "main"),
    "translate": ("course_lib.i18n", "main"),
}
BENCHES = {
    "ppo": ("course_lib.experiments.bench_ppo", "main"),
    "lm": ("course_lib.experiments.bench_lm", "main"),
    "grpo": ("course_lib.experiments.bench_grpo", "main"),
    "sandbox": ("course_lib.experiments.bench_sandbox", "main"),
    "trl": ("course_lib.experiments.bench_trl", "main"),
    "rlhf": ("course_lib.experiments.bench_rlhf", "main"),
    "checks": ("course_lib.exercises.bench", "main"),
    "diagnose": ("course_lib.experiments.bench_diagnose", "main"),
    "grading": ("course_lib.experiments.bench_grading", "main"),
}
SWEEPS = {
    "ppo": ("course_lib.experiments.ppo_sweep", "main"),
    "grpo": ("course_lib.experiments.grpo_sweep", "main"),
    "rlhf": ("course_lib.experiments.rlhf_sweep", "main"),
    "pitfalls": ("course_lib.experiments.pitfalls_sweep", "main"),
    "eureka": ("course_lib.experiments.eureka_cartpole", "main"),
}
GROUPS = {"bench": BENCHES, "sweep": SWEEPS}  # commands with a second word


def _route(target: tuple[str, str], argv: list[str], what: str) -> int:
    module, func = target
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            print(f"{what} is not available in this version of course_lib ({module} is missing)",
                  file=sys.stderr)
            return 2
        raise
    from .data import DataNotWritable

    try:
        return int(getattr(mod, func)(argv) or 0)
    except DataNotWritable as exc:  # a read-only data/ folder: say so, no raw OSError
        print(exc, file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd in GROUPS:
        table = GROUPS[cmd]
        if not rest or rest[0] not in table:
            print(f"usage: python -m course_lib {cmd} {{{','.join(table)}}} [options]", file=sys.stderr)
            return 2
        return _route(table[rest[0]], rest[1:], f"{cmd} {rest[0]}")
    if cmd not in COMMANDS:
        print(f"unknown command {cmd!r}; expected one of: {', '.join([*COMMANDS, *GROUPS])}",
              file=sys.stderr)
        return 2
    return _route(COMMANDS[cmd], rest, cmd)


if __name__ == "__main__":
    sys.exit(main())
