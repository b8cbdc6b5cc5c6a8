"""The GRPO training loop for the course's small language model (notebook 08).

One step (``GRPOState.step``; ``train_grpo`` loops over it, ``grpo_step`` hands it to the cost
measurement of notebooks 07 and 08):
  1. sample ``prompts_per_step`` training prompts and G completions for each, and score them
     with a rule-based reward (``lmrl.sample_rollouts``; no reward model, no critic);
  2. log the share of groups whose rewards are all equal (they carry no gradient) and, with
     dynamic sampling (DAPO), drop those groups and sample more;
  3. group-relative advantages;
  4. μ policy updates on the batch with the clipped objective, the ratio taken to the policy that
     sampled it (its log-probs are kept), and a k3 KL to the frozen reference model when β > 0;
     without a KL term the update leaves out the groups whose advantages are all 0 (they carry no
     gradient: the loss keeps the whole batch's normaliser, so loss and gradient are unchanged),
     trims padding columns, and runs each prompt once for its G completions;
     with PPO-ptx (``ptx_coef`` = γ > 0, InstructGPT Eq. 2) each update also adds γ times the
     next-token loss on a fresh batch of pretraining text, drawn from its own generator, so a run
     with γ = 0 draws the same random numbers as a run without PPO-ptx;
  5. the step's statistics.
Every ``eval_every`` steps the held-out set is scored with greedy decoding, and the next-token
loss on a fixed set of pretraining documents is measured (no random numbers are drawn for it).
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from .. import tasks
from ..core import set_seed
from ..lm.model import GPT
from ..lm.train import lm_loss, text_batch
from ..lmrl import RolloutBatch, sample_rollouts
from ..rewards import accuracy_reward, format_reward, r1_reward
from ..runs import History, RunOptions, threads
from ..timing import PhaseTimer
from .config import GRPOConfig
from .losses import group_advantages, grpo_loss, zero_variance_groups
from .optim import FlatAdam

MAX_DYNAMIC_TRIES = 4  # dynamic sampling draws at most this many batches to fill one step
METRICS = {"accuracy": accuracy_reward, "format": format_reward}  # logged for every sampled batch
PTX_EVAL_DOCS = 256  # pretraining documents in the fixed set whose loss every evaluation measures
PTX_EVAL_SEED = 12345  # seeds that fixed set (never the training generators)


def pretraining_text_batch(tok, n: int, rng, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, loss mask), each (n, block_size): ``n`` pretraining documents ``<bos>doc<eos>``.

    The text the shipped model was pretrained on (``tasks.pretraining_documents``); ``rng`` is a
    seed or a NumPy generator. PPO-ptx's loss on it is ``lm.train.lm_loss``: the mean next-token
    loss −(1/N) Σ log π(x_t | x_<t) over the masked tokens.
    """
    return text_batch(tok, tasks.pretraining_documents(n, rng), block_size)


def grpo_rollout(model: GPT, tok, problems: Sequence[tasks.Problem], cfg: GRPOConfig, gen: torch.Generator,
                 reward_fn: Callable, share_prompts: bool = True) -> RolloutBatch:
    """G scored completions for each problem, as a GRPO step samples them (stage 1); each prompt goes
    through the network once for its G completions unless ``share_prompts`` is False (the same samples)."""
    return sample_rollouts(model, tok, [p.prompt for p in problems], group_size=cfg.group_size,
                           max_new_tokens=cfg.max_completion_length, temperature=cfg.temperature,
                           generator=gen, reward_fn=reward_fn, columns={"answer": [p.answer for p in problems]},
                           metrics=METRICS, share_prompts=share_prompts)


