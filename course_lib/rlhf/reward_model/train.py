"""Training the reward model on preference pairs with the Bradley–Terry loss (notebook 06)."""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import torch

from ...core import set_seed
from ...lm.train import lr_at
from ...runs import History, RunOptions, threads
from ..preferences import PreferencePair
from .config import RewardModelConfig
from .losses import bradley_terry_loss, pair_accuracy
from .model import RewardModel, score_pairs


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
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
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



__all__ = ["train_reward_model", "center_scores"]
