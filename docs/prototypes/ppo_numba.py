"""A measurement, not course code: how much faster would PPO on CartPole train with a JIT compiler?

course_lib's PPO runs in NumPy (``course_lib.ppo.fast``) and trains at about 0.7x PureJaxRL's throughput
(``docs/performance-ppo.md``). The gap is per-call overhead that XLA fuses away. This script prototypes the
obvious fix, numba (a JIT compiler for NumPy-style loops), for the two parts of a run that matter, and times
each against the course's own code in the same process, interleaved:

1. one gradient step (PPO's loss, forward and backward of both 64-64 nets, gradient clipping and Adam) on a
   256-sample minibatch: the six 256 x 64 x 64 products stay in NumPy's BLAS (numba can only call a BLAS
   through SciPy), tanh stays in NumPy (numba's ``math.tanh`` is scalar: the step took 5x longer with it
   inside the kernel), everything else is fused into four numba kernels;
2. one rollout (32 vector steps of 8 CartPoles with the policy's forward pass and sampling) as one numba call,
   against the course's collection loop (``policy.act_numpy`` and ``CartPoleVec.step``).

It then projects a 100k-step run from the two. It checks that the prototype's gradient equals
``PPOGradient``'s (float32 rounding). The prototype's rollout keeps CartPole's float64 arithmetic but uses
scalar sin/cos and its own reset draws, so its trajectories would not be gymnasium's bit for bit.

Run it (numba is not a dependency of the course; install it beside it):

    pip install --target /tmp/numba-pkgs numba==0.68.1 llvmlite==0.50.0
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=/tmp/numba-pkgs:. NUMBA_CACHE_DIR=/tmp/numba-cache \
        python docs/prototypes/ppo_numba.py
"""
from __future__ import annotations

import math
import time

import numba as nb
import numpy as np
import torch

from course_lib.ppo import ActorCritic, PPOConfig
from course_lib.ppo.fast import FlatAdam, PPOGradient, clip_grad_norm, flatten_parameters
from course_lib.ppo.train import make_vector_env

JIT = dict(cache=True, fastmath=True, error_model="numpy")  # fastmath: let LLVM vectorise the sums


@nb.njit(**JIT)
def head(h2, w_pi, b_pi, w_v, b_v, act, logp_old, adv, ret, eps, vf_coef, gw_pi, gb_pi, gw_v, gb_v, dz2, dl):
    """From the last hidden layer h2 (2, n, H): the PPO loss, the output layers' gradients and dL/dz2."""
    n, H = h2.shape[1], h2.shape[2]
    A = w_pi.shape[0]
    one, zero = np.float32(1.0), np.float32(0.0)
    lo, hi = np.float32(1.0 - eps), np.float32(1.0 + eps)
    dv = np.empty(n, np.float32)
    logits = np.empty(A, np.float32)
    pg, vl = 0.0, 0.0
    for i in range(n):  # per sample: log-softmax, ratio, clipped surrogate, value error
        m = np.float32(-np.inf)
        for a in range(A):
            s = zero
            for j in range(H):
                s += w_pi[a, j] * h2[0, i, j]
            logits[a] = s + b_pi[a]
            m = max(m, logits[a])
        tot = zero
        for a in range(A):
            tot += math.exp(logits[a] - m)
        lse = m + math.log(tot)
        ratio = math.exp(logits[act[i]] - lse - logp_old[i])
        s1, s2 = ratio * adv[i], min(max(ratio, lo), hi) * adv[i]
        pg -= min(s1, s2)
        d_logp = -s1 / n if s1 <= s2 else zero  # the clipped branch has no gradient
        for a in range(A):
            dl[a, i] = ((one if a == act[i] else zero) - math.exp(logits[a] - lse)) * d_logp
        v = zero
        for j in range(H):
            v += w_v[0, j] * h2[1, i, j]
        diff = v + b_v[0] - ret[i]
        vl += diff * diff
        dv[i] = np.float32(2.0 * vf_coef / n) * diff
    gw_pi[:] = 0.0
    gb_pi[:] = 0.0
    gw_v[:] = 0.0
    gb_v[:] = 0.0
    d0 = np.empty(H, np.float32)
    for i in range(n):  # output layers' gradients and dL/dz2, the inner loops along H (vectorised)
        gb_v[0] += dv[i]
        d0[:] = 0.0
        for a in range(A):
            gb_pi[a] += dl[a, i]
            for j in range(H):
                gw_pi[a, j] += dl[a, i] * h2[0, i, j]
                d0[j] += dl[a, i] * w_pi[a, j]
        for j in range(H):
            h0, h1 = h2[0, i, j], h2[1, i, j]
            gw_v[0, j] += dv[i] * h1
            dz2[0, i, j] = d0[j] * (one - h0 * h0)
            dz2[1, i, j] = dv[i] * w_v[0, j] * (one - h1 * h1)
    return pg / n, vl / n