@dataclass
class GRPOState:
    """The networks and optimiser of a GRPO run; ``step`` takes one GRPO step.

    Build it with ``GRPOState.create`` (which checks the arguments). ``train_grpo`` runs its steps
    in a loop with held-out evaluations; ``grpo_step`` hands the same step to the cost measurement.
    """

    policy: GPT
    ref_model: GPT | None
    reward_fn: Callable
    cfg: GRPOConfig
    tokenizer: object
    opt: FlatAdam  # torch.optim.Adam and the gradient clip on one flat buffer (the same numbers)
    ptx_rng: np.random.Generator | None  # PPO-ptx's pretraining batches: a generator of their own
    # The step's shortcuts, on by default; switched off, a step does what it did without them (the
    # "before" of ``bench grpo``): the update then runs every completion of the batch, padded, each
    # with its own copy of the prompt.
    skip_zero_advantage: bool = True  # no KL term: leave groups with all-zero advantages out of the update
    share_prompts: bool = True  # run each prompt once for its G completions, sampling and (no KL term) update
    _plain_modules: list | None = field(default=None, repr=False)  # for _train_mode

    @classmethod
    def create(cls, policy: GPT, cfg: GRPOConfig | None = None, *, tokenizer=None, reward_fn: Callable = r1_reward,
               ref_model: GPT | None = None) -> "GRPOState":
        """Check the arguments, keep (and freeze) the reference when β > 0 or one is given, build Adam."""
        if not isinstance(policy, GPT):
            raise ValueError(f"model must be a course_lib GPT, got {type(policy).__name__}")
        cfg = GRPOConfig() if cfg is None else cfg
        if not isinstance(cfg, GRPOConfig):
            raise ValueError(f"cfg must be a GRPOConfig, got {type(cfg).__name__}")
        if not callable(reward_fn):
            raise ValueError(f"reward_fn must be a function reward(completions, **kwargs) -> list[float], "
                             f"got {reward_fn!r}")
        if ref_model is None and cfg.beta > 0:
            ref_model = copy.deepcopy(policy)
        if ref_model is not None:  # π_ref is frozen: no gradients, never updated
            ref_model.eval()
            for p in ref_model.parameters():
                p.requires_grad_(False)
        # created only when used, so a run with ptx_coef = 0 draws no random numbers for it
        ptx_rng = np.random.default_rng([cfg.seed, 1]) if cfg.ptx_coef > 0 else None
        return cls(policy=policy, ref_model=ref_model, reward_fn=reward_fn, cfg=cfg,
                   tokenizer=tokenizer or tasks.make_tokenizer(),
                   # the parameters become views into one flat buffer: Adam and the clip in a few
                   # whole-buffer operations, the same numbers as torch.optim.Adam on each tensor
                   opt=FlatAdam(policy, lr=cfg.lr),
                   ptx_rng=ptx_rng)

    def _train_mode(self, mode: bool) -> None:
        """``policy.train(mode)``. nn.Module.train sets each submodule's ``training`` flag through
        nn.Module.__setattr__ (about 2 µs a module, 0.2 ms a step here); where no submodule overrides
        ``train``, the flags are set directly, which is all nn.Module.train does."""
        if self._plain_modules is None:  # the policy's modules, read once (empty: one of them overrides train)
            mods = list(self.policy.modules())
            self._plain_modules = mods if all(type(m).train is torch.nn.Module.train for m in mods) else []
        if not self._plain_modules:
            self.policy.train(mode)
            return
        for m in self._plain_modules:
            m.__dict__["training"] = mode

    def step(self, problems: Sequence[tasks.Problem], gen: torch.Generator, rng: np.random.Generator,
             timer: PhaseTimer | None = None) -> dict:
        """One GRPO step with prompts drawn from ``problems``; returns its statistics (the log record
        without "step" and "seconds", plus the counts "completions" and "tokens")."""
        cfg, model, tok, G = self.cfg, self.policy, self.tokenizer, self.cfg.group_size
        timer = timer or PhaseTimer(model.device)
        reward_fn = timer.moved(self.reward_fn)

        def draw_prompts():
            return [problems[i] for i in rng.integers(0, len(problems), size=cfg.prompts_per_step)]

        # 1. rollouts and rewards (the reward's time counts as scoring)
        with timer.phase("sampling"):
            sampled = grpo_rollout(model, tok, draw_prompts(), cfg, gen, reward_fn, self.share_prompts)
        completions = len(sampled)

        # 2. groups whose G rewards are all equal teach nothing; dynamic sampling (DAPO) drops them
        with timer.phase("sampling"):
            zero_var = zero_variance_groups(sampled.rewards, G)
            zero_var_frac = float(zero_var.float().mean())
            batch: RolloutBatch | None = sampled
            if cfg.dynamic_sampling:
                kept = [sampled.select_groups(~zero_var)] if (~zero_var).any() else []
                n_kept, tries = int((~zero_var).sum()), 1
                while n_kept < cfg.prompts_per_step and tries < MAX_DYNAMIC_TRIES:
                    extra = grpo_rollout(model, tok, draw_prompts(), cfg, gen, reward_fn, self.share_prompts)
                    completions += len(extra)
                    zv = zero_variance_groups(extra.rewards, G)
                    if (~zv).any():
                        kept.append(extra.select_groups(~zv))
                        n_kept += int((~zv).sum())
                    tries += 1
                batch = RolloutBatch.concat(kept) if kept else None

        # 3. group-relative advantages, and log π_ref (with β = 0 the KL is only measured, not penalised)
        losses, ptx_losses, tokens = [], [], 0
        stats = {"clip_fraction": 0.0, "kl": 0.0, "entropy_proxy": float("nan")}
        if batch is not None:
            with timer.phase("scoring"):
                adv = group_advantages(batch.rewards, G, scale=cfg.advantage_scale)
                # groups whose advantages are all 0 carry no gradient when there is no KL term: left
                # out of the update (the loss keeps the whole batch's normaliser, so its value and
                # gradient are unchanged), and padding columns no row uses are trimmed
                train, train_adv, whole = batch, adv, None
                share = self.share_prompts and self.ref_model is None  # each prompt once: lm.completion_logprobs
                if self.skip_zero_advantage and self.ref_model is None:
                    live = (adv.view(-1, G) != 0).any(1)
                    if bool(live.any()) and not bool(live.all()):
                        whole = (len(batch), int(batch.mask.sum()))
                        train = batch.select_groups(live)
                        train_adv = adv[live.repeat_interleave(G).to(adv.device)]
                    train = train.trimmed()
                logp_old = train.logprobs  # log π_old, recorded while sampling: needed once μ > 1
                logp_ref = None
                if self.ref_model is not None:
                    with torch.no_grad():
                        logp_ref = train.token_logprobs(self.ref_model)

            # 4. μ updates against the policy that sampled the batch
            with timer.phase("update"):
                self._train_mode(True)
                for _ in range(cfg.n_epochs):
                    logp = train.token_logprobs(model, share_prompts=share)
                    loss, stats = grpo_loss(logp, logp_old, logp_ref, train_adv, train.mask, cfg, whole_batch=whole)
                    if self.ptx_rng is not None:  # PPO-ptx: minimise −J + γ · (−mean log π(pretraining text))
                        ptx = lm_loss(model, *pretraining_text_batch(tok, cfg.ptx_batch_size, self.ptx_rng,
                                                                     model.config.block_size))
                        loss = loss + cfg.ptx_coef * ptx
                        ptx_losses.append(float(ptx.detach()))
                    self.opt.zero_grad()
                    loss.backward()
                    self.opt.clip_grad_norm_(cfg.max_grad_norm)
                    self.opt.step()
                    losses.append(float(loss.detach()))
                    tokens += int(batch.mask.sum())
                self._train_mode(False)
            if whole is not None:  # −mean log π over every sampled token: the rows left out at π_old
                left_out = float((train.logprobs * train.mask).sum() - (batch.logprobs * batch.mask).sum())
                stats["entropy_proxy"] = (stats["entropy_proxy"] * int(train.mask.sum()) + left_out) / whole[1]

        # 5. statistics of everything sampled in stage 1, before dynamic sampling
        return {"reward": float(sampled.rewards.mean()),
                "accuracy": float(np.mean(sampled.scores["accuracy"])),
                "format_rate": float(np.mean(sampled.scores["format"])),
                "zero_variance_frac": zero_var_frac,
                "groups_used": 0 if batch is None else batch.n_groups,
                "loss": float(np.mean(losses)) if losses else float("nan"),
                "clip_fraction": stats["clip_fraction"], "kl": stats["kl"],
                "entropy_proxy": stats["entropy_proxy"],
                "completion_len": float(sampled.lengths().float().mean()),
                "ptx_loss": float(np.mean(ptx_losses)) if ptx_losses else float("nan"),
                "completions": completions, "tokens": tokens}


