"""Reward hacking, measured: RLHF-PPO against the learned reward model for several β, cached in data/rlhf/.

    python -m course_lib sweep rlhf      # recompute data/rlhf/ (seed 0, then the strong-bias runs on
                                         # seeds 1 and 2; --reward-model FILE reuses a built reward model)
    python -m course_lib sweep rlhf --add-seeds 3 4   # add seeds to the cache, keeping its runs
    python -m course_lib manifest        # then record the new files

Every run starts from the shipped SFT checkpoint and trains PPO (``train_rlhf``) against the shipped
reward model of notebook 06 (``data/rm/reward_model.pt``, trained on simulated annotators who prefer
longer answers). Only β, the weight of the KL penalty, differs between runs. At every evaluation
the cache keeps, on the held-out problems: the gold accuracy of the greedy answers (the true
verifier, which the policy never sees), the reward model's score of the same answers (the proxy
that is optimised), the KL to the SFT model of sampled completions, the mean answer length and the
share of answers longer than the true answer. Gao et al. 2022 (arXiv 2210.10760, Fig. 1) plot the
proxy and the gold reward against d = sqrt(KL): the proxy keeps rising while the gold peaks and
falls. The cache also keeps a few held-out answers before and after each run.

The runs against the strong-bias reward model are repeated on ``SEEDS`` (each seed changes the prompt
order, the sampling and the minibatch order; the reward model stays the same): a trend over β is a
finding only when it is larger than the spread between seeds (``seed_rows``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence

import numpy as np

# find_run and runs_of: notebook 07 picks runs of the sweep through these names
from ..runs_cache import RLHF_SEED, RLHF_SWEEP_FILE as SWEEP_FILE, cached, find_rlhf_run as find_run, rlhf_runs_of as runs_of  # noqa: F401
from ..runs_cache import rounded as _r
BETAS = (0.0, 0.02, 0.1, 0.5)  # against the strong-bias reward model
SHIPPED_BETAS = (0.0,)  # against the shipped reward model of notebook 06
STEPS = 40
EVAL_EVERY = 5
SEED = RLHF_SEED  # the seed of the first runs (runs_cache holds it for the readers)
SEEDS = (0, 1, 2)  # the strong-bias runs, on every seed (the shipped reward model's run: seed 0 only)
N_EXAMPLES = 12  # held-out answers kept before and after each run
SETTINGS = {}  # changes to RLHFConfig's defaults for every run of the sweep
STRONG_LENGTH_BONUS = 2.0  # the annotators' length bias of the second reward model (the shipped one: 0.5)
STRONG_RM_FILE = "rlhf/reward_model_length2.pt"


def build_strong_bias_reward_model(length_bonus: float = STRONG_LENGTH_BONUS, seed: int = SEED, log=print):
    """A reward model trained exactly as notebook 06's (``reward_model.CONFIG``, the SFT model's
    samples, the same prompts and seed), on the labels of annotators with a stronger length bias.

    Returns:
        (model, figures): figures are the model's length gap per digit and truth agreement on its
        test pairs (``reward_model.length_bias``, ``truth_agreement``).
    """
    from ..runs import threads
    from ..rlhf.preferences import AnnotatorConfig, build_preferences
    from ..rlhf.reward_model import (CONFIG, RewardModel, center_scores, length_bias, probe_problems, train_reward_model,
                                truth_agreement)

    pairs = build_preferences(None, seed=seed, cfg=AnnotatorConfig(length_bonus=length_bonus), log=log)
    model = RewardModel.from_sft()
    hist = train_reward_model(model, pairs["train"], pairs["val"], CONFIG)
    center_scores(model, pairs["train"])
    with threads(1):
        figures = {"length_bonus": length_bonus, "length_gap": length_bias(model, probe_problems())["score_gap"],
                   "truth_agreement": truth_agreement(model, pairs["test"])["agreement"],
                   "val_accuracy": hist["val_accuracy"][-1]}
    log(f"reward model with length bonus {length_bonus}: length gap {figures['length_gap']:+.2f} per digit, "
        f"truth agreement {figures['truth_agreement']:.1%}")
    return model, figures


def sweep_config(beta: float, steps: int = STEPS, seed: int = SEED, eval_every: int = EVAL_EVERY, **changes):
    """RLHFConfig's defaults with this β and a smaller batch (128 prompts × 2), so runs go further in KL."""
    from ..rlhf import RLHFConfig

    settings = dict(beta=float(beta), steps=steps, eval_every=eval_every, seed=seed, prompts_per_step=128,
                    samples_per_prompt=2, minibatch_size=128, **SETTINGS)
    settings.update(changes)
    return RLHFConfig(**settings)


