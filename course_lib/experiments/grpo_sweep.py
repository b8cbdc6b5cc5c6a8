"""The G × β sweep of notebook 08 and the report-snippet ablation, cached in data/grpo/.

    python -m course_lib sweep grpo                  # recompute both (about 10 minutes on 2 cores)
    python -m course_lib sweep grpo --only sweep     # or only one of them; --jobs 1 for one process
    python -m course_lib sweep grpo --only seeds     # the sweep's grid again on seeds 1 and 2 (summaries)

Every run starts from the shipped SFT checkpoint and trains GRPO (``GRPOConfig``'s defaults
otherwise) for the same number of steps with the **same number of completions per step**:
``prompts_per_step · G = COMPLETIONS_PER_STEP``, so a larger group means fewer distinct prompts
per step, not more compute. Each run keeps a frozen copy of the SFT model as the reference, so the
KL to it is measured even with β = 0 (where it is not penalised). Per step the cache keeps the
share of zero-variance groups, the k3 KL to the reference, the entropy proxy and the mean reward;
per evaluation the held-out greedy accuracy and format rate.

A trend across settings needs more than one seed: ``run_seeds`` trains the whole grid again with
``EXTRA_SEEDS`` and keeps, per (G, β) and seed, the final and best held-out accuracy, the last KL and
the mean share of zero-variance groups (sweep.json's "over_seeds"; seed 0 is the sweep itself).

The ablation (data/grpo/ablation.json) trains, for seeds 0, 1, 2, the source report's simplified
"GRPO" (advantages normalised over the whole batch, loss −mean(log π · A) over every completion
position, padding included), the same with the completion mask, and the library's GRPO, all at
GRPOConfig's defaults.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from typing import Sequence

import numpy as np

from ..data import writable_dir
from ..grpo.config import GRPOConfig
from ..runs_cache import GRPO_ABLATION_FILE as ABLATION_FILE, GRPO_SWEEP_FILE as SWEEP_FILE, cached
from ..runs_cache import GRPO_SEED_SUMMARY, find_grpo_run as find_run, grpo_run_summary, rounded as _r
from ..runs_cache import grpo_seed_values as seed_values  # noqa: F401  (08 reads the seeds through this name)

SWEEP_G = (2, 4, 8, 16)
SWEEP_BETA = (0.0, 0.04, 0.2)
COMPLETIONS_PER_STEP = 512  # prompts_per_step · G, the same for every run
SWEEP_STEPS = 100
SWEEP_EVAL_EVERY = 10
SWEEP_SEED = 0
EXTRA_SEEDS = (1, 2)  # with SWEEP_SEED, three seeds per (G, β) for "over_seeds"
SEED_SUMMARY = GRPO_SEED_SUMMARY


def sweep_config(group_size: int, beta: float, steps: int = SWEEP_STEPS, seed: int = SWEEP_SEED,
                 completions_per_step: int = COMPLETIONS_PER_STEP, eval_every: int = SWEEP_EVAL_EVERY) -> GRPOConfig:
    """GRPOConfig's defaults with this G and β, and ``completions_per_step // G`` prompts per step."""
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2:
        raise ValueError(f"group_size must be an integer >= 2, got {group_size!r}")
    if completions_per_step % group_size != 0:
        raise ValueError(f"completions_per_step={completions_per_step} must be divisible by group_size={group_size}")
    return GRPOConfig(group_size=group_size, beta=float(beta), prompts_per_step=completions_per_step // group_size,
                      steps=steps, eval_every=eval_every, seed=seed)


