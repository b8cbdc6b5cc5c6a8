"""The cached runs of notebook 09 (pitfalls and fixes), in data/pitfalls/.

    python -m course_lib sweep pitfalls                 # everything (about 20 minutes on a busy 2-core machine)
    python -m course_lib sweep pitfalls --only runs     # or one part: runs, samples, eureka, seeds

* runs.json: GRPO runs from the shipped SFT checkpoint. "grpo_long": notebook 08's defaults for
  ``LONG_STEPS`` steps (the RL model of the diversity and verification sections); the others
  ``STEPS`` steps of ``PROMPTS_PER_STEP`` prompts each, GRPOConfig's defaults otherwise: the
  baseline "grpo" (which is PPO-ptx with γ = 0), PPO-ptx with γ in ``PTX_COEFS``,
  Dr. GRPO, clip-higher (ε_high 0.2 against 0.28, both with μ = 4 so that clipping acts) and
  dynamic sampling. Per step the trainer's history; every ``EVAL_EVERY`` steps the diversity
  of the policy (token entropy and distinct answers among G samples, ``pitfalls.diversity``);
  at the end the correct counts of ``PASS_N`` samples on ``PASS_PROBLEMS`` held-out problems.
* samples.json: ``PASS_N`` sampled answers per held-out problem for the SFT model and the
  "grpo_long" model, with the reward model's score of each (notebook 06's RM, when shipped):
  what pass@k, maj@k and best-of-n are computed from.
* eureka.json: the Eureka-style search over reward functions (``course_lib.pitfalls.eureka``).
* runs.json["seeds"]: the runs whose comparison the notebook reads as a trend (``SEED_RUNS``) again
  with the training seeds ``EXTRA_SEEDS``, without the diversity curve: per run and seed the held-out
  accuracy curve, the last pretraining-text loss, the mean clip fraction, the completions sampled and
  the pass@k counts (with entropy and distinct answers). Seed 0 is the run above. ``--only seeds``
  adds them to the existing runs.json, writing after every run, so a cut-off build keeps what it did.

Runs are sequential, one thread each (never several trainings at once on a shared machine).
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import time
from dataclasses import replace

import numpy as np

from ..data import data_dir
from ..grpo.config import GRPOConfig
from ..pitfalls import FILES, FORMAT_VERSION
from ..runs_cache import rounded as _r

STEPS = 60  # short runs: the machine the course is built on is shared
PROMPTS_PER_STEP = 32  # 256 completions per step with G = 8 (GRPOConfig's default is 64 prompts)
LONG_STEPS = 100  # the RL model of sections 1 and 4: notebook 08's defaults (64 prompts per step), 100 steps
EVAL_EVERY = 10
SEED = 0
PTX_COEFS = (0.0, 0.1, 1.0, 10.0)  # γ of PPO-ptx; 0 is the baseline run
MU_CLIP = 4  # μ of the clip-higher runs: with μ > 1 the ratio leaves 1 and clipping acts
PASS_PROBLEMS = 100  # held-out problems for pass@k (a fixed subset of tasks.eval_problems())
PASS_N = 64  # samples per problem: pass@k for k up to 64
PASS_TEMPERATURE = 1.0  # pass@k, maj@k and diversity are measured on the model's own distribution
DIVERSITY_PROMPTS = 100  # held-out prompts for the diversity curve (G = 8 samples each)
EXTRA_SEEDS = (1, 2)  # with seed 0, three seeds for every comparison read as a trend
SEED_RUNS = ("grpo_long", "grpo", "ptx_0.1", "ptx_1", "ptx_10", "dynamic", "clip_0.2_mu4", "clip_0.28_mu4")


def run_configs() -> dict[str, GRPOConfig]:
    """The configurations of runs.json, by name."""
    base = GRPOConfig(steps=STEPS, prompts_per_step=PROMPTS_PER_STEP, eval_every=EVAL_EVERY, seed=SEED)
    runs = {"grpo_long": GRPOConfig(steps=LONG_STEPS, eval_every=EVAL_EVERY, seed=SEED), "grpo": base}
    for g in PTX_COEFS[1:]:
        runs[f"ptx_{g:g}"] = replace(base, ptx_coef=g)
    runs["dr_grpo"] = replace(base, loss_aggregation="dr_grpo")
    runs["clip_0.2_mu4"] = replace(base, n_epochs=MU_CLIP)
    runs["clip_0.28_mu4"] = replace(base, n_epochs=MU_CLIP, eps_high=0.28)
    runs["dynamic"] = replace(base, dynamic_sampling=True)
    return runs


def pass_problems():
    """The fixed held-out subset used for pass@k (every PASS_PROBLEMS-th problem's spread)."""
    from .. import tasks

    ev = list(tasks.eval_problems())
    idx = np.random.default_rng(0).choice(len(ev), size=PASS_PROBLEMS, replace=False)
    return [ev[i] for i in sorted(idx)]


def train_one(cfg: GRPOConfig, reward_fn=None, diversity_every: int | None = EVAL_EVERY):
    """Train from the shipped SFT model; return (model, record of the curves)."""
    from .. import tasks
    from ..grpo.train import train_grpo
    from ..lm import load_shipped
    from ..pitfalls import diversity
    from ..rewards import r1_reward

    model, tok, _ = load_shipped("sft")
    ref = copy.deepcopy(model)
    div_set = list(tasks.eval_problems())[:DIVERSITY_PROMPTS]
    div = {"step": [], "entropy": [], "distinct": [], "accuracy": []}

    def measure(step):
        d = diversity(model, tok, div_set, cfg.group_size, PASS_TEMPERATURE, seed=step)
        div["step"].append(step)
        for k in ("entropy", "distinct", "accuracy"):
            div[k].append(d[k])

    reward = reward_fn or r1_reward
    sampled = {"n": 0, "per_step": []}

    def counted_reward(completions, **kwargs):  # counts every completion sampled (dynamic sampling draws more)
        sampled["n"] += len(completions)
        return reward(completions, **kwargs)

    counted_reward.__name__ = getattr(reward, "__name__", "reward")

    def log(rec):  # called after each step's update; samples with its own generator (no RNG drawn)
        sampled["per_step"].append(sampled["n"])
        if diversity_every and rec["step"] % diversity_every == 0:
            measure(rec["step"])

    if diversity_every:
        measure(0)
    from ..runs import RunOptions

    h = train_grpo(model, cfg, tokenizer=tok, reward_fn=counted_reward, ref_model=ref,
                   run=RunOptions(threads=1, log=log))
    keys = ("reward", "accuracy", "format_rate", "zero_variance_frac", "groups_used", "loss", "clip_fraction",
            "kl", "entropy_proxy", "completion_len", "ptx_loss")
    rec = {"config": {k: v for k, v in h["config"].items()}, "step": h["step"],
           **{k: _r(h[k]) for k in keys},
           "eval_step": h["eval_step"], "eval_accuracy": _r(h["eval_accuracy"]),
           "eval_format_rate": _r(h["eval_format_rate"]), "eval_ptx_loss": _r(h["eval_ptx_loss"]),
           "completions_sampled": h["completions_sampled"], "completions_cum": sampled["per_step"], "train_seconds": round(h.train_seconds, 1)}
    if diversity_every:
        rec["diversity"] = {"step": div["step"], **{k: _r(div[k]) for k in ("entropy", "distinct", "accuracy")}}
    return model, tok, rec


def _pass_counts(model, tok, problems, seed: int = 1) -> dict:
    from ..pitfalls.verify import sample_answers

    s = sample_answers(model, tok, problems, PASS_N, temperature=PASS_TEMPERATURE, seed=seed)
    return {"correct_counts": [int(c) for c in s["correct"].sum(1)], "entropy": round(float(s["entropy"]), 4),
            "distinct": round(float(np.mean(s["distinct"])), 3)}, s


def _write(name: str, data: dict) -> None:
    path = data_dir() / FILES[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format_version": FORMAT_VERSION, **data}, separators=(",", ":")) + "\n")
    print(f"wrote {path}", file=sys.stderr)


def _read_own(name: str) -> dict:
    """A file this sweep wrote, read back as it is on disk (a build in progress is not in the manifest yet)."""
    return json.loads((data_dir() / FILES[name]).read_text())


def _rm_scorer():
    """Notebook 06's reward model as ``scorer(prompts, completions)``, or None when it is not shipped."""
    path = data_dir() / "rm" / "reward_model.pt"
    if not path.exists():
        return None, None
    from ..rlhf.reward_model import load_reward_model, score

    rm, _ = load_reward_model(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return (lambda prompts, completions: score(rm, prompts, completions).tolist()), sha


def build_runs(names=None, with_samples: bool = False, log=print) -> dict:
    """Train every run of ``run_configs()`` (or those named) and write runs.json; returns it.

    With ``with_samples`` the baseline's model also gives samples.json (``build_samples``).
    """
    from ..lm import load_shipped

    problems = pass_problems()
    out = {"steps": STEPS, "pass_n": PASS_N, "pass_problems": PASS_PROBLEMS, "temperature": PASS_TEMPERATURE,
           "diversity_prompts": DIVERSITY_PROMPTS, "runs": {}}
    sft, tok, _ = load_shipped("sft")
    out["sft"], _ = _pass_counts(sft, tok, problems)
    for name, cfg in run_configs().items():
        if names and name not in names:
            continue
        t = time.perf_counter()
        model, tok, rec = train_one(cfg)
        rec["pass"], _ = _pass_counts(model, tok, problems)
        out["runs"][name] = rec
        if name == "grpo_long" and with_samples:
            build_samples(model, rec["eval_accuracy"][-1], log)
        log(f"{name}: held-out accuracy {rec['eval_accuracy'][0]} -> {rec['eval_accuracy'][-1]}, "
            f"pretraining-text loss {rec['eval_ptx_loss'][0]} -> {rec['eval_ptx_loss'][-1]}, "
            f"{time.perf_counter() - t:.0f} s")
    _write("runs", out)
    return out


def _summary(rec: dict, pass_counts: dict) -> dict:
    """What the notebook compares across seeds, from one run's record."""
    return {"eval_step": rec["eval_step"], "eval_accuracy": rec["eval_accuracy"],
            "eval_ptx_loss_end": rec["eval_ptx_loss"][-1], "clip_fraction_mean": round(float(np.mean(rec["clip_fraction"])), 4),
            "completions_sampled": rec["completions_sampled"], "completions_cum": rec["completions_cum"],
            "pass": pass_counts, "train_seconds": rec["train_seconds"]}


def build_seeds(seeds=EXTRA_SEEDS, names=SEED_RUNS, log=print) -> dict:
    """Train ``names`` again with each of ``seeds``; add them to runs.json under "seeds" after every run.

    Returns runs.json's "seeds": {run name: {str(seed): summary}}, seed 0 taken from the run itself.
    """
    unknown = [n for n in names if n not in run_configs()]
    if unknown:
        raise ValueError(f"names must be runs of run_configs(), got unknown {unknown}")
    data = {k: v for k, v in _read_own("runs").items() if k != "format_version"}
    out = data.setdefault("seeds", {})
    for name in names:
        if name in data["runs"]:
            out.setdefault(name, {})["0"] = _summary(data["runs"][name], data["runs"][name]["pass"])
    problems = pass_problems()
    for seed in seeds:  # one seed of every run before the next seed: a cut-off build keeps whole seeds first
        for name in names:
            if str(seed) in out.get(name, {}):
                continue
            t = time.perf_counter()
            model, tok, rec = train_one(replace(run_configs()[name], seed=seed), diversity_every=None)
            counts, _ = _pass_counts(model, tok, problems)
            out.setdefault(name, {})[str(seed)] = _summary(rec, counts)
            _write("runs", data)
            log(f"{name} seed {seed}: held-out accuracy {rec['eval_accuracy'][0]} -> {rec['eval_accuracy'][-1]}, "
                f"{time.perf_counter() - t:.0f} s")
    return out


def build_samples(rl=None, rl_accuracy=None, log=print) -> dict:
    """PASS_N answers per problem from the SFT model and the RL model (the "grpo_long" run; trained
    here unless given), each scored by the reward model; writes samples.json and returns it."""
    from ..lm import load_shipped
    from ..pitfalls.verify import sample_answers

    problems = pass_problems()
    scorer, rm_sha = _rm_scorer()
    sft, tok, _ = load_shipped("sft")
    if rl is None:
        rl, _, rec = train_one(run_configs()["grpo_long"], diversity_every=None)
        rl_accuracy = rec["eval_accuracy"][-1]
    out = {"n": PASS_N, "temperature": PASS_TEMPERATURE, "prompts": [p.prompt for p in problems],
           "truths": [p.answer for p in problems], "rm_sha256": rm_sha, "rl_eval_accuracy": rl_accuracy,
           "models": {}}
    for name, model in (("sft", sft), ("rl", rl)):
        s = sample_answers(model, tok, problems, PASS_N, temperature=PASS_TEMPERATURE, seed=2, scorer=scorer)
        entry = {"answers": s["answers"], "entropy": round(float(s["entropy"]), 4)}
        if scorer is not None:
            entry["rm_scores"] = [_r(row, 5) for row in s["scores"]]
        out["models"][name] = entry
        log(f"samples of {name}: {s['correct'].mean():.3f} of samples correct")
    _write("samples", out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_lib sweep pitfalls", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=("runs", "samples", "eureka", "seeds"), action="append",
                   help="rebuild only this part (may be repeated)")
    p.add_argument("--runs", nargs="*", help="with --only runs: only these run names (for a quick look; "
                   "the file then holds only them)")
    args = p.parse_args(argv)
    parts = args.only or ["runs", "samples", "eureka", "seeds"]
    t = time.perf_counter()
    if "runs" in parts:
        build_runs(args.runs, with_samples="samples" in parts)
    elif "samples" in parts:
        build_samples()
    if "seeds" in parts:
        build_seeds(names=args.runs or SEED_RUNS)
    if "eureka" in parts:
        from ..pitfalls.eureka import build as build_eureka

        _write("eureka", build_eureka())
    print(f"done in {time.perf_counter() - t:.0f} s; now run: python -m course_lib manifest", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
