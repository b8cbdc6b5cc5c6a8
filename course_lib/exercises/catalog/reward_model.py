"""Exercise of notebook 06 (rewards and reward models): the Bradley–Terry loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...rlhf.reward_model import bradley_terry_loss
from ..registry import Case, Exercise, Mistake, register

# ---------------------------------------------------------------------------------------------
# bradley_terry_loss(r_chosen, r_rejected) = −mean log σ(r_chosen − r_rejected)
# ---------------------------------------------------------------------------------------------


def _leaf(xs) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float32)


def _bt_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(606)
    cases = [
        Case((_leaf([0.0]), _leaf([0.0])), label="r_chosen=[0.0], r_rejected=[0.0] (no preference: loss log 2)"),
        Case((_leaf([2.0, 0.5]), _leaf([1.0, 1.5])), label="r_chosen=[2.0, 0.5], r_rejected=[1.0, 1.5]"),
        Case((_leaf([1.0, -1.0, 3.0]), _leaf([-1.0, 0.0, 3.0])),
             label="r_chosen=[1.0, -1.0, 3.0], r_rejected=[-1.0, 0.0, 3.0]"),
        Case((_leaf([-100.0, 1.0]), _leaf([100.0, 0.0])),
             label="r_chosen=[-100.0, 1.0], r_rejected=[100.0, 0.0] (a margin of -200: the model is "
                   "confidently wrong on the first pair)"),
    ]
    for B in (4, 8, 16):
        rc = torch.randn(B, generator=gen) * 2
        rr = torch.randn(B, generator=gen) * 2
        cases.append(Case((rc, rr)))
    return cases


def teaching_bradley_terry_loss(r_chosen, r_rejected):
    """L = −mean over the B pairs of log σ(r_chosen − r_rejected); r_chosen, r_rejected: (B,)."""
    import torch.nn.functional as F
    margin = r_chosen - r_rejected  # (B,) how much higher the preferred answer scores
    return -F.logsigmoid(margin).mean()  # logsigmoid: log σ in one stable step


def _bt_reference(r_chosen, r_rejected):
    return bradley_terry_loss(r_chosen, r_rejected)


def _bt_reversed(r_chosen, r_rejected):
    return -F.logsigmoid(r_rejected - r_chosen).mean()  # the difference the wrong way round


def _bt_missing_minus(r_chosen, r_rejected):
    return F.logsigmoid(r_chosen - r_rejected).mean()  # the log-likelihood, not its negative


def _bt_sigmoid_no_log(r_chosen, r_rejected):
    return -torch.sigmoid(r_chosen - r_rejected).mean()


def _bt_softmax_batch(r_chosen, r_rejected):
    return -torch.log_softmax(r_chosen - r_rejected, dim=0).mean()  # normalised over the batch


def _bt_sum(r_chosen, r_rejected):
    return -F.logsigmoid(r_chosen - r_rejected).sum()


def _bt_naive_log(r_chosen, r_rejected):
    return -torch.log(torch.sigmoid(r_chosen - r_rejected)).mean()  # σ underflows to 0: log 0 = -inf


def _bt_plus(r_chosen, r_rejected):
    return -F.logsigmoid(r_chosen + r_rejected).mean()


def _bt_pointwise(r_chosen, r_rejected):
    # each answer classified on its own ("chosen is good, rejected is bad"), not compared
    return -(F.logsigmoid(r_chosen) + F.logsigmoid(-r_rejected)).mean()


def _bt_no_reduction(r_chosen, r_rejected):
    return -F.logsigmoid(r_chosen - r_rejected)  # one loss per pair


register(Exercise(
    name="bradley_terry_loss",
    reference=_bt_reference,
    cases=_bt_cases,
    signature="bradley_terry_loss(r_chosen, r_rejected) -> scalar tensor (r_chosen, r_rejected: (B,) tensors)",
    notebook="06_rewards_and_reward_models",
    library=("course_lib.rlhf.reward_model:bradley_terry_loss",),
    grad_args=("r_chosen", "r_rejected"),
    tensor_out=True,
    teaching=teaching_bradley_terry_loss,
    hint="The Bradley–Terry model turns the difference of two scores into the probability that the first "
         "answer is preferred; the loss is the negative log-likelihood of the annotators' choices, averaged "
         "over the pairs.",
    formula="L = −(1/B) Σ_i log σ(r_chosen[i] − r_rejected[i]), with σ(z) = 1/(1 + e^(−z)); compute log σ "
            "with torch.nn.functional.logsigmoid, which stays finite for large negative margins.",
    code_hint="margin = r_chosen - r_rejected; return -F.logsigmoid(margin).mean()  "
              "(import torch.nn.functional as F).",
    mistakes=(
        Mistake("difference_reversed", _bt_reversed,
                "Your difference is the wrong way round: the model should be rewarded when the chosen answer "
                "scores higher, so use log σ(r_chosen − r_rejected). Yours is smallest when the rejected answer wins."),
        Mistake("missing_minus", _bt_missing_minus,
                "You returned the log-likelihood, which is never positive. The loss to minimise is its "
                "negative: −mean log σ(r_chosen − r_rejected)."),
        Mistake("sigmoid_without_log", _bt_sigmoid_no_log,
                "You used σ(r_chosen − r_rejected) without the log. The Bradley–Terry loss is the negative "
                "log-likelihood: −log σ(·). Without the log, confidently wrong pairs (σ ≈ 0) give almost no "
                "gradient, exactly where the model most needs correcting."),
        Mistake("softmax_over_batch", _bt_softmax_batch,
                "You normalised over the batch with a softmax, which makes pairs compete with each other. Each pair "
                "is its own two-way comparison: P(chosen ≻ rejected) = σ(r_chosen − r_rejected), a sigmoid per pair."),
        Mistake("sum_instead_of_mean", _bt_sum,
                "You summed over the pairs. Take the mean, so the loss (and the step size) does not grow with the "
                "batch size."),
        Mistake("naive_log_sigmoid", _bt_naive_log,
                "Right formula, but torch.log(torch.sigmoid(x)) underflows: for a margin of −200, σ(x) rounds to 0 "
                "in float32, log 0 = −inf, and the loss is inf with NaN gradients. Use F.logsigmoid(x), which "
                "computes log σ(x) = −log(1 + e^(−x)) stably."),
        Mistake("sum_of_scores", _bt_plus,
                "You added the two scores. The Bradley–Terry model depends only on their difference: "
                "σ(r_chosen − r_rejected); adding the same constant to both scores must not change the loss."),
        Mistake("pointwise_classification", _bt_pointwise,
                "You scored each answer on its own (chosen as good, rejected as bad). The annotators only said "
                "which of the two is better, so the loss must depend on the difference r_chosen − r_rejected."),
        Mistake("no_reduction", _bt_no_reduction,
                "You returned one loss per pair. Average them into a single number (a scalar tensor) to call "
                ".backward() on."),
    ),
))