def _examples(model, tok, rm, problems) -> list[dict]:
    from .. import tasks
    from ..rlhf.reward_model import score

    texts, _ = tasks.complete(model, tok, [p.prompt for p in problems])
    scores = score(rm, [p.prompt for p in problems], texts).tolist()
    return [{"prompt": p.prompt, "truth": p.completion, "answer": t, "rm_score": round(s, 3)}
            for p, t, s in zip(problems, texts, scores)]


def load_strong_reward_model(device=None):
    """The strong-length-bias reward model shipped with the sweep (data/rlhf/reward_model_length2.pt),
    verified against data/MANIFEST.json; returns (model, meta)."""
    from ..data import verified_path
    from ..rlhf.reward_model import load_reward_model

    return load_reward_model(verified_path(STRONG_RM_FILE), device)


def run_one(beta: float, steps: int = STEPS, seed: int = SEED, eval_every: int = EVAL_EVERY, *, rm=None,
            rm_name: str = "shipped", **changes) -> dict:
    """One PPO run against a reward model (default: the shipped one of notebook 06); the curves the notebook plots."""
    import copy

    from .. import tasks
    from ..lm import load_shipped
    from ..rlhf.reward_model import load_shipped_reward_model
    from ..rlhf import train_rlhf

    cfg = sweep_config(beta, steps, seed, eval_every, **changes)
    model, tok, _ = load_shipped("sft")
    rm = load_shipped_reward_model()[0] if rm is None else copy.deepcopy(rm)
    probe = list(tasks.eval_problems()[:N_EXAMPLES])
    before = _examples(model, tok, rm, probe)
    h = train_rlhf(model, rm, cfg, tokenizer=tok)
    after = _examples(model, tok, rm, probe)
    keys = ("eval_accuracy", "eval_reward", "eval_kl", "eval_answer_len", "eval_longer_than_truth",
            "eval_format_rate", "eval_sampled_accuracy", "eval_sampled_reward")
    return {"reward_model": rm_name, "beta": float(beta), "seed": seed, "value_init": h["value_init"], "step": h["step"],
            "reward": _r(h["reward"]), "accuracy": _r(h["accuracy"]), "kl": _r(h["kl"]),
            "completion_len": _r(h["completion_len"]), "eval_step": h["eval_step"],
            **{k: _r(h[k]) for k in keys}, "train_seconds": round(h["train_seconds"], 1),
            "examples": [{**b, "answer_after": a["answer"], "rm_score_after": a["rm_score"]}
                         for b, a in zip(before, after)]}


def run_sweep(betas: Sequence[float] = BETAS, steps: int = STEPS, seed: int = SEED, eval_every: int = EVAL_EVERY,
              shipped_betas: Sequence[float] = SHIPPED_BETAS, length_bonus: float = STRONG_LENGTH_BONUS,
              strong_rm_path: str | None = None, progress: bool = False,
              seeds: Sequence[int] = SEEDS) -> tuple[dict, object]:
    """PPO against the shipped reward model for ``shipped_betas``, then against a reward model of
    annotators with a stronger length bias for ``betas``; one run after the other.

    ``strong_rm_path``: load the strong-bias reward model from this file (written by an earlier
    ``main``) instead of building it (about 6 minutes on a busy 2-core machine). ``seeds``: the
    strong-bias runs are repeated on each (``seed`` is the first: the shipped reward model's run and
    the reward model's own training use it).

    Returns:
        (sweep, the strong-bias reward model) — ``main`` saves both.
    """
    if not betas:
        raise ValueError("betas must be non-empty")
    for b in list(betas) + list(shipped_betas):
        sweep_config(b, steps, seed, eval_every)  # fail before any training
    started = time.perf_counter()
    log = print if progress else (lambda *a, **k: None)
    if strong_rm_path is None:
        strong, strong_figures = build_strong_bias_reward_model(length_bonus, seed, log=log)
    else:
        from ..rlhf.reward_model import load_reward_model

        strong, meta = load_reward_model(strong_rm_path)
        strong_figures = meta["figures"]
        if strong_figures.get("length_bonus") != length_bonus:
            raise ValueError(f"{strong_rm_path} was built with length bonus {strong_figures.get('length_bonus')}, "
                             f"not {length_bonus}")
    from ..rlhf.reward_model import load_shipped_reward_model

    shipped, shipped_meta = load_shipped_reward_model()
    runs = [run_one(b, steps, seed, eval_every, rm=shipped, rm_name="shipped") for b in shipped_betas]
    for run in runs:
        _log_run(run, log, started)
    others = [s for s in seeds if s != seed]
    runs += _strong_runs(strong, betas, [seed, *others], steps, eval_every, log, started)
    cfg = sweep_config(betas[0], steps, seed, eval_every)
    settings = {k: getattr(cfg, k) for k in ("steps", "lr", "value_lr", "temperature", "n_epochs", "minibatch_size",
                                             "prompts_per_step", "samples_per_prompt", "clip_eps", "lam", "gamma",
                                             "eval_every")}
    sweep = {"schema": "course_lib.rlhf.sweep/1", "betas": [float(b) for b in betas],
             "shipped_betas": [float(b) for b in shipped_betas], "seed": seed,
             "seeds": [seed, *others], "settings": settings,
             "reward_models": {"shipped": {"length_bonus": 0.5,
                                           "length_gap": shipped_meta.get("figures", {}).get("length_gap"),
                                           "truth_agreement": shipped_meta.get("figures", {}).get("truth_agreement")},
                               "strong": strong_figures},
             "wall_seconds": round(time.perf_counter() - started, 1), "runs": runs}
    return sweep, strong


