"""One rule for non-finite numbers in the RL math (core.check_finite_array): every real entry must be
finite, else a ValueError naming the argument; padding (mask 0) may hold anything, NaN and ±inf
included, and reaches neither the value nor the gradient."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.grpo import GRPOConfig, group_advantages, grpo_loss, kl_k3
from course_lib.ppo import clipped_surrogate, gae

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("name", ["rewards", "values", "next_values"])
@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_gae_refuses_a_non_finite_input_naming_it(name, bad):
    args = {"rewards": np.ones(4), "values": np.zeros(4), "next_values": np.zeros(4)}
    args[name] = args[name].copy()
    args[name][2] = bad
    with pytest.raises(ValueError, match=f"{name} must contain only finite numbers"):
        gae(args["rewards"], args["values"], args["next_values"], np.zeros(4, bool), np.zeros(4, bool), 0.9, 0.9)


@pytest.mark.parametrize("bad", [NAN, INF])
def test_clipped_surrogate_refuses_non_finite_real_entries(bad):
    with pytest.raises(ValueError, match="ratio must contain only finite numbers"):
        clipped_surrogate(torch.tensor([1.0, bad]), torch.tensor([1.0, 1.0]), 0.2)
    with pytest.raises(ValueError, match="adv must contain only finite numbers"):
        clipped_surrogate(torch.tensor([1.0, 1.1]), torch.tensor([bad, 1.0]), 0.2)
    mask = torch.tensor([[1, 1, 0]])
    with pytest.raises(ValueError, match="ratio must contain only finite numbers"):
        clipped_surrogate(torch.tensor([[1.0, bad, 1.0]]), torch.ones(1, 3), 0.2, mask=mask, aggregation="token_mean")


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_clipped_surrogate_ignores_whatever_padding_holds(bad):
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    clean = torch.tensor([[1.1, 0.7, 1.0], [1.3, 1.0, 1.0]], requires_grad=True)
    dirty = torch.tensor([[1.1, 0.7, bad], [1.3, bad, bad]], requires_grad=True)
    adv = torch.tensor([[1.0, -1.0, bad], [2.0, bad, 0.5]])
    adv_clean = torch.where(mask.bool(), adv, torch.zeros_like(adv))
    for agg in ("token_mean", "seq_mean"):
        a = clipped_surrogate(clean, adv_clean, 0.2, mask=mask, aggregation=agg)
        b = clipped_surrogate(dirty, adv, 0.2, mask=mask, aggregation=agg)
        assert torch.equal(a, b) and math.isfinite(float(b.detach()))
        (ga,) = torch.autograd.grad(a, clean)
        (gb,) = torch.autograd.grad(b, dirty)
        assert torch.isfinite(gb).all() and torch.equal(ga, gb)


def test_kl_k3_refuses_non_finite_real_tokens_and_ignores_padding():
    logp = torch.tensor([[-1.0, -2.0, NAN]], requires_grad=True)
    ref = torch.tensor([[-1.5, -INF, -INF]])
    with pytest.raises(ValueError, match="logp_ref must contain only finite numbers"):
        kl_k3(logp, ref, torch.tensor([[1, 1, 0]]))
    kl = kl_k3(logp, ref, torch.tensor([[1, 0, 0]]))
    assert torch.isfinite(kl).all() and kl[0, 1] == 0 and kl[0, 2] == 0
    (g,) = torch.autograd.grad(kl.sum(), logp)
    assert torch.isfinite(g).all() and g[0, 1] == 0 and g[0, 2] == 0
    with pytest.raises(ValueError, match="logp must contain only finite numbers"):
        kl_k3(torch.tensor([NAN]), torch.tensor([0.0]))


def test_grpo_loss_refuses_non_finite_real_tokens_and_ignores_padding():
    cfg = GRPOConfig(group_size=2, beta=0.04)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    logp = torch.tensor([[-1.0, -0.5, NAN], [-0.2, -INF, NAN]], requires_grad=True)
    old = torch.tensor([[-1.1, -0.4, INF], [-0.3, NAN, NAN]])
    ref = torch.tensor([[-0.9, -0.6, -INF], [-0.1, NAN, 0.0]])
    adv = torch.tensor([1.0, -1.0])
    loss, stats = grpo_loss(logp, old, ref, adv, mask, cfg)
    (g,) = torch.autograd.grad(loss, logp)
    assert math.isfinite(float(loss.detach())) and all(math.isfinite(v) for v in stats.values())
    assert torch.isfinite(g).all() and (g[~mask.bool()] == 0).all()
    bad = logp.detach().clone()
    bad[0, 1] = NAN  # a real token
    with pytest.raises(ValueError, match="logp must contain only finite numbers"):
        grpo_loss(bad, old, ref, adv, mask, cfg)
    with pytest.raises(ValueError, match="adv must contain only finite numbers"):
        grpo_loss(logp, old, ref, torch.tensor([NAN, 1.0]), mask, cfg)


def test_group_advantages_survive_float32_overflow_and_take_numpy_group_sizes():
    r = torch.tensor([3e38, -3e38, 1e38, 2e38], dtype=torch.float32)  # the group's sum overflows float32
    adv = group_advantages(r, 2)
    assert adv.dtype == torch.float32 and torch.isfinite(adv).all()
    assert torch.allclose(adv.view(-1, 2).sum(1), torch.zeros(2), atol=1e-5)
    assert float(adv[0]) > 0 > float(adv[1])
    small = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]), np.int64(2))  # GRPOConfig accepts np.int64 too
    assert torch.equal(small, group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]), 2))
    assert GRPOConfig(group_size=np.int64(4)).group_size == 4
    with pytest.raises(ValueError, match="rewards must be finite"):
        group_advantages(torch.tensor([NAN, 1.0]), 2)
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(torch.tensor([1.0, 0.0]), 2.0)
