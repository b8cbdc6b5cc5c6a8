"""Generic language-model training: pretraining (next-token prediction on text) and SFT.

* ``pretrain``: next-token prediction on every token of unlabelled text, drawn from a
  ``documents(n, rng)`` function the caller gives (a task's text);
* ``sft``: next-token prediction on the completion only (the answer and <eos>), given a prompt;
* RL (later notebooks) then improves the SFT model with a reward instead of demonstrations.

Both return a ``course_lib.runs.History`` (the loss and learning rate of every step). The
recipe that builds the course's shipped checkpoints for the arithmetic task, and
``python -m course_lib train-lm``, live with the task: ``course_lib.tasks.recipe``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..core import (check_finite_number, check_nonnegative_int, check_positive_int, check_probability,
                    config_from_dict, seeded)
from ..runs import History, RunOptions, threads
from .model import GPT, GPTConfig
from .tokenizer import CharTokenizer

# Former field names -> today's, so configs stored in checkpoints written before a rename (the
# metadata's meta["train"] of a learner's own older checkpoint) still read: ``grad_clip`` became
# ``max_grad_norm``, the name PPO, GRPO, RLHF-PPO, DPO and TRL give the gradient-norm clip.
FORMER_NAMES = {"grad_clip": "max_grad_norm"}


@dataclass(frozen=True)
class TrainConfig:
    """One training stage's settings."""

    steps: int
    """Optimiser steps of the stage (pretraining thousands, SFT hundreds here)."""
    batch_size: int = 64
    """Sequences per step (16–256)."""
    lr: float = 3e-3
    """Peak learning rate of AdamW; small models like 1e-3–5e-3 (nanoGPT's small character model uses 1e-3)."""
    warmup: int = 50
    """Steps of linear warm-up from 0 to lr (0–10% of steps)."""
    min_lr_frac: float = 0.1
    """The cosine decay ends at lr · min_lr_frac, in [0, 1] (Chinchilla-style decay to 10%)."""
    weight_decay: float = 0.01
    """AdamW's decoupled weight decay (0–0.1)."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this; stabilises the first steps (0.5–1)."""
    seed: int = 0
    """Seeds the batch order and torch's generator during the stage (any non-negative integer); the caller's
    global generators are left as they were."""

    def __post_init__(self):
        check_schedule(self, ("steps", "batch_size"))

    @classmethod
    def from_dict(cls, fields: dict) -> "TrainConfig":
        """The config a stored ``asdict(cfg)`` describes (a checkpoint's ``meta["train"]``), former names accepted."""
        return config_from_dict(cls, fields, FORMER_NAMES)


def check_schedule(cfg, counts: tuple[str, ...]) -> None:
    """Check a frozen config with an AdamW warm-up/cosine schedule (``TrainConfig``, the reward
    model's ``RewardModelConfig``): the positive integers ``counts``, lr, warmup, min_lr_frac,
    weight_decay, max_grad_norm and seed, keeping what ``core``'s checks return."""
    put = lambda name, value: object.__setattr__(cfg, name, value)  # noqa: E731  (frozen)
    for name in counts:
        put(name, check_positive_int(name, getattr(cfg, name)))
    put("lr", check_finite_number("lr", cfg.lr, low=0.0, low_open=True))
    put("warmup", check_nonnegative_int("warmup", cfg.warmup))
    put("min_lr_frac", check_probability("min_lr_frac", cfg.min_lr_frac))
    put("weight_decay", check_finite_number("weight_decay", cfg.weight_decay, low=0.0))
    put("max_grad_norm", check_finite_number("max_grad_norm", cfg.max_grad_norm, low=0.0, low_open=True))
    put("seed", check_nonnegative_int("seed", cfg.seed))


# The course's model shape (the shipped checkpoints' architecture; ``course_lib.tasks.recipe``
# holds the rest of their recipe).
MODEL = dict(block_size=32, n_layer=4, n_head=4, n_embd=64)
SEED = 0


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``lr * min_lr_frac``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def new_model(tokenizer: CharTokenizer, seed: int = SEED, **overrides) -> GPT:
    """A freshly initialised model of the course's shape for ``tokenizer``'s vocabulary.

    The weights come from ``seed`` alone; the caller's global generators are left as they were.
    """
    if not isinstance(tokenizer, CharTokenizer):
        raise ValueError(f"tokenizer must be a CharTokenizer, got {type(tokenizer).__name__}")
    cfg = GPTConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, **{**MODEL, **overrides})
    with seeded(seed):
        return GPT(cfg)


def _right_pad(rows: Sequence[Sequence[int]], pad_id: int, width: int) -> torch.Tensor:
    out = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        if len(r) > width:
            raise ValueError(f"a training sequence of {len(r)} tokens does not fit block_size {width}")
        out[i, :len(r)] = torch.as_tensor(r, dtype=torch.long)
    return out


