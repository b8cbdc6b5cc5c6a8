"""A Bradley–Terry reward model for the arithmetic task (notebook 06; notebook 07 trains against it).

The Bradley–Terry model says a preferred answer y_w beats a rejected one y_l with probability
σ(r(x, y_w) − r(x, y_l)), where r is a scalar score. Fitting r to the annotators' comparisons by
maximum likelihood is minimising

    L_RM = −E[ log σ(r(x, y_w) − r(x, y_l)) ]                      (InstructGPT, arXiv 2203.02155, Eq. 1)

``bradley_terry_loss`` is that line. The reward model r is the course's GPT (notebook 05), started
from the shipped SFT checkpoint, with a scalar head read at the last real token of
``<bos> prompt completion <eos>`` (``course_lib.lm.heads``), plus the completion's log-likelihood
under the trunk's own language-model head (``RewardModel`` says why). Only differences of scores
matter to the loss, so after training the scores are shifted to average 0 on the training answers.

``python -m course_lib train-rm`` rebuilds the preference data (``course_lib.preferences``) and
the reward model (``data/rm/reward_model.pt``) byte for byte; ``load_shipped_reward_model()``
loads it.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import tasks
from .core import set_seed
from .runs import History, RunOptions, threads
from .lm.generate import logprobs_from_logits
from .lm.heads import ScalarHeadModel, last_token_values, load_scalar_head, save_scalar_head
from .lm.model import GPT
from .lm.tokenizer import CharTokenizer
from .lm.train import check_schedule, lr_at
from .preferences import PreferencePair, pair_kind

KIND = "reward_model"
REBUILD = "python -m course_lib train-rm"
FILE = "rm/reward_model.pt"


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """L = −mean log σ(r_chosen − r_rejected): the negative log-likelihood of the labels under Bradley–Terry.

    ``logsigmoid`` computes log σ(m) = −log(1 + e^(−m)) without forming σ(m) first, so a large
    negative margin gives a large finite loss instead of log(0) = −inf.

    Args:
        r_chosen: (B,) scores of the preferred answers.
        r_rejected: (B,) scores of the rejected answers, row for row.

    Returns:
        A scalar tensor (with gradients).
    """
    for name, r in (("r_chosen", r_chosen), ("r_rejected", r_rejected)):
        if not isinstance(r, torch.Tensor) or r.dim() != 1 or r.numel() == 0:
            raise ValueError(f"{name} must be a non-empty 1-D tensor (B,), got {getattr(r, 'shape', r)!r}")
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"r_chosen and r_rejected must have the same shape, got {tuple(r_chosen.shape)} "
                         f"and {tuple(r_rejected.shape)}")
    return -F.logsigmoid(r_chosen - r_rejected).mean()


class RewardModel(ScalarHeadModel):
    """r(x, y) = log π_φ(y | x) + v_φ(x, y): a GPT trunk, its language-model head and a scalar head.

    v_φ is the scalar head read at the last real token of ``<bos> x y <eos>``; log π_φ(y | x) is the
    log-likelihood of the completion (its <eos> included) under the trunk's own language-model
    head, which starts as the SFT model's. Both are trained together by the Bradley–Terry loss.

    Why the log-likelihood term (``loglik=True``, the default): checking an answer means comparing
    each written digit with the digit the model computes for that place, a product of two
    positions' features. The language-model head computes exactly that (the logit of the written
    token); a linear head at the last token cannot, and for this small model fine-tuning does not
    learn it within minutes (measured in notebook 06 and docs/reward-model.md: the scalar head
    alone stays near 58% agreement with the truth; with the log-likelihood term the model starts
    at 88%). Large reward models get the same ability from a large pretrained backbone.
    ``loglik=False`` gives the plain scalar-head reward model for comparison.

    Args:
        trunk: the GPT to start from (copied), usually the shipped SFT model.
        tokenizer: the task's tokenizer (default ``tasks.make_tokenizer()``).
        loglik: add log π_φ(y | x) to the scalar head's value.
    """

    def __init__(self, trunk: GPT, tokenizer: CharTokenizer | None = None, loglik: bool = True):
        super().__init__(trunk)
        self.tokenizer = tokenizer or tasks.make_tokenizer()
        if self.tokenizer.vocab_size != self.config.vocab_size:
            raise ValueError(f"the tokenizer has {self.tokenizer.vocab_size} tokens, the trunk {self.config.vocab_size}")
        if not isinstance(loglik, bool):
            raise ValueError(f"loglik must be True or False, got {loglik!r}")
        self.loglik = loglik

    @classmethod
    def from_sft(cls, loglik: bool = True) -> "RewardModel":
        """A reward model whose trunk is a copy of the shipped SFT model and whose scalar head is zero."""
        from .lm import load_shipped

        gpt, tok, _ = load_shipped("sft")
        return cls(gpt, tok, loglik)

    def encode(self, prompts: Sequence[str], completions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Token ids of ``<bos> prompt completion <eos>``, right-padded.

        Returns:
            (idx, lengths, starts): (B, T) ids, (B,) the number of real tokens per row, (B,) the
            column of each row's first completion token.
        """
        prompts, completions = _check_batch(prompts, completions)
        heads = [self.tokenizer.encode(p, bos=True) for p in prompts]
        rows = [h + self.tokenizer.encode(c, eos=True) for h, c in zip(heads, completions)]
        T = max(len(r) for r in rows)
        if T > self.config.block_size:
            raise ValueError(f"a prompt plus completion of {T} tokens exceeds block_size {self.config.block_size}")
        idx = torch.full((len(rows), T), self.tokenizer.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            idx[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        return (idx, torch.tensor([len(r) for r in rows], dtype=torch.long),
                torch.tensor([len(h) for h in heads], dtype=torch.long))

    def rewards(self, idx: torch.Tensor, lengths: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """(B,) r(x, y) for encoded rows (see ``encode``); with gradients."""
        dev = self.device
        idx, lengths, starts = idx.to(dev), lengths.to(dev), starts.to(dev)
        h = self.trunk.hidden(idx)  # (B, T, n_embd); right padding: plain causal attention
        r = last_token_values(self.head(h).squeeze(-1), lengths)  # (B,) v at the <eos>
        if self.loglik:
            cols = torch.arange(idx.shape[1], device=dev)[None, :]
            mask = (cols >= starts[:, None]) & (cols < lengths[:, None])  # (B, T) the completion and <eos>
            r = r + logprobs_from_logits(self.trunk.lm_head(h), idx, mask)  # + log π(y | x)
        return r


def _check_batch(prompts, completions) -> tuple[list[str], list[str]]:
    from .rewards import check_completions  # strings, or TRL's conversational messages

    prompts, completions = check_completions(prompts), check_completions(completions)
    if not prompts:
        raise ValueError("the batch is empty: pass at least one prompt and one completion")
    if len(prompts) != len(completions):
        raise ValueError(f"prompts has {len(prompts)} entries but completions has {len(completions)}; "
                         "pass one prompt per completion")
    return prompts, completions


@torch.no_grad()
def score(model: RewardModel, prompts: Sequence[str], completions: Sequence[str],
          batch_size: int = 1024) -> torch.Tensor:
    """r(x, y) for a batch of prompts and their completions (no gradients).

    Args:
        model: a RewardModel.
        prompts: B prompt texts such as "34+58=" (no <bos>).
        completions: B completion texts (before <eos>).

    Returns:
        (B,) float tensor on the CPU.

    Raises:
        ValueError: an empty batch, or prompts and completions of different counts.
    """
    if not isinstance(model, RewardModel):
        raise ValueError(f"model must be a RewardModel, got {type(model).__name__}")
    prompts, completions = _check_batch(prompts, completions)
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, len(prompts), batch_size):
        out.append(model.rewards(*model.encode(prompts[s:s + batch_size], completions[s:s + batch_size])).float().cpu())
    model.train(was_training)
    return torch.cat(out)


def score_pairs(model: RewardModel, pairs: Sequence[PreferencePair]) -> tuple[torch.Tensor, torch.Tensor]:
    """(r_chosen, r_rejected): (B,) scores of each pair's two answers."""
    if not pairs:
        raise ValueError("pairs must be a non-empty list of PreferencePair")
    prompts = [p.prompt for p in pairs]
    r = score(model, prompts + prompts, [p.chosen for p in pairs] + [p.rejected for p in pairs])
    return r[:len(pairs)], r[len(pairs):]


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardModelConfig:
    """Settings of ``train_reward_model`` (the defaults built the shipped reward model)."""

    steps: int = 400
    """Optimiser steps (100–1000; the shipped reward model used 400)."""
    batch_size: int = 64
    """Preference pairs per step, i.e. twice as many sequences (32–128)."""
    lr: float = 3e-4
    """Peak learning rate of AdamW; the whole trunk is fine-tuned, gently (1e-5–1e-3)."""
    warmup: int = 25
    """Steps of linear warm-up from 0 to lr (0–10% of steps)."""
    min_lr_frac: float = 0.1
    """The cosine decay ends at lr · min_lr_frac, in [0, 1]."""
    weight_decay: float = 0.0
    """AdamW's decoupled weight decay (0–0.1; 0: none, the trunk starts from the SFT model)."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this (0.5–1)."""
    eval_every: int = 50
    """Steps between measurements on the validation pairs (≥ 1)."""
    seed: int = 0
    """Seeds the order of the pairs and the torch RNG (any non-negative integer)."""

    def __post_init__(self):
        check_schedule(self, ("steps", "batch_size", "eval_every"))  # the schedule of lm.train's TrainConfig


def pair_accuracy(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> float:
    """Share of pairs where the chosen answer scores higher (ties count half)."""
    d = r_chosen - r_rejected
    return float(((d > 0).float() + 0.5 * (d == 0).float()).mean())


def _encode_pairs(model: RewardModel, pairs: Sequence[PreferencePair]):
    prompts = [p.prompt for p in pairs]
    return model.encode(prompts + prompts, [p.chosen for p in pairs] + [p.rejected for p in pairs])


def _measure(model: RewardModel, pairs: Sequence[PreferencePair]) -> tuple[float, float]:
    rc, rr = score_pairs(model, pairs)
    return float(bradley_terry_loss(rc, rr)), pair_accuracy(rc, rr)


def train_reward_model(model: RewardModel, train_pairs: Sequence[PreferencePair],
                       val_pairs: Sequence[PreferencePair] | None = None,
                       cfg: RewardModelConfig = RewardModelConfig(), *, run: RunOptions | None = None) -> History:
    """Fit ``model`` to the comparisons with the Bradley–Terry loss (AdamW, warm-up then cosine decay).

    Args:
        model: a RewardModel (trained in place).
        train_pairs: the comparisons to learn from.
        val_pairs: measured every ``cfg.eval_every`` steps (and at the start and end).
        run: the run contract's options (``course_lib.runs.RunOptions``: threads — 1 is fastest
            for this model and exactly reproducible —, progress, max_seconds — stop after the step
            that exceeds this many seconds since training began —, eval_every, log).

    Returns:
        History: {"step", "loss", "accuracy": per step (the batch's loss and pair accuracy),
        "eval_step", "train_loss", "train_accuracy" (on up to 1000 training pairs),
        "val_loss", "val_accuracy": at each measurement, "seconds": training time}.
    """
    run = RunOptions.check(run)
    if not isinstance(cfg, RewardModelConfig):
        raise ValueError(f"cfg must be a RewardModelConfig, got {type(cfg).__name__}")
    cfg = run.configure(cfg)
    if not train_pairs:
        raise ValueError("train_pairs must be a non-empty list of PreferencePair")
    if not isinstance(model, RewardModel):
        raise ValueError(f"model must be a RewardModel, got {type(model).__name__}")
    train_probe = list(train_pairs[:1000])
    hist = History(updates=("step", "loss", "accuracy"),
                   evals=("eval_step", "train_loss", "train_accuracy", "val_loss", "val_accuracy"))

    def measure(step: int):
        rec = {"eval_step": step}
        rec["train_loss"], rec["train_accuracy"] = _measure(model, train_probe)
        if val_pairs:
            rec["val_loss"], rec["val_accuracy"] = _measure(model, val_pairs)
        hist.record("evals", rec)

    with threads(run.threads):
        set_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        idx_all, len_all, start_all = _encode_pairs(model, train_pairs)  # rows 0..n-1 chosen, n..2n-1 rejected
        n = len(train_pairs)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
        measure(0)
        order: list[int] = []
        steps = range(cfg.steps)
        if run.progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="reward model", leave=False)
        start = time.perf_counter()
        model.train()
        for step in steps:
            # 1. a batch of pairs (a fresh shuffled pass when the last one is used up)
            batch = []
            while len(batch) < cfg.batch_size:
                if not order:
                    order = rng.permutation(n).tolist()
                batch.append(order.pop())
            rows = torch.tensor(batch + [i + n for i in batch])
            idx, lengths, starts = idx_all[rows], len_all[rows], start_all[rows]
            idx = idx[:, :int(lengths.max())]
            # 2. scores of the chosen and rejected answers, Bradley–Terry loss
            r = model.rewards(idx, lengths, starts)
            r_chosen, r_rejected = r[:len(batch)], r[len(batch):]
            loss = bradley_terry_loss(r_chosen, r_rejected)
            # 3. update
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            rec = {"step": step + 1, "loss": float(loss.detach()),
                   "accuracy": pair_accuracy(r_chosen.detach(), r_rejected.detach())}
            hist.record("updates", rec)
            if run.log is not None:
                run.log(rec)
            # 4. measure now and then
            out_of_time = run.out_of_time(time.perf_counter() - start)
            if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps or out_of_time:
                model.eval()
                measure(step + 1)
                model.train()
            if out_of_time:
                break
        hist["seconds"] = time.perf_counter() - start
        model.eval()
    return hist


@torch.no_grad()
def center_scores(model: RewardModel, pairs: Sequence[PreferencePair]) -> float:
    """Shift the head's bias so the answers in ``pairs`` score 0 on average; returns the shift.

    The Bradley–Terry loss sees only differences of scores, so their level is arbitrary; a
    reward near 0 on typical answers keeps RL's rewards (notebook 07) on a sensible scale.
    """
    rc, rr = score_pairs(model, pairs)
    shift = float(torch.cat([rc, rr]).mean())
    model.head.bias -= shift
    return shift


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def label_agreement(model: RewardModel, pairs: Sequence[PreferencePair]) -> dict:
    """How often the model ranks the annotator's chosen answer first, and the best any model could expect.

    Returns:
        {"agreement": share of pairs with r(chosen) > r(rejected), "ceiling": mean σ(|u₁ − u₂|), the
        expected agreement of the annotators' own utility with their noisy labels, "n"}.
    """
    rc, rr = score_pairs(model, pairs)
    ceiling = float(np.mean([1 / (1 + math.exp(-abs(p.utility_chosen - p.utility_rejected))) for p in pairs]))
    return {"agreement": pair_accuracy(rc, rr), "ceiling": ceiling, "n": len(pairs)}


def truth_agreement(model: RewardModel, pairs: Sequence[PreferencePair]) -> dict:
    """On pairs where exactly one answer is right: how often the model scores the right one higher.

    Returns:
        {"agreement": the model's share, "annotators": how often the labels picked the right one, "n"}.
    """
    one_right = [p for p in pairs if pair_kind(p) == "one right"]
    if not one_right:
        raise ValueError("no pair in pairs has exactly one right answer")
    rc, rr = score_pairs(model, one_right)
    right_first = torch.tensor([p.chosen_right for p in one_right])
    r_right = torch.where(right_first, rc, rr)
    r_wrong = torch.where(right_first, rr, rc)
    return {"agreement": pair_accuracy(r_right, r_wrong), "annotators": float(right_first.float().mean()),
            "n": len(one_right)}


def calibration(model: RewardModel, pairs: Sequence[PreferencePair], bins: int = 10) -> dict:
    """Predicted P(y₁ ≻ y₂) = σ(r₁ − r₂) in bins against the observed share of y₁ being chosen.

    Every pair counts in both orders ((chosen, rejected) observed 1, (rejected, chosen) observed 0),
    so the answer order carries no information and the diagram is symmetric about 0.5.

    Returns:
        {"bin_edges": (bins+1), "predicted": mean prediction per bin, "observed": observed rate per
        bin, "count": per bin (NaN rates for empty bins), "ece": expected calibration error
        Σ_b (n_b/N)·|observed_b − predicted_b|}.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    rc, rr = score_pairs(model, pairs)
    p = torch.sigmoid(torch.cat([rc - rr, rr - rc])).numpy()
    y = np.concatenate([np.ones(len(pairs)), np.zeros(len(pairs))])
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    pred, obs, count = [], [], []
    ece = 0.0
    for b in range(bins):
        sel = which == b
        count.append(int(sel.sum()))
        pred.append(float(p[sel].mean()) if sel.any() else float("nan"))
        obs.append(float(y[sel].mean()) if sel.any() else float("nan"))
        if sel.any():
            ece += sel.sum() / len(p) * abs(obs[-1] - pred[-1])
    return {"bin_edges": edges.tolist(), "predicted": pred, "observed": obs, "count": count, "ece": float(ece)}


def equal_distance_probes(problems: Sequence[tasks.Problem], max_distance: int = 30) -> list[dict]:
    """Pairs of wrong answers equally far from the truth but of different lengths.

    For the truth a and a distance k, a − k and a + k are equally wrong; when they have different
    numbers of digits (a = 12, k = 5: "7" and "71" for 7 and 17), any preference between them is a
    preference for length.

    Returns:
        dicts {"prompt", "answer", "distance", "short", "long"} (completions as the model writes them).
    """
    out = []
    for prob in problems:
        a = prob.answer
        for k in range(1, max_distance + 1):
            lo, hi = a - k, a + k
            if lo < 0 or hi > 999:
                continue
            s, l = tasks.format_answer(lo), tasks.format_answer(hi)
            if len(s) != len(l):
                out.append({"prompt": prob.prompt, "answer": a, "distance": k, "short": s, "long": l})
    return out


def length_bias(model: RewardModel, problems: Sequence[tasks.Problem], max_distance: int = 30) -> dict:
    """The reward model's preference for longer answers among equally wrong ones.

    Returns:
        {"score_gap": mean r(longer) − r(shorter) per extra digit over the probes (the annotators'
        utility gives exactly their ``length_bonus``, the truth 0), "longer_preferred": share of probes
        where the longer scores higher, "implied_preference": σ(score_gap), "n": probes,
        "by_distance": {k: mean gap}}.
    """
    probes = equal_distance_probes(problems, max_distance)
    if not probes:
        raise ValueError("no equal-distance probes: the problems' answers have no neighbour of another length")
    prompts = [p["prompt"] for p in probes]
    r_short = score(model, prompts, [p["short"] for p in probes])
    r_long = score(model, prompts, [p["long"] for p in probes])
    digits = torch.tensor([len(p["long"]) - len(p["short"]) for p in probes], dtype=torch.float32)
    gap = (r_long - r_short) / digits
    by_distance: dict[int, list] = {}
    for p, g in zip(probes, gap.tolist()):
        by_distance.setdefault(p["distance"], []).append(g)
    mean_gap = float(gap.mean())
    return {"score_gap": mean_gap, "longer_preferred": float((gap > 0).float().mean()),
            "implied_preference": 1 / (1 + math.exp(-mean_gap)), "n": len(probes),
            "by_distance": {k: float(np.mean(v)) for k, v in sorted(by_distance.items())}}


def probe_problems(n: int = 300) -> list[tasks.Problem]:
    """Test-split problems whose answers lie near a change in digit count (a < 30 or a > 70)."""
    from .preferences import split_problems

    near = [p for p in split_problems()["test"] if p.answer < 30 or p.answer > 70]
    return near[:n]


def evaluate_reward_model(model: RewardModel, test_pairs: Sequence[PreferencePair]) -> dict:
    """Every figure of notebook 06 on the test pairs: label and truth agreement, calibration, length bias."""
    lab, tru = label_agreement(model, test_pairs), truth_agreement(model, test_pairs)
    cal = calibration(model, test_pairs)
    bias = length_bias(model, probe_problems())
    return {"label_agreement": lab["agreement"], "label_ceiling": lab["ceiling"],
            "truth_agreement": tru["agreement"], "truth_annotators": tru["annotators"], "truth_n": tru["n"],
            "ece": cal["ece"], "calibration": cal, "length_gap": bias["score_gap"],
            "longer_preferred": bias["longer_preferred"], "length_probes": bias["n"],
            "length_by_distance": bias["by_distance"], "n_test_pairs": len(test_pairs)}


# ---------------------------------------------------------------------------------------------
# A reward in TRL's convention, saving and loading
# ---------------------------------------------------------------------------------------------


def reward_model_reward(model: RewardModel) -> Callable[..., list]:
    """A reward function ``fn(completions, prompts=..., **kwargs) -> list[float]`` scoring with ``model``.

    It follows the convention of ``course_lib.rewards`` (and of TRL's reward functions), so RLHF
    (notebook 07) can train a policy against the learned reward exactly as GRPO trains against
    the rule rewards. ``prompts`` is required: the same question may deserve different answers.
    """
    if not isinstance(model, RewardModel):
        raise ValueError(f"model must be a RewardModel, got {type(model).__name__}")

    def reward_model_score(completions, prompts=None, **kwargs) -> list[float]:
        if prompts is None:
            raise ValueError("prompts is required: pass one prompt per completion as prompts=...")
        return score(model, prompts, completions).tolist()

    return reward_model_score


def save_reward_model(path: str | Path, model: RewardModel, meta: dict | None = None) -> Path:
    """Write the reward model (weights, config, tokenizer, ``meta``) to ``path``."""
    if not isinstance(model, RewardModel):
        raise ValueError(f"model must be a RewardModel, got {type(model).__name__}")
    return save_scalar_head(path, model, model.tokenizer, KIND, {**(meta or {}), "loglik": model.loglik})


def load_reward_model(path: str | Path, device=None) -> tuple[RewardModel, dict]:
    """Load a reward model written by ``save_reward_model`` (``torch.load(weights_only=True)``).

    Returns:
        (model, meta), the model in eval mode.

    Raises:
        FileNotFoundError, ValueError: as ``course_lib.lm.load_checkpoint`` (damaged, truncated,
        wrong format or version), naming the file and the command that rebuilds it.
    """
    model, tok, meta = load_scalar_head(path, KIND, REBUILD, RewardModel, device)
    model.tokenizer = tok
    loglik = meta.get("loglik", True)
    if not isinstance(loglik, bool):
        raise ValueError(f"{path} has an invalid 'loglik' entry in its metadata: {loglik!r}")
    model.loglik = loglik
    return model, meta


def load_shipped_reward_model(device=None) -> tuple[RewardModel, dict]:
    """The shipped reward model ``data/rm/reward_model.pt`` and its metadata (training, figures)."""
    from .data import verified_path

    return load_reward_model(verified_path(FILE), device)  # checked against data/MANIFEST.json


# ---------------------------------------------------------------------------------------------
# Rebuilding the shipped files
# ---------------------------------------------------------------------------------------------

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
    from .preferences import build_preferences

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

    from .data import DataNotWritable, writable_dir

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
        from .data import write_manifest

        write_manifest()
        print("rewrote data/MANIFEST.json")
    print(f"train-rm finished in {time.perf_counter() - start:.1f} s")
    return 0


__all__ = ["bradley_terry_loss", "RewardModel", "RewardModelConfig", "train_reward_model", "score",
           "score_pairs", "pair_accuracy", "center_scores", "label_agreement", "truth_agreement",
           "calibration", "equal_distance_probes", "length_bias", "probe_problems", "evaluate_reward_model",
           "reward_model_reward", "save_reward_model", "load_reward_model", "load_shipped_reward_model", "main"]