def run_one(group_size: int, beta: float, steps: int = SWEEP_STEPS, seed: int = SWEEP_SEED,
            completions_per_step: int = COMPLETIONS_PER_STEP, eval_every: int = SWEEP_EVAL_EVERY) -> dict:
    """One run of the sweep from the shipped SFT checkpoint; the curves the notebook plots."""
    from ..lm import load_shipped
    from ..grpo.train import train_grpo
    from ..runs import RunOptions

    cfg = sweep_config(group_size, beta, steps, seed, completions_per_step, eval_every)
    model, tok, _ = load_shipped("sft")
    ref = copy.deepcopy(model)  # π_ref: the KL to it is measured for every β
    h = train_grpo(model, cfg, tokenizer=tok, ref_model=ref, run=RunOptions(threads=1))
    return {"G": group_size, "beta": float(beta), "seed": seed, "prompts_per_step": cfg.prompts_per_step,
            "step": h["step"], "zero_variance_frac": _r(h["zero_variance_frac"]), "kl": _r(h["kl"]),
            "entropy_proxy": _r(h["entropy_proxy"]), "reward": _r(h["reward"]),
            "eval_step": h["eval_step"], "eval_accuracy": _r(h["eval_accuracy"]),
            "eval_format_rate": _r(h["eval_format_rate"]), "train_seconds": round(h["train_seconds"], 1)}


def _run_star(args):
    return run_one(*args)


