"""The fast path of PPO's update: hand-derived gradients and one flat parameter buffer.

The PPO update on CartPole is many tiny steps (20 epochs × 1 minibatch of 256 per rollout),
so its cost is per-call overhead, not arithmetic: autograd builds and walks a graph of ~40
nodes per step, and the optimizer and gradient clipping loop over 12 parameter tensors. This
module removes both, without changing the math:

* ``flatten_parameters`` makes every parameter (and its gradient) a view into one contiguous
  buffer, so gradient clipping is one norm and Adam (``FlatAdam``) a handful of operations on one tensor.
* ``ppo_grads`` computes the gradient of ``ppo.losses.ppo_loss`` (clipped surrogate + vf_coef ·
  value loss − ent_coef · entropy, on advantages already standardised) by the chain rule written
  out, straight into that buffer.

``tests/test_ppo.py`` checks that it equals autograd of ``ppo_loss`` on seeded minibatches. Use ``PPOConfig(manual_grad=False)``
to train with autograd instead.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .policy import ActorCritic


def flatten_parameters(policy: ActorCritic) -> tuple[nn.Parameter, torch.Tensor]:
    """Re-home all of ``policy``'s parameters and gradients in two flat buffers.

    Returns:
        (flat_param, flat_grad). Each parameter's ``.data`` and ``.grad`` become views into
        them, so an optimizer over ``[flat_param]`` updates the network in place, and autograd
        accumulates into ``flat_grad`` (zero it before each backward pass).
    """
    params = list(policy.parameters())
    total = sum(p.numel() for p in params)
    first = params[0]
    data = torch.empty(total, dtype=first.dtype, device=first.device)
    grad = torch.zeros(total, dtype=first.dtype, device=first.device)
    offset = 0
    for p in params:
        k = p.numel()
        data[offset:offset + k].copy_(p.data.reshape(-1))
        p.data = data[offset:offset + k].view_as(p)
        p.grad = grad[offset:offset + k].view_as(p)
        offset += k
    flat = nn.Parameter(data)
    flat.grad = grad
    policy._np_cache = None  # the NumPy mirror must point at the new storage
    return flat, grad


def tanh_(z: torch.Tensor) -> torch.Tensor:
    """tanh in place. On the CPU through NumPy: torch's float32 tanh kernel is several times
    slower than NumPy's on some CPUs (e.g. an AMD EPYC)."""
    if z.device.type == "cpu" and not z.requires_grad and z.is_contiguous():
        a = z.numpy()
        np.tanh(a, out=a)
        return z
    return z.tanh_()


def forward(layers: list[nn.Linear], x: torch.Tensor) -> list[torch.Tensor]:
    """Activations [x, h1, ..., out] of a tanh MLP (tanh after every layer but the last),
    without autograd (call under torch.no_grad)."""
    acts = [x]
    for i, layer in enumerate(layers):
        z = torch.addmm(layer.bias, acts[-1], layer.weight.t())
        acts.append(tanh_(z) if i < len(layers) - 1 else z)
    return acts


