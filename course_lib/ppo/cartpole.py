"""CartPole-v1 for PPO's rollouts: gymnasium's vectorised CartPole with a leaner ``step``.

PPO on CartPole spends a fifth of its time stepping the environment, 32 vector steps per update,
each a few dozen NumPy calls on arrays of 8 numbers; gymnasium's ``CartPoleVectorEnv.step`` adds an
action-space membership test, a stack of the new state and a zero-sized random draw on every step.
``CartPoleVec`` is that class (its reset, spaces, seeding and rendering are gymnasium's) with a
``step`` that does the same arithmetic in the same order on preallocated arrays: the same float64
state, the same random draws, so the trajectories are bit for bit gymnasium's (``tests/test_ppo.py``
checks it step by step, and against single CartPole-v1 environments: dynamics, termination at
|x| > 2.4 or |θ| > 12°, truncation at 500 steps, next-step autoreset).

The dynamics (Barto, Sutton & Anderson 1983; the equations as corrected by Florian 2007,
"Correct equations for the dynamics of the cart-pole system"), Euler steps of τ = 0.02 s:

    θ̈ = (g sin θ − cos θ · (F + m_p l θ̇² sin θ) / m) / (l (4/3 − m_p cos² θ / m))
    ẍ = (F + m_p l θ̇² sin θ) / m − m_p l θ̈ cos θ / m
"""
from __future__ import annotations

import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv


class CartPoleVec(CartPoleVectorEnv):
    """``num_envs`` CartPole-v1 environments stepped together (next-step autoreset, 500-step limit)."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 500):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        super().__init__(num_envs=int(num_envs), max_episode_steps=max_episode_steps)
        n = self.num_envs
        self._tmp = np.empty((4, n))  # scratch rows: force, cos θ, sin θ, temp
        self._acc = np.empty((2, n))  # θ̈, ẍ
        self._scratch = np.empty(n)
        self._states = np.empty((2, 4, n))  # the new state is written into the one the old is not in
        self._which = 0
        self._reward = np.ones(n, dtype=np.float32)

    def step(self, action):
        action = np.asarray(action)
        if action.shape != (self.num_envs,) or (action.astype(bool) != action).any():  # 0s and 1s only
            raise ValueError(f"action must be {self.num_envs} integers in {{0, 1}}, got {action!r}")
        if self.state is None:
            raise ValueError("call reset() before step()")
        state = self.state  # (4, n) float64: x, ẋ, θ, θ̇
        x, x_dot, theta, theta_dot = state
        force, cos, sin, temp = self._tmp
        np.multiply(np.sign(action - 0.5), self.force_mag, out=force)  # push left (0) or right (1)
        np.cos(theta, out=cos)
        np.sin(theta, out=sin)
        # temp = (F + m_p l θ̇² sin θ) / m, in gymnasium's order of operations (bit-equal states)
        np.divide(force + self.polemass_length * np.square(theta_dot) * sin, self.total_mass, out=temp)
        theta_acc, x_acc = self._acc
        np.divide(self.gravity * sin - cos * temp,
                  self.length * (4.0 / 3.0 - self.masspole * np.square(cos) / self.total_mass), out=theta_acc)
        np.subtract(temp, self.polemass_length * theta_acc * cos / self.total_mass, out=x_acc)
        # Euler: positions move with the old velocities, velocities with the new accelerations
        self._which ^= 1
        new, scratch = self._states[self._which], self._scratch
        for row, (value, rate) in enumerate(((x, x_dot), (x_dot, x_acc), (theta, theta_dot), (theta_dot, theta_acc))):
            np.add(value, np.multiply(self.tau, rate, out=scratch), out=new[row])
        x, theta = new[0], new[2]
        terminated = np.greater(np.abs(x, out=scratch), self.x_threshold)
        terminated |= np.abs(theta, out=scratch) > self.theta_threshold_radians
        self.steps += 1
        truncated = self.steps >= self.max_episode_steps
        reward = self._reward.copy()
        done_before = self.prev_done
        if done_before.any():  # the autoreset step: a fresh start, no reward, no episode end
            new[:, done_before] = self.np_random.uniform(low=self.low, high=self.high, size=(4, int(done_before.sum())))
            self.steps[done_before] = 0
            reward[done_before] = 0.0
            terminated[done_before] = False
            truncated[done_before] = False
        self.state = new
        self.prev_done = terminated | truncated
        return new.T.astype(np.float32), reward, terminated, truncated, {}
