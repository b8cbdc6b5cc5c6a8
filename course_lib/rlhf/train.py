"""RLHF with PPO on the course's small language model (notebook 07), as InstructGPT describes it.

The pieces (InstructGPT, Ouyang et al. 2022, arXiv 2203.02155, §3.5 and App. C.4):

* the **policy** π_θ starts as the SFT model; a frozen copy of it is the **reference** π_ref;
* a **value model** V(s_t): a separate copy of a network with a scalar head at every position
  (``course_lib.lm.heads.ScalarHeadModel``), trained by regression on the returns;
* **per-token rewards** ``kl_penalized_rewards``: −β·(log π − log π_ref) on every completion token,
  plus the sequence's reward at its last token (the reward is a rule in TRL's convention, or the
  learned reward model of notebook 06);
* **GAE over tokens** with γ = 1 (``lmrl.token_gae``, which is ``ppo.gae``), advantages whitened;
* the **clipped surrogate** (``lmrl.clipped_surrogate``, the one of notebook 04) and a clipped value
  loss, for a few epochs of minibatches over each batch of rollouts.

Where the value model starts. InstructGPT initialises it from the reward model (App. C.4): its
trunk has already learned what the reward looks at, and its head already outputs rewards on the
right scale. With ``value_init="auto"`` the course does the same when it trains against the reward
model. Against a rule reward there is no reward model, so the value model starts from the SFT
model (the policy as it starts) with a zero head: that trunk already "knows" arithmetic, which is
what predicting the verifier's verdict needs; only the head and a fine-tune are left to learn.

One step: 1. sample completions and score them; 2. make the experience (reference log-probs,
values, per-token rewards, GAE); 3. update the policy and the value model; 4. log. ``RLHFState``
holds the networks and takes one step (``ppo_step`` hands the same step to ``lmrl.cost``);
``train_rlhf`` runs the loop with held-out evaluations and returns the history.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .. import tasks
from ..core import set_seed
from ..lm.generate import token_logprobs
from ..lm.heads import ScalarHeadModel
from ..lm.model import GPT
from ..lmrl import RolloutBatch, clipped_surrogate, masked_mean, masked_whiten, sample_rollouts, token_gae
from ..ppo.losses import clipped_fraction
from ..ppo.math import explained_variance
from ..rewards import accuracy_reward
from ..runs import History, RunOptions, threads
from ..timing import PhaseTimer
from .config import RLHFConfig
from .losses import clipped_value_loss, kl_penalized_rewards

METRICS = {"accuracy": accuracy_reward}  # the gold verifier, logged for every sampled batch


def frozen(model: torch.nn.Module, device) -> torch.nn.Module:
    """``model`` on ``device``, in eval mode, with no parameter requiring a gradient (a reference or a reward model)."""
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _is_reward_model(x) -> bool:
    from .reward_model import RewardModel

    return isinstance(x, RewardModel)


def completion_values(value_model: ScalarHeadModel, batch: RolloutBatch, rows=None) -> torch.Tensor:
    """(B, N) V(s_t): the value model's estimate in the state before each completion token.

    State s_t is the prompt plus the first t completion tokens, so V(s_t) is read at the position
    of the token *before* completion token t: column P − 1 + t of the full sequence (P − 1 is the
    prompt's last token, never padding, because prompts are left-padded).
    """
    rows = slice(None) if rows is None else rows
    P, N = batch.prompt_len, batch.mask.shape[1]
    v = value_model(batch.tokens[rows], batch.key_valid()[rows])  # (B, P + N)
    return v[:, P - 1:P - 1 + N]


def sequence_kl(logp: torch.Tensor, logp_ref: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) Σ_t (log π − log π_ref) over each completion's real tokens: the k1 estimate of
    KL[π(·|x) ‖ π_ref(·|x)] for completions sampled from π (unbiased; one sample can be negative)."""
    keep = mask.bool()
    return torch.where(keep, logp - logp_ref, torch.zeros_like(logp)).sum(1)


@dataclass
class RLHFState:
    """The networks and optimisers of an RLHF-PPO run; ``step`` takes one PPO step.

    Build it with ``RLHFState.create`` (which checks the arguments).
    """

    policy: GPT
    ref_model: GPT
    value_model: ScalarHeadModel
    reward_fn: Callable
    reward_model: torch.nn.Module | None
    cfg: RLHFConfig
    tokenizer: object
    opt_policy: torch.optim.Optimizer
    opt_value: torch.optim.Optimizer

    @classmethod
    def create(cls, policy: GPT, reward, cfg: RLHFConfig | None = None, *, tokenizer=None,
               ref_model: GPT | None = None, value_model: ScalarHeadModel | None = None) -> "RLHFState":
        """Check the arguments, freeze the reference (and the reward model), build the value model."""
        if not isinstance(policy, GPT):
            raise ValueError(f"policy must be a course_lib GPT, got {type(policy).__name__}")
        cfg = RLHFConfig() if cfg is None else cfg
        if not isinstance(cfg, RLHFConfig):
            raise ValueError(f"cfg must be an RLHFConfig, got {type(cfg).__name__}")
        dev = policy.device
        tok = tokenizer or tasks.make_tokenizer()
        if tok.vocab_size != policy.config.vocab_size:
            raise ValueError(f"tokenizer has {tok.vocab_size} tokens but the policy's vocabulary has "
                             f"{policy.config.vocab_size}")

        # the reward: a rule in TRL's convention, or the learned reward model (frozen)
        reward_model = None
        if _is_reward_model(reward):
            from .reward_model import reward_model_reward

            if reward.config.vocab_size != policy.config.vocab_size:
                raise ValueError(f"the reward model's vocabulary ({reward.config.vocab_size} tokens) differs from "
                                 f"the policy's ({policy.config.vocab_size})")
            reward_model = frozen(reward, dev)
            reward_fn = reward_model_reward(reward_model)
        elif isinstance(reward, torch.nn.Module) or not callable(reward):
            raise ValueError("reward must be a reward function reward(completions, **kwargs) -> list[float] "
                             "(TRL's convention, e.g. course_lib.rewards.r1_reward) or a "
                             f"course_lib.rlhf.reward_model.RewardModel, got {type(reward).__name__}")
        else:
            reward_fn = reward

        # the frozen reference: the policy as it starts, unless given
        if ref_model is None:
            ref_model = copy.deepcopy(policy)
        elif not isinstance(ref_model, GPT):
            raise ValueError(f"ref_model must be a course_lib GPT, got {type(ref_model).__name__}")
        elif ref_model.config.vocab_size != policy.config.vocab_size:
            raise ValueError(f"ref_model and policy must share a vocabulary: ref_model has "
                             f"{ref_model.config.vocab_size} tokens, the policy {policy.config.vocab_size}")
        ref_model = frozen(ref_model, dev)

        # the value model: from the reward model or from the SFT model (see the module docstring)
        if value_model is None:
            init = cfg.value_init
            if init == "auto":
                init = "reward_model" if reward_model is not None else "sft"
            if init == "reward_model":
                if reward_model is None:
                    raise ValueError("value_init='reward_model' needs reward to be a RewardModel; "
                                     "use value_init='sft' or 'auto' with a rule reward")
                value_model = ScalarHeadModel(reward_model.trunk)
                value_model.head.load_state_dict(reward_model.head.state_dict())
            else:
                value_model = ScalarHeadModel(policy)
            for p in value_model.parameters():
                p.requires_grad_(True)
        else:
            if not isinstance(value_model, ScalarHeadModel):
                raise ValueError(f"value_model must be a course_lib.lm.heads.ScalarHeadModel (one value per "
                                 f"position), got {type(value_model).__name__}")
            head = value_model.head
            if not isinstance(head, torch.nn.Linear) or head.out_features != 1:
                raise ValueError(f"value_model must output one value per position (a head n_embd -> 1), got a head "
                                 f"with {getattr(head, 'out_features', '?')} outputs")
            if value_model.config.vocab_size != policy.config.vocab_size:
                raise ValueError(f"value_model's vocabulary has {value_model.config.vocab_size} tokens, the "
                                 f"policy's {policy.config.vocab_size}")
            if value_model.config.block_size < policy.config.block_size:
                raise ValueError(f"value_model's block_size {value_model.config.block_size} is shorter than the "
                                 f"policy's {policy.config.block_size}")
        value_model = value_model.to(dev)
        return cls(policy=policy, ref_model=ref_model, value_model=value_model, reward_fn=reward_fn,
                   reward_model=reward_model, cfg=cfg, tokenizer=tok,
                   opt_policy=torch.optim.Adam(policy.parameters(), lr=cfg.lr),
                   opt_value=torch.optim.Adam(value_model.parameters(), lr=cfg.value_lr))

    def step(self, problems: Sequence[tasks.Problem], gen: torch.Generator, rng: np.random.Generator,
             timer: PhaseTimer | None = None) -> dict:
        """One PPO step on ``problems`` (the step's prompts); returns its statistics."""
        cfg, policy, vm = self.cfg, self.policy, self.value_model
        timer = timer or PhaseTimer(policy.device)

        # 1. sample completions and score them (the reward's time counts as scoring)
        with timer.phase("sampling"):
            batch = sample_rollouts(policy, self.tokenizer, [p.prompt for p in problems],
                                    group_size=cfg.samples_per_prompt, max_new_tokens=cfg.max_completion_length,
                                    temperature=cfg.temperature, generator=gen,
                                    reward_fn=timer.moved(self.reward_fn),
                                    columns={"answer": [p.answer for p in problems]}, metrics=METRICS)
        mask = batch.mask  # (B, N) real completion tokens
        B = len(batch)

        # 2. the experience: log π_ref, V(s_t), per-token rewards, GAE over tokens (γ = 1)
        with timer.phase("scoring"):
            with torch.no_grad():
                logp_old = batch.logprobs  # log π_old, recorded while sampling
                logp_ref = batch.token_logprobs(self.ref_model)
                values_old = completion_values(vm, batch)
                rewards = kl_penalized_rewards(logp_old, logp_ref, batch.rewards, mask, cfg.beta)
                adv, returns = token_gae(rewards, values_old, mask, cfg.gamma, cfg.lam)
                if cfg.normalize_advantages:
                    adv = masked_whiten(adv, mask)  # over the real tokens of the whole batch

        # 3. epochs of minibatch updates of the policy (clipped surrogate) and the value model
        with timer.phase("update"):
            tokens, full_mask, key_valid = batch.tokens, batch.full_mask(), batch.key_valid()
            P = batch.prompt_len
            dev = tokens.device
            v_losses, clip_fracs = [], []
            policy.train()
            vm.train()
            for _ in range(cfg.n_epochs):
                order = torch.as_tensor(rng.permutation(B), device=dev)
                for idx in order.split(cfg.minibatch_size):
                    m = mask[idx]
                    logp = token_logprobs(policy, tokens[idx], full_mask[idx], key_valid[idx],
                                          batch.temperature)[:, P:]  # (b, N), with gradients
                    ratio = torch.exp(torch.where(m, logp - logp_old[idx], torch.zeros_like(logp)))
                    pg_loss = clipped_surrogate(ratio, adv[idx], cfg.clip_eps, mask=m, aggregation="token_mean")
                    self.opt_policy.zero_grad(set_to_none=True)
                    pg_loss.backward()
                    torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                    self.opt_policy.step()

                    v = completion_values(vm, batch, idx)
                    v_loss = clipped_value_loss(v, values_old[idx], returns[idx], m, cfg.value_clip)
                    self.opt_value.zero_grad(set_to_none=True)
                    v_loss.backward()
                    torch.nn.utils.clip_grad_norm_(vm.parameters(), cfg.max_grad_norm)
                    self.opt_value.step()
                    with torch.no_grad():  # tokens whose gradient the clip stopped
                        clip_fracs.append(float(clipped_fraction(ratio, adv[idx], cfg.clip_eps, mask=m)))
                    v_losses.append(float(v_loss.detach()))
            policy.eval()
            vm.eval()

        # 4. statistics of the batch
        keep = mask.bool()
        return {"reward": float(batch.rewards.mean()),
                "accuracy": float(np.mean(batch.scores["accuracy"])),
                "kl": float(sequence_kl(logp_old, logp_ref, keep).mean()),
                "value_loss": float(np.mean(v_losses)),
                "explained_variance": explained_variance(values_old[keep], returns[keep]),
                "clip_fraction": float(np.mean(clip_fracs)),
                "entropy": float(-masked_mean(logp_old, keep)),
                "completion_len": float(batch.lengths().float().mean()),
                "completions": B}


def ppo_step(policy: GPT, tokenizer, problems: Sequence[tasks.Problem], *, cfg: RLHFConfig | None = None,
             reward=None, ref_model: GPT | None = None, value_model: ScalarHeadModel | None = None, seed: int = 0):
    """The step ``train_rlhf`` takes, ready for ``lmrl.cost.measure_step`` (notebooks 07 and 08).

    Returns:
        (step, trained, frozen): ``step(timer)`` takes one ``RLHFState.step``; the networks for
        ``lmrl.cost.state_bytes`` (a reward model given as ``reward`` is frozen state).
    """
    state = RLHFState.create(policy, reward, cfg, tokenizer=tokenizer, ref_model=ref_model,
                             value_model=value_model)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    problems = list(problems)

    def step(timer: PhaseTimer):
        picked = [problems[i] for i in rng.integers(0, len(problems), size=state.cfg.prompts_per_step)]
        state.step(picked, gen, rng, timer)

    frozen = {"reference": state.ref_model}
    if state.reward_model is not None:
        frozen["reward model"] = state.reward_model
    return step, {"policy": policy, "value model": state.value_model}, frozen


def heldout_samples(policy: GPT, ref_model: GPT, tokenizer, eval_set: Sequence, *, reward_fn: Callable | None = None,
                    temperature: float = 0.7, max_new_tokens: int = tasks.MAX_ANSWER_TOKENS, seed: int = 0) -> dict:
    """One completion sampled from ``policy`` per held-out prompt (as in training, at ``temperature``):

    * "kl": KL[π ‖ π_ref] per completion (``sequence_kl`` averaged; log-probs at the sampling temperature);
    * "accuracy": the gold verifier's accuracy of the samples (the policy's expected accuracy, which
      is what the RL objective moves; greedy accuracy only counts each prompt's most likely answer);
    * "reward": the reward's mean score of the samples (with ``reward_fn``: the proxy on held-out prompts).
    """
    prompts, answers = tasks.prompts_and_answers(eval_set)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    batch = sample_rollouts(policy, tokenizer, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                            generator=gen, reward_fn=reward_fn or (lambda completions, **kw: [0.0] * len(completions)),
                            columns={"answer": answers}, metrics=METRICS)
    with torch.no_grad():
        kl = float(sequence_kl(batch.logprobs, batch.token_logprobs(ref_model), batch.mask).mean())
    out = {"kl": kl, "accuracy": float(np.mean(batch.scores["accuracy"]))}
    if reward_fn is not None:
        out["reward"] = float(batch.rewards.mean())
    return out


def evaluate_policy(policy: GPT, eval_set: Sequence, tokenizer, reward_fn: Callable | None = None,
                    ref_model: GPT | None = None, temperature: float = 0.7, seed: int = 0) -> dict:
    """The held-out measurements of notebook 07.

    Greedy answers: gold accuracy and format rate (``tasks.evaluate``), the reward's mean score of
    those answers (if ``reward_fn``), their mean length in characters, the share longer than the
    true answer. With ``ref_model``, also ``heldout_samples``: "kl", "sampled_accuracy" and (with
    ``reward_fn``) "sampled_reward" of one completion per prompt sampled at ``temperature``.
    """
    ev = tasks.evaluate(policy, eval_set, tokenizer, greedy=True)
    prompts, answers = tasks.prompts_and_answers(eval_set)
    texts = ev["completions"]
    out = {"accuracy": ev["accuracy"], "format_rate": ev["format_rate"],
           "answer_len": float(np.mean([len(t) for t in texts])),
           "longer_than_truth": float(np.mean([len(t) > len(tasks.format_answer(a)) for t, a in zip(texts, answers)]))}
    if reward_fn is not None:
        out["reward"] = float(np.mean(reward_fn(completions=texts, prompts=prompts, answer=answers)))
    if ref_model is not None:
        sampled = heldout_samples(policy, ref_model, tokenizer, eval_set, reward_fn=reward_fn,
                                  temperature=temperature, seed=seed)
        out["kl"] = sampled["kl"]
        out["sampled_accuracy"] = sampled["accuracy"]
        if reward_fn is not None:
            out["sampled_reward"] = sampled["reward"]
    return out


def train_rlhf(policy: GPT, reward, cfg: RLHFConfig = RLHFConfig(), *, tokenizer=None,
               ref_model: GPT | None = None, value_model: ScalarHeadModel | None = None,
               train_problems: Sequence[tasks.Problem] | None = None, eval_set: Sequence | None = None,
               run: RunOptions | None = None) -> History:
    """Train ``policy`` in place with RLHF-PPO and return the history of the run.

    Args:
        policy: the policy, usually the shipped SFT model (``course_lib.lm.load_shipped("sft")[0]``).
        reward: a reward in TRL's convention (``reward(completions=..., prompts=..., answer=...,
            finished=...) -> list[float]``, e.g. ``rewards.r1_reward``) or a
            ``course_lib.rlhf.reward_model.RewardModel`` (frozen; scored with ``reward_model_reward``).
        cfg: the RLHFConfig.
        tokenizer: default ``tasks.make_tokenizer()``.
        ref_model: the frozen reference π_ref (default: a frozen copy of ``policy`` as it starts).
        value_model: a ScalarHeadModel (default: built as ``cfg.value_init`` says).
        train_problems: prompts to draw from (default: every training problem of the task).
        eval_set: held-out rows for the gold accuracy (default ``tasks.eval_problems()``).
        run: the run contract's options (``course_lib.runs.RunOptions``: threads, progress,
            max_seconds — a budget of training time, evaluation excluded: the run stops after the
            step that exceeds it, evaluates and returns —, eval_every, log, seed).

    Returns:
        A ``course_lib.runs.History`` (a dict of lists), one entry per step: "step", "reward" (mean reward of the sampled batch:
        the proxy when training on the reward model), "accuracy" (gold accuracy of the sampled
        batch), "kl" (mean Σ_t log π/π_ref per completion, at the sampling temperature),
        "value_loss", "explained_variance" (of the values before the update for the GAE returns),
        "clip_fraction", "entropy" (−mean log π of the sampled tokens: a Monte-Carlo estimate of
        the per-token entropy), "completion_len" (tokens, <eos> included), "seconds" (training
        time so far, evaluation excluded), "sample_seconds", "score_seconds", "update_seconds" (this
        step's time in each phase, ``course_lib.timing.PhaseTimer``); per evaluation (greedy,
        held-out): "eval_step", "eval_accuracy" (gold), "eval_format_rate", "eval_reward" (the
        training reward's score of the greedy answers), "eval_answer_len", "eval_longer_than_truth",
        "eval_kl", "eval_sampled_accuracy", "eval_sampled_reward" (of one completion per held-out
        prompt sampled at the training temperature, ``heldout_samples``: the KL to the reference, the
        gold accuracy and the reward's score of the samples); and "completions_sampled",
        "train_seconds", "config", "value_init".
    """
    # 0. check the arguments; the run's seed and cadence go into the config
    run = RunOptions.check(run)
    if isinstance(cfg, RLHFConfig):
        cfg = run.configure(cfg)
    problems = list(train_problems) if train_problems is not None else list(tasks.train_problems())
    if not problems:
        raise ValueError("train_problems must not be empty")
    eval_set = list(eval_set) if eval_set is not None else list(tasks.eval_problems())
    if not eval_set:
        raise ValueError("eval_set must not be empty")

    with threads(run.threads):
        # 1. seed, then the state: the policy, the reference, the value model, two Adams
        set_seed(cfg.seed if isinstance(cfg, RLHFConfig) else 0)
        state = RLHFState.create(policy, reward, cfg, tokenizer=tokenizer, ref_model=ref_model,
                                 value_model=value_model)
        cfg, tok = state.cfg, state.tokenizer
        value_init = "given" if value_model is not None else (
            cfg.value_init if cfg.value_init != "auto" else
            ("reward_model" if state.reward_model is not None else "sft"))
        hist = History(updates=("step", "reward", "accuracy", "kl", "value_loss", "explained_variance",
                                "clip_fraction", "entropy", "completion_len", "seconds", "sample_seconds",
                                "score_seconds", "update_seconds"),
                       evals=("eval_step", "eval_accuracy", "eval_format_rate", "eval_reward", "eval_answer_len",
                              "eval_longer_than_truth", "eval_kl", "eval_sampled_accuracy", "eval_sampled_reward"),
                       completions_sampled=0, train_seconds=0.0, config=asdict(cfg), value_init=value_init)
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
        timer = PhaseTimer(policy.device)

        def evaluate_now(step: int):
            ev = evaluate_policy(policy, eval_set, tok, state.reward_fn, state.ref_model, cfg.temperature, cfg.seed)
            hist.record("evals", {"eval_step": step, **{f"eval_{k}": ev[k] for k in (
                "accuracy", "format_rate", "reward", "answer_len", "longer_than_truth", "kl", "sampled_accuracy",
                "sampled_reward")}})

        # 2. the steps (RLHFState.step: sample, score, GAE, epochs of minibatch updates)
        evaluate_now(0)
        steps = range(1, cfg.steps + 1)
        bar = None
        if run.progress:
            from tqdm.auto import tqdm

            steps = bar = tqdm(steps, desc="RLHF-PPO", leave=False)
        for step in steps:
            picked = [problems[i] for i in rng.integers(0, len(problems), size=cfg.prompts_per_step)]
            before = dict(timer.seconds)
            rec = {"step": step, **state.step(picked, gen, rng, timer)}
            hist["completions_sampled"] += rec.pop("completions")

            # 3. log, and evaluate every eval_every steps, at the end and when out of time
            rec.update(seconds=sum(timer.seconds.values()),
                       **{f"{short}_seconds": timer.seconds[phase] - before[phase]
                          for short, phase in (("sample", "sampling"), ("score", "scoring"), ("update", "update"))})
            hist.record("updates", rec)
            if bar is not None:
                bar.set_postfix(acc=f"{rec['accuracy']:.2f}", kl=f"{rec['kl']:.2f}")
            if run.log is not None:
                run.log(rec)
            out_of_time = run.out_of_time(rec["seconds"])
            if step % cfg.eval_every == 0 or step == cfg.steps or out_of_time:
                evaluate_now(step)
            if out_of_time:
                break
        hist["train_seconds"] = sum(timer.seconds.values())
    policy.eval()
    return hist


__all__ = ["RLHFState", "ppo_step", "train_rlhf", "completion_values", "sequence_kl", "heldout_samples", "evaluate_policy"]
