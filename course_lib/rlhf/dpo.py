"""DPO on the preference pairs of notebook 06 (notebook 07).

Direct Preference Optimization (Rafailov et al. 2023, arXiv 2305.18290) fits the policy to the
annotators' comparisons directly: the Bradley–Terry loss with the implicit reward
β·log(π_θ(y|x)/π_ref(y|x)) (``losses.dpo_loss``). No reward model is trained and nothing is sampled
during training, so there is no learned reward to exploit; what DPO can still do is fit the
labels' biases (here the annotators' preference for longer answers) and overfit the pairs it has.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch

from .. import tasks
from ..core import check_finite_number, check_nonnegative_int, check_positive_int, set_seed
from ..lm.generate import sequence_logprobs
from ..lm.model import GPT
from ..runs import History, RunOptions, threads
from .losses import dpo_loss
from .train import evaluate_policy, frozen, heldout_samples


@dataclass(frozen=True)
class DPOConfig:
    """Settings of ``train_dpo`` (the course's, tuned on its task)."""

    beta: float = 0.1
    """β of the implicit reward β·log(π/π_ref): larger keeps π nearer π_ref (TRL's default 0.1)."""
    lr: float = 1e-4
    """Adam learning rate of the policy (1e-5–1e-3; DPO's paper uses 1e-6 for far larger models)."""
    batch_size: int = 64
    """Preference pairs per step (16–128; DPO, arXiv 2305.18290, §6 uses 64)."""
    steps: int = 100
    """Optimiser steps of batch_size pairs (50–500 here)."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global norm (0.5–1)."""
    eval_every: int = 25
    """Held-out greedy evaluation every N steps, and at the start and the end (≥ 1)."""
    kl_temperature: float = 0.7
    """Completions for the held-out KL are sampled at this temperature (as PPO's)."""
    seed: int = 0
    """Seeds the order of the pairs and the torch RNG (any non-negative integer)."""

    def __post_init__(self):
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen)
        for name in ("beta", "lr", "max_grad_norm", "kl_temperature"):
            put(name, check_finite_number(name, getattr(self, name), low=0.0, low_open=True))
        for name in ("batch_size", "steps", "eval_every"):
            put(name, check_positive_int(name, getattr(self, name)))
        put("seed", check_nonnegative_int("seed", self.seed))


def encode_pairs(tokenizer, pairs: Sequence) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids of ``<bos> prompt completion <eos>`` for every pair's chosen, then rejected, answer.

    Returns:
        (tokens, mask): (2B, T) right-padded ids and the mask of the completion tokens (the <eos>
        included), the positions whose log-probabilities make log π(y|x). Rows 0..B−1 are the
        chosen answers, rows B..2B−1 the rejected ones.
    """
    if not pairs:
        raise ValueError("pairs must be a non-empty list of PreferencePair")
    rows, starts = [], []
    for side in ("chosen", "rejected"):
        for p in pairs:
            prompt = tokenizer.encode(p.prompt, bos=True)
            rows.append(prompt + tokenizer.encode(getattr(p, side), eos=True))
            starts.append(len(prompt))
    T = max(len(r) for r in rows)
    tokens = torch.full((len(rows), T), tokenizer.pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.bool)
    for i, (r, s) in enumerate(zip(rows, starts)):
        tokens[i, :len(r)] = torch.tensor(r)
        mask[i, s:len(r)] = True
    return tokens, mask


def _ranked_first(d: torch.Tensor) -> float:
    """Share of pairs whose implicit-reward difference d ranks the chosen answer first (ties count half)."""
    return float(((d > 0).float() + 0.5 * (d == 0).float()).mean())


def _pair_logprobs(model: GPT, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log π(y_w|x), log π(y_l|x)), each (B,), from the stacked rows of ``encode_pairs``."""
    key_valid = tokens != model.config.pad_id  # right padding only
    lp = sequence_logprobs(model, tokens, mask, key_valid)
    B = tokens.shape[0] // 2
    return lp[:B], lp[B:]