@nb.njit(**JIT)
def bias_grad_and_tanh_back(dh, h, gb, dz):
    """gb = sum over samples of dz (the layer above's bias gradient); dh *= 1 - h^2 (through tanh)."""
    one = np.float32(1.0)
    for k in range(dh.shape[0]):
        gb[k, :] = 0.0
        for i in range(dh.shape[1]):
            for j in range(dh.shape[2]):
                gb[k, j] += dz[k, i, j]
                dh[k, i, j] *= one - h[k, i, j] * h[k, i, j]


@nb.njit(**JIT)
def bias_grad(dz, gb):
    for k in range(dz.shape[0]):
        gb[k, :] = 0.0
        for i in range(dz.shape[1]):
            for j in range(dz.shape[2]):
                gb[k, j] += dz[k, i, j]


@nb.njit(**JIT)
def clip_and_adam(p, g, m, v, max_norm, lr, b1, b2, t, eps):
    """Gradient norm clipping, then one Adam step, in one pass over the flat buffers."""
    s = np.float32(0.0)
    for i in range(g.shape[0]):
        s += g[i] * g[i]
    scale = np.float32(min(1.0, max_norm / (math.sqrt(s) + 1e-6)))
    b1f, b2f, c1, c2 = np.float32(b1), np.float32(b2), np.float32(1 - b1), np.float32(1 - b2)
    step, r, e = np.float32(lr / (1 - b1 ** t)), np.float32(1 / math.sqrt(1 - b2 ** t)), np.float32(eps)
    for i in range(g.shape[0]):
        gi = g[i] * scale
        m[i] = b1f * m[i] + c1 * gi
        v[i] = b2f * v[i] + c2 * gi * gi
        p[i] -= step * m[i] / (math.sqrt(v[i]) * r + e)


@nb.njit(**JIT)
def rollout(state, steps, prev_done, w1, b1, w2, b2, w3, b3, u_act, u_reset, obs_buf, act_buf, rew_buf,
            term_buf, trunc_buf):
    """T vector steps of N CartPoles (float64 state (4, N), next-step autoreset, 500-step limit), each
    action sampled from the policy net (tanh MLP) by inverting its CDF at u_act[t, e]."""
    T, N = act_buf.shape
    H, D, A = w1.shape[0], w1.shape[1], w3.shape[0]
    h1, h2, lg = np.empty(H, np.float32), np.empty(H, np.float32), np.empty(A, np.float32)
    gravity, m_cart, m_pole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total, pml = m_pole + m_cart, m_pole * length
    for t in range(T):
        for e in range(N):
            for d in range(D):
                obs_buf[t, e, d] = state[d, e]
            for j in range(H):
                s = b1[j]
                for d in range(D):
                    s += w1[j, d] * obs_buf[t, e, d]
                h1[j] = math.tanh(s)
            for j in range(H):
                s = b2[j]
                for k in range(H):
                    s += w2[j, k] * h1[k]
                h2[j] = math.tanh(s)
            top = -np.inf
            for a in range(A):
                s = b3[a]
                for k in range(H):
                    s += w3[a, k] * h2[k]
                lg[a] = s
                top = max(top, s)
            cdf = 0.0
            for a in range(A):
                cdf += math.exp(lg[a] - top)
            u, cdf, action = u_act[t, e] * cdf, 0.0, 0
            for a in range(A):
                cdf += math.exp(lg[a] - top)
                if cdf <= u:
                    action += 1
            act_buf[t, e] = min(action, A - 1)
            if prev_done[e]:  # the autoreset step: a fresh start, no reward
                for d in range(4):
                    state[d, e] = u_reset[t, e, d] * 0.1 - 0.05
                steps[e] = 0
                rew_buf[t, e], term_buf[t, e], trunc_buf[t, e], prev_done[e] = 0.0, False, False, False
                continue
            x, x_dot, th, th_dot = state[0, e], state[1, e], state[2, e], state[3, e]
            force = force_mag if act_buf[t, e] == 1 else -force_mag
            cos, sin = math.cos(th), math.sin(th)
            temp = (force + pml * th_dot * th_dot * sin) / total
            th_acc = (gravity * sin - cos * temp) / (length * (4.0 / 3.0 - m_pole * cos * cos / total))
            x_acc = temp - pml * th_acc * cos / total
            state[0, e], state[1, e] = x + tau * x_dot, x_dot + tau * x_acc
            state[2, e], state[3, e] = th + tau * th_dot, th_dot + tau * th_acc
            steps[e] += 1
            term = abs(state[0, e]) > 2.4 or abs(state[2, e]) > 12 * 2 * math.pi / 360
            trunc = steps[e] >= 500
            rew_buf[t, e], term_buf[t, e], trunc_buf[t, e], prev_done[e] = 1.0, term, trunc, term or trunc