def _log_run(run: dict, log, started: float) -> None:
    best = int(np.argmax(run["eval_sampled_accuracy"]))
    log(f"{run['reward_model']} RM, beta={run['beta']:<5g} seed {run['seed']}: sampled gold "
        f"{run['eval_sampled_accuracy'][0]:.1%} -> peak {run['eval_sampled_accuracy'][best]:.1%} (step "
        f"{run['eval_step'][best]}) -> {run['eval_sampled_accuracy'][-1]:.1%}; greedy gold {run['eval_accuracy'][0]:.1%} "
        f"-> {run['eval_accuracy'][-1]:.1%}; proxy {run['eval_sampled_reward'][0]:+.2f} -> "
        f"{run['eval_sampled_reward'][-1]:+.2f}; KL {run['eval_kl'][-1]:.2f}; {run['train_seconds']:.0f} s "
        f"({time.perf_counter() - started:.0f} s so far)")


def _strong_runs(strong, betas, seeds, steps, eval_every, log, started) -> list[dict]:
    runs = []
    for s in seeds:
        for b in betas:
            runs.append(run_one(b, steps, s, eval_every, rm=strong, rm_name="strong"))
            _log_run(runs[-1], log, started)
    return runs


def add_seeds(sweep: dict, seeds: Sequence[int], progress: bool = False) -> dict:
    """The sweep with its strong-bias runs repeated on ``seeds`` (with the shipped strong-bias reward
    model and the sweep's own β, steps and evaluation interval); runs already there are kept."""
    if not isinstance(sweep, dict) or "runs" not in sweep:
        raise ValueError("sweep must be the dict returned by load_sweep()")
    have = {r.get("seed", SEED) for r in runs_of_all_seeds(sweep)}
    new = [int(s) for s in seeds if int(s) not in have]
    if not new:
        return sweep
    strong, _ = load_strong_reward_model()
    started = time.perf_counter()
    runs = _strong_runs(strong, sweep["betas"], new, sweep["settings"]["steps"], sweep["settings"]["eval_every"],
                        print if progress else (lambda *a, **k: None), started)
    return {**sweep, "seeds": sorted(have | set(new)), "runs": sweep["runs"] + runs,
            "wall_seconds": round(sweep.get("wall_seconds", 0.0) + time.perf_counter() - started, 1)}


def load_sweep(recompute: bool = False, **kwargs) -> dict:
    """The cached sweep (data/rlhf/sweep.json), or a fresh one when ``recompute`` (kwargs go to
    ``run_sweep``; the cache is not overwritten, see ``main`` for that)."""
    return cached(SWEEP_FILE, recompute, run_sweep, **kwargs)


def runs_of_all_seeds(sweep: dict, reward_model: str = "strong") -> list[dict]:
    """Every run against one reward model, in order of β, then seed."""
    return sorted((r for r in sweep["runs"] if r["reward_model"] == reward_model),
                  key=lambda r: (r["beta"], r.get("seed", SEED)))