def train_dpo(policy: GPT, train_pairs: Sequence, cfg: DPOConfig = DPOConfig(), *, tokenizer=None,
              ref_model: GPT | None = None, val_pairs: Sequence | None = None, eval_set: Sequence | None = None,
              run: RunOptions | None = None) -> History:
    """Train ``policy`` in place with DPO on ``train_pairs`` and return the history.

    Args:
        policy: the policy, usually the shipped SFT model.
        train_pairs: ``course_lib.rlhf.preferences.PreferencePair`` objects (``preferences.load_pairs("train")``).
        cfg: the DPOConfig.
        tokenizer: default ``tasks.make_tokenizer()``.
        ref_model: the frozen π_ref (default: a frozen copy of ``policy`` as it starts).
        val_pairs: pairs whose implicit-reward accuracy is measured at each evaluation (overfitting shows there).
        eval_set: held-out rows for the gold accuracy (default ``tasks.eval_problems()``).
        run: the run contract's options (``course_lib.runs.RunOptions``: threads, progress,
            max_seconds — training time, evaluation excluded: the run stops after the step that
            exceeds it and evaluates —, eval_every, log).

    Returns:
        {"step", "loss", "pair_accuracy" (share of the batch's pairs whose implicit reward ranks the
        chosen answer first), "margin" (mean β·[log-ratio chosen − log-ratio rejected]),
        "chosen_logratio", "rejected_logratio" (mean log π/π_ref of each side), "seconds"; per
        evaluation: "eval_step", "eval_accuracy" (gold, greedy), "eval_format_rate",
        "eval_answer_len", "eval_longer_than_truth", "eval_kl" and "eval_sampled_accuracy" (of
        completions sampled on the held-out prompts, as PPO's), "val_pair_accuracy"; "train_seconds", "config"}.
    """
    if not isinstance(policy, GPT):
        raise ValueError(f"policy must be a course_lib GPT, got {type(policy).__name__}")
    if not isinstance(cfg, DPOConfig):
        raise ValueError(f"cfg must be a DPOConfig, got {type(cfg).__name__}")
    run = RunOptions.check(run)
    cfg = run.configure(cfg)
    train_pairs = list(train_pairs)
    if not train_pairs:
        raise ValueError("train_pairs must be a non-empty list of PreferencePair")
    tok = tokenizer or tasks.make_tokenizer()
    if ref_model is None:
        ref_model = copy.deepcopy(policy)
    elif not isinstance(ref_model, GPT) or ref_model.config.vocab_size != policy.config.vocab_size:
        raise ValueError("ref_model must be a course_lib GPT with the policy's vocabulary")
    dev = policy.device
    ref_model = frozen(ref_model, dev)
    eval_set = list(eval_set) if eval_set is not None else list(tasks.eval_problems())

    hist = History(updates=("step", "loss", "pair_accuracy", "margin", "chosen_logratio", "rejected_logratio",
                            "seconds"),
                   evals=("eval_step", "eval_accuracy", "eval_format_rate", "eval_answer_len", "eval_longer_than_truth",
                          "eval_kl", "eval_sampled_accuracy", "val_pair_accuracy"),
                   train_seconds=0.0, config=asdict(cfg))
    with threads(run.threads):
        set_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        tokens, mask = encode_pairs(tok, train_pairs)
        tokens, mask = tokens.to(dev), mask.to(dev)
        n = len(train_pairs)
        with torch.no_grad():  # the reference never changes: its log-probs once
            ref_w, ref_l = _pair_logprobs(ref_model, tokens, mask)
        val = None
        if val_pairs:
            vt, vm = encode_pairs(tok, list(val_pairs))
            vt, vm = vt.to(dev), vm.to(dev)
            with torch.no_grad():
                val = (vt, vm, *_pair_logprobs(ref_model, vt, vm))
        opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)

        def evaluate_now(step: int):
            policy.eval()
            ev = evaluate_policy(policy, eval_set, tok)
            sampled = heldout_samples(policy, ref_model, tok, eval_set, temperature=cfg.kl_temperature, seed=cfg.seed)
            rec = {"eval_step": step, **{f"eval_{k}": ev[k] for k in ("accuracy", "format_rate", "answer_len",
                                                                     "longer_than_truth")},
                   "eval_kl": sampled["kl"], "eval_sampled_accuracy": sampled["accuracy"]}
            if val is not None:
                with torch.no_grad():
                    w, l = _pair_logprobs(policy, val[0], val[1])
                rec["val_pair_accuracy"] = _ranked_first((w - val[2]) - (l - val[3]))
            hist.record("evals", rec)

        evaluate_now(0)
        order: list[int] = []
        train_time = 0.0
        steps = range(1, cfg.steps + 1)
        bar = None
        if run.progress:
            from tqdm.auto import tqdm

            steps = bar = tqdm(steps, desc="DPO", leave=False)
        for step in steps:
            t0 = time.perf_counter()
            # 1. a batch of pairs (a fresh shuffled pass when the last one is used up)
            batch = []
            while len(batch) < min(cfg.batch_size, n):
                if not order:
                    order = rng.permutation(n).tolist()
                batch.append(order.pop())
            rows = torch.tensor(batch + [i + n for i in batch], device=dev)
            width = int(mask[rows].any(0).nonzero().max()) + 1  # drop columns that are padding in every row
            # 2. log-probabilities of both answers under the policy; the DPO loss
            policy.train()
            logp_w, logp_l = _pair_logprobs(policy, tokens[rows, :width], mask[rows, :width])
            idx = torch.tensor(batch, device=dev)
            loss = dpo_loss(logp_w, logp_l, ref_w[idx], ref_l[idx], cfg.beta)
            # 3. update
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
            opt.step()
            train_time += time.perf_counter() - t0
            # 4. log
            with torch.no_grad():
                lr_w, lr_l = logp_w - ref_w[idx], logp_l - ref_l[idx]
                rec = {"step": step, "loss": float(loss), "pair_accuracy": _ranked_first(lr_w - lr_l),
                       "margin": float(cfg.beta * (lr_w - lr_l).mean()), "chosen_logratio": float(lr_w.mean()),
                       "rejected_logratio": float(lr_l.mean()), "seconds": train_time}
            hist.record("updates", rec)
            if bar is not None:
                bar.set_postfix(loss=f"{rec['loss']:.3f}")
            if run.log is not None:
                run.log(rec)
            out_of_time = run.out_of_time(train_time)
            if step % cfg.eval_every == 0 or step == cfg.steps or out_of_time:
                evaluate_now(step)
            if out_of_time:
                break
        hist["train_seconds"] = train_time
    policy.eval()
    return hist


__all__ = ["DPOConfig", "train_dpo", "encode_pairs"]