class Step:
    """The prototype's gradient step on stacked copies of the two nets' weights (2, out, in)."""

    def __init__(self, policy: ActorCritic, n: int):
        pi, vf = policy.linear_layers()
        stack = lambda f: [np.stack([f(p), f(q)]).astype(np.float32) for p, q in zip(pi[:-1], vf[:-1])]  # noqa: E731
        self.w = stack(lambda layer: layer.weight.detach().numpy())
        self.b = [b[:, None, :] for b in stack(lambda layer: layer.bias.detach().numpy())]
        self.gw = [np.empty_like(w) for w in self.w]
        self.gb = [np.empty((2, w.shape[1]), np.float32) for w in self.w]
        self.out = [(layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy())
                    for layer in (pi[-1], vf[-1])]
        self.gout = [(np.empty_like(w), np.empty_like(b)) for w, b in self.out]
        H = self.w[0].shape[1]
        self.z1, self.z2, self.dz2, self.dh1 = (np.empty((2, n, H), np.float32) for _ in range(4))
        self.dl = np.empty((pi[-1].weight.shape[0], n), np.float32)

    def __call__(self, obs, act, logp_old, adv, ret, eps, vf_coef):
        (w1, w2), (b1, b2), z1, z2 = self.w, self.b, self.z1, self.z2
        np.matmul(obs, w1.transpose(0, 2, 1), out=z1)
        z1 += b1
        np.tanh(z1, out=z1)
        np.matmul(z1, w2.transpose(0, 2, 1), out=z2)
        z2 += b2
        np.tanh(z2, out=z2)
        (wp, bp), (wv, bv) = self.out
        (gwp, gbp), (gwv, gbv) = self.gout
        losses = head(z2, wp, bp, wv, bv, act, logp_old, adv, ret, eps, vf_coef, gwp, gbp, gwv, gbv, self.dz2, self.dl)
        np.matmul(self.dz2.transpose(0, 2, 1), z1, out=self.gw[1])
        np.matmul(self.dz2, w2, out=self.dh1)
        bias_grad_and_tanh_back(self.dh1, z1, self.gb[1], self.dz2)
        np.matmul(self.dh1.transpose(0, 2, 1), obs, out=self.gw[0])
        bias_grad(self.dh1, self.gb[0])
        return losses