def grpo_step(policy: GPT, tokenizer, problems: Sequence[tasks.Problem], *, cfg: GRPOConfig | None = None,
              reward_fn: Callable = r1_reward, ref_model: GPT | None = None, seed: int = 0):
    """The step ``train_grpo`` takes, ready for ``lmrl.cost.measure_step`` (notebooks 07 and 08).

    Returns:
        (step, trained, frozen): ``step(timer)`` takes one ``GRPOState.step``; the networks for
        ``lmrl.cost.state_bytes``.
    """
    state = GRPOState.create(policy, cfg, tokenizer=tokenizer, reward_fn=reward_fn, ref_model=ref_model)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    problems = list(problems)

    def step(timer: PhaseTimer):
        state.step(problems, gen, rng, timer)

    frozen = {"reference": state.ref_model} if state.ref_model is not None else {}
    return step, {"policy": policy}, frozen


def evaluate_grpo(model: GPT, eval_set: Sequence, tok, ptx_eval: tuple[torch.Tensor, torch.Tensor]) -> dict:
    """Greedy held-out accuracy and format rate, and the next-token loss on the fixed pretraining text."""
    ev = tasks.evaluate(model, eval_set, tok, greedy=True)
    with torch.no_grad():
        ptx_loss = float(lm_loss(model, *ptx_eval))
    return {"accuracy": ev["accuracy"], "format_rate": ev["format_rate"], "ptx_loss": ptx_loss}