def text_batch(tokenizer: CharTokenizer, documents: Sequence[str], block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, loss_mask): ``<bos>doc<eos>`` rows, right-padded; every real token after <bos> counts."""
    tokens = _right_pad([tokenizer.encode(d, bos=True, eos=True) for d in documents], tokenizer.pad_id, block_size)
    mask = tokens != tokenizer.pad_id
    mask[:, 0] = False
    return tokens, mask


def sft_batch(tokenizer: CharTokenizer, examples: Sequence[dict], block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, loss_mask): ``<bos>prompt completion<eos>`` rows; only the completion and <eos> count."""
    rows, starts = [], []
    for ex in examples:
        prompt = tokenizer.encode(ex["prompt"], bos=True)
        rows.append(prompt + tokenizer.encode(ex["completion"], eos=True))
        starts.append(len(prompt))
    tokens = _right_pad(rows, tokenizer.pad_id, block_size)
    cols = torch.arange(block_size)[None, :]
    mask = (cols >= torch.tensor(starts)[:, None]) & (tokens != tokenizer.pad_id)
    return tokens, mask


def lm_loss(model: GPT, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the tokens where ``mask`` is set, each predicted from the ones before.

    logits[:, t] predicts tokens[:, t + 1]; rows are right-padded, so plain causal attention is
    enough.
    """
    logits = model(tokens)  # (B, T, V)
    target_mask = mask[:, 1:]
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1),
                           reduction="none").view_as(target_mask)
    return (loss * target_mask).sum() / target_mask.sum().clamp(min=1)


def _train(model: GPT, cfg: TrainConfig, next_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
           run: RunOptions, desc: str, stop_when: Callable[[int, GPT], bool] | None = None) -> History:
    history = History(updates=("step", "loss", "lr", "train_seconds"), config=cfg)
    # the stage's seed is cfg.seed alone; the caller's global generators are forked, not reseeded
    with threads(run.threads), seeded(cfg.seed, model.device):
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95),
                                weight_decay=cfg.weight_decay)
        model.train()
        steps = range(cfg.steps)
        if run.progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc=desc, leave=False)
        dev = model.device
        start = time.perf_counter()
        for step in steps:
            tokens, mask = next_batch(step)  # 1. a batch
            lr = lr_at(step, cfg)
            for group in opt.param_groups:  # 2. the learning-rate schedule
                group["lr"] = lr
            loss = lm_loss(model, tokens.to(dev), mask.to(dev))  # 3. next-token loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            opt.step()  # 4. update
            rec = {"step": step + 1, "loss": float(loss.detach()), "lr": lr,
                   "train_seconds": time.perf_counter() - start}
            history.record("updates", rec)
            if run.log is not None:
                run.log(rec)
            if run.out_of_time(rec["train_seconds"]):
                break
            if stop_when is not None:  # a measured criterion (e.g. a validation score) may end the stage early
                model.eval()
                done = bool(stop_when(step + 1, model))
                model.train()
                if done:
                    break
        model.eval()
    return history


def pretrain(model: GPT, tokenizer: CharTokenizer, cfg: TrainConfig, *,
             documents: Callable[[int, np.random.Generator], Sequence[str]], run: RunOptions | None = None,
             stop_when: Callable[[int, GPT], bool] | None = None) -> History:
    """Stage 1: next-token prediction on unlabelled text (seeded by ``cfg.seed``).

    Args:
        model, tokenizer: the model to train in place and its tokenizer.
        cfg: the stage's settings.
        documents: ``documents(n, rng)`` returns n texts drawn with the NumPy generator ``rng``
            (e.g. ``course_lib.tasks.pretraining_documents``).
        run: the run contract's options (``course_lib.runs.RunOptions``: threads, progress,
            max_seconds, log; there is no evaluation here, so eval_every is not used).
        stop_when: optional ``stop_when(steps_done, model) -> bool``, called after every step
            with the model in eval mode; True ends pretraining there (``cfg.steps`` is then the
            most it may run). It must not change the model.

    Returns:
        A History: "step", "loss" (mean cross-entropy per token, nats), "lr", "train_seconds".
    """
    if not callable(documents):
        raise ValueError(f"documents must be a function documents(n, rng) -> list of texts, got {documents!r}")
    run = RunOptions.check(run)
    rng = np.random.default_rng(cfg.seed)
    block = model.config.block_size
    return _train(model, cfg, lambda step: text_batch(tokenizer, documents(cfg.batch_size, rng), block),
                  run, "pretrain", stop_when)


def sft(model: GPT, tokenizer: CharTokenizer, examples: Sequence[dict], cfg: TrainConfig, *,
        run: RunOptions | None = None) -> History:
    """Stage 2: supervised fine-tuning on (prompt, completion) examples; the loss counts only the completion.

    Batches are drawn from ``examples`` in a seeded order (reshuffled every pass).

    Returns:
        A History: "step", "loss", "lr", "train_seconds".
    """
    if not examples:
        raise ValueError("examples must be a non-empty list of {'prompt', 'completion'} dicts")
    rng = np.random.default_rng(cfg.seed)
    order: list[int] = []
    block = model.config.block_size

    def next_batch(step):
        nonlocal order
        batch = []
        while len(batch) < cfg.batch_size:
            if not order:
                order = rng.permutation(len(examples)).tolist()
            batch.append(examples[order.pop()])
        return sft_batch(tokenizer, batch, block)

    return _train(model, cfg, next_batch, RunOptions.check(run), "SFT")