def best_of(fn, repeats=7, calls=1000):
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main() -> None:
    torch.set_num_threads(1)
    cfg = PPOConfig()
    n, rng = cfg.n_envs * cfg.n_steps, np.random.default_rng(0)
    policy = ActorCritic.for_env("CartPole-v1", cfg)
    flat_param, flat_grad = flatten_parameters(policy)
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    act = rng.integers(0, 2, n)
    with torch.no_grad():
        logp = torch.log_softmax(policy(torch.from_numpy(obs))[0], -1).numpy()[np.arange(n), act]
    logp_old = (logp + rng.normal(scale=0.1, size=n)).astype(np.float32)
    adv = rng.normal(size=n).astype(np.float32)
    adv = ((adv - adv.mean()) / adv.std()).astype(np.float32)
    ret = rng.normal(size=n).astype(np.float32)
    batch = (obs, act, logp_old, adv, ret, cfg.clip_eps, cfg.vf_coef)

    # 1. The gradient step: equal to PPOGradient's, then timed against it (interleaved)
    course = PPOGradient(policy, n)
    course(*batch)
    proto = Step(policy, n)
    start = time.perf_counter()
    proto(*batch)
    print(f"numba kernels compiled or loaded from cache in {time.perf_counter() - start:.2f} s")
    pi, vf = policy.linear_layers()
    worst = max(np.abs(proto.gw[0][0] - pi[0].weight.grad.numpy()).max(),
                np.abs(proto.gw[1][1] - vf[1].weight.grad.numpy()).max(),
                np.abs(proto.gout[0][0] - pi[2].weight.grad.numpy()).max())
    print(f"gradient: largest difference from PPOGradient's {worst:.1e} (float32 rounding)")
    g = flat_grad.numpy()
    p, m, v = flat_param.detach().numpy(), np.zeros_like(g), np.zeros_like(g)
    adam = FlatAdam(flat_param, lr=cfg.lr, eps=cfg.adam_eps)

    def course_step():
        course(*batch, losses=False)
        clip_grad_norm(g, cfg.max_grad_norm)
        adam.step(g)

    def proto_step():
        proto(*batch)
        clip_and_adam(p, g, m, v, cfg.max_grad_norm, cfg.lr, 0.9, 0.999, 1, cfg.adam_eps)

    step = {"course_lib": math.inf, "prototype": math.inf}
    for _ in range(3):  # interleaved rounds: the machine's load moves both
        for name, fn in (("course_lib", course_step), ("prototype", proto_step)):
            step[name] = min(step[name], best_of(fn))
    print(f"gradient step with clip and Adam (best of 21 x 1000 calls): course_lib {step['course_lib'] * 1e6:.0f} us, "
          f"prototype {step['prototype'] * 1e6:.0f} us, {step['course_lib'] / step['prototype']:.2f}x")

    # 2. One rollout of 32 steps of 8 CartPoles: train_ppo's collection loop against one numba call
    T, N = cfg.n_steps, cfg.n_envs
    venv = make_vector_env("CartPole-v1", N)
    venv_obs = [venv.reset(seed=0)[0]]
    obs_buf = np.zeros((T + 1, N, 4), np.float32)
    act_buf, rew_buf = np.zeros((T, N), np.int64), np.zeros((T, N), np.float32)
    term_buf, trunc_buf = np.zeros((T, N), bool), np.zeros((T, N), bool)
    policy.sync_numpy()

    def course_rollout():
        o = venv_obs[0]
        for t in range(T):
            obs_buf[t] = o
            a = policy.act_numpy(o, rng)
            o, r, term, trunc, _ = venv.step(a)
            act_buf[t], rew_buf[t], term_buf[t], trunc_buf[t] = a, r, term, trunc
        venv_obs[0] = o

    state, steps, prev = rng.uniform(-0.05, 0.05, (4, N)), np.zeros(N, np.int64), np.zeros(N, bool)
    weights = [x.detach().numpy() for layer in pi for x in (layer.weight, layer.bias)]

    def proto_rollout():
        rollout(state, steps, prev, *weights, rng.random((T, N)), rng.random((T, N, 4)), obs_buf, act_buf, rew_buf,
                term_buf, trunc_buf)

    proto_rollout()
    roll = {"course_lib": math.inf, "prototype": math.inf}
    for _ in range(3):
        for name, fn in (("course_lib", course_rollout), ("prototype", proto_rollout)):
            roll[name] = min(roll[name], best_of(fn, calls=100))
    venv.close()
    print(f"rollout of {T} x {N} steps (best of 21 x 100): course_lib {roll['course_lib'] * 1e3:.2f} ms, "
          f"prototype {roll['prototype'] * 1e3:.3f} ms, {roll['course_lib'] / roll['prototype']:.1f}x")

    # 3. A 100k-step run projected from the two (without the per-update work both would still do:
    #    the batched forward pass for V and log pi_old, GAE, the diagnostics; ~0.1-0.5 ms per update)
    updates = -(-100_000 // n)
    for name in step:
        seconds = updates * (cfg.n_epochs * step[name] + roll[name])
        print(f"projected 100k steps, {name}: {seconds:.2f} s of gradient steps and rollouts "
              f"({100_096 / seconds / 1000:.1f}k env steps/s before the per-update rest)")


if __name__ == "__main__":
    main()
