"""TRL's GRPOTrainer on the course's model with the course's reward functions, unchanged (notebook 10).

The reward functions of ``course_lib.rewards`` already follow TRL's convention
``reward(completions, **kwargs) -> list[float]`` with dataset columns as keyword arguments, so
they go into ``GRPOTrainer(reward_funcs=[accuracy_reward, format_reward])`` as they are; the
dataset only needs a ``prompt`` column (the text TRL tokenises and generates from) and an
``answer`` column (which TRL hands to the rewards as ``answer=``).

``to_trl_config`` maps the course's ``GRPOConfig`` onto ``trl.GRPOConfig`` field by field
(``TRL_FIELDS`` is the table the notebook prints); the settings the course fixes without a field
(a constant learning rate, Adam without weight decay, sampling from the whole distribution) are
set to match too. Everything runs offline: nothing is downloaded, the model and tokenizer are
built locally by ``course_lib.hf.convert``.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict
from typing import Callable, Sequence

import torch
import transformers

from .. import tasks
from ..core import get_device
from ..grpo.config import GRPOConfig
from ..lm.model import GPT
from ..lm.tokenizer import CharTokenizer
from ..rewards import accuracy_reward, format_reward
from .convert import from_hf_model, to_hf_model, to_hf_tokenizer

# The course's field, TRL's field, and what they mean (the notebook's config table).
TRL_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("group_size", "num_generations", "G: completions sampled per prompt"),
    ("eps_low", "epsilon", "ratio clipped below at 1 - ε_low"),
    ("eps_high", "epsilon_high", "ratio clipped above at 1 + ε_high (DAPO's clip-higher)"),
    ("beta", "beta", "weight of the k3 KL to the reference model"),
    ("n_epochs", "num_iterations", "μ: policy updates per sampled batch"),
    ("loss_aggregation", "loss_type", "how token losses are averaged: grpo, dr_grpo, dapo"),
    ("advantage_scale", "scale_rewards", "divide advantages by the group std ('group') or not ('none')"),
    ("temperature", "temperature", "sampling temperature (log-probs use the same one)"),
    ("max_completion_length", "max_completion_length", "tokens sampled per completion at most"),
    ("lr", "learning_rate", "Adam's learning rate"),
    ("max_grad_norm", "max_grad_norm", "global gradient-norm clip"),
    ("steps", "max_steps", "optimiser steps (one sampled batch each when μ = 1)"),
    ("prompts_per_step", "per_device_train_batch_size", "TRL counts completions per process: "
                                                        "prompts_per_step · G / processes"),
    ("seed", "seed", "seeds sampling, prompt order and initial state"),
)
# Settings the course fixes in code rather than in GRPOConfig, made the same in TRL.
TRL_FIXED: dict = dict(
    lr_scheduler_type="constant",  # train_grpo keeps the learning rate constant
    warmup_steps=0,
    weight_decay=0.0,  # AdamW without weight decay is train_grpo's Adam
    adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8,  # torch.optim.Adam's defaults
    top_p=1.0, top_k=0,  # sample from the whole distribution, as course_lib.lm.generate does
    gradient_accumulation_steps=1, steps_per_generation=1,  # one sampled batch per optimiser step
    mask_truncated_completions=False,
    disable_dropout=True,
    bf16=False, fp16=False,  # float32, like the course
    report_to="none", save_strategy="no", logging_steps=1, log_completions=False,
    dataloader_num_workers=0, remove_unused_columns=False,  # keep the answer column for the rewards
)
COURSE_REWARDS: tuple[Callable, ...] = (accuracy_reward, format_reward)  # R1's sum: equal weights


def to_trl_config(cfg: GRPOConfig = GRPOConfig(), *, output_dir: str | None = None,
                  num_processes: int | None = None, **overrides):
    """A ``trl.GRPOConfig`` with the same settings as the course's ``GRPOConfig``.

    Args:
        cfg: the course's config (``course_lib.grpo.GRPOConfig``).
        output_dir: where TRL writes checkpoints and logs (default: a fresh temporary folder).
        num_processes: data-parallel processes sharing a step's batch (default: ``WORLD_SIZE``,
            which ``accelerate launch`` sets, else 1). A step still samples
            ``prompts_per_step · G`` completions in total.
        **overrides: any other ``trl.GRPOConfig`` field, applied last.

    Returns:
        A ``trl.GRPOConfig``.

    Raises:
        ValueError: ``cfg`` is not a GRPOConfig; it asks for dynamic sampling (TRL's GRPOTrainer
            has none); or its batch does not split evenly over the processes.
    """
    import trl

    if not isinstance(cfg, GRPOConfig):
        raise ValueError(f"cfg must be a course_lib.grpo.GRPOConfig, got {type(cfg).__name__}")
    if cfg.dynamic_sampling:
        raise ValueError("cfg.dynamic_sampling must be False: TRL's GRPOTrainer has no dynamic sampling "
                         "(it drops nothing; zero-variance groups simply get zero advantage)")
    n_proc = int(os.environ.get("WORLD_SIZE", "1")) if num_processes is None else num_processes
    if isinstance(n_proc, bool) or not isinstance(n_proc, int) or n_proc < 1:
        raise ValueError(f"num_processes must be a positive integer, got {num_processes!r}")
    if cfg.batch_size % n_proc:
        raise ValueError(f"the batch of prompts_per_step · G = {cfg.batch_size} completions must split evenly "
                         f"over num_processes={n_proc}")
    device = get_device()
    kwargs = dict(TRL_FIXED)
    kwargs.update(
        num_generations=cfg.group_size, epsilon=cfg.eps_low, epsilon_high=cfg.eps_high, beta=cfg.beta,
        num_iterations=cfg.n_epochs, loss_type=cfg.loss_aggregation, scale_rewards=cfg.advantage_scale,
        temperature=cfg.temperature, max_completion_length=cfg.max_completion_length, learning_rate=cfg.lr,
        max_grad_norm=cfg.max_grad_norm, max_steps=cfg.steps,
        per_device_train_batch_size=cfg.batch_size // n_proc, seed=cfg.seed,
        use_cpu=device.type == "cpu",
        output_dir=output_dir or tempfile.mkdtemp(prefix="course-trl-"),
    )
    kwargs.update(overrides)
    return trl.GRPOConfig(**kwargs)


def trl_dataset(problems: Sequence[tasks.Problem] | None = None):
    """The task's prompts as a ``datasets.Dataset`` with ``prompt`` and ``answer`` columns (built locally).

    Args:
        problems: default every training problem (``tasks.train_problems()``), never held-out ones.
    """
    import datasets

    rows = list(problems) if problems is not None else list(tasks.train_problems())
    if not rows or not all(isinstance(p, tasks.Problem) for p in rows):
        raise ValueError("problems must be a non-empty list of course_lib.tasks.Problem")
    return datasets.Dataset.from_list([{"prompt": p.prompt, "answer": p.answer} for p in rows])


class CourseEvalCallback(transformers.TrainerCallback):
    """Greedy held-out accuracy of the policy being trained, with the course's ``tasks.evaluate``.

    Every ``every`` optimiser steps (and at the end) the TRL model is imported back into the
    course's GPT and scored on ``eval_set``; records go to ``self.history``. Only the main process
    evaluates.
    """

    def __init__(self, tokenizer: CharTokenizer, eval_set: Sequence, every: int | None = None):
        self.tokenizer, self.eval_set, self.every = tokenizer, list(eval_set), every
        self.history: dict = {"eval_step": [], "eval_accuracy": [], "eval_format_rate": [], "eval_seconds": 0.0}

    def evaluate(self, model, step: int) -> None:
        t = time.perf_counter()
        ev = tasks.evaluate(from_hf_model(model), self.eval_set, self.tokenizer, greedy=True)
        self.history["eval_step"].append(step)
        self.history["eval_accuracy"].append(ev["accuracy"])
        self.history["eval_format_rate"].append(ev["format_rate"])
        self.history["eval_seconds"] += time.perf_counter() - t

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.every and state.is_world_process_zero and state.global_step % self.every == 0 \
                and state.global_step < state.max_steps:
            self.evaluate(model, state.global_step)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero:
            self.evaluate(model, state.global_step)


def make_trl_trainer(model, cfg: GRPOConfig = GRPOConfig(), *, tokenizer: CharTokenizer | None = None,
                     train_problems: Sequence[tasks.Problem] | None = None,
                     reward_funcs: Sequence[Callable] = COURSE_REWARDS, callbacks: Sequence = (),
                     output_dir: str | None = None, quiet: bool = True, **overrides):
    """A ``trl.GRPOTrainer`` for the course's model, task and rewards.

    Args:
        model: a course GPT (exported with ``to_hf_model``) or an exported transformers model.
        cfg: the course's GRPOConfig, mapped by ``to_trl_config``.
        tokenizer: the course's CharTokenizer (default the task's); exported with ``to_hf_tokenizer``.
        train_problems: prompts to train on (default every training problem).
        reward_funcs: reward functions in TRL's convention; default the course's accuracy and
            format rewards, summed with equal weight as in R1 (``rewards.r1_reward``).
        callbacks: extra ``transformers.TrainerCallback``s.
        output_dir, **overrides: passed to ``to_trl_config``.
        quiet: no progress bar and no printed log line per step (the logs stay in
            ``trainer.state.log_history``).
    """
    import trl

    tok = tokenizer or tasks.make_tokenizer()
    hf_model = to_hf_model(model, tok) if isinstance(model, GPT) else model
    if not isinstance(hf_model, transformers.PreTrainedModel):
        raise ValueError(f"model must be a course GPT or a transformers model, got {type(model).__name__}")
    funcs = list(reward_funcs)
    if not funcs or not all(callable(f) for f in funcs):
        raise ValueError(f"reward_funcs must be a non-empty list of reward functions, got {reward_funcs!r}")
    if quiet:
        overrides.setdefault("disable_tqdm", True)
    args = to_trl_config(cfg, output_dir=output_dir, **overrides)
    hf_model.train()
    trainer = trl.GRPOTrainer(model=hf_model, reward_funcs=funcs, args=args, train_dataset=trl_dataset(train_problems),
                              processing_class=to_hf_tokenizer(tok), callbacks=list(callbacks))
    if quiet:
        trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
    return trainer


def train_with_trl(model: GPT, cfg: GRPOConfig = GRPOConfig(), *, tokenizer: CharTokenizer | None = None,
                   train_problems: Sequence[tasks.Problem] | None = None, eval_set: Sequence | None = None,
                   eval_every: int | None = None, reward_funcs: Sequence[Callable] = COURSE_REWARDS,
                   output_dir: str | None = None, num_threads: int | None = 1, quiet: bool = True,
                   **overrides) -> "History":
    """GRPO on the course's GPT with TRL's GRPOTrainer; the trained model comes back as a course GPT.

    Stages: 1. export the model and tokenizer; 2. TRL trains (sampling with ``generate``, the
    course's rewards, its GRPO loss and AdamW); 3. the result is imported back and scored with
    the course's greedy ``tasks.evaluate`` (before training, every ``eval_every`` steps, at the end).

    Args:
        model: the starting policy (left unchanged; training works on the exported copy).
        cfg: the course's GRPOConfig (``cfg.steps`` optimiser steps).
        eval_set: held-out rows (default ``tasks.eval_problems()``).
        eval_every: also evaluate every this many steps (default: only before and after).
        num_threads: torch threads while training (None keeps the current setting).
        Other args as in ``make_trl_trainer``.

    Returns:
        A ``runs.History`` like every course trainer's: "model" (the trained course GPT), "step",
        "reward", "loss" (TRL's per-step logs, the per-update series),
        "eval_step", "eval_accuracy", "eval_format_rate", "completions_sampled", "train_seconds"
        (wall-clock of ``trainer.train()`` less evaluation), "config".
    """
    from ..runs import History, threads

    tok = tokenizer or tasks.make_tokenizer()
    eval_rows = list(eval_set) if eval_set is not None else list(tasks.eval_problems())
    callback = CourseEvalCallback(tok, eval_rows, eval_every)
    with threads(num_threads):
        callback.evaluate(to_hf_model(model, tok), 0)
        callback.history["eval_seconds"] = 0.0
        trainer = make_trl_trainer(model, cfg, tokenizer=tok, train_problems=train_problems,
                                   reward_funcs=reward_funcs, callbacks=[callback], output_dir=output_dir,
                                   quiet=quiet, **overrides)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start - callback.history["eval_seconds"]
    logs = [r for r in trainer.state.log_history if "reward" in r]
    hist = History(updates=("step", "reward", "loss"), evals=("eval_step", "eval_accuracy", "eval_format_rate"),
                   model=from_hf_model(trainer.model), completions_sampled=trainer.state.global_step * cfg.batch_size,
                   train_seconds=seconds, config=asdict(cfg))
    for r in logs:
        hist.record("updates", {"step": int(r["step"]), "reward": float(r["reward"]),
                                "loss": float(r.get("loss", float("nan")))})
    for k in hist.kinds["evals"]:
        hist[k] = list(callback.history[k])
    return hist
