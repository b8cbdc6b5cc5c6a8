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
  out in NumPy, straight into that buffer, with every activation in a buffer allocated once and
  the two nets' hidden layers stacked into one batched product per layer (``_Nets``);
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

from ..flat import flat_views
from .policy import ActorCritic


def flatten_parameters(policy: ActorCritic) -> tuple[nn.Parameter, torch.Tensor]:
    """Re-home all of ``policy``'s parameters and gradients in two flat buffers (``course_lib.flat``).

    Returns:
        (flat_param, flat_grad). Each parameter's ``.data`` and ``.grad`` become views into
        them, so an optimizer over ``[flat_param]`` updates the network in place, and autograd
        accumulates into ``flat_grad`` (zero it before each backward pass).
    """
    flat, _ = flat_views(policy)
    policy._np_cache = None  # the NumPy mirror must point at the new storage
    return flat, flat.grad


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


class _Nets:
    """The two tanh MLPs of the actor-critic (policy and value, the same hidden sizes) as NumPy
    views of their weights and gradients, with the hidden layers of both nets stacked: each hidden
    layer of the pair is one batched product, ``(2, n, in) @ (2, in, out)``, one bias addition and
    one tanh, forward and backward, instead of one call per net.

    The stacked weights are strided views of the flat parameter buffer (``flatten_parameters``
    puts every parameter in it, so the value net's weight of a layer sits a fixed distance after
    the policy net's): no copy, and Adam's step shows up in them. Hidden activations are
    (2, n, width), [0] the policy net's and [1] the value net's; the output layers stay apart (A
    logits, one value) and are kept transposed, (n_out, n), so that the few per-sample reductions
    over actions (softmax, the chosen action's log-prob) run along contiguous rows.
    """

    def __init__(self, pi_layers: list[nn.Linear], vf_layers: list[nn.Linear], max_batch: int):
        def stacked(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
            x, y = a.numpy(), b.numpy()
            if a.untyped_storage().data_ptr() != b.untyped_storage().data_ptr():
                raise ValueError("the policy's parameters must live in one flat buffer: call "
                                 "flatten_parameters(policy) first")
            step = y.__array_interface__["data"][0] - x.__array_interface__["data"][0]
            return np.lib.stride_tricks.as_strided(x, (2, *x.shape), (step, *x.strides), writeable=True)

        hidden = pi_layers[:-1]
        self.w = [stacked(p.weight.detach(), v.weight.detach()) for p, v in zip(hidden, vf_layers)]  # (2, out, in)
        self.b = [stacked(p.bias.detach(), v.bias.detach())[:, None, :] for p, v in zip(hidden, vf_layers)]
        self.gw = [stacked(p.weight.grad, v.weight.grad) for p, v in zip(hidden, vf_layers)]
        self.gb = [stacked(p.bias.grad, v.bias.grad) for p, v in zip(hidden, vf_layers)]
        self.w_out = [pi_layers[-1].weight.detach().numpy(), vf_layers[-1].weight.detach().numpy()]  # (A, H), (1, H)
        self.b_out = [pi_layers[-1].bias.detach().numpy()[:, None], vf_layers[-1].bias.detach().numpy()[:, None]]
        self.gw_out = [pi_layers[-1].weight.grad.numpy(), vf_layers[-1].weight.grad.numpy()]
        self.gb_out = [pi_layers[-1].bias.grad.numpy(), vf_layers[-1].bias.grad.numpy()]
        widths = [w.shape[1] for w in self.w]
        flat = lambda k: np.empty(2 * max_batch * k, dtype=np.float32)  # noqa: E731
        self._bufs = [[flat(k) for k in widths] for _ in range(3)]  # activations, dL/dh, tanh'
        self._out = [np.empty(len(w) * max_batch, dtype=np.float32) for w in self.w_out]
        self._views: dict[int, tuple] = {}

    def views(self, n: int) -> tuple:
        """(acts, dh, dtanh, outs): the buffers' first n rows, each contiguous (cached per n)."""
        if n not in self._views:
            self._views[n] = (*([b[: 2 * n * k].reshape(2, n, k) for b, k in zip(bufs, (w.shape[1] for w in self.w))]
                                for bufs in self._bufs),
                              [b[: len(w) * n].reshape(len(w), n) for b, w in zip(self._out, self.w_out)])
        return self._views[n]

    def forward(self, x: np.ndarray, n: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """(hidden activations [h1, ..., h_L] each (2, n, width), logits^T (A, n), values (n,)) of
        the first n rows of x: h = tanh(h_prev W^T + b); out^T = W h_L^T + b."""
        acts, _, _, outs = self.views(n)
        h = x
        for w, b, z in zip(self.w, self.b, acts):
            np.matmul(h, w.transpose(0, 2, 1), out=z)
            z += b
            np.tanh(z, out=z)
            h = z
        for k, (w, b, o) in enumerate(zip(self.w_out, self.b_out, outs)):
            np.dot(w, h[k].T, out=o)
            o += b
        return acts, outs[0], outs[1][0]

    def backward(self, x: np.ndarray, acts: list[np.ndarray], d_logits_t: np.ndarray, d_v: np.ndarray,
                 ones: np.ndarray) -> None:
        """Write dL/dW and dL/db of every layer of both nets into the gradient buffer, given
        dL/d(logits) transposed (A, n) and dL/dV (n,)."""
        _, dhs, dtanhs, _ = self.views(d_v.shape[0])
        h_last, dz = acts[-1], dhs[-1]
        for k, d_out_t in enumerate((d_logits_t, d_v[None, :])):
            np.dot(d_out_t, h_last[k], out=self.gw_out[k])  # dW = dz^T h_in
            np.dot(d_out_t, ones, out=self.gb_out[k])  # db = sum over the batch of dz
            np.dot(d_out_t.T, self.w_out[k], out=dz[k])  # dL/dh_L
        for i in range(len(self.w) - 1, -1, -1):
            h, dtanh = acts[i], dtanhs[i]
            np.multiply(h, h, out=dtanh)
            np.subtract(1.0, dtanh, out=dtanh)  # through tanh: tanh' = 1 - tanh^2
            dz *= dtanh  # now dL/dz at this layer's pre-activation
            h_in = acts[i - 1] if i > 0 else x
            np.matmul(dz.transpose(0, 2, 1), h_in, out=self.gw[i])
            np.matmul(ones, dz, out=self.gb[i])
            if i > 0:
                np.matmul(dz, self.w[i], out=dhs[i - 1])  # dL/dh_in
                dz = dhs[i - 1]


class PPOGradient:
    """The gradient of ``ppo.losses.ppo_loss`` on a minibatch, by the chain rule written out in
    NumPy, straight into the policy's flat gradient buffer (CPU only).

    ``L = clipped_surrogate(rho, A, eps) + vf_coef * value_loss(V, R) - ent_coef * mean(H)``,
    advantages given standardised. Every activation lives in a buffer allocated once, and the two
    nets' hidden layers run stacked (``_Nets``), so a gradient step is ~45 NumPy calls with no
    allocation: on CartPole's 256 x 64 minibatches about half of its time is the six 256 x 64 x 64
    matrix products (at the core's floating-point limit), the rest the element-wise passes
    (bias, tanh, tanh') and the calls around them.

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
        self.nets = _Nets(pi_layers, vf_layers, max_batch)
        self.max_batch = int(max_batch)
        self.ones = np.ones(max_batch, dtype=np.float32)
        self.actions = np.arange(policy.n_actions)[:, None]
        a = policy.n_actions * max_batch
        self._mat = [np.empty(a, dtype=np.float32) for _ in range(4)]  # log pi, pi, dL/dlogits, one-hot: (A, n)
        self._vec = [np.empty(max_batch, dtype=np.float32) for _ in range(6)] + [np.empty(max_batch, dtype=bool)]
        self._views: dict[int, tuple] = {}

    def _buffers(self, n: int) -> tuple[np.ndarray, ...]:
        """The scratch buffers' views for a minibatch of n rows, each contiguous (cached per n)."""
        if n not in self._views:
            a = len(self.actions)
            self._views[n] = (*(m[: a * n].reshape(a, n) for m in self._mat), *(v[:n] for v in self._vec))
        return self._views[n]

    def __call__(self, obs: np.ndarray, act: np.ndarray, logp_old: np.ndarray, adv: np.ndarray,
                 ret: np.ndarray, eps: float, vf_coef: float, ent_coef: float = 0.0,
                 losses: bool = True) -> tuple[float, float]:
        """One minibatch: obs (n, obs_dim) float32, act (n,) int, logp_old, adv (standardised if
        wanted), ret (n,) float32. Writes the gradient; returns (policy loss, value loss), or two
        NaNs with ``losses=False`` (the gradient does not need them; ``train_ppo`` records only the
        last step's)."""
        n = obs.shape[0]
        if n > self.max_batch:
            raise ValueError(f"obs has {n} rows, more than max_batch={self.max_batch}")
        acts, logits, v = self.nets.forward(obs, n)  # logits transposed: (A, n)
        logp_all, probs, d_logits, onehot, logp, ratio, surr1, surr2, d_logp, tmp, smaller = self._buffers(n)
        # (ufuncs and their .reduce called directly: ndarray.max/.sum/.mean and np.clip add Python-level
        # wrappers that cost as much as the arithmetic on arrays this small; the results are the same)

        # log-softmax over the actions (axis 0): logp = logits - max - log(sum(exp(logits - max)))
        np.subtract(logits, np.maximum.reduce(logits, axis=0, out=tmp), out=logp_all)
        np.exp(logp_all, out=probs)
        logp_all -= np.log(np.add.reduce(probs, axis=0, out=tmp), out=tmp)
        np.exp(logp_all, out=probs)  # pi(.|s)
        np.equal(self.actions, act, out=onehot)  # onehot[a, i] = 1 where a is the action taken

        # Policy: L_pg = -mean(min(rho A, clip(rho) A)). Where the unclipped term is the smaller
        # (or equal) one, dL/drho = -A/n; where the clipped term is smaller it is constant: 0.
        np.multiply(logp_all, onehot, out=d_logits)
        np.add.reduce(d_logits, axis=0, out=logp)  # log pi(a|s) of the actions taken
        np.subtract(logp, logp_old, out=ratio)
        np.exp(ratio, out=ratio)
        np.multiply(ratio, adv, out=surr1)
        np.maximum(ratio, 1.0 - eps, out=surr2)  # clip(rho, 1 - eps, 1 + eps)
        np.minimum(surr2, 1.0 + eps, out=surr2)
        surr2 *= adv
        pg_loss = -float(np.add.reduce(np.minimum(surr1, surr2, out=tmp)) / n) if losses else math.nan
        np.less_equal(surr1, surr2, out=smaller)
        np.multiply(surr1, smaller, out=d_logp)  # dL/dlogp = dL/drho * rho
        d_logp *= -1.0 / n
        # d logp(a)/d logits = onehot(a) - pi
        np.subtract(onehot, probs, out=d_logits)
        d_logits *= d_logp
        if ent_coef:
            # H = -sum pi log pi, dH/dlogits = -pi (log pi + H); the loss has -ent_coef * mean(H).
            ent = -(probs * logp_all).sum(axis=0)
            d_logits += (ent_coef / n) * probs * (logp_all + ent)

        # Value: L_v = vf_coef * mean((V - R)^2), dL/dV = 2 vf_coef (V - R) / n.
        diff = surr1  # reuse the buffer: surr1 is no longer needed
        np.subtract(v, ret, out=diff)
        v_loss = float(np.dot(diff, diff)) / n if losses else math.nan
        diff *= 2.0 * vf_coef / n
        self.nets.backward(obs, acts, d_logits, diff, self.ones[:n])
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


def clip_grad_norm(flat_grad: torch.Tensor | np.ndarray, max_norm: float) -> float:
    """Scale the flat gradient so its norm is at most ``max_norm`` (as torch's clip_grad_norm_);
    returns the norm before clipping. On the CPU in NumPy (one dot product and one scaling); a
    NumPy array (the CPU buffer's ``.numpy()`` view) is scaled in place too."""
    if isinstance(flat_grad, np.ndarray) or flat_grad.device.type == "cpu":
        g = flat_grad if isinstance(flat_grad, np.ndarray) else flat_grad.numpy()
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
            self._grad: tuple[torch.Tensor | None, np.ndarray | None] = (None, None)  # the last grad and its NumPy view

    def step(self, grad: torch.Tensor | np.ndarray) -> None:
        """One Adam step with gradient ``grad`` (a tensor like the parameter; on the CPU also its NumPy view)."""
        b1, b2 = self.betas
        self.t += 1
        bias1, bias2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        if self._cpu:
            p, m, v, tmp = self._np
            if isinstance(grad, np.ndarray):
                g = grad
            else:  # .numpy() costs a few microseconds: keep the view of the buffer passed every step
                if grad is not self._grad[0]:
                    self._grad = (grad, grad.detach().numpy())
                g = self._grad[1]
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
        with torch.no_grad():
            self._step_torch(grad, b1, b2, bias1, bias2)

    def _step_torch(self, grad: torch.Tensor, b1: float, b2: float, bias1: float, bias2: float) -> None:
        self.m.mul_(b1).add_(grad, alpha=1 - b1)  # m ← β1·m + (1 − β1)·g
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)  # v ← β2·v + (1 − β2)·g²
        denom = (self.v.sqrt() / math.sqrt(bias2)).add_(self.eps)  # √(v̂) + ε
        self.param.addcdiv_(self.m, denom, value=-self.lr / bias1)  # θ ← θ − lr·m̂ / (√v̂ + ε)