def run_sweep(group_sizes: Sequence[int] = SWEEP_G, betas: Sequence[float] = SWEEP_BETA, steps: int = SWEEP_STEPS,
              seed: int = SWEEP_SEED, completions_per_step: int = COMPLETIONS_PER_STEP,
              eval_every: int = SWEEP_EVAL_EVERY, jobs: int = 1, progress: bool = False) -> dict:
    """Train one run per (G, β); ``jobs`` > 1 trains that many runs at once in separate processes."""
    if not group_sizes or not betas:
        raise ValueError("group_sizes and betas must be non-empty")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    for G in group_sizes:  # fail before any training
        for b in betas:
            sweep_config(G, b, steps, seed, completions_per_step, eval_every)
    tasks_ = [(int(G), float(b), steps, seed, completions_per_step, eval_every) for G in group_sizes for b in betas]
    started = time.perf_counter()
    runs = []
    if jobs == 1:
        it = map(_run_star, tasks_)
        pool = None
    else:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(jobs)
        it = pool.imap(_run_star, tasks_)
    try:
        for run in it:
            runs.append(run)
            if progress:
                print(f"G={run['G']:2d} beta={run['beta']:<5g}: held-out accuracy {run['eval_accuracy'][0]:.1%} -> "
                      f"{run['eval_accuracy'][-1]:.1%}, KL {run['kl'][-1]:.3f}, "
                      f"{run['train_seconds']:.0f} s ({time.perf_counter() - started:.0f} s so far)", flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    base = sweep_config(group_sizes[0], betas[0], steps, seed, completions_per_step, eval_every)
    settings = {k: getattr(base, k) for k in ("steps", "lr", "temperature", "n_epochs", "eps_low", "eps_high",
                                              "loss_aggregation", "max_completion_length", "eval_every")}
    settings["completions_per_step"] = completions_per_step
    return {"schema": "course_lib.grpo.sweep/1", "G": [int(g) for g in group_sizes], "beta": [float(b) for b in betas],
            "seed": seed, "settings": settings, "wall_seconds": round(time.perf_counter() - started, 1),
            "runs": runs}


def _summary(run: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in grpo_run_summary(run).items()}


def run_seeds(sweep: dict, seeds: Sequence[int] = EXTRA_SEEDS, jobs: int = 1, progress: bool = False) -> dict:
    """The grid of ``sweep`` trained again with each of ``seeds``: {"seeds", "runs": {"G,beta": {seed: summary}}}.

    Seed ``sweep["seed"]`` is read from ``sweep`` itself; the others are trained (``run_sweep``).
    """
    out = {"seeds": [int(sweep["seed"])] + [int(s) for s in seeds], "runs": {}}
    for r in sweep["runs"]:
        out["runs"].setdefault(f"{r['G']},{r['beta']:g}", {})[str(sweep["seed"])] = _summary(r)
    st = sweep["settings"]
    for seed in seeds:
        again = run_sweep(sweep["G"], sweep["beta"], steps=st["steps"], seed=int(seed),
                          completions_per_step=st["completions_per_step"], eval_every=st["eval_every"], jobs=jobs,
                          progress=progress)
        for r in again["runs"]:
            out["runs"][f"{r['G']},{r['beta']:g}"][str(seed)] = _summary(r)
    return out


def load_sweep(recompute: bool = False, **kwargs) -> dict:
    """The cached sweep from data/grpo/sweep.json, or a fresh one when ``recompute`` is true
    (kwargs go to ``run_sweep``; the cache is not overwritten, see ``main`` for that)."""
    return cached(SWEEP_FILE, recompute, run_sweep, **kwargs)


def summary_rows(sweep: dict) -> list[dict]:
    """One row per run: start and final accuracy, best accuracy, last KL, mean zero-variance share."""
    rows = []
    for r in sweep["runs"]:
        rows.append({"G": r["G"], "beta": r["beta"], "prompts_per_step": r["prompts_per_step"],
                     "start_accuracy": r["eval_accuracy"][0], **grpo_run_summary(r),
                     "train_seconds": r["train_seconds"]})
    return rows


def train_report_snippet(model, cfg: GRPOConfig = GRPOConfig(), *, tokenizer=None, mask_padding: bool = False,
                         eval_set=None) -> dict:
    """The source report's simplified "GRPO": REINFORCE with a batch-normalised baseline.

    Each step samples ``cfg.prompts_per_step`` prompts × G completions like ``train_grpo``, then
    A = (r − mean(r)) / std(r) over the **whole batch** and loss = −mean_{b,t}(log π(y_{b,t}) · A_b)
    over every completion position, padding after <eos> included unless ``mask_padding``. No ratio,
    no clip, no KL, one update per batch (μ = 1). Kept outside the library's GRPO on purpose: it
    exists to be compared with it (notebook 08).

    Returns:
        {"step", "reward", "eval_step", "eval_accuracy", "eval_format_rate", "train_seconds"}.
    """
    import torch

    from .. import tasks
    from ..core import set_seed
    from ..grpo.losses import group_advantages
    from ..lm.generate import token_logprobs
    from ..runs import threads
    from ..lmrl import sample_rollouts
    from ..rewards import r1_reward

    tok = tokenizer or tasks.make_tokenizer()
    problems = list(tasks.train_problems())
    eval_set = list(eval_set) if eval_set is not None else list(tasks.eval_problems())
    G = cfg.group_size
    hist = {"step": [], "reward": [], "eval_step": [], "eval_accuracy": [], "eval_format_rate": []}

    def evaluate_now(step):
        ev = tasks.evaluate(model, eval_set, tok, greedy=True)
        hist["eval_step"].append(step)
        hist["eval_accuracy"].append(ev["accuracy"])
        hist["eval_format_rate"].append(ev["format_rate"])

    with threads(1):
        set_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        model.eval()
        evaluate_now(0)
        train_time = 0.0
        for step in range(1, cfg.steps + 1):
            t0 = time.perf_counter()
            picked = [problems[i] for i in rng.integers(0, len(problems), size=cfg.prompts_per_step)]
            batch = sample_rollouts(model, tok, [p.prompt for p in picked], group_size=G,
                                    max_new_tokens=cfg.max_completion_length, temperature=cfg.temperature,
                                    generator=gen, reward_fn=r1_reward, columns={"answer": [p.answer for p in picked]})
            rewards = batch.rewards
            adv = group_advantages(rewards, rewards.numel())  # one "group": the whole batch
            P = batch.prompt_len
            scored = batch.full_mask().clone()
            scored[:, P:] = True  # every completion position, padding included
            model.train()
            logp = token_logprobs(model, batch.tokens, scored, batch.key_valid(), cfg.temperature)[:, P:]
            if mask_padding:
                m = batch.mask.float()
                loss = -(logp * adv[:, None] * m).sum() / m.sum()
            else:
                loss = -(logp * adv[:, None]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            opt.step()
            model.eval()
            train_time += time.perf_counter() - t0
            hist["step"].append(step)
            hist["reward"].append(float(rewards.mean()))
            if step % cfg.eval_every == 0 or step == cfg.steps:
                evaluate_now(step)
    hist["train_seconds"] = train_time
    return hist


ABLATION_VARIANTS = ("report snippet", "report snippet + mask", "GRPO")
ABLATION_SEEDS = (0, 1, 2)


def _ablation_star(args) -> dict:
    variant, seed = args
    from ..lm import load_shipped
    from ..grpo.train import train_grpo
    from ..runs import RunOptions

    model, tok, _ = load_shipped("sft")
    cfg = GRPOConfig(steps=SWEEP_STEPS, eval_every=SWEEP_EVAL_EVERY, seed=seed)
    if variant == "GRPO":
        h = train_grpo(model, cfg, tokenizer=tok, run=RunOptions(threads=1))
    else:
        h = train_report_snippet(model, cfg, tokenizer=tok, mask_padding=variant.endswith("mask"))
    return {"name": variant, "seed": seed, "eval_step": h["eval_step"], "eval_accuracy": _r(h["eval_accuracy"]),
            "eval_format_rate": _r(h["eval_format_rate"]), "reward": _r(h["reward"]),
            "train_seconds": round(h["train_seconds"], 1)}


def run_ablation(variants: Sequence[str] = ABLATION_VARIANTS, seeds: Sequence[int] = ABLATION_SEEDS,
                 jobs: int = 1) -> dict:
    """The report's snippet, the snippet with the completion mask, and GRPO, at GRPOConfig's
    defaults (G = 8, 64 prompts per step, β = 0, μ = 1) for SWEEP_STEPS steps, one run per seed."""
    for v in variants:
        if v not in ABLATION_VARIANTS:
            raise ValueError(f"variants must be among {ABLATION_VARIANTS}, got {v!r}")
    if not variants or not seeds:
        raise ValueError("variants and seeds must be non-empty")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    todo = [(v, int(s)) for v in variants for s in seeds]
    if jobs == 1:
        runs = [_ablation_star(t) for t in todo]
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(jobs) as pool:
            runs = pool.map(_ablation_star, todo)
    cfg = GRPOConfig(steps=SWEEP_STEPS, eval_every=SWEEP_EVAL_EVERY)
    return {"schema": "course_lib.grpo.ablation/2", "seeds": [int(s) for s in seeds], "variants": list(variants),
            "settings": {"steps": cfg.steps, "group_size": cfg.group_size, "prompts_per_step": cfg.prompts_per_step,
                         "lr": cfg.lr, "temperature": cfg.temperature}, "runs": runs}


def load_ablation(recompute: bool = False, **kwargs) -> dict:
    """The cached ablation (data/grpo/ablation.json), or a fresh one when ``recompute`` (kwargs go
    to ``run_ablation``)."""
    return cached(ABLATION_FILE, recompute, run_ablation, **kwargs)


def main(argv: list[str] | None = None) -> int:
    """Rebuild data/grpo/sweep.json."""
    parser = argparse.ArgumentParser(prog="python -m course_lib sweep grpo", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once (default 2)")
    parser.add_argument("--only", choices=("sweep", "ablation", "seeds"), default=None,
                        help="rebuild only this part (seeds: the sweep's grid on EXTRA_SEEDS, added to sweep.json)")
    args = parser.parse_args(argv)
    out = writable_dir("grpo")  # a clear error on a read-only course folder
    if args.only in (None, "sweep"):
        sweep = run_sweep(jobs=args.jobs, progress=True)
        (out / "sweep.json").write_text(json.dumps(sweep, separators=(",", ":")) + "\n")
        print(f"wrote {out / 'sweep.json'} in {sweep['wall_seconds']:.0f} s")
    if args.only in (None, "seeds"):
        sweep = json.loads((out / "sweep.json").read_text())  # as written above (or shipped)
        t = time.perf_counter()
        sweep["over_seeds"] = run_seeds(sweep, jobs=args.jobs, progress=True)
        (out / "sweep.json").write_text(json.dumps(sweep, separators=(",", ":")) + "\n")
        print(f"wrote {out / 'sweep.json'} with seeds {sweep['over_seeds']['seeds']} in {time.perf_counter() - t:.0f} s")
    if args.only in (None, "ablation"):
        ablation = run_ablation(jobs=args.jobs)
        for r in ablation["runs"]:
            print(f"{r['name']} seed {r['seed']}: held-out accuracy {r['eval_accuracy'][0]:.1%} -> "
                  f"{r['eval_accuracy'][-1]:.1%}")
        (out / "ablation.json").write_text(json.dumps(ablation, separators=(",", ":")) + "\n")
        print(f"wrote {out / 'ablation.json'}")
    print("now run `python -m course_lib manifest --force` to approve the rebuilt files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