def train_grpo(model: GPT, cfg: GRPOConfig = GRPOConfig(), *, tokenizer=None,
               reward_fn: Callable = r1_reward, train_problems: Sequence[tasks.Problem] | None = None,
               eval_set: Sequence | None = None, ref_model: GPT | None = None,
               run: RunOptions | None = None) -> History:
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
        run: the run contract's options (``course_lib.runs.RunOptions``: threads, progress,
            max_seconds — a training budget, evaluation excluded: the run stops after the step
            that exceeds it, evaluates and returns —, eval_every, log, seed).

    Returns:
        A ``History`` (a dict of lists), one entry per step: "step", "reward", "accuracy", "format_rate" (of the
        sampled training completions), "zero_variance_frac" (share of groups with all rewards
        equal), "groups_used", "loss", "clip_fraction", "kl", "entropy_proxy", "completion_len",
        "ptx_loss" (PPO-ptx's loss on that step's pretraining text; NaN when ptx_coef == 0),
        "seconds" (wall-clock since the start); per evaluation: "eval_step", "eval_accuracy",
        "eval_format_rate", "eval_ptx_loss" (next-token loss on a fixed set of pretraining
        documents, whatever ptx_coef is); and the totals "completions_sampled", "tokens_trained",
        "train_seconds" (time spent outside evaluation), "config".
    """
    # 0. check the arguments; the run's seed and cadence go into the config
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a course_lib GPT, got {type(model).__name__}")
    run = RunOptions.check(run)
    if not isinstance(cfg, GRPOConfig):
        raise ValueError(f"cfg must be a GRPOConfig, got {type(cfg).__name__}")
    cfg = run.configure(cfg)
    problems = list(train_problems) if train_problems is not None else list(tasks.train_problems())
    if not problems:
        raise ValueError("train_problems must not be empty")
    eval_set = list(eval_set) if eval_set is not None else list(tasks.eval_problems())

    hist = History(updates=("step", "reward", "accuracy", "format_rate", "zero_variance_frac", "groups_used",
                            "loss", "clip_fraction", "kl", "entropy_proxy", "completion_len", "ptx_loss",
                            "seconds"),
                   evals=("eval_step", "eval_accuracy", "eval_format_rate", "eval_ptx_loss"),
                   completions_sampled=0, tokens_trained=0, train_seconds=0.0, config=asdict(cfg))

    with threads(run.threads):
        # 1. seed, then the state: the policy, the frozen reference, Adam
        set_seed(cfg.seed)
        state = GRPOState.create(model, cfg, tokenizer=tokenizer, reward_fn=reward_fn, ref_model=ref_model)
        tok = state.tokenizer
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
        # the fixed pretraining text every evaluation scores: its own seed, no generator drawn
        ptx_eval = pretraining_text_batch(tok, PTX_EVAL_DOCS, PTX_EVAL_SEED, model.config.block_size)

        def evaluate_now(step):
            ev = evaluate_grpo(model, eval_set, tok, ptx_eval)
            hist.record("evals", {"eval_step": step, "eval_accuracy": ev["accuracy"],
                                  "eval_format_rate": ev["format_rate"], "eval_ptx_loss": ev["ptx_loss"]})

        # 2. the steps (GRPOState.step: sample, drop zero-variance groups, advantages, μ updates)
        evaluate_now(0)
        steps = range(1, cfg.steps + 1)
        bar = None
        if run.progress:
            from tqdm.auto import tqdm

            steps = bar = tqdm(steps, desc="GRPO", leave=False)
        start = time.perf_counter()
        eval_time = 0.0
        for step in steps:
            rec = state.step(problems, gen, rng)
            hist["completions_sampled"] += rec.pop("completions")
            hist["tokens_trained"] += rec.pop("tokens")

            # 3. log, and evaluate every eval_every steps, at the end and when out of time
            rec = {"step": step, **rec, "seconds": time.perf_counter() - start}
            hist.record("updates", rec)
            if bar is not None:
                bar.set_postfix(acc=f"{rec['accuracy']:.2f}", zero_var=f"{rec['zero_variance_frac']:.2f}")
            if run.log is not None:
                run.log(rec)
            out_of_time = run.out_of_time(time.perf_counter() - start - eval_time)
            if step % cfg.eval_every == 0 or step == cfg.steps or out_of_time:
                t_eval = time.perf_counter()
                evaluate_now(step)
                eval_time += time.perf_counter() - t_eval
            if out_of_time:
                break
        hist["train_seconds"] = time.perf_counter() - start - eval_time
    model.eval()
    return hist


__all__ = ["GRPOState", "grpo_step", "grpo_rollout", "train_grpo", "evaluate_grpo", "pretraining_text_batch"]
