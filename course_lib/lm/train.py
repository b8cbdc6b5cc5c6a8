"""The first two of the three training stages: pretraining, then supervised fine-tuning (SFT).

* ``pretrain``: next-token prediction on every token of unlabelled task text.
* ``sft``: next-token prediction on the completion only (the answer and <eos>), given a prompt.
* RL (later notebooks) then improves the SFT model with a reward instead of demonstrations.

``python -m course_lib train-lm`` rebuilds the shipped checkpoints (``data/lm/pretrained.pt``,
``data/lm/sft.pt``) and the held-out set from scratch; the same seed gives the same bytes on the
same machine (one thread, fixed step counts, no wall-clock in the files).
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .. import tasks
from ..core import set_seed
from ..runs import threads  # noqa: F401  (re-exported: lm.train.threads is used by older code)
from .checkpoint import save_checkpoint
from .model import GPT, GPTConfig
from .tokenizer import CharTokenizer


@dataclass(frozen=True)
class TrainConfig:
    """One training stage's settings."""

    steps: int  # optimiser steps
    batch_size: int = 64  # sequences per step
    lr: float = 3e-3  # peak learning rate (AdamW); small models like 1e-3..5e-3
    warmup: int = 50  # steps of linear warm-up from 0 to lr
    min_lr_frac: float = 0.1  # cosine decay ends at lr * min_lr_frac
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # clip the gradient norm (stabilises the first steps)
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup!r}")


# The shipped model and its two stages. Changing any of these changes the shipped checkpoints.
MODEL = dict(block_size=32, n_layer=4, n_head=4, n_embd=64)
# Pretraining stops on purpose in the middle of the model's steep learning phase (measured: 500
# steps give an SFT model with about 20% held-out accuracy, 575 steps about 54%, 700 steps over
# 85%), so the SFT model is mediocre and RL has room to improve it.
PRETRAIN = TrainConfig(steps=550, batch_size=64, lr=6e-3, warmup=50, min_lr_frac=1.0, seed=0)
SFT = TrainConfig(steps=30, batch_size=32, lr=1e-3, warmup=10, seed=1)
SFT_EXAMPLES = 512  # size of the SFT set (demonstrations are the scarce resource)
SEED = 0


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``lr * min_lr_frac``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def new_model(tokenizer: CharTokenizer | None = None, seed: int = SEED, **overrides) -> GPT:
    """A freshly initialised model of the shipped shape (seeded)."""
    tokenizer = tokenizer or tasks.make_tokenizer()
    set_seed(seed)
    cfg = GPTConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, **{**MODEL, **overrides})
    return GPT(cfg)


def _right_pad(rows: Sequence[Sequence[int]], pad_id: int, width: int) -> torch.Tensor:
    out = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        if len(r) > width:
            raise ValueError(f"a training sequence of {len(r)} tokens does not fit block_size {width}")
        out[i, :len(r)] = torch.as_tensor(r, dtype=torch.long)
    return out