@torch.no_grad()
def logits_and_values(policy: ActorCritic, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same as ``policy(obs)`` without autograd: (logits (B, A), values (B,))."""
    pi_layers, vf_layers = policy.linear_layers()
    return forward(pi_layers, obs)[-1], forward(vf_layers, obs)[-1].squeeze(-1)


def _backward(layers: list[nn.Linear], acts: list[torch.Tensor], d_out: torch.Tensor) -> None:
    """Write dLoss/dW and dLoss/db of every layer into its ``.grad``, given dLoss/d(out)."""
    dz = d_out  # (B, n_out) gradient at the pre-activation of the current layer
    for i in reversed(range(len(layers))):
        layer, h_in = layers[i], acts[i]
        torch.mm(dz.t(), h_in, out=layer.weight.grad)  # dW = dzᵀ h_in
        torch.sum(dz, dim=0, out=layer.bias.grad)  # db = Σ_batch dz
        if i > 0:
            dh = torch.mm(dz, layer.weight)  # dL/dh_in
            dz = dh.mul_(1.0 - h_in * h_in)  # through tanh: tanh' = 1 − tanh²


@torch.no_grad()
def ppo_grads(policy: ActorCritic, obs: torch.Tensor, act: torch.Tensor, logp_old: torch.Tensor,
              adv: torch.Tensor, ret: torch.Tensor, eps: float, vf_coef: float, ent_coef: float = 0.0
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of ``ppo.losses.ppo_loss`` (L = clipped_surrogate(ρ, A, ε) + vf_coef·value_loss(V, R)
    − ent_coef·mean(H), advantages given standardised) with respect to every parameter, written
    into the parameters' ``.grad`` (overwritten).

    Args:
        obs (B, obs_dim), act (B,) int64, logp_old (B,), adv (B,) (already normalised if
        wanted), ret (B,): one minibatch.

    Returns:
        (policy loss, value loss) as 0-dim tensors, for logging.
    """
    n = obs.shape[0]
    pi_layers, vf_layers = policy.linear_layers()
    if pi_layers[0].weight.grad is None:
        for p in policy.parameters():
            p.grad = torch.zeros_like(p)
    pi_acts = forward(pi_layers, obs)
    vf_acts = forward(vf_layers, obs)
    logits, v = pi_acts[-1], vf_acts[-1].squeeze(-1)

    # Policy: L_pg = −mean(min(ρA, clip(ρ)A)). Where the unclipped term is the smaller (or
    # equal) one, dL/dρ = −A/n; where the clipped term is smaller it is constant in ρ: 0.
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(1, act[:, None]).squeeze(1)
    ratio = torch.exp(logp - logp_old)
    surr1 = ratio * adv
    surr2 = torch.clamp(ratio, 1.0 - eps, 1.0 + eps) * adv
    pg_loss = -torch.min(surr1, surr2).mean()
    d_logp = (surr1 <= surr2).to(ratio.dtype).mul_(ratio).mul_(adv).mul_(-1.0 / n)  # dL/dlogp = dL/dρ · ρ
    probs = logp_all.exp()
    # d logp(a)/d logits = onehot(a) − π
    d_logits = probs * (-d_logp[:, None])
    d_logits.scatter_add_(1, act[:, None], d_logp[:, None])
    if ent_coef:
        # H = −Σ π log π, dH/dlogits = −π (log π + H); the loss has −ent_coef·mean(H).
        ent = -(probs * logp_all).sum(-1, keepdim=True)
        d_logits += (ent_coef / n) * probs * (logp_all + ent)
    _backward(pi_layers, pi_acts, d_logits)

    # Value: L_v = vf_coef · mean((V − R)²), dL/dV = 2·vf_coef·(V − R)/n.
    diff = v - ret
    v_loss = (diff * diff).mean()
    _backward(vf_layers, vf_acts, diff.mul(2.0 * vf_coef / n)[:, None])
    return pg_loss.detach(), v_loss.detach()


def clip_grad_norm(flat_grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Scale the flat gradient so its norm is at most ``max_norm`` (as torch's clip_grad_norm_)."""
    norm = torch.linalg.vector_norm(flat_grad)
    flat_grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
    return norm


class FlatAdam:
    """Adam (Kingma & Ba 2015, Algorithm 1) on one flat parameter tensor, written out.

    The same update as ``torch.optim.Adam`` (without weight decay or amsgrad), in six tensor
    operations; torch's optimizer adds ~0.1 ms of bookkeeping per step, which at 20 steps per
    rollout was a fifth of the update time here.
    """

    def __init__(self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        if not lr > 0 or not eps > 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"FlatAdam needs lr > 0, eps > 0 and betas in [0, 1), got {lr}, {eps}, {betas}")
        self.param, self.lr, self.betas, self.eps = param, float(lr), betas, float(eps)
        self.m = torch.zeros_like(param)  # first moment (mean of gradients)
        self.v = torch.zeros_like(param)  # second moment (mean of squared gradients)
        self.t = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)  # m ← β1·m + (1 − β1)·g
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)  # v ← β2·v + (1 − β2)·g²
        bias1, bias2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        denom = (self.v.sqrt() / math.sqrt(bias2)).add_(self.eps)  # √(v̂) + ε
        self.param.addcdiv_(self.m, denom, value=-self.lr / bias1)  # θ ← θ − lr·m̂ / (√v̂ + ε)
