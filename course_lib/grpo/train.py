"""The GRPO training loop for the course's small language model (notebook 08).

One step:
  1. sample ``prompts_per_step`` training prompts and G completions for each (the rollouts);
  2. score them with a rule-based reward (no reward model, no critic);
  3. group-relative advantages; log the share of groups whose rewards are all equal (they carry
     no gradient) and, with dynamic sampling, drop those groups;
  4. μ policy updates on the batch with the clipped objective, the ratio taken to the policy that
     sampled it (its log-probs are kept), and a k3 KL to the frozen reference model when β > 0.
Every ``eval_every`` steps the held-out set is scored with greedy decoding.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict
from typing import Callable, Sequence

import numpy as np
import torch

from .. import tasks
from ..core import set_seed
from ..lm.generate import generate, token_logprobs
from ..lm.model import GPT
from ..lm.train import threads
from ..rewards import accuracy_reward, format_reward, r1_reward
from .config import GRPOConfig
from .losses import group_advantages, grpo_loss, zero_variance_groups

MAX_DYNAMIC_TRIES = 4  # dynamic sampling draws at most this many batches to fill one step


def _rollout(model: GPT, tok, problems: Sequence[tasks.Problem], cfg: GRPOConfig, gen: torch.Generator,
             reward_fn: Callable) -> dict:
    """Sample G completions per problem and score them (stages 1-2)."""
    G = cfg.group_size
    prompts = [tok.encode(p.prompt, bos=True) for p in problems for _ in range(G)]  # groups consecutive
    out = generate(model, prompts, cfg.max_completion_length, eos_id=tok.eos_id,
                   temperature=cfg.temperature, generator=gen)
    texts = tok.decode_batch(out.completions.tolist(), stop_at_eos=True)
    finished = out.finished.tolist()
    kwargs = dict(prompts=[p.prompt for p in problems for _ in range(G)],
                  answer=[p.answer for p in problems for _ in range(G)], finished=finished)
    rewards = torch.tensor(reward_fn(completions=texts, **kwargs), dtype=torch.float32)
    return {"gen": out, "texts": texts, "rewards": rewards,
            "accuracy": accuracy_reward(texts, **kwargs), "format": format_reward(texts, **kwargs)}


def _select_groups(batch: dict, keep_groups: torch.Tensor, G: int) -> dict:
    """The rows of a rollout batch that belong to the kept groups."""
    rows = keep_groups.repeat_interleave(G)
    gen = batch["gen"]
    sub = copy.copy(gen)
    for name in ("tokens", "completions", "logprobs", "mask", "finished"):
        setattr(sub, name, getattr(gen, name)[rows])
    idx = rows.nonzero().squeeze(1).tolist()
    return {"gen": sub, "texts": [batch["texts"][i] for i in idx], "rewards": batch["rewards"][rows],
            "accuracy": [batch["accuracy"][i] for i in idx], "format": [batch["format"][i] for i in idx]}


def _evaluate(model, eval_set, tok) -> dict:
    ev = tasks.evaluate(model, eval_set, tok, greedy=True)
    return {"accuracy": ev["accuracy"], "format_rate": ev["format_rate"]}


def train_grpo(model: GPT, cfg: GRPOConfig = GRPOConfig(), *, tokenizer=None,
               reward_fn: Callable = r1_reward, train_problems: Sequence[tasks.Problem] | None = None,
               eval_set: Sequence | None = None, ref_model: GPT | None = None,
               num_threads: int | None = 1, progress: bool = True, log: Callable | None = None,
               max_seconds: float | None = None) -> dict:
    """Train ``model`` in place with GRPO and return the history of the run.

    Args:
        model: the policy (e.g. the shipped SFT checkpoint, ``course_lib.lm.load_shipped("sft")[0]``).
        cfg: the GRPOConfig.
        tokenizer: default ``tasks.make_tokenizer()``.
        reward_fn: a reward in TRL's convention, called as ``reward_fn(completions=..., prompts=...,
            answer=..., finished=...)``; default accuracy + format with equal weight (as R1).
        train_problems: the prompts to draw from (default: every training problem of the task).
        eval_set: held-out rows scored every ``cfg.eval_every`` steps (default: the held-out problems, ``tasks.eval_problems()``, as shipped in data/lm/eval.jsonl).
        ref_model: the frozen reference π_ref (default: a frozen copy of ``model`` as it starts).
            With cfg.beta == 0 and no ref_model, no reference is kept (the logged KL is 0); pass
            one to measure the KL to it without penalising it.
        num_threads: torch threads while training (1 is fastest for this model on a busy machine).
        progress: show a tqdm progress bar.
        log: optional function called with each step's record.
        max_seconds: optional wall-clock budget for training (evaluation excluded): the run stops
            after the step that exceeds it, evaluates, and returns (``cfg.steps`` stays the cap).

    Returns:
        A dict of lists, one entry per step: "step", "reward", "accuracy", "format_rate" (of the
        sampled training completions), "zero_variance_frac" (share of groups with all rewards
        equal), "groups_used", "loss", "clip_fraction", "kl", "entropy_proxy", "completion_len",
        "seconds" (wall-clock since the start); per evaluation: "eval_step", "eval_accuracy",
        "eval_format_rate"; and the totals "completions_sampled", "tokens_trained",
        "train_seconds" (time spent outside evaluation), "config".
    """
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a course_lib GPT, got {type(model).__name__}")
    if not isinstance(cfg, GRPOConfig):
        raise ValueError(f"cfg must be a GRPOConfig, got {type(cfg).__name__}")
    if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise ValueError(f"max_seconds must be a number > 0 or None, got {max_seconds!r}")
    if not callable(reward_fn):
        raise ValueError(f"reward_fn must be a function reward(completions, **kwargs) -> list[float], got {reward_fn!r}")
    tok = tokenizer or tasks.make_tokenizer()
    problems = list(train_problems) if train_problems is not None else list(tasks.train_problems())
    if not problems:
        raise ValueError("train_problems must not be empty")
    eval_set = list(eval_set) if eval_set is not None else list(tasks.eval_problems())
    G = cfg.group_size

    hist: dict = {k: [] for k in ("step", "reward", "accuracy", "format_rate", "zero_variance_frac",
                                  "groups_used", "loss", "clip_fraction", "kl", "entropy_proxy",
                                  "completion_len", "seconds", "eval_step", "eval_accuracy",
                                  "eval_format_rate")}
    hist.update(completions_sampled=0, tokens_trained=0, train_seconds=0.0, config=asdict(cfg))

    with threads(num_threads):
        set_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
        if ref_model is None and cfg.beta > 0:
            ref_model = copy.deepcopy(model)
        if ref_model is not None:  # π_ref is frozen: no gradients, never updated
            ref_model.eval()
            for p in ref_model.parameters():
                p.requires_grad_(False)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

        def evaluate_now(step):
            ev = _evaluate(model, eval_set, tok)
            hist["eval_step"].append(step)
            hist["eval_accuracy"].append(ev["accuracy"])
            hist["eval_format_rate"].append(ev["format_rate"])

        evaluate_now(0)
        steps = range(1, cfg.steps + 1)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            steps = bar = tqdm(steps, desc="GRPO", leave=False)
        start = time.perf_counter()
        eval_time = 0.0
        for step in steps:
            # 1-2. rollouts and rewards
            picked = [problems[i] for i in rng.integers(0, len(problems), size=cfg.prompts_per_step)]
            batch = _rollout(model, tok, picked, cfg, gen, reward_fn)
            hist["completions_sampled"] += len(batch["texts"])
            zero_var = zero_variance_groups(batch["rewards"], G)
            zero_var_frac = float(zero_var.float().mean())
            stats_batch = batch
            # 3. dynamic sampling (DAPO): keep only groups that can teach something, refill
            if cfg.dynamic_sampling:
                kept = [_select_groups(batch, ~zero_var, G)] if (~zero_var).any() else []
                n_kept = int((~zero_var).sum())
                tries = 1
                while n_kept < cfg.prompts_per_step and tries < MAX_DYNAMIC_TRIES:
                    more = [problems[i] for i in rng.integers(0, len(problems), size=cfg.prompts_per_step)]
                    extra = _rollout(model, tok, more, cfg, gen, reward_fn)
                    hist["completions_sampled"] += len(extra["texts"])
                    zv = zero_variance_groups(extra["rewards"], G)
                    if (~zv).any():
                        kept.append(_select_groups(extra, ~zv, G))
                        n_kept += int((~zv).sum())
                    tries += 1
                batch = _merge(kept, tok.pad_id) if kept else None
            adv = None if batch is None else group_advantages(batch["rewards"], G, scale=cfg.advantage_scale)

            # 4. μ updates against the policy that sampled the batch
            losses, stats = [], {"clip_fraction": 0.0, "kl": 0.0, "entropy_proxy": float("nan")}
            if batch is not None:
                out = batch["gen"]
                P = out.prompt_len
                full_mask = out.full_mask()
                key_valid = out.key_valid(tok.pad_id)
                comp_mask = out.mask.float()
                logp_old = out.logprobs  # log π_old, recorded while sampling: needed once μ > 1
                logp_ref = None
                if ref_model is not None:  # with β = 0 the KL is only measured, not penalised
                    with torch.no_grad():
                        logp_ref = token_logprobs(ref_model, out.tokens, full_mask, key_valid,
                                                  cfg.temperature)[:, P:]
                model.train()
                for _ in range(cfg.mu):
                    logp = token_logprobs(model, out.tokens, full_mask, key_valid, cfg.temperature)[:, P:]
                    loss, stats = grpo_loss(logp, logp_old, logp_ref, adv, comp_mask, cfg)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                    opt.step()
                    losses.append(float(loss.detach()))
                    hist["tokens_trained"] += int(comp_mask.sum())
                model.eval()

            # 5. log
            lengths = stats_batch["gen"].mask.sum(1).float()
            rec = {"step": step, "reward": float(stats_batch["rewards"].mean()),
                   "accuracy": float(np.mean(stats_batch["accuracy"])),
                   "format_rate": float(np.mean(stats_batch["format"])),
                   "zero_variance_frac": zero_var_frac,
                   "groups_used": 0 if batch is None else len(batch["texts"]) // G,
                   "loss": float(np.mean(losses)) if losses else float("nan"),
                   "clip_fraction": stats["clip_fraction"], "kl": stats["kl"],
                   "entropy_proxy": stats["entropy_proxy"], "completion_len": float(lengths.mean()),
                   "seconds": time.perf_counter() - start}
            for k, v in rec.items():
                hist[k].append(v)
            if bar is not None:
                bar.set_postfix(acc=f"{rec['accuracy']:.2f}", zero_var=f"{zero_var_frac:.2f}")
            if log is not None:
                log(rec)
            out_of_time = max_seconds is not None and time.perf_counter() - start - eval_time >= max_seconds
            if step % cfg.eval_every == 0 or step == cfg.steps or out_of_time:
                t_eval = time.perf_counter()
                evaluate_now(step)
                eval_time += time.perf_counter() - t_eval
            if out_of_time:
                break
        hist["train_seconds"] = time.perf_counter() - start - eval_time
    model.eval()
    return hist


def _merge(parts: list[dict], pad_id: int) -> dict:
    """Concatenate rollout batches (their prompts may be padded to different widths)."""
    if len(parts) == 1:
        return parts[0]
    P = max(p["gen"].prompt_len for p in parts)
    N = max(p["gen"].completions.shape[1] for p in parts)
    tokens, comps, logps, masks, fins = [], [], [], [], []
    for part in parts:
        g = part["gen"]
        B = g.tokens.shape[0]
        left = torch.full((B, P - g.prompt_len), pad_id, dtype=g.tokens.dtype)
        right_n = N - g.completions.shape[1]
        pad_c = torch.full((B, right_n), pad_id, dtype=g.completions.dtype)
        comp = torch.cat([g.completions, pad_c], 1)
        tokens.append(torch.cat([left, g.tokens[:, :g.prompt_len], comp], 1))
        comps.append(comp)
        logps.append(torch.cat([g.logprobs, torch.zeros(B, right_n)], 1))
        masks.append(torch.cat([g.mask, torch.zeros(B, right_n, dtype=torch.bool)], 1))
        fins.append(g.finished)
    g0 = copy.copy(parts[0]["gen"])
    g0.tokens, g0.prompt_len, g0.completions = torch.cat(tokens), P, torch.cat(comps)
    g0.logprobs, g0.mask, g0.finished = torch.cat(logps), torch.cat(masks), torch.cat(fins)
    return {"gen": g0, "texts": sum((p["texts"] for p in parts), []),
            "rewards": torch.cat([p["rewards"] for p in parts]),
            "accuracy": sum((p["accuracy"] for p in parts), []), "format": sum((p["format"] for p in parts), [])}
