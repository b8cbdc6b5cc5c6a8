"""The run doctor, measured: the live panel's overhead, and which finding fires on which run.

    python -m course_lib bench diagnose              # panel overhead on PPO CartPole and GRPO (≤ 5 %)
    python -m course_lib bench diagnose --table      # every recipe of experiments.diagnose_runs over seeds:
                                                     # the findings, the step each first fires (docs/run-doctor.md)

Overhead: the same seeded run trained with ``RunOptions(log=None)`` and with
``RunOptions(log=DiagnosePanel(display="figure"))`` (the panel draws and renders its figure exactly as
in a notebook, without showing it), alternating which goes first, several repeats; the overhead is
the ratio of the training times (``History.train_seconds``, evaluation excluded) and its spread, and,
robust to a busy machine's noise, the time the panel itself spent redrawing as a share of the run's.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from ..runs import RunOptions
from ..stats import seed_spread


def _train_seconds(hist) -> float:
    t = hist.get("train_seconds")
    return float(t[-1]) if isinstance(t, list) else float(t)


def overhead(which: str, repeats: int = 3, **kwargs) -> dict:
    """Train the ``which`` recipe ("ppo" or "grpo") with and without the panel, ``repeats`` times each.

    Returns:
        dict with "plain" and "panel" training seconds (lists), "ratios" (panel / plain per repeat),
        "redraws" and "redraw_seconds" per panelled run.
    """
    from ..widgets.diagnose import DiagnosePanel
    from . import diagnose_runs as dr

    plain, panel, redraws, cost = [], [], [], []
    for k in range(repeats):
        for mode in (("plain", "panel") if k % 2 == 0 else ("panel", "plain")):
            p = DiagnosePanel(display="figure") if mode == "panel" else None
            hist = dr.train(which, 0, run=RunOptions(log=p), **kwargs)
            (panel if p else plain).append(_train_seconds(hist))
            if p:
                redraws.append(p.redraws)
                cost.append(p.redraw_seconds)
    ratios = [b / a for a, b in zip(plain, panel)]
    return {"plain": plain, "panel": panel, "ratios": ratios, "redraws": redraws, "redraw_seconds": cost,
            "share": [c / t for c, t in zip(cost, panel)]}


def firing_table(seeds=(0, 1, 2), names=None, log=print) -> list[dict]:
    """Every recipe over ``seeds``: for each run, each finding that fires (warning or error) and its first step."""
    from ..diagnose import diagnose, first_firing
    from . import diagnose_runs as dr

    rows = []
    for name in names or dr.RECIPES:
        for seed in seeds:
            t = time.perf_counter()
            hist = dr.train(name, seed)
            fired = {f.name: first_firing(hist, f.name) for f in diagnose(hist, include_info=False)}
            rows.append({"run": name, "seed": seed, "fired": fired, "seconds": time.perf_counter() - t})
            log(f"  {name:32s} seed {seed}: " + (", ".join(f"{k} @ {v:g}" for k, v in fired.items()) or "silent")
                + f"  ({rows[-1]['seconds']:.0f} s)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib bench diagnose", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs with and without the panel (default 3)")
    parser.add_argument("--table", action="store_true", help="print the finding × run table instead")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.table:
        firing_table(args.seeds)
        return 0
    print("the run doctor's live panel: training time with and without it (same seed, alternating order)")
    for which, kwargs in (("ppo", {"total_steps": 300_000}), ("grpo", {"steps": 150, "eval_every": 50})):
        r = overhead(which, args.repeats, **kwargs)
        s = seed_spread(r["ratios"]) if len(r["ratios"]) > 1 else None
        print(f"  {which}: plain {np.mean(r['plain']):.2f} s, with panel {np.mean(r['panel']):.2f} s; "
              f"ratio per repeat {', '.join(f'{x:.3f}' for x in r['ratios'])}"
              + (f" (mean {s.mean:.3f}, range {s.min:.3f}-{s.max:.3f})" if s else "")
              + f"; {np.mean(r['redraws']):.1f} redraws costing {np.mean(r['redraw_seconds']):.2f} s per run, "
              f"{100 * np.max(r['share']):.1f} % of its training time at most (the panel's own clock)")
    return 0