# What seed_rows summarises over seeds: name -> the figure of one run.
SEED_FIGURES = {
    "greedy_end": lambda r: r["eval_accuracy"][-1],
    "greedy_change": lambda r: r["eval_accuracy"][-1] - r["eval_accuracy"][0],
    "gold_end": lambda r: r["eval_sampled_accuracy"][-1],
    "gold_change": lambda r: r["eval_sampled_accuracy"][-1] - r["eval_sampled_accuracy"][0],
    "proxy_change": lambda r: r["eval_sampled_reward"][-1] - r["eval_sampled_reward"][0],
    "kl_end": lambda r: r["eval_kl"][-1],
    "longer_end": lambda r: r["eval_longer_than_truth"][-1],
}


def seed_rows(sweep: dict, reward_model: str = "strong") -> list[dict]:
    """One row per β: each of ``SEED_FIGURES`` over the seeds of that β, as a ``stats.Spread``
    (mean, standard deviation, range, t interval of the mean) with the seeds' values."""
    from ..stats import seed_spread

    by_beta: dict[float, list[dict]] = {}
    for run in runs_of_all_seeds(sweep, reward_model):
        by_beta.setdefault(run["beta"], []).append(run)
    rows = []
    for beta, runs in sorted(by_beta.items()):
        row = {"beta": beta, "seeds": [r.get("seed", SEED) for r in runs]}
        for name, figure in SEED_FIGURES.items():
            values = [float(figure(r)) for r in runs]
            row[name] = seed_spread(values)
            row[name + "_values"] = values
        rows.append(row)
    return rows


def summary_rows(sweep: dict, seed: int = SEED) -> list[dict]:
    """One row per run of ``seed``: gold accuracy of sampled answers at the start, at its peak (with
    the KL there) and at the end; greedy gold at the start and the end; the proxy (the reward model's
    score of sampled answers) at the start and the end; the share of greedy answers longer than the
    truth at the end. (``seed_rows`` summarises the strong-bias runs over every seed.)"""
    rows = []
    for r in sweep["runs"]:
        if r.get("seed", SEED) != seed:
            continue
        g = r["eval_sampled_accuracy"]
        best = int(np.argmax(g))
        rows.append({"reward_model": r["reward_model"], "beta": r["beta"], "gold_start": g[0], "gold_peak": g[best],
                     "peak_step": r["eval_step"][best], "kl_at_peak": r["eval_kl"][best], "gold_end": g[-1],
                     "greedy_start": r["eval_accuracy"][0], "greedy_end": r["eval_accuracy"][-1],
                     "proxy_start": r["eval_sampled_reward"][0], "proxy_end": r["eval_sampled_reward"][-1],
                     "kl_end": r["eval_kl"][-1], "longer_end": r["eval_longer_than_truth"][-1],
                     "answer_len_end": r["eval_answer_len"][-1]})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Rebuild data/rlhf/sweep.json."""
    parser = argparse.ArgumentParser(prog="python -m course_lib sweep rlhf",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=STEPS, help=f"PPO steps per run (default {STEPS})")
    parser.add_argument("--betas", type=float, nargs="+", default=list(BETAS), help="the β values")
    parser.add_argument("--out", default=None, help="write here instead of data/rlhf/sweep.json")
    parser.add_argument("--reward-model", default=None,
                        help="reuse this strong-bias reward model file instead of building it")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                        help=f"seeds of the strong-bias runs (default {' '.join(map(str, SEEDS))})")
    parser.add_argument("--add-seeds", type=int, nargs="+", default=None,
                        help="keep the cached sweep and add its strong-bias runs on these seeds")
    args = parser.parse_args(argv)
    from pathlib import Path

    from ..data import data_dir
    from ..rlhf.reward_model import save_reward_model

    path = Path(args.out) if args.out else data_dir() / SWEEP_FILE
    if args.add_seeds:
        sweep = add_seeds(load_sweep(), args.add_seeds, progress=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(sweep, separators=(",", ":")) + "\n")
        print(f"wrote {path} (seeds {sweep['seeds']}); now run `python -m course_lib manifest`")
        return 0
    sweep, strong = run_sweep(args.betas, args.steps, strong_rm_path=args.reward_model, progress=True,
                              seeds=args.seeds)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sweep, separators=(",", ":")) + "\n")
    rm_path = save_reward_model(path.parent / Path(STRONG_RM_FILE).name, strong,
                                {"length_bonus": sweep["reward_models"]["strong"]["length_bonus"],
                                 "figures": sweep["reward_models"]["strong"]})
    print(f"wrote {path} and {rm_path} in {sweep['wall_seconds']:.0f} s; now run `python -m course_lib manifest`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