def pretraining_batch(tokenizer: CharTokenizer, batch_size: int, block_size: int, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, loss_mask): ``<bos>doc<eos>`` rows, right-padded; every real token after <bos> counts."""
    docs = tasks.pretraining_documents(batch_size, rng)
    tokens = _right_pad([tokenizer.encode(d, bos=True, eos=True) for d in docs], tokenizer.pad_id, block_size)
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
           num_threads: int | None, progress: bool, desc: str) -> list[float]:
    with threads(num_threads):
        set_seed(cfg.seed)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95),
                                weight_decay=cfg.weight_decay)
        model.train()
        history = []
        steps = range(cfg.steps)
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc=desc, leave=False)
        dev = model.device
        for step in steps:
            tokens, mask = next_batch(step)  # 1. a batch
            for group in opt.param_groups:  # 2. the learning-rate schedule
                group["lr"] = lr_at(step, cfg)
            loss = lm_loss(model, tokens.to(dev), mask.to(dev))  # 3. next-token loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()  # 4. update
            history.append(float(loss.detach()))
        model.eval()
    return history


def pretrain(model: GPT, tokenizer: CharTokenizer, cfg: TrainConfig = PRETRAIN, *,
             num_threads: int | None = 1, progress: bool = False) -> list[float]:
    """Stage 1: next-token prediction on unlabelled task text (seeded by ``cfg.seed``).

    Returns:
        The loss of every step (mean cross-entropy per token, nats).
    """
    import numpy as np

    rng = np.random.default_rng(cfg.seed)
    block = model.config.block_size
    return _train(model, cfg, lambda step: pretraining_batch(tokenizer, cfg.batch_size, block, rng),
                  num_threads, progress, "pretrain")


def sft(model: GPT, tokenizer: CharTokenizer, examples: Sequence[dict], cfg: TrainConfig = SFT, *,
        num_threads: int | None = 1, progress: bool = False) -> list[float]:
    """Stage 2: supervised fine-tuning on (prompt, completion) examples; the loss counts only the completion.

    Batches are drawn from ``examples`` in a seeded order (reshuffled every pass).

    Returns:
        The loss of every step.
    """
    import numpy as np

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

    return _train(model, cfg, next_batch, num_threads, progress, "SFT")


def build(out_dir: str | Path | None = None, *, seed: int = SEED, pretrain_cfg: TrainConfig = PRETRAIN,
          sft_cfg: TrainConfig = SFT, sft_examples: int = SFT_EXAMPLES, num_threads: int | None = 1,
          progress: bool = False, log=print) -> dict:
    """Run pretraining then SFT from scratch, evaluate both, and (if ``out_dir``) write the files.

    Returns:
        {"pretrained", "sft": the models, "tokenizer", "pretrain_loss", "sft_loss",
         "eval_pretrained", "eval_sft": evaluate() results, "seconds": per stage}.
    """
    tok = tasks.make_tokenizer()
    model = new_model(tok, seed)
    log(f"model: {model.num_params():,} parameters, {model.config}")
    t0 = time.perf_counter()
    pre_loss = pretrain(model, tok, pretrain_cfg, num_threads=num_threads, progress=progress)
    t1 = time.perf_counter()
    log(f"pretraining: {pretrain_cfg.steps} steps in {t1 - t0:.1f} s, final loss {pre_loss[-1]:.3f}")
    heldout = [p.to_dict() for p in tasks.eval_problems()]
    with threads(num_threads):
        ev_pre = tasks.evaluate(model, heldout, tok)
    log(f"pretrained model, held-out greedy: accuracy {ev_pre['accuracy']:.1%}, format {ev_pre['format_rate']:.1%}, "
        f"lenient accuracy (format ignored) {ev_pre['lenient_accuracy']:.1%}")
    pretrained = GPT(model.config)
    pretrained.load_state_dict(model.state_dict())
    pretrained.eval()

    examples = tasks.sft_examples(sft_examples, seed=1000 + seed)
    t2 = time.perf_counter()
    sft_loss = sft(model, tok, examples, sft_cfg, num_threads=num_threads, progress=progress)
    t3 = time.perf_counter()
    log(f"SFT: {sft_cfg.steps} steps on {len(examples)} examples in {t3 - t2:.1f} s, final loss {sft_loss[-1]:.3f}")
    with threads(num_threads):
        ev_sft = tasks.evaluate(model, heldout, tok)
    log(f"SFT model, held-out greedy: accuracy {ev_sft['accuracy']:.1%}, format {ev_sft['format_rate']:.1%}, "
        f"lenient accuracy {ev_sft['lenient_accuracy']:.1%}")

    if out_dir is not None:
        out = Path(out_dir)
        common = {"seed": seed, "model": dict(MODEL)}
        save_checkpoint(out / "pretrained.pt", pretrained, tok, {
            **common, "stage": "pretrained", "train": asdict(pretrain_cfg), "loss_history": pre_loss,
            "eval_greedy": {k: ev_pre[k] for k in ("accuracy", "format_rate", "lenient_accuracy", "n")}})
        save_checkpoint(out / "sft.pt", model, tok, {
            **common, "stage": "sft", "train": asdict(sft_cfg), "sft_examples": sft_examples,
            "loss_history": sft_loss, "pretrain_loss_history": pre_loss,
            "eval_greedy": {k: ev_sft[k] for k in ("accuracy", "format_rate", "lenient_accuracy", "n")}})
        tasks.write_eval_set(out / "eval.jsonl")
        log(f"wrote {out / 'pretrained.pt'}, {out / 'sft.pt'}, {out / 'eval.jsonl'}")
    return {"pretrained": pretrained, "sft": model, "tokenizer": tok, "pretrain_loss": pre_loss,
            "sft_loss": sft_loss, "eval_pretrained": ev_pre, "eval_sft": ev_sft,
            "seconds": {"pretrain": t1 - t0, "sft": t3 - t2}}


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib train-lm``: rebuild data/lm/ (checkpoints and held-out set)."""
    from ..data import data_dir

    parser = argparse.ArgumentParser(prog="python -m course_lib train-lm", description=main.__doc__)
    parser.add_argument("--out", default=None, help="output folder (default: the course's data/lm)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest and exact)")
    parser.add_argument("--no-manifest", action="store_true", help="do not rewrite data/MANIFEST.json")
    parser.add_argument("--pretrain-steps", type=int, default=PRETRAIN.steps,
                        help=f"pretraining steps (shipped: {PRETRAIN.steps}; other values need --out)")
    parser.add_argument("--sft-steps", type=int, default=SFT.steps,
                        help=f"SFT steps (shipped: {SFT.steps}; other values need --out)")
    args = parser.parse_args(argv)
    shipped = (args.seed, args.pretrain_steps, args.sft_steps) == (SEED, PRETRAIN.steps, SFT.steps)
    if args.out is None and not shipped:
        parser.error("non-default --seed/--pretrain-steps/--sft-steps would overwrite the shipped "
                     "checkpoints; give an --out folder")
    out = Path(args.out) if args.out else data_dir() / "lm"
    start = time.perf_counter()
    build(out, seed=args.seed, num_threads=args.threads,
          pretrain_cfg=replace(PRETRAIN, steps=args.pretrain_steps), sft_cfg=replace(SFT, steps=args.sft_steps))
    if args.out is None and not args.no_manifest:
        from ..data import write_manifest

        write_manifest()
        print("rewrote data/MANIFEST.json")
    print(f"train-lm finished in {time.perf_counter() - start:.1f} s")
    return 0
