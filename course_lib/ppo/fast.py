"""The fast path of PPO's update: hand-derived gradients in NumPy over one flat parameter buffer.

The PPO update on CartPole is many tiny steps (20 epochs × 1 minibatch of 256 per rollout), so
beyond its six 256 × 64 × 64 matrix products its cost is per-call overhead: autograd builds and
walks a graph of ~40 nodes per step, torch adds several microseconds to every call, and the
optimizer and gradient clipping loop over 12 parameter tensors. This module removes that,
without changing the math:

* ``flatten_parameters`` makes every parameter (and its gradient) a view into one contiguous
  buffer, so gradient clipping is one dot product and Adam (``FlatAdam``) a handful of operations
  on one array (NumPy on the tensor's own memory on the CPU, torch on a GPU).
* ``PPOGradient`` computes the gradient of ``ppo.losses.ppo_loss`` (clipped surrogate + vf_coef ·
  value loss − ent_coef · entropy, on advantages already standardised) by the chain rule written
  out in NumPy, straight into that buffer, with every activation in a buffer allocated once;
  ``ppo_grads`` is the same for one call on torch tensors.

``tests/test_ppo.py`` checks that it equals autograd of ``ppo_loss`` (values and gradients) on
seeded minibatches. ``train_ppo`` uses it on the CPU; ``PPOConfig(manual_grad=False)``, or a GPU,
trains with autograd of ``ppo_loss`` instead. ``docs/performance-ppo.md`` has the measurements.
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


class _Net:
    """One tanh MLP of the actor-critic as NumPy views of its weights and gradients (which share
    memory with the torch parameters), with activation buffers for up to ``max_batch`` rows.

    Hidden activations are (n, width); the output layer's is kept transposed, (n_out, n), so that
    the few per-sample reductions over actions (softmax, the chosen action's log-prob) run along
    contiguous rows: NumPy is slow at reducing many rows of two numbers each.
    """

    def __init__(self, layers: list[nn.Linear], max_batch: int):
        self.w = [m.weight.detach().numpy() for m in layers]  # (out, in), the parameter's memory
        self.b = [m.bias.detach().numpy() for m in layers]
        self.gw = [m.weight.grad.numpy() for m in layers]
        self.gb = [m.bias.grad.numpy() for m in layers]
        sizes = [w.shape[0] for w in self.w]
        self.acts = [np.empty((max_batch, k), dtype=np.float32) for k in sizes[:-1]]  # h1, ..., h_L
        self.out = np.empty(sizes[-1] * max_batch, dtype=np.float32)  # the output, transposed, flat
        self.dh = [np.empty((max_batch, k), dtype=np.float32) for k in sizes[:-1]]  # dL/dh of each layer
        self.dtanh = [np.empty((max_batch, k), dtype=np.float32) for k in sizes[:-1]]  # tanh' = 1 - h^2

    def forward(self, x: np.ndarray, n: int) -> list[np.ndarray]:
        """[x, h1, ..., h_L, out^T] for the first n rows: h = tanh(h_prev W^T + b); out^T = W h_L^T + b."""
        acts = [x]
        for i, (w, b) in enumerate(zip(self.w[:-1], self.b[:-1])):
            z = self.acts[i][:n]
            np.dot(acts[-1], w.T, out=z)
            z += b
            np.tanh(z, out=z)
            acts.append(z)
        w, b = self.w[-1], self.b[-1]
        out = self.out[: w.shape[0] * n].reshape(w.shape[0], n)  # (n_out, n)
        np.dot(w, acts[-1].T, out=out)
        out += b[:, None]
        acts.append(out)
        return acts

    def backward(self, acts: list[np.ndarray], d_out_t: np.ndarray, ones: np.ndarray) -> None:
        """Write dL/dW and dL/db of every layer into the gradient buffer, given dL/d(out) transposed
        (n_out, n)."""
        last = len(self.w) - 1
        np.dot(d_out_t, acts[last], out=self.gw[last])  # dW = dz^T h_in
        np.dot(d_out_t, ones, out=self.gb[last])  # db = sum over the batch of dz
        dz = d_out_t.T  # (n, n_out) gradient at the pre-activation of the current layer
        for i in reversed(range(last + 1)):
            h_in = acts[i]
            if i < last:
                np.dot(dz.T, h_in, out=self.gw[i])
                np.dot(ones, dz, out=self.gb[i])
            if i > 0:
                n = dz.shape[0]
                dh, dtanh = self.dh[i - 1][:n], self.dtanh[i - 1][:n]
                np.dot(dz, self.w[i], out=dh)  # dL/dh_in
                np.multiply(h_in, h_in, out=dtanh)
                np.subtract(1.0, dtanh, out=dtanh)  # through tanh: tanh' = 1 - tanh^2
                dh *= dtanh
                dz = dh


class PPOGradient:
    """The gradient of ``ppo.losses.ppo_loss`` on a minibatch, by the chain rule written out in
    NumPy, straight into the policy's flat gradient buffer (CPU only).

    ``L = clipped_surrogate(rho, A, eps) + vf_coef * value_loss(V, R) - ent_coef * mean(H)``,
    advantages given standardised. Every activation lives in a buffer allocated once, so a
    gradient step is ~50 NumPy calls with no allocation: on CartPole's 256 x 64 minibatches most
    of the cost is the six 256 x 64 x 64 matrix products, not the calls around them.

    Args:
        policy: an ``ActorCritic`` on the CPU whose parameters went through ``flatten_parameters``.
        max_batch: the largest minibatch it will be called with.
    """

    def __init__(self, policy: ActorCritic, max_batch: int):
        if next(policy.parameters()).device.type != "cpu":
            raise ValueError("PPOGradient runs on the CPU; a policy on a GPU trains with autograd")
        if policy.pi[0].weight.grad is None:
            raise ValueError("policy must have gradient buffers: call flatten_parameters(policy) first")
        pi_layers, vf_layers = policy.linear_layers()
        self.pi, self.vf = _Net(pi_layers, max_batch), _Net(vf_layers, max_batch)
        self.max_batch = int(max_batch)
        self.ones = np.ones(max_batch, dtype=np.float32)
        self.actions = np.arange(policy.n_actions)[:, None]
        a = policy.n_actions * max_batch
        self.logp_all, self.probs, self.d_logits, self.onehot = (np.empty(a, dtype=np.float32) for _ in range(4))
        self.vec = [np.empty(max_batch, dtype=np.float32) for _ in range(5)]

    def __call__(self, obs: np.ndarray, act: np.ndarray, logp_old: np.ndarray, adv: np.ndarray,
                 ret: np.ndarray, eps: float, vf_coef: float, ent_coef: float = 0.0) -> tuple[float, float]:
        """One minibatch: obs (n, obs_dim) float32, act (n,) int, logp_old, adv (standardised if
        wanted), ret (n,) float32. Writes the gradient; returns (policy loss, value loss)."""
        n = obs.shape[0]
        if n > self.max_batch:
            raise ValueError(f"obs has {n} rows, more than max_batch={self.max_batch}")
        pi_acts = self.pi.forward(obs, n)
        vf_acts = self.vf.forward(obs, n)
        logits, v = pi_acts[-1], vf_acts[-1][0]  # logits transposed: (A, n)
        shape = logits.shape

        # log-softmax over the actions (axis 0): logp = logits - max - log(sum(exp(logits - max)))
        logp_all, probs = self.logp_all[: logits.size].reshape(shape), self.probs[: logits.size].reshape(shape)
        np.subtract(logits, logits.max(axis=0), out=logp_all)
        np.exp(logp_all, out=probs)
        logp_all -= np.log(probs.sum(axis=0))
        np.exp(logp_all, out=probs)  # pi(.|s)
        onehot = self.onehot[: logits.size].reshape(shape)
        np.equal(self.actions, act, out=onehot)  # onehot[a, i] = 1 where a is the action taken

        # Policy: L_pg = -mean(min(rho A, clip(rho) A)). Where the unclipped term is the smaller
        # (or equal) one, dL/drho = -A/n; where the clipped term is smaller it is constant: 0.
        logp, ratio, surr1, surr2, d_logp = (x[:n] for x in self.vec)
        np.multiply(logp_all, onehot, out=self.d_logits[: logits.size].reshape(shape))
        self.d_logits[: logits.size].reshape(shape).sum(axis=0, out=logp)  # log pi(a|s) of the actions taken
        np.subtract(logp, logp_old, out=ratio)
        np.exp(ratio, out=ratio)
        np.multiply(ratio, adv, out=surr1)
        np.clip(ratio, 1.0 - eps, 1.0 + eps, out=surr2)
        surr2 *= adv
        pg_loss = -float(np.minimum(surr1, surr2).mean())
        np.multiply(surr1, surr1 <= surr2, out=d_logp)  # dL/dlogp = dL/drho * rho
        d_logp *= -1.0 / n
        # d logp(a)/d logits = onehot(a) - pi
        d_logits = self.d_logits[: logits.size].reshape(shape)
        np.subtract(onehot, probs, out=d_logits)
        d_logits *= d_logp
        if ent_coef:
            # H = -sum pi log pi, dH/dlogits = -pi (log pi + H); the loss has -ent_coef * mean(H).
            ent = -(probs * logp_all).sum(axis=0)
            d_logits += (ent_coef / n) * probs * (logp_all + ent)
        self.pi.backward(pi_acts, d_logits, self.ones[:n])

        # Value: L_v = vf_coef * mean((V - R)^2), dL/dV = 2 vf_coef (V - R) / n.
        diff = surr1  # reuse the buffer: surr1 is no longer needed
        np.subtract(v, ret, out=diff)
        v_loss = float(np.dot(diff, diff)) / n
        diff *= 2.0 * vf_coef / n
        self.vf.backward(vf_acts, diff[None, :], self.ones[:n])
        return pg_loss, v_loss


def ppo_grads(policy: ActorCritic, obs: torch.Tensor, act: torch.Tensor, logp_old: torch.Tensor,
              adv: torch.Tensor, ret: torch.Tensor, eps: float, vf_coef: float, ent_coef: float = 0.0
              ) -> tuple[float, float]:
    """``PPOGradient`` for one call on torch tensors (on the CPU): the gradient of
    ``ppo.losses.ppo_loss`` written into the parameters' ``.grad``; returns (policy loss, value loss).

    Args:
        obs (B, obs_dim), act (B,) int64, logp_old (B,), adv (B,) (already normalised if
        wanted), ret (B,): one minibatch.
    """
    if policy.pi[0].weight.grad is None:
        flatten_parameters(policy)
    as_np = lambda t: t.detach().cpu().numpy().astype(np.float32, copy=False)  # noqa: E731
    grad = PPOGradient(policy, obs.shape[0])
    return grad(as_np(obs), act.detach().cpu().numpy(), as_np(logp_old), as_np(adv), as_np(ret),
                eps, vf_coef, ent_coef)


def clip_grad_norm(flat_grad: torch.Tensor, max_norm: float) -> float:
    """Scale the flat gradient so its norm is at most ``max_norm`` (as torch's clip_grad_norm_);
    returns the norm before clipping. On the CPU in NumPy (one dot product and one scaling)."""
    if flat_grad.device.type == "cpu":
        g = flat_grad.numpy()
        norm = float(np.sqrt(np.dot(g, g)))
        scale = max_norm / (norm + 1e-6)
        if scale < 1.0:
            g *= np.float32(scale)
        return norm
    norm = torch.linalg.vector_norm(flat_grad)
    flat_grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
    return float(norm)


class FlatAdam:
    """Adam (Kingma & Ba 2015, Algorithm 1) on one flat parameter tensor, written out.

    The same update as ``torch.optim.Adam`` (without weight decay or amsgrad) in a few whole-
    buffer operations; torch's optimizer adds ~0.1 ms of bookkeeping per step, a large share of
    a CartPole update. On the CPU it runs in NumPy on the tensors' own memory with one scratch
    buffer (no allocation per step); on a GPU in torch.
    """

    def __init__(self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        if not lr > 0 or not eps > 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"FlatAdam needs lr > 0, eps > 0 and betas in [0, 1), got {lr}, {eps}, {betas}")
        self.param, self.lr, self.betas, self.eps = param, float(lr), betas, float(eps)
        self.m = torch.zeros_like(param)  # first moment (mean of gradients)
        self.v = torch.zeros_like(param)  # second moment (mean of squared gradients)
        self.t = 0
        self._cpu = param.device.type == "cpu"
        if self._cpu:
            self._np = (param.detach().numpy(), self.m.numpy(), self.v.numpy(), np.empty(param.shape, np.float32))

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.t += 1
        bias1, bias2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        if self._cpu:
            p, m, v, tmp = self._np
            g = grad.numpy()
            np.multiply(g, 1 - b1, out=tmp)
            m *= b1
            m += tmp  # m <- b1 m + (1 - b1) g
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v *= b2
            v += tmp  # v <- b2 v + (1 - b2) g^2
            np.sqrt(v, out=tmp)
            tmp *= 1 / math.sqrt(bias2)
            tmp += self.eps  # sqrt(v_hat) + eps
            np.divide(m, tmp, out=tmp)
            tmp *= -self.lr / bias1
            p += tmp  # theta <- theta - lr m_hat / (sqrt(v_hat) + eps)
            return
        self.m.mul_(b1).add_(grad, alpha=1 - b1)  # m ← β1·m + (1 − β1)·g
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)  # v ← β2·v + (1 − β2)·g²
        denom = (self.v.sqrt() / math.sqrt(bias2)).add_(self.eps)  # √(v̂) + ε
        self.param.addcdiv_(self.m, denom, value=-self.lr / bias1)  # θ ← θ − lr·m̂ / (√v̂ + ε)
