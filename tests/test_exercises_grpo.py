"""The exercises of notebook 08: the references pass and every registered mistake earns its own hint."""
import torch

from course_lib.exercises import check, list_exercises
from course_lib.exercises.registry import get_exercise

NAMES = ["group_advantages", "kl_k3", "grpo_loss"]


def test_registered():
    for name in NAMES:
        assert name in list_exercises()


def test_required_mistakes_exist():
    adv = {m.name for m in get_exercise("group_advantages").mistakes}
    assert {"whole_batch", "zero_std"} <= adv and len(adv) >= 3
    kl = {m.name for m in get_exercise("kl_k3").mistakes}
    assert {"reversed", "negated", "ignores_mask"} <= kl and len(kl) >= 3


def test_a_learner_who_returns_exact_zeros_for_equal_groups_passes():
    def learner(rewards, group_size):
        g = torch.as_tensor(rewards, dtype=torch.float32).view(-1, group_size)
        std = g.std(1, keepdim=True)
        centred = g - g.mean(1, keepdim=True)
        return torch.where(std > 0, centred / std.clamp_min(1e-12), torch.zeros_like(centred)).reshape(-1)

    assert check("group_advantages", learner).passed


def test_a_learner_kl_that_cleans_the_padding_first_passes():
    def learner(logp, logp_ref, mask):
        keep = mask > 0
        x = torch.where(keep, logp_ref, 0.0) - torch.where(keep, logp, 0.0)
        return torch.where(keep, x.exp() - x - 1, 0.0)

    assert check("kl_k3", learner).passed


def test_a_kl_that_masks_after_the_exp_fails_on_inf_and_nan_padding():
    def where_after(logp, logp_ref, mask):
        x = logp_ref - logp
        return torch.where(mask.bool(), x.exp() - x - 1, torch.zeros_like(x))  # right values, NaN gradient

    result = check("kl_k3", where_after)
    assert not result.passed and result.mistake == "where_after_exp" and "gradient" in result.hint

    def times_mask(logp, logp_ref, mask):
        x = logp_ref - logp
        return (x.exp() - x - 1) * mask  # NaN where padding holds -inf or NaN

    result = check("kl_k3", times_mask)
    assert not result.passed and result.mistake == "mask_after_exp"


def test_unattempted_stub_is_not_attempted():
    def stub(rewards, group_size):
        raise NotImplementedError

    assert check("group_advantages", stub).status == "not attempted"


def test_grpo_loss_mistakes_cover_mask_aggregation_clip_kl_ratio_and_detaching():
    names = {m.name for m in get_exercise("grpo_loss").mistakes}
    assert {"padding_counted", "token_mean", "max_not_min", "kl_sign_flipped", "ratio_not_exp",
            "adv_not_detached"} <= names


def test_a_learner_grpo_loss_written_differently_passes_and_may_return_stats_separately():
    def learner(logp, logp_old, logp_ref, adv, mask, eps, beta):
        total = 0.0
        for i in range(logp.shape[0]):
            real = mask[i] > 0
            lp, lp_old, lp_ref = logp[i][real], logp_old[i][real].detach(), logp_ref[i][real].detach()
            ratio = (lp - lp_old).exp()
            a = adv[i].detach()
            surr = torch.minimum(ratio * a, ratio.clamp(1 - eps, 1 + eps) * a)
            kl = (lp_ref - lp).exp() - (lp_ref - lp) - 1
            total = total + (surr - beta * kl).mean()
        return -total / logp.shape[0]

    assert check("grpo_loss", learner).passed


def test_a_grpo_loss_returning_a_float_fails():
    ex = get_exercise("grpo_loss")
    result = check("grpo_loss", lambda *a: float(ex.teaching(*a)))
    assert not result.passed


def test_a_grpo_loss_that_calls_the_library_is_refused():
    from course_lib.grpo import grpo_loss

    def calls_library(logp, logp_old, logp_ref, adv, mask, eps, beta):
        return grpo_loss(logp, logp_old, logp_ref, adv, mask, eps_low=eps, beta=beta)[0]

    assert check("grpo_loss", calls_library).status == "library"


def test_notebook_08_uses_a_learners_function_only_after_its_check_passed(repo_root):
    # a buggy attempt never stops run-all: no cell calls my_* outside use_if_passed and the checks
    import re

    import nbformat

    nb = nbformat.read(repo_root / "notebooks" / "08_grpo.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert not any("except NotImplementedError" in s for s in code)
    for src in code:
        for line in src.splitlines():
            calls = re.findall(r"\b(my_[a-z0-9_]+)\(", line)
            if calls and not line.startswith("def "):
                assert False, f"a learner's function is called directly: {line}"
    assert any("use_if_passed(" in s for s in code)
    first_import = code[0]
    assert "as course_group_advantages" in first_import and "as course_kl_k3" in first_import
