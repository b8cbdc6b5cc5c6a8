"""GRPO math (course_lib.grpo): advantages, k3 KL, the loss and its aggregations, the config."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.grpo import (GRPOConfig, aggregate_token_loss, group_advantages, grpo_loss, kl_k3,
                             zero_variance_groups)

# --- group advantages -----------------------------------------------------------------------


def test_group_advantages_hand_worked():
    adv = group_advantages([1.0, 0.0, 0.0, 1.0], group_size=2)
    s = 1 / math.sqrt(2)  # (1 - 0.5) / std([1, 0]) with Bessel's correction = 0.5 / 0.7071
    assert torch.allclose(adv, torch.tensor([s, -s, -s, s]), atol=1e-3)
    assert torch.allclose(group_advantages([1.0, 0.0, 0.0, 1.0], 2, scale="none"),
                          torch.tensor([0.5, -0.5, -0.5, 0.5]))


@settings(max_examples=60, deadline=None)
@given(G=st.integers(2, 8), n=st.integers(1, 6), data=st.data())
def test_group_advantages_have_zero_mean_per_group(G, n, data):
    rewards = data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0]), min_size=G * n, max_size=G * n))
    for scale in ("group", "none"):
        adv = group_advantages(rewards, G, scale=scale).view(n, G)
        assert torch.isfinite(adv).all()
        assert torch.allclose(adv.mean(1), torch.zeros(n), atol=1e-5)


def test_group_advantages_unit_std_within_a_varying_group_and_other_groups_do_not_matter():
    a = group_advantages([3.0, 1.0, 2.0, 0.0], 4)
    assert a.std().item() == pytest.approx(1.0, abs=1e-3)
    b = group_advantages([3.0, 1.0, 2.0, 0.0, 100.0, -50.0, 7.0, 7.0], 4)
    assert torch.allclose(a, b[:4])  # a group is normalised by itself only


def test_all_equal_group_gives_zeros_never_nan():
    adv = group_advantages([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0], 4)
    assert torch.isfinite(adv).all()
    assert torch.equal(adv[:4], torch.zeros(4))
    adv = group_advantages([0.1] * 6, 3)  # mean of 0.1s is not exactly 0.1 in floating point
    assert torch.isfinite(adv).all() and adv.abs().max() < 1e-6


def test_zero_variance_groups():
    zv = zero_variance_groups([1.0, 1.0, 0.0, 1.0, 2.0, 2.0], 2)
    assert zv.tolist() == [True, False, True]


@pytest.mark.parametrize("call, match", [
    (lambda: group_advantages([1.0, 0.0, 1.0], 2), "not divisible by group_size=2"),
    (lambda: group_advantages([1.0, 0.0], 1), "group_size must be an integer >= 2"),
    (lambda: group_advantages([1.0, 0.0], 2, scale="batch"), "scale must be 'group' or 'none'"),
    (lambda: group_advantages([], 2), "non-empty 1-D"),
    (lambda: group_advantages([1.0, float("nan")], 2), "finite"),
    (lambda: zero_variance_groups([1.0, 0.0, 1.0], 2), "not divisible"),
])
def test_group_advantages_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()

# --- k3 KL ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-30, 0), st.floats(-30, 0)), min_size=1, max_size=20),
       st.sampled_from([torch.float32, torch.float64]))
def test_kl_k3_is_never_negative(pairs, dtype):
    logp = torch.tensor([p for p, _ in pairs], dtype=dtype)
    logp_ref = torch.tensor([q for _, q in pairs], dtype=dtype)
    kl = kl_k3(logp, logp_ref)
    assert (kl >= 0).all()
    x = (logp_ref - logp).double()
    assert torch.allclose(kl.double(), torch.exp(x) - x - 1, rtol=1e-4, atol=1e-6)


def test_kl_k3_is_zero_when_logps_agree():
    logp = -torch.rand(4, 5) * 5
    assert torch.equal(kl_k3(logp, logp.clone()), torch.zeros(4, 5))


def test_kl_k3_is_an_unbiased_estimate_of_kl():
    # tokens sampled from π_θ: the mean of k3 approaches KL[π_θ || π_ref]
    gen = torch.Generator().manual_seed(0)
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.2, 0.3, 0.5])
    x = torch.multinomial(p, 200_000, replacement=True, generator=gen)
    est = kl_k3(p.log()[x], q.log()[x]).mean()
    exact = (p * (p / q).log()).sum()
    assert est.item() == pytest.approx(exact.item(), rel=0.02)


def test_kl_k3_mask_keeps_padding_out_even_if_it_holds_minus_inf():
    logp = torch.tensor([[-0.5, -1.0, float("-inf")]], requires_grad=True)
    logp_ref = torch.tensor([[-1.0, -0.2, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    kl = kl_k3(logp, logp_ref, mask)
    assert kl[0, 2] == 0 and torch.isfinite(kl).all()
    kl.sum().backward()
    assert torch.isfinite(logp.grad).all() and logp.grad[0, 2] == 0

# --- the loss -------------------------------------------------------------------------------


def _cfg(agg="grpo", **kw):
    return GRPOConfig(loss_aggregation=agg, **kw)


@pytest.mark.parametrize("agg", ["grpo", "dr_grpo", "dapo"])
def test_ratio_one_beta_zero_loss_is_minus_mean_advantage(agg):
    # 2 completions of 3 tokens each (the maximum length): every aggregation gives -mean(A)
    logp = torch.tensor([[-0.1, -2.0, -0.7], [-1.2, -0.3, -0.9]])
    adv = torch.tensor([1.0, -0.5])
    mask = torch.ones(2, 3)
    loss, stats = grpo_loss(logp, logp.clone(), None, adv, mask, _cfg(agg, max_completion_length=3))
    assert loss.item() == pytest.approx(-0.25)  # -(1 - 0.5) / 2
    assert stats["clip_fraction"] == 0.0 and stats["kl"] == 0.0
    assert stats["entropy_proxy"] == pytest.approx(5.2 / 6)


@pytest.mark.parametrize("agg, expected", [
    ("grpo", 0.0),       # mean per sequence, then over sequences: (-1 + 1) / 2
    ("dapo", 0.5),       # token-level: (-1·1 + 1·3) / (1 + 3)
    ("dr_grpo", 0.25),   # constant normaliser: (-1·1 + 1·3) / (B=2 · max_len=4)
])
def test_each_aggregation_weights_lengths_as_its_paper_says(agg, expected):
    # completion 0 is 1 token long with A = +1; completion 1 is 3 tokens long with A = -1
    logp = torch.tensor([[-0.5, 0.0, 0.0], [-0.5, -0.5, -0.5]], requires_grad=True)
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    adv = torch.tensor([1.0, -1.0])
    loss, _ = grpo_loss(logp, None, None, adv, mask, _cfg(agg, max_completion_length=4))
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    # the gradient per token says how much each token weighs
    weight = {"grpo": lambda L: 1 / (2 * L),  # 1/G · 1/|o_i|: a token of a long answer weighs less
              "dapo": lambda L: 1 / 4,        # every token of the batch equally
              "dr_grpo": lambda L: 1 / 8}[agg]  # every token equally, constant normaliser
    assert logp.grad[0, 0].item() == pytest.approx(-1.0 * weight(1))
    assert logp.grad[1, 0].item() == pytest.approx(+1.0 * weight(3))
    assert logp.grad[0, 1] == 0 and logp.grad[0, 2] == 0


def test_aggregate_token_loss_directly():
    loss = torch.tensor([[2.0, 9.0], [1.0, 3.0]])
    mask = torch.tensor([[1, 0], [1, 1]])
    assert aggregate_token_loss(loss, mask, "grpo").item() == pytest.approx((2 + 2) / 2)
    assert aggregate_token_loss(loss, mask, "dapo").item() == pytest.approx(6 / 3)
    assert aggregate_token_loss(loss, mask, "dr_grpo", 5).item() == pytest.approx(6 / 10)
    with pytest.raises(ValueError, match="max_len=1"):
        aggregate_token_loss(loss, mask, "dr_grpo", 1)


@pytest.mark.parametrize("agg", ["grpo", "dr_grpo", "dapo"])
def test_padding_changes_neither_loss_nor_gradient(agg):
    gen = torch.Generator().manual_seed(3)
    B, T = 4, 5
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 0, 0]]).bool()
    base = -torch.rand(B, T, generator=gen) * 2
    old = base + 0.1 * torch.randn(B, T, generator=gen)
    ref = base + 0.3 * torch.randn(B, T, generator=gen)
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])
    cfg = _cfg(agg, beta=0.1, max_completion_length=5)
    results = []
    for fill in (0.0, -1e4, float("-inf"), float("nan")):
        logp = torch.where(mask, base, torch.full_like(base, fill)).requires_grad_(True)
        lo = torch.where(mask, old, torch.full_like(old, fill))
        lr = torch.where(mask, ref, torch.full_like(ref, -fill if fill == fill else fill))
        loss, stats = grpo_loss(logp, lo, lr, adv, mask.float(), cfg)
        loss.backward()
        results.append((loss.detach(), logp.grad.clone(), stats))
    for loss, grad, stats in results[1:]:
        assert torch.isfinite(loss) and torch.equal(loss, results[0][0])
        assert torch.equal(grad, results[0][1])
        assert stats == results[0][2]
    assert (results[0][1][~mask] == 0).all()


@pytest.mark.parametrize("agg", ["grpo", "dr_grpo", "dapo"])
def test_rows_with_zero_advantage_left_out_change_neither_loss_nor_gradient(agg):
    # β = 0: a completion whose advantage is 0 adds exactly 0 to the summed token loss, so the loss
    # on the other rows over the whole batch's normaliser is the whole batch's loss, gradient included
    gen = torch.Generator().manual_seed(5)
    B, T = 6, 5
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 0, 0],
                         [1, 1, 1, 1, 0], [1, 1, 0, 0, 0]]).bool()
    base = -torch.rand(B, T, generator=gen) * 2
    old = base + torch.randn(B, T, generator=gen)  # ratios far from 1: some tokens are clipped
    adv = torch.tensor([0.0, 0.0, 1.0, -1.0, 0.0, 0.5])
    cfg = _cfg(agg, max_completion_length=5)
    logp = base.clone().requires_grad_(True)
    loss, stats = grpo_loss(logp, old, None, adv, mask, cfg)
    loss.backward()
    live = adv != 0
    part = base[live].clone().requires_grad_(True)
    loss_p, stats_p = grpo_loss(part, old[live], None, adv[live], mask[live], cfg,
                                whole_batch=(B, int(mask.sum())))
    loss_p.backward()
    assert loss_p.item() == pytest.approx(loss.item(), rel=1e-6)
    assert torch.allclose(part.grad, logp.grad[live], rtol=1e-6, atol=1e-9)
    assert (logp.grad[~live] == 0).all()  # the rows left out had no gradient to give
    assert stats_p["clip_fraction"] == pytest.approx(stats["clip_fraction"], rel=1e-6) and stats["clip_fraction"] > 0
    with pytest.raises(ValueError, match="whole_batch needs beta == 0"):
        grpo_loss(part, old[live], old[live], adv[live], mask[live], _cfg(agg, beta=0.1, max_completion_length=5),
                  whole_batch=(B, int(mask.sum())))
    with pytest.raises(ValueError, match="whole_batch must be"):
        grpo_loss(part, old[live], None, adv[live], mask[live], cfg, whole_batch=(2, 3))


def test_clipping_stops_the_gradient_beyond_the_clip_range():
    cfg = _cfg(eps_low=0.2, eps_high=0.28)
    mask = torch.ones(1, 1)

    def grad_at(ratio, adv):
        logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
        loss, stats = grpo_loss(logp, torch.zeros(1, 1), None, torch.tensor([adv]), mask, cfg)
        loss.backward()
        return logp.grad.item(), stats["clip_fraction"]

    # positive advantage: the gradient stops once the ratio exceeds 1 + eps_high
    assert grad_at(1.25, 1.0)[0] < 0 and grad_at(1.25, 1.0)[1] == 0.0
    assert grad_at(1.30, 1.0) == (0.0, 1.0)
    # negative advantage: it stops below 1 - eps_low
    assert grad_at(0.85, -1.0)[0] > 0
    assert grad_at(0.75, -1.0) == (0.0, 1.0)
    # the pessimistic bound never clips the side that makes things worse
    assert grad_at(0.5, 1.0)[0] < 0       # a good token that became rarer still gets pushed up
    assert grad_at(1.5, -1.0)[0] > 0      # a bad token that became likelier still gets pushed down


def test_kl_term_adds_beta_times_mean_k3():
    logp = torch.tensor([[-0.5, -1.0], [-0.2, -0.4]])
    ref = torch.tensor([[-0.7, -0.6], [-0.2, -1.4]])
    mask = torch.ones(2, 2)
    adv = torch.zeros(2)
    loss, stats = grpo_loss(logp, logp, ref, adv, mask, _cfg("dapo", beta=0.5))
    k3 = kl_k3(logp, ref)
    assert loss.item() == pytest.approx(0.5 * k3.mean().item(), rel=1e-6)
    assert stats["kl"] == pytest.approx(k3.mean().item(), rel=1e-6)
    with pytest.raises(ValueError, match="logp_ref is needed when beta > 0"):
        grpo_loss(logp, logp, None, adv, mask, _cfg(beta=0.5))


def test_ratio_to_old_policy_enters_the_loss():
    logp = torch.tensor([[math.log(1.1)]])
    loss, stats = grpo_loss(logp, torch.zeros(1, 1), None, torch.tensor([2.0]), torch.ones(1, 1), _cfg())
    assert loss.item() == pytest.approx(-2.2)
    assert stats["ratio_mean"] == pytest.approx(1.1)


def test_one_update_raises_the_logprob_of_the_completion_with_positive_advantage():
    # a tiny policy: one learnable logit vector per position, shared by all completions
    torch.manual_seed(0)
    logits = torch.nn.Parameter(torch.randn(3, 6) * 0.1)  # (T, V)
    completions = torch.tensor([[1, 2, 3], [4, 5, 0], [0, 1, 2], [3, 3, 5]])  # G = 4 token sequences
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 0, 0]]).float()

    def token_logp():
        logp_all = torch.log_softmax(logits, -1)  # (T, V)
        return logp_all.gather(1, completions.T).T * mask  # (G, T)

    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0])  # only completion 0 is right
    adv = group_advantages(rewards, 4)
    assert adv[0] > 0 and (adv[1:] < 0).all()
    before = token_logp().sum(1).detach()
    opt = torch.optim.SGD([logits], lr=0.5)
    logp = token_logp()
    loss, _ = grpo_loss(logp, logp.detach(), None, adv, mask, _cfg("grpo"))
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = token_logp().sum(1).detach()
    assert after[0] > before[0] + 0.05
    assert (after[1:] < before[1:]).all()


@pytest.mark.parametrize("kw, match", [
    (dict(group_size=1), "group_size must be an integer >= 2"),
    (dict(group_size=2.0), "group_size"),
    (dict(eps_low=0.0), "eps_low must be a positive number"),
    (dict(eps_high=-0.1), "eps_high must be a positive number"),
    (dict(eps_low=1.0), "eps_low must be < 1"),
    (dict(beta=-0.01), "beta must be a non-negative number"),
    (dict(lr=0), "lr must be a positive number"),
    (dict(lr=float("inf")), "lr must be a finite positive number"),
    (dict(beta=float("nan")), "beta must be a finite"),
    (dict(n_epochs=0), "n_epochs must be a positive integer"),
    (dict(max_completion_length=0), "max_completion_length must be a positive integer"),
    (dict(temperature=0.0), "temperature must be a positive number"),
    (dict(loss_aggregation="mean"), "loss_aggregation must be one of"),
    (dict(dynamic_sampling="yes"), "dynamic_sampling must be True or False"),
    (dict(prompts_per_step=0), "prompts_per_step"),
    (dict(eval_every=0), "eval_every"),
    (dict(seed=-1), "seed must be a non-negative integer"),
])
def test_bad_config_fails_with_a_clear_message(kw, match):
    with pytest.raises(ValueError, match=match):
        GRPOConfig(**kw)


def test_configs_stored_under_former_field_names_still_read():
    from dataclasses import asdict

    from course_lib import pitfalls
    from course_lib.grpo.config import FORMER_NAMES, current_names

    stored = {("mu" if k == "n_epochs" else k): v for k, v in asdict(GRPOConfig(n_epochs=3)).items()}
    assert GRPOConfig.from_dict(stored) == GRPOConfig(n_epochs=3)
    assert current_names({"mu": 2, "beta": 0.1}) == {"n_epochs": 2, "beta": 0.1}
    with pytest.raises(ValueError, match="both 'mu' and its new name 'n_epochs'"):
        current_names({"mu": 2, "n_epochs": 2})
    with pytest.raises(ValueError, match="does not know"):
        GRPOConfig.from_dict({"group_size": 4, "epochs": 2})
    # the shipped runs of notebook 09 read as GRPOConfigs with today's names
    for name, run in pitfalls.load_cached("runs")["runs"].items():
        assert not set(run["config"]) & set(FORMER_NAMES), name
        GRPOConfig.from_dict(run["config"])


def test_config_accepts_numpy_and_torch_scalars_as_python_numbers():
    import numpy as np

    cfg = GRPOConfig(group_size=np.int64(4), lr=np.float32(1e-3), beta=torch.tensor(0.5), seed=np.uint8(3))
    assert type(cfg.group_size) is int and cfg.group_size == 4 and type(cfg.lr) is float
    assert cfg.beta == 0.5 and type(cfg.seed) is int


def test_config_is_frozen_and_derives_advantage_scale():
    cfg = GRPOConfig()
    with pytest.raises(Exception):
        cfg.beta = 1.0  # type: ignore[misc]
    assert GRPOConfig(loss_aggregation="dr_grpo").advantage_scale == "none"
    assert GRPOConfig(loss_aggregation="dapo").advantage_scale == "group"
    assert GRPOConfig(group_size=4, prompts_per_step=8).batch_size == 32


@pytest.mark.parametrize("call, match", [
    (lambda: grpo_loss(torch.zeros(2, 3), None, None, torch.zeros(3), torch.ones(2, 3), GRPOConfig()), "adv must be"),
    (lambda: grpo_loss(torch.zeros(2, 3), None, None, torch.zeros(2), torch.ones(2, 2), GRPOConfig()), "mask must be"),
    (lambda: grpo_loss(torch.zeros(2, 3), torch.zeros(2, 2), None, torch.zeros(2), torch.ones(2, 3), GRPOConfig()), "logp_old"),
    (lambda: grpo_loss(torch.zeros(2, 3), None, None, torch.zeros(2), torch.ones(2, 3), {"beta": 0}), "cfg must be a GRPOConfig or None"),
    (lambda: kl_k3(torch.zeros(2), torch.zeros(3)), "logp_ref must have the shape"),
])
def test_loss_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
