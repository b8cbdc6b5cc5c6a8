"""Rebuilding the shipped reward model: ``python -m course_lib train-rm`` (data/rm/, byte for byte)."""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from pathlib import Path

from ...runs import RunOptions, threads
from .config import RewardModelConfig
from .evaluate import evaluate_reward_model
from .model import RewardModel, save_reward_model
from .train import center_scores, train_reward_model

SEED = 0

CONFIG = RewardModelConfig()



def build(out_dir: str | Path | None = None, *, seed: int = SEED, cfg: RewardModelConfig = CONFIG,
          sizes: dict | None = None, num_threads: int | None = 1, compare_scalar_only: bool = True,
          log=print) -> dict:
    """Build the preference pairs, train the reward model from the SFT model, evaluate, and (if ``out_dir``) write.

    Args:
        compare_scalar_only: also train a reward model without the log-likelihood term (same data,
            settings and seed) and record its test figures (meta["scalar_only"]).

    Returns:
        {"pairs": {split: pairs}, "model", "history", "figures": evaluate_reward_model(...),
        "before_training": the same figures for the untrained model (r = log π_SFT), "scalar_only":
        the comparison's figures or None}.
    """
    from ..preferences import build_preferences

    t0 = time.perf_counter()
    pairs = build_preferences(out_dir, seed=seed, sizes=sizes, log=log)
    log(f"preference pairs built in {time.perf_counter() - t0:.1f} s")

    model = RewardModel.from_sft()
    with threads(num_threads):  # before training: the scalar head is 0, so r = log π_SFT(y | x)
        before = evaluate_reward_model(model, pairs["test"])
    _log_figures(log, "before training (the SFT model's log-likelihood), test", before)
    history = train_reward_model(model, pairs["train"], pairs["val"], cfg, run=RunOptions(threads=num_threads))
    shift = center_scores(model, pairs["train"])
    log(f"reward model: {len(history['step'])} steps in {history['seconds']:.1f} s, validation accuracy "
        f"{history['val_accuracy'][0]:.1%} -> {history['val_accuracy'][-1]:.1%}")
    with threads(num_threads):
        figures = evaluate_reward_model(model, pairs["test"])
    _log_figures(log, "test", figures)
    scalar_only = None
    if compare_scalar_only:  # the same training without the log-likelihood term, for the comparison
        plain = RewardModel.from_sft(loglik=False)
        plain_history = train_reward_model(plain, pairs["train"], pairs["val"], cfg, run=RunOptions(threads=num_threads))
        center_scores(plain, pairs["train"])
        with threads(num_threads):
            scalar_only = evaluate_reward_model(plain, pairs["test"])
        scalar_only["val_accuracy"] = plain_history["val_accuracy"]
        _log_figures(log, "scalar head only, test", scalar_only)
    if out_dir is not None:
        meta = {"seed": seed, "train": asdict(cfg), "score_shift": shift,
                "history": {k: v for k, v in history.items() if k != "seconds"},  # no wall-clock in the file
                "figures": figures, "before_training": before, "scalar_only": scalar_only, "pairs": {k: len(v) for k, v in pairs.items()}}
        path = save_reward_model(Path(out_dir) / "reward_model.pt", model, meta)
        log(f"wrote {path}")
    return {"pairs": pairs, "model": model, "history": history, "figures": figures, "before_training": before,
            "scalar_only": scalar_only}


def _log_figures(log, what: str, f: dict) -> None:
    log(f"{what}: label agreement {f['label_agreement']:.1%} (ceiling {f['label_ceiling']:.1%}), "
        f"truth agreement {f['truth_agreement']:.1%} on {f['truth_n']} pairs with one right answer, "
        f"ECE {f['ece']:.3f}, length gap {f['length_gap']:+.3f} per digit "
        f"(longer preferred in {f['longer_preferred']:.1%} of {f['length_probes']} probes)")


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib train-rm``: rebuild data/rm/ (preference pairs and the reward model)."""
    import sys

    from ...data import DataNotWritable, writable_dir

    parser = argparse.ArgumentParser(prog="python -m course_lib train-rm", description=main.__doc__)
    parser.add_argument("--out", default=None, help="output folder (default: the course's data/rm)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--steps", type=int, default=CONFIG.steps,
                        help=f"training steps (shipped: {CONFIG.steps}; other values need --out)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest and exact)")
    parser.add_argument("--no-manifest", action="store_true", help="do not rewrite data/MANIFEST.json")
    args = parser.parse_args(argv)
    if args.out is None and (args.seed, args.steps) != (SEED, CONFIG.steps):
        parser.error("non-default --seed/--steps would overwrite the shipped files; give an --out folder")
    try:  # a read-only course folder is a message, not a traceback after minutes of training
        out = writable_dir("rm") if args.out is None else Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").touch()
        (out / ".write-test").unlink()
    except (DataNotWritable, OSError) as exc:
        where = "" if isinstance(exc, DataNotWritable) else f"cannot write to {args.out}: "
        print(f"train-rm: {where}{exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    build(out, seed=args.seed, cfg=replace(CONFIG, steps=args.steps), num_threads=args.threads)
    if args.out is None and not args.no_manifest:
        from ...data import write_manifest

        write_manifest()
        print("rewrote data/MANIFEST.json")
    print(f"train-rm finished in {time.perf_counter() - start:.1f} s")
    return 0



__all__ = ["SEED", "CONFIG", "build", "main"]
