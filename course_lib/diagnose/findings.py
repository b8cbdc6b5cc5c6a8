"""The run doctor's findings: pure functions over a run's ``History`` (and optionally its last batch).

Each ``check_*`` function reads the series it needs and returns a ``Finding`` or None (also None when
the run does not log those series: a finding never guesses). ``diagnose(history, batch)`` runs them
all. Every threshold below is a named constant with its reason; the values were calibrated on the
healthy defaults of notebooks 04, 07 and 08 (three seeds each, small budgets) and on runs with one
planted fault each (``course_lib.experiments.diagnose_runs``); the measured table is in
docs/run-doctor.md.

Windows: a trend is read as the mean of the first ``WINDOW`` updates against the mean of the last
``WINDOW``, and a difference counts only outside the noise (``course_lib.stats``: Welch's interval
over the per-update values, Newcombe's for accuracies on the held-out set). No trend finding speaks
before ``2 · WINDOW`` updates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..i18n import message, message_format
from ..runs import History, history_of
from ..stats import compare_accuracies, compare_seeds

__all__ = ["Finding", "FINDINGS", "CHECKS", "diagnose", "run_kind", "history_until", "first_firing",
           "format_findings", "SEVERITIES", "TEXTS", "english_messages"]

SEVERITIES = ("info", "warning", "error")  # info: an explanation, not an alarm (healthy runs may show it)

# ---- thresholds (each with its reason; calibration in docs/run-doctor.md) ----------------------------
WINDOW = 10  # CartPole updates per window (2,560 env steps at PPOConfig defaults); 196 updates in a 50k-step run
LM_WINDOW = 5  # LM steps per window: runs are short (30-40 steps); 5 GRPO steps hold 1,280 completions (32 × 8)
ZERO_VAR_FRAC = 0.7  # share of equal-reward groups; healthy GRPO: 0.23-0.43 per 5 steps, cold/lr×10/format-only: 0.74-1.0
LOSS_ZERO = 1e-3  # |GRPO loss| below this is the by-construction zero of μ = 1 (measured: |loss| < 1e-6)
FORMAT_LEVEL = 0.9  # format rate from which the format part of the reward is saturated
STUCK_ACCURACY = 0.05  # gold accuracy of samples below this: the reward is the format part alone
REWARD_GOLD_CORR = 0.5  # corr(reward, gold accuracy) over steps: healthy r1 0.99; format-only reward −0.4
ENTROPY_FALL = 0.35  # LM entropy below this share of its start; healthy GRPO and RLHF keep ≥ 0.75 of it in 30-40 steps
KL_RUNAWAY = 1.0  # nats per completion (5-step mean); healthy RLHF (β = 0.02, 30 steps) peaks at 0.54-0.68, β = 0 against the length-biased RM ends at 1.2-1.6
LM_CLIP_FRACTION = 0.3  # share of clipped tokens per update (healthy RLHF-PPO ≤ 0.15)
PPO_APPROX_KL = 0.03  # 5-update mean of PPO's approximate KL; healthy CartPole ≤ 0.027, lr×10 0.043-0.17
VALUE_EV_FLOOR = -1.0  # explained variance below −1: the value net is worse than predicting a constant, twice over
VALUE_EV_GOOD = 0.5  # the value net had learned (explained variance above this) before collapsing
VALUE_LOSS_GROWTH = 100.0  # value loss grew this many times over its first window (healthy CartPole falls 10-1000×)
RAW_ADVANTAGE_LOSS = 0.3  # |PPO policy loss| with standardised advantages stays ≤ 0.03 (measured); raw GAE ~ 3
ENTROPY_EARLY = 0.1  # CartPole entropy below this share of its start while returns are still far from their best
NO_IMPROVEMENT_AFTER = 20_000  # CartPole env steps before "no improvement" may speak (healthy PPO: 25 → 100+ by then)
TIME_LIMIT_MIN_EPISODES = 3  # episodes ending at the one longest length, all "terminated": 3 natural ends at one exact length are rare (measured: seed 1 of the planted fault reaches the 500 limit only 4 times in 50k steps)
SPIKE_FACTOR = 10.0  # a loss above median + this many × its median absolute deviation (and 3× its previous max)
NARROW_DISTINCT = 0.25  # distinct completions per group / G (from the batch); the SFT model at T = 0.7: ~0.5
GOLD_COLLAPSE = 0.5  # gold accuracy below half its start: notebook 08's early dip (down to −13 points) is not this
EVAL_SIZE = 500  # the course's held-out set (tasks.eval_problems()); a History may carry its own "eval_size"


@dataclass(frozen=True)
class Finding:
    """One thing the run doctor noticed.

    Attributes:
        name: the finding's identifier (a key of ``FINDINGS``), e.g. "zero_variance_groups".
        severity: "info" (an explanation), "warning" or "error".
        title: one line saying what was seen.
        evidence: which series, at which steps, with which values (``{"series": [...], "steps": [...],
            "values": {...}, "detail": str}``).
        explanation: why it happens, and the notebook section that teaches it.
        what_to_try: the change most likely to help.
        step: the last step (the run's own axis: step or env steps) the evidence covers.
    """

    name: str
    severity: str
    title: str
    evidence: dict
    explanation: str
    what_to_try: str
    step: float | None = None

    def __str__(self) -> str:
        return format_findings([self])


@dataclass(frozen=True)
class _Doc:
    """What a finding means: where it is taught and what to try (shared by every instance)."""
    kinds: tuple[str, ...]  # run kinds it applies to
    series: tuple[str, ...]  # the series it reads
    teaches: str
    what_to_try: str
    severity: str = "warning"


FINDINGS: dict[str, _Doc] = {}
CHECKS: dict[str, Callable] = {}


def _finding(name: str, kinds: Sequence[str], series: Sequence[str], teaches: str, what_to_try: str,
             severity: str = "warning"):
    def register(fn):
        FINDINGS[name] = _Doc(tuple(kinds), tuple(series), teaches, what_to_try, severity)
        CHECKS[name] = fn
        fn.finding_name = name
        return fn
    return register


# What a finding says, by key (its message key is "diagnose." + the key): templates filled by _say. The
# finding's ``teaches`` and ``what_to_try`` are read from FINDINGS under "diagnose.<name>.teaches" and
# "diagnose.<name>.what_to_try"; all of them are shown in the learner's language (course_lib.i18n.message).
TEXTS: dict[str, str] = {
    "label.none": "no findings: nothing in these series looks wrong",
    "label.evidence": "evidence",
    "label.why": "why",
    "label.try": "try",
    "axis.env_steps": "env steps",
    "axis.step": "step",
    "detail.first_last_steps": "means of the first and last {window} steps",
    "detail.first_last_updates": "means of the first and last {window} updates",
    "zero_variance_groups.title": "{share:.0%} of the groups had all rewards equal over the last {window} steps: they "
                                  "carry no gradient",
    "zero_variance_groups.cause.all_wrong": "the samples are almost all wrong, so most groups score all-wrong alike",
    "zero_variance_groups.cause.all_right": "the samples are almost all right: the prompts are too easy for a gradient",
    "zero_variance_groups.cause.alike": "the sampled tokens' entropy was {entropy:.2f} nats from the first steps: the G "
                                        "samples of a prompt are nearly the same answer (temperature too low?)",
    "zero_variance_groups.cause.coarse": "the reward gives the answers of a group the same score (too coarse, or it "
                                         "ignores correctness)",
    "zero_variance_groups.why": "A group whose G rewards are equal has advantages (r − mean)/std = 0: only "
                                "{moving:.0%} of the batch moves the policy; {cause}",
    "loss_is_zero.title": "the loss is ≈ 0 at every step (median |loss| {median:.1e}): that is expected",
    "loss_is_zero.detail": "GRPO's loss value, not its gradient",
    "loss_is_zero.why": "With one update per batch (μ = 1) the ratio is exactly 1 and the advantages of each group sum "
                        "to zero, so the loss's value is 0 (minus a tiny KL term) while its gradient Σ A·∇log π is not",
    "reward_at_format_level.title": "the reward sits at the format-only level: correct answers earn nothing more",
    "reward_at_format_level.detail.no_accuracy": "gold accuracy of the samples {accuracy:.1%} while {formatted:.0%} are "
                                                 "well formatted: all the reward earned is the format's",
    "reward_at_format_level.detail.uncorrelated": "the reward does not move with the gold accuracy (correlation "
                                                  "{corr:+.2f} over {n} steps; a reward that pays correct answers "
                                                  "correlates above 0.9)",
    "reward_at_format_level.why": "Once every answer is well formatted the format reward is the same for the whole "
                                  "group and teaches nothing: only a reward that pays correct answers can move the "
                                  "accuracy",
    "reward_collapse.title.gold": "held-out gold accuracy collapsed from {first:.1%} to {last:.1%}",
    "reward_collapse.why.gold": "RL should not unlearn what the model could do; losing more than half of it means the "
                                "updates overshoot (a step too large for the model) or drift while most groups carry "
                                "no gradient",
    "reward_collapse.title.reward": "the training reward fell from {first:.3f} to {last:.3f} (outside the noise)",
    "reward_collapse.detail.reward": "Welch over {window}-step windows: {verdict}",
    "reward_collapse.why.reward": "RL should raise the reward it is trained on; a fall means the updates overshoot (a "
                                  "step too large for the model), or that the model drifts while most groups carry "
                                  "no gradient",
    "entropy_collapse.title": "the sampled tokens' entropy fell from {first:.2f} to {last:.2f} nats ({share:.0%} of "
                              "its start)",
    "entropy_collapse.why": "The policy puts nearly all its probability on one answer per prompt: samples stop "
                            "differing, groups turn zero-variance and exploration ends",
    "kl_runaway.title": "the KL to the reference reached {last:.2f} nats per completion and is still rising",
    "kl_runaway.detail": "threshold {limit} nats",
    "kl_runaway.why": "Far from the reference the reward (or reward model) is scored on answers it never saw; with "
                      "β = 0 nothing pulls the policy back",
    "step_too_large.what.approx_kl": "approximate KL between successive policies",
    "step_too_large.what.clip_fraction": "share of tokens whose ratio was clipped",
    "step_too_large.title": "the {what} reached {value:.3f} (mean of {window} updates; above {limit})",
    "step_too_large.detail": "highest {window}-update mean, at {axis} {step:.0f}",
    "step_too_large.why": "Each update moves the policy further than the clipped objective's trust region (ε) allows: "
                          "the clip then discards the gradient of many samples and the policy can jump",
    "value_not_learning.title": "the value model's explained variance fell to {value:.2f}",
    "value_not_learning.detail.lost": "it had learned (explained variance above 0.5) and then lost it: its updates "
                                      "overshoot",
    "value_not_learning.detail.never": "it never predicted the returns",
    "value_not_learning.why": "Explained variance 1 − Var(R − V)/Var(R) below 0 means V predicts the returns worse "
                              "than their mean; {detail}. Advantages R − V are then mostly the value model's error",
    "value_loss_exploding.title": "the value loss grew {growth:.0f}-fold ({first:.3g} -> {last:.3g})",
    "value_loss_exploding.why": "The value targets moved faster than the value net can follow, or its steps diverge; "
                                "its error then floods the advantages",
    "reward_hacking.detail": "held-out greedy gold accuracy {first:.1%} -> {last:.1%} ({verdict})",
    "reward_hacking.detail.lengths": "; answers {first:.2f} -> {last:.2f} characters",
    "reward_hacking.title": "the reward rose while the gold accuracy fell: the reward is being gamed",
    "reward_hacking.why": "The optimised reward is a proxy: the policy found what it pays for (a reward model's length "
                          "bias, a format-only rule) that the true verifier does not",
    "answers_narrowing.title": "the {G} completions of a prompt hold only {distinct:.1f} distinct answers on average",
    "answers_narrowing.detail": "{groups} groups of the last batch",
    "answers_narrowing.why": "The policy samples the same answer again and again: pass@k falls towards pass@1 and "
                             "groups turn zero-variance",
    "loss_not_finite.title": "{series} is not finite from {axis} {step:.0f}",
    "loss_not_finite.detail": "{bad} of {total} updates",
    "loss_not_finite.why": "A NaN or infinity in the loss poisons every parameter it reaches: the run is lost from there",
    "loss_spike.title": "{series} spiked to {value:.3g} at {axis} {step:.0f} (3× anything before, median {median:.3g})",
    "loss_spike.detail": "threshold: median + {factor:g} MAD and 3× the previous maximum",
    "loss_spike.why": "One update's loss far above every earlier one: an outlier batch or a step that overshot",
    "no_improvement.title": "after {done:.0f} env steps the last 20 episodes' return ({last:.0f}) is no better than "
                            "the first 20's ({first:.0f})",
    "no_improvement.why": "A working policy gradient on CartPole improves within the first 20k steps",
    "entropy_gone_early.title": "the policy's entropy fell to {entropy:.3f} (start {start:.2f}) before the returns got "
                                "good",
    "entropy_gone_early.detail": "threshold {factor:g} × the starting entropy",
    "entropy_gone_early.why": "A deterministic policy stops exploring: it can only improve through actions it still "
                              "samples",
    "advantages_unnormalised.title": "|policy loss| averages {value:.2f} over {window} updates: the advantages are in "
                                     "raw return units",
    "advantages_unnormalised.detail": "with standardised advantages it stays below {limit:g}",
    "advantages_unnormalised.why": "The clipped surrogate is a mean of ratio × advantage; standardised advantages have "
                                   "mean 0 and scale 1, raw GAE advantages are tens of reward units, so the step size "
                                   "follows the reward's scale",
    "truncation_as_termination.title": "{episodes} episodes stopped at the same length {limit:.0f} and every one was "
                                       "recorded as terminated; none was ever truncated",
    "truncation_as_termination.detail": "natural terminations do not all happen at one exact length: that is a time "
                                        "limit",
    "truncation_as_termination.why": "A time-limit cut is not the end of the MDP: treating it as termination drops "
                                     "γ·V(s_{{t+1}}) from the target, so the value of a good state is taught to be one "
                                     "reward",
}


def _say(key: str, **fields) -> str:
    """``TEXTS[key]`` in the learner's language, its fields filled (the English if a translation cannot fill)."""
    return message_format(f"diagnose.{key}", TEXTS[key], **fields)


def english_messages() -> dict[str, str]:
    """Every message key of the run doctor with its current English (see ``course_lib.i18n``)."""
    out = {f"diagnose.{key}": text for key, text in TEXTS.items()}
    for name, doc in FINDINGS.items():
        out[f"diagnose.{name}.teaches"] = doc.teaches
        out[f"diagnose.{name}.what_to_try"] = doc.what_to_try
    return out


def _make(name: str, title: str, evidence: dict, why: str, step=None, severity: str | None = None) -> Finding:
    doc = FINDINGS[name]
    teaches = message(f"diagnose.{name}.teaches", doc.teaches)
    return Finding(name, severity or doc.severity, title, evidence, f"{why} ({teaches})",
                   message(f"diagnose.{name}.what_to_try", doc.what_to_try), None if step is None else float(step))


# ---- reading a history -----------------------------------------------------------------------------
def run_kind(history: dict) -> str:
    """"cartpole" (PPO, REINFORCE), "grpo", "rlhf", "dpo", "trl" or "lm" (another LM trainer)."""
    cfg = history.get("config")
    trainer = cfg.get("trainer") if isinstance(cfg, dict) else None
    if trainer in ("ppo", "reinforce"):
        return "cartpole"
    if trainer in ("grpo", "rlhf", "dpo"):
        return trainer
    if "env_steps" in history or "batch_mean_return" in history or "episode_returns" in history:
        return "cartpole"
    if "zero_variance_frac" in history:
        return "grpo"
    if "value_loss" in history and "completion_len" in history:
        return "rlhf"
    if "pair_accuracy" in history:
        return "dpo"
    if "model" in history or ("loss" in history and "reward" in history):
        return "trl"
    return "lm"


def _arr(history: dict, name: str) -> np.ndarray | None:
    v = history.get(name)
    if not isinstance(v, (list, tuple, np.ndarray)) or len(v) == 0:
        return None
    try:
        return np.asarray([np.nan if x is None else x for x in v], dtype=float)
    except (TypeError, ValueError):
        return None


def _steps(history: dict, n: int) -> np.ndarray:
    """The step axis of the per-update series: "step", else "env_steps", else "iteration", else 1..n."""
    for axis in ("step", "env_steps", "iteration"):
        a = _arr(history, axis)
        if a is not None and len(a) >= n:
            return a[:n]
    return np.arange(1, n + 1, dtype=float)


def _axis_name(history: dict) -> str:
    return _say("axis.env_steps") if "env_steps" in history else _say("axis.step")


def _w(history: dict) -> int:
    return WINDOW if run_kind(history) == "cartpole" else LM_WINDOW


def _r(x, d: int = 3):
    return None if x is None or not np.isfinite(x) else float(f"{x:.{d}g}")


def _windows(x: np.ndarray, w: int):
    """(first window, last window) of the finite values, or None if there are fewer than 2w."""
    x = x[np.isfinite(x)]
    if len(x) < 2 * w:
        return None
    return x[:w], x[-w:]


# ---- LM runs ---------------------------------------------------------------------------------------
@_finding("zero_variance_groups", ("grpo",), ("zero_variance_frac", "accuracy", "entropy_proxy"),
          "notebook 08 §2.6 'Zero-variance groups'; notebook 09 §3.4 'Dynamic sampling'",
          "If every answer in a group is the same, raise the temperature (0.7 is the course's); if the groups are "
          "all right or all wrong, pick prompts nearer the model's level or a larger group_size; dynamic_sampling=True "
          "drops such groups (DAPO).")
def check_zero_variance_groups(history: dict, batch=None) -> Finding | None:
    z = _arr(history, "zero_variance_frac")
    if z is None or len(z) < LM_WINDOW:
        return None
    last = float(np.nanmean(z[-LM_WINDOW:]))
    if last < ZERO_VAR_FRAC:
        return None
    steps = _steps(history, len(z))
    acc = _arr(history, "accuracy")
    ent = _arr(history, "entropy_proxy")
    a = float(np.nanmean(acc[-LM_WINDOW:])) if acc is not None else float("nan")
    e0 = float(np.nanmean(ent[:LM_WINDOW])) if ent is not None else float("nan")
    if np.isfinite(a) and a < STUCK_ACCURACY:
        cause = _say("zero_variance_groups.cause.all_wrong")
    elif np.isfinite(a) and a > 1 - STUCK_ACCURACY:
        cause = _say("zero_variance_groups.cause.all_right")
    elif np.isfinite(e0) and e0 < 0.25:
        cause = _say("zero_variance_groups.cause.alike", entropy=e0)
    else:
        cause = _say("zero_variance_groups.cause.coarse")
    return _make("zero_variance_groups", _say("zero_variance_groups.title", share=last, window=LM_WINDOW),
                 {"series": ["zero_variance_frac"], "steps": [steps[-LM_WINDOW], steps[-1]],
                  "values": {"zero_variance_frac": _r(last), "accuracy": _r(a), "entropy_start": _r(e0)},
                  "detail": cause},
                 _say("zero_variance_groups.why", moving=1 - last, cause=cause), steps[-1])


@_finding("loss_is_zero", ("grpo", "trl"), ("loss",),
          "notebook 08 §3 'The full objective, term by term'",
          "Nothing: watch the reward, the gold accuracy, the zero-variance share and the KL instead of the loss.",
          severity="info")
def check_loss_is_zero(history: dict, batch=None) -> Finding | None:
    loss = _arr(history, "loss")
    if loss is None or len(loss) < LM_WINDOW or not np.all(np.isfinite(loss)):
        return None
    m = float(np.median(np.abs(loss)))
    if m >= LOSS_ZERO:
        return None
    steps = _steps(history, len(loss))
    return _make("loss_is_zero", _say("loss_is_zero.title", median=m),
                 {"series": ["loss"], "steps": [steps[0], steps[-1]], "values": {"median_abs_loss": _r(m)},
                  "detail": _say("loss_is_zero.detail")},
                 _say("loss_is_zero.why"), steps[-1])


@_finding("reward_at_format_level", ("grpo", "rlhf", "trl"), ("reward", "accuracy", "format_rate"),
          "notebook 06 (rule rewards: accuracy plus format); notebook 08 §4 'GRPO on the small language model'",
          "Check that the reward pays for correct answers (r1_reward = accuracy + format), not the format alone; if "
          "it does and accuracy fell to zero, the step is too large (lower lr).")
def check_reward_at_format_level(history: dict, batch=None) -> Finding | None:
    rew, acc, fmt = _arr(history, "reward"), _arr(history, "accuracy"), _arr(history, "format_rate")
    if rew is None or acc is None or fmt is None or len(rew) < 2 * LM_WINDOW:
        return None
    n = min(len(rew), len(acc), len(fmt))
    rew, acc, fmt = rew[:n], acc[:n], fmt[:n]
    f_last, a_last = float(np.nanmean(fmt[-LM_WINDOW:])), float(np.nanmean(acc[-LM_WINDOW:]))
    if f_last < FORMAT_LEVEL:
        return None
    ok = np.isfinite(rew) & np.isfinite(acc)
    corr = float(np.corrcoef(rew[ok], acc[ok])[0, 1]) if ok.sum() > 2 and np.std(acc[ok]) > 0 and np.std(rew[ok]) > 0 \
        else float("nan")
    steps = _steps(history, n)
    if a_last < STUCK_ACCURACY:
        detail = _say("reward_at_format_level.detail.no_accuracy", accuracy=a_last, formatted=f_last)
    elif np.isfinite(corr) and corr < REWARD_GOLD_CORR:
        detail = _say("reward_at_format_level.detail.uncorrelated", corr=corr, n=n)
    else:
        return None
    return _make("reward_at_format_level", _say("reward_at_format_level.title"),
                 {"series": ["reward", "accuracy", "format_rate"], "steps": [steps[0], steps[-1]],
                  "values": {"format_rate": _r(f_last), "accuracy": _r(a_last), "corr_reward_accuracy": _r(corr)},
                  "detail": detail},
                 _say("reward_at_format_level.why"), steps[-1])


@_finding("reward_collapse", ("grpo", "rlhf", "trl"), ("reward", "eval_accuracy"),
          "notebook 08 §4 (the learning rate of GRPOConfig); notebook 09 §1 'Diversity collapse'",
          "Lower the learning rate (GRPO's 5e-4 is tuned for this model; ×10 collapses it), or add a KL penalty (β > 0).")
def check_reward_collapse(history: dict, batch=None) -> Finding | None:
    rew = _arr(history, "reward")
    gold, gstep = _arr(history, "eval_accuracy"), _arr(history, "eval_step")
    steps = _steps(history, 0 if rew is None else len(rew))
    if gold is not None and gstep is not None and len(gold) >= 2 and gold[0] > 0:
        n = int(history.get("eval_size", EVAL_SIZE))
        d = compare_accuracies(round(gold[0] * n), n, round(gold[-1] * n), n)
        if d.outside_noise and gold[-1] < GOLD_COLLAPSE * gold[0]:
            return _make("reward_collapse", _say("reward_collapse.title.gold", first=gold[0], last=gold[-1]),
                         {"series": ["eval_accuracy", "reward"], "steps": [float(gstep[0]), float(gstep[-1])],
                          "values": {"gold_first": _r(float(gold[0])), "gold_last": _r(float(gold[-1]))},
                          "detail": d.verdict()},
                         _say("reward_collapse.why.gold"), float(gstep[-1]))
    if rew is None:
        return None
    ws = _windows(rew, LM_WINDOW)
    if ws is None:
        return None
    d = compare_seeds(ws[0], ws[1])
    first, last = float(np.mean(ws[0])), float(np.mean(ws[1]))
    if not (d.outside_noise and d.diff < 0):
        return None
    return _make("reward_collapse", _say("reward_collapse.title.reward", first=first, last=last),
                 {"series": ["reward"], "steps": [steps[0], steps[-1]],
                  "values": {"reward_first": _r(first), "reward_last": _r(last)},
                  "detail": _say("reward_collapse.detail.reward", window=LM_WINDOW, verdict=d.verdict(unit='', scale=1.0))},
                 _say("reward_collapse.why.reward"), steps[-1])


@_finding("entropy_collapse", ("grpo", "rlhf"), ("entropy_proxy", "entropy"),
          "notebook 09 §3.3 'Clip-higher against entropy collapse' and §1 'Diversity collapse'",
          "Raise eps_high (clip-higher, DAPO 0.28), keep β > 0, lower the learning rate, or sample at a higher temperature.")
def check_entropy_collapse(history: dict, batch=None) -> Finding | None:
    name = "entropy_proxy" if "entropy_proxy" in history else "entropy"
    ent = _arr(history, name)
    if ent is None:
        return None
    ws = _windows(ent, LM_WINDOW)
    if ws is None:
        return None
    first, last = float(np.mean(ws[0])), float(np.mean(ws[1]))
    if first <= 0 or last >= ENTROPY_FALL * first:
        return None
    steps = _steps(history, len(ent))
    return _make("entropy_collapse", _say("entropy_collapse.title", first=first, last=last, share=last / first),
                 {"series": [name], "steps": [steps[0], steps[-1]], "values": {"first": _r(first), "last": _r(last)},
                  "detail": _say("detail.first_last_steps", window=LM_WINDOW)},
                 _say("entropy_collapse.why"), steps[-1])


@_finding("kl_runaway", ("grpo", "rlhf"), ("kl",),
          "notebook 07 §1 (the KL leash −β·log π/π_ref) and §3 'Reward hacking, measured'",
          "Raise β (InstructGPT 0.02; 0.1 holds the course's runs near the reference), lower the learning rate, or stop earlier.")
def check_kl_runaway(history: dict, batch=None) -> Finding | None:
    kl = _arr(history, "kl")
    if kl is None:
        return None
    ws = _windows(kl, LM_WINDOW)
    if ws is None:
        return None
    last = float(np.mean(ws[1]))
    d = compare_seeds(ws[0], ws[1])
    if last < KL_RUNAWAY or not (d.outside_noise and d.diff > 0):
        return None
    steps = _steps(history, len(kl))
    return _make("kl_runaway", _say("kl_runaway.title", last=last),
                 {"series": ["kl"], "steps": [steps[0], steps[-1]],
                  "values": {"kl_first": _r(float(np.mean(ws[0]))), "kl_last": _r(last)},
                  "detail": _say("kl_runaway.detail", limit=KL_RUNAWAY)},
                 _say("kl_runaway.why"), steps[-1])


@_finding("step_too_large", ("grpo", "rlhf", "cartpole"), ("clip_fraction", "approx_kl"),
          "notebook 04 §1 'The probability ratio and the clipped surrogate' and §6 'What the clip does'",
          "Lower the learning rate (CartPole's PPO: 1e-3), use fewer epochs per batch, or keep the advantages standardised.")
def check_step_too_large(history: dict, batch=None) -> Finding | None:
    kind = run_kind(history)
    if kind == "cartpole":
        x, name, limit = _arr(history, "approx_kl"), "approx_kl", PPO_APPROX_KL
        w = 5
    else:
        x, name, limit = _arr(history, "clip_fraction"), "clip_fraction", LM_CLIP_FRACTION
        w = LM_WINDOW
    if x is None or len(x) < w:
        return None
    roll = np.convolve(np.nan_to_num(x), np.ones(w) / w, mode="valid")
    i = int(np.argmax(roll))
    if roll[i] <= limit:
        return None
    steps = _steps(history, len(x))
    return _make("step_too_large", _say("step_too_large.title", what=_say(f"step_too_large.what.{name}"),
                                        value=roll[i], window=w, limit=limit),
                 {"series": [name], "steps": [steps[i], steps[i + w - 1]], "values": {name: _r(float(roll[i]))},
                  "detail": _say("step_too_large.detail", window=w, axis=_axis_name(history), step=steps[i + w - 1])},
                 _say("step_too_large.why"), steps[i + w - 1])


@_finding("value_not_learning", ("rlhf", "cartpole"), ("explained_variance",),
          "notebook 04 §2 'Generalised advantage estimation'; notebook 07 §1 (GAE over tokens)",
          "Lower the value learning rate (RLHF: value_lr; PPO: lr), check the value targets (returns), or initialise "
          "the value model from the reward model (value_init).")
def check_value_not_learning(history: dict, batch=None) -> Finding | None:
    ev = _arr(history, "explained_variance")
    if ev is None:
        return None
    w = _w(history)
    ev = np.where(np.isfinite(ev), ev, 0.0)
    if len(ev) < 2 * w:
        return None
    roll = np.convolve(ev, np.ones(w) / w, mode="valid")
    i = int(np.argmin(roll))
    if roll[i] >= VALUE_EV_FLOOR:
        return None
    steps = _steps(history, len(ev))
    had = bool(np.max(roll[: i + 1]) > VALUE_EV_GOOD)
    detail = _say("value_not_learning.detail.lost") if had else _say("value_not_learning.detail.never")
    return _make("value_not_learning", _say("value_not_learning.title", value=roll[i]),
                 {"series": ["explained_variance"], "steps": [steps[i], steps[i + w - 1]],
                  "values": {"explained_variance": _r(float(roll[i])), "had_learned": had}, "detail": detail},
                 _say("value_not_learning.why", detail=detail), steps[i + w - 1])


@_finding("value_loss_exploding", ("cartpole", "rlhf"), ("value_loss",),
          "notebook 04 §2 'Generalised advantage estimation'",
          "Lower the learning rate, clip the value loss (value_clip) or the gradient norm, and check the returns' scale.")
def check_value_loss_exploding(history: dict, batch=None) -> Finding | None:
    vl = _arr(history, "value_loss")
    if vl is None:
        return None
    w = _w(history)
    ws = _windows(vl, w)
    if ws is None:
        return None
    first, last = float(np.mean(ws[0])), float(np.mean(ws[1]))
    if not (last > VALUE_LOSS_GROWTH * max(first, 1e-8)):
        return None
    steps = _steps(history, len(vl))
    return _make("value_loss_exploding", _say("value_loss_exploding.title", growth=last / max(first, 1e-8), first=first,
                                              last=last),
                 {"series": ["value_loss"], "steps": [steps[0], steps[-1]], "values": {"first": _r(first), "last": _r(last)},
                  "detail": _say("detail.first_last_updates", window=w)},
                 _say("value_loss_exploding.why"), steps[-1])


@_finding("reward_hacking", ("rlhf", "grpo", "trl"), ("reward", "eval_reward", "eval_accuracy", "eval_answer_len"),
          "notebook 07 §3 'Reward hacking, measured' (Gao et al. 2022, arXiv 2210.10760)",
          "Raise β (the KL leash), stop at the gold peak, or fix the reward (model): it pays for something other than "
          "correct answers (here: length).", severity="error")
def check_reward_hacking(history: dict, batch=None) -> Finding | None:
    gold, gstep = _arr(history, "eval_accuracy"), _arr(history, "eval_step")
    rew = _arr(history, "reward")
    if gold is None or gstep is None or rew is None or len(gold) < 2:
        return None
    ws = _windows(rew, LM_WINDOW)
    if ws is None:
        return None
    up = compare_seeds(ws[0], ws[1])
    proxy = _arr(history, "eval_reward")  # the reward's score of the greedy held-out answers (RLHF logs it)
    proxy_up = proxy is not None and len(proxy) >= 2 and proxy[-1] > proxy[0]
    if not ((up.outside_noise and up.diff > 0) or proxy_up):
        return None
    n = int(history.get("eval_size", EVAL_SIZE))
    g0, g1 = float(gold[0]), float(gold[-1])
    down = compare_accuracies(round(g0 * n), n, round(g1 * n), n)
    lens = _arr(history, "eval_answer_len")
    longer = lens is not None and len(lens) >= 2 and lens[-1] > lens[0] * 1.2
    if not ((down.outside_noise and down.diff < 0) or (longer and not (down.outside_noise and down.diff > 0))):
        return None
    detail = _say("reward_hacking.detail", first=g0, last=g1, verdict=down.verdict())
    if lens is not None and len(lens) >= 2:
        detail += _say("reward_hacking.detail.lengths", first=lens[0], last=lens[-1])
    return _make("reward_hacking", _say("reward_hacking.title"),
                 {"series": ["reward", "eval_accuracy"] + (["eval_answer_len"] if lens is not None else []),
                  "steps": [float(gstep[0]), float(gstep[-1])],
                  "values": {"reward_first": _r(float(np.mean(ws[0]))), "reward_last": _r(float(np.mean(ws[1]))),
                             "gold_first": _r(g0), "gold_last": _r(g1)}, "detail": detail},
                 _say("reward_hacking.why"), float(gstep[-1]))


@_finding("answers_narrowing", ("grpo", "rlhf", "trl"), ("batch",),
          "notebook 09 §1 'Diversity collapse' (pass@k)",
          "Sample at a higher temperature, raise eps_high (clip-higher) or β, or stop earlier; measure pass@k, not only pass@1.")
def check_answers_narrowing(history: dict, batch=None) -> Finding | None:
    """Needs the last batch (``RolloutBatch`` with ``group_size`` > 1): the course's trainers do not log diversity."""
    if batch is None or getattr(batch, "group_size", 1) < 2:
        return None
    G = batch.group_size
    texts = list(batch.completions)
    groups = [texts[i:i + G] for i in range(0, len(texts), G)]
    distinct = float(np.mean([len(set(g)) for g in groups])) / G
    if distinct >= NARROW_DISTINCT:
        return None
    return _make("answers_narrowing", _say("answers_narrowing.title", G=G, distinct=distinct * G),
                 {"series": ["batch"], "steps": [], "values": {"distinct_share": _r(distinct)},
                  "detail": _say("answers_narrowing.detail", groups=len(groups))},
                 _say("answers_narrowing.why"))


LOSS_SERIES = ("loss", "policy_loss", "value_loss", "kl", "approx_kl")


@_finding("loss_not_finite", ("grpo", "rlhf", "dpo", "trl", "cartpole", "lm"), LOSS_SERIES,
          "notebook 05 (training the language model: the loss and its gradient)",
          "Lower the learning rate, keep gradient clipping (max_grad_norm), and check the reward for NaN or infinite "
          "values.", severity="error")
def check_loss_not_finite(history: dict, batch=None) -> Finding | None:
    used = _arr(history, "groups_used")  # GRPO logs a NaN loss for a step with no group left to train on
    for name in LOSS_SERIES:
        x = _arr(history, name)
        if x is None:
            continue
        bad = ~np.isfinite(x)
        if used is not None and name == "loss":
            bad &= used[:len(x)] > 0
        bad = np.flatnonzero(bad)
        if not len(bad):
            continue
        steps = _steps(history, len(x))
        return _make("loss_not_finite", _say("loss_not_finite.title", series=name, axis=_axis_name(history),
                                             step=steps[bad[0]]),
                     {"series": [name], "steps": [steps[bad[0]]], "values": {name: str(x[bad[0]])},
                      "detail": _say("loss_not_finite.detail", bad=len(bad), total=len(x))},
                     _say("loss_not_finite.why"),
                     steps[bad[0]])
    return None


@_finding("loss_spike", ("grpo", "rlhf", "dpo", "cartpole", "lm"), ("loss", "value_loss"),
          "notebook 05 (the loss curve); notebook 04 §4",
          "Lower the learning rate or clip gradients harder; look at the batch of that step (a reward outlier?).")
def check_loss_spike(history: dict, batch=None) -> Finding | None:
    for name in ("loss", "value_loss"):
        if name == "loss" and run_kind(history) == "grpo":
            continue  # GRPO's loss value is ≈ 0 by construction (see loss_is_zero): its spikes mean nothing
        x = _arr(history, name)
        if x is None or len(x) < 4 * _w(history):
            continue
        x = np.where(np.isfinite(x), x, np.nan)
        for i in range(2 * _w(history), len(x)):
            prev = x[:i][np.isfinite(x[:i])]
            if not np.isfinite(x[i]) or len(prev) < 4:
                continue
            med = np.median(prev)
            mad = np.median(np.abs(prev - med))
            if x[i] > med + SPIKE_FACTOR * max(mad, 1e-8) and x[i] > 3 * np.max(prev):
                steps = _steps(history, len(x))
                return _make("loss_spike", _say("loss_spike.title", series=name, value=x[i], axis=_axis_name(history),
                                                step=steps[i], median=med),
                             {"series": [name], "steps": [steps[i]], "values": {name: _r(float(x[i])), "median": _r(float(med))},
                              "detail": _say("loss_spike.detail", factor=SPIKE_FACTOR)},
                             _say("loss_spike.why"),
                             steps[i])
    return None


# ---- CartPole runs (PPO, REINFORCE) ------------------------------------------------------------------
def _returns(history: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(episode returns, the env step each ended at) of a CartPole run."""
    for name in ("episode_returns", "episode_return"):
        r = _arr(history, name)
        if r is not None:
            st = _arr(history, "episode_steps")
            return r, st
    r = _arr(history, "batch_mean_return")
    return r, _arr(history, "env_steps")


@_finding("no_improvement", ("cartpole",), ("episode_returns", "episode_return", "batch_mean_return"),
          "notebook 03 §3 'REINFORCE on CartPole-v1'; notebook 04 §4",
          "Check the sign of the loss (minimise −J), the learning rate (too small or large) and that the advantages "
          "are not all zero.")
def check_no_improvement(history: dict, batch=None) -> Finding | None:
    r, st = _returns(history)
    if r is None or len(r) < 40:
        return None
    env_steps = _arr(history, "env_steps")
    done = float(env_steps[-1]) if env_steps is not None else float(st[-1]) if st is not None else 0.0
    if done < NO_IMPROVEMENT_AFTER:
        return None
    first, last = r[:20], r[-20:]
    d = compare_seeds(first, last)
    if d.outside_noise and d.diff > 0:
        return None
    return _make("no_improvement", _say("no_improvement.title", done=done, last=np.mean(last), first=np.mean(first)),
                 {"series": ["episode_returns"], "steps": [done], "values": {"first": _r(float(np.mean(first))),
                                                                            "last": _r(float(np.mean(last)))},
                  "detail": d.verdict(unit="", scale=1.0)},
                 _say("no_improvement.why"), done)


@_finding("entropy_gone_early", ("cartpole",), ("entropy", "episode_returns"),
          "notebook 04 §1 (the clip and the entropy bonus); notebook 03 §1",
          "Add an entropy bonus (ent_coef 0.01), lower the learning rate, or check that the logits are not scaled up.")
def check_entropy_gone_early(history: dict, batch=None) -> Finding | None:
    ent = _arr(history, "entropy")
    r, _ = _returns(history)
    if ent is None or r is None or len(ent) < WINDOW or len(r) < 20:
        return None
    start = float(np.mean(ent[:3]))
    floor = ENTROPY_EARLY * start
    low = np.flatnonzero(ent < floor)
    if not len(low):
        return None
    recent, best = float(np.mean(r[-20:])), float(np.max(np.convolve(r, np.ones(20) / 20, mode="valid")))
    if recent >= 0.9 * best and best > 2 * np.mean(r[:20]):
        return None  # entropy went after the policy had got good: that is convergence, not collapse
    steps = _steps(history, len(ent))
    return _make("entropy_gone_early", _say("entropy_gone_early.title", entropy=ent[low[0]], start=start),
                 {"series": ["entropy", "episode_returns"], "steps": [steps[low[0]]],
                  "values": {"entropy": _r(float(ent[low[0]])), "recent_return": _r(recent), "best_return": _r(best)},
                  "detail": _say("entropy_gone_early.detail", factor=ENTROPY_EARLY)},
                 _say("entropy_gone_early.why"),
                 steps[low[0]])


@_finding("advantages_unnormalised", ("cartpole",), ("policy_loss",),
          "notebook 04 §2 'Generalised advantage estimation' (advantages standardised per minibatch)",
          "Set normalize_advantages=True (PPOConfig): standardise the advantages of each minibatch.")
def check_advantages_unnormalised(history: dict, batch=None) -> Finding | None:
    pl = _arr(history, "policy_loss")
    if pl is None or len(pl) < WINDOW:
        return None
    roll = np.convolve(np.abs(np.nan_to_num(pl)), np.ones(WINDOW) / WINDOW, mode="valid")
    i = int(np.argmax(roll))
    if roll[i] <= RAW_ADVANTAGE_LOSS:
        return None
    steps = _steps(history, len(pl))
    return _make("advantages_unnormalised", _say("advantages_unnormalised.title", value=roll[i], window=WINDOW),
                 {"series": ["policy_loss"], "steps": [steps[i], steps[i + WINDOW - 1]], "values": {"abs_policy_loss": _r(float(roll[i]))},
                  "detail": _say("advantages_unnormalised.detail", limit=RAW_ADVANTAGE_LOSS / 10)},
                 _say("advantages_unnormalised.why"),
                 steps[i + WINDOW - 1])


@_finding("truncation_as_termination", ("cartpole",), ("episode_lengths", "episode_terminated"),
          "notebook 04 §3 'Termination versus time-limit truncation'",
          "Keep terminated and truncated apart: bootstrap γ·V(s_{t+1}) at a time-limit cut (gymnasium's truncated flag); "
          "never combine them into one done.", severity="error")
def check_truncation_as_termination(history: dict, batch=None) -> Finding | None:
    lens, term = _arr(history, "episode_lengths"), _arr(history, "episode_terminated")
    if lens is None or term is None:
        return None
    n = min(len(lens), len(term))
    lens, term = lens[:n], term[:n].astype(bool)
    limit = float(history.get("time_limit") or np.max(lens))
    at_limit = lens >= limit
    if at_limit.sum() < TIME_LIMIT_MIN_EPISODES or (~term).any():
        return None  # some episode was truncated (so truncation is reported), or too few reached the limit
    share = float(term[at_limit].mean())
    if share < 0.5:
        return None
    st = _arr(history, "episode_steps")
    where = float(st[:n][at_limit][TIME_LIMIT_MIN_EPISODES - 1]) if st is not None else None
    return _make("truncation_as_termination", _say("truncation_as_termination.title", episodes=int(at_limit.sum()),
                                                   limit=limit),
                 {"series": ["episode_lengths", "episode_terminated"], "steps": [] if where is None else [where],
                  "values": {"episodes_at_limit": int(at_limit.sum()), "terminated_share": _r(share)},
                  "detail": _say("truncation_as_termination.detail")},
                 _say("truncation_as_termination.why"), where)


# ---- running them all ------------------------------------------------------------------------------
def diagnose(history: dict, batch=None, *, include_info: bool = True) -> list[Finding]:
    """Every finding that applies to this run, errors first.

    Args:
        history: a trainer's ``History`` (or a dict of series read as one, e.g. a TRL run's or a cached sweep's).
        batch: optionally the last ``RolloutBatch`` (for the findings that read completions).
        include_info: also return the "info" findings (explanations, not alarms).
    """
    if not isinstance(history, dict):
        raise ValueError(f"history must be a History (a dict of series), got {type(history).__name__}")
    kind = run_kind(history)
    out = []
    for name, fn in CHECKS.items():
        doc = FINDINGS[name]
        if kind not in doc.kinds and not (kind == "trl" and "grpo" in doc.kinds) and not (kind == "lm"):
            continue
        if not include_info and doc.severity == "info":
            continue
        f = fn(history, batch)
        if f is not None:
            out.append(f)
    return sorted(out, key=lambda f: -SEVERITIES.index(f.severity))


def history_until(history: dict, n_updates: int) -> History:
    """The history as it stood after its first ``n_updates`` updates (what a live panel saw then).

    Per-update series keep their first ``n_updates`` values; per-evaluation series the evaluations up to
    that update's step; per-episode series the episodes that ended by then (all of them if the run has
    no step axis for episodes). Totals are kept.
    """
    kinds = getattr(history, "kinds", None)
    if kinds is None:
        kinds = history_of(dict(history)).kinds
    n_all = max((len(history[k]) for k in kinds["updates"] if isinstance(history.get(k), list)), default=0)
    n_updates = max(0, min(int(n_updates), n_all))
    out = History()
    out.kinds = dict(kinds)
    for k, v in history.items():
        out[k] = v
    steps = _steps(history, n_all)
    last = float(steps[n_updates - 1]) if n_updates else float("-inf")
    for k in kinds["updates"]:
        out[k] = list(history[k][:n_updates])
    eval_axis = next((a for a in ("eval_step", "eval_steps") if a in kinds["evals"]), None)
    if eval_axis is not None:
        keep = sum(1 for s in history[eval_axis] if s is not None and s <= last)
        for k in kinds["evals"]:
            out[k] = list(history[k][:keep])
    if kinds["episodes"]:
        st = history.get("episode_steps")
        if isinstance(st, list) and "env_steps" in history:
            keep = sum(1 for s in st if s <= last)
        else:
            keep = max((len(history[k]) for k in kinds["episodes"]), default=0) * n_updates // max(n_all, 1)
        for k in kinds["episodes"]:
            out[k] = list(history[k][:keep])
    return out


def first_firing(history: dict, name: str, batch=None) -> float | None:
    """The first step (the run's own axis) after which finding ``name`` fires, or None if it never does."""
    if name not in CHECKS:
        raise ValueError(f"name must be one of {sorted(CHECKS)}, got {name!r}")
    kinds = getattr(history, "kinds", None) or history_of(dict(history)).kinds
    n_all = max((len(history[k]) for k in kinds["updates"] if isinstance(history.get(k), list)), default=0)
    steps = _steps(history, n_all)
    for n in range(1, n_all + 1):
        if CHECKS[name](history_until(history, n), batch) is not None:
            return float(steps[n - 1])
    return None


def format_findings(findings: Sequence[Finding], *, title: str | None = None) -> str:
    """The findings as text: what the headless panel prints and ``python -m course_lib diagnose`` shows."""
    lines = [title] if title else []
    if not findings:
        lines.append(_say("label.none"))
    for f in findings:
        lines.append(f"[{f.severity}] {f.name}: {f.title}")
        ev = f.evidence
        where = ", ".join(ev.get("series", []))
        steps = ev.get("steps") or []
        span = f" at {'-'.join(f'{s:g}' for s in steps)}" if steps else ""
        lines.append(f"    {_say('label.evidence')}: {where}{span}: {ev.get('detail', '')}")
        lines.append(f"    {_say('label.why')}: {f.explanation}")
        lines.append(f"    {_say('label.try')}: {f.what_to_try}")
    return "\n".join(lines)

