"""A gridworld MDP that is also a gymnasium environment (notebooks 01 and 02).

Cells are numbered row by row: state = row * n_cols + col. Actions are 0 up, 1 right,
2 down, 3 left. Moving into a wall or off the grid leaves the agent where it is. With
probability ``slip`` the move goes sideways instead (half to each side, perpendicular to the
chosen direction). Entering a terminal cell pays its reward and ends the episode; every move
also pays ``-step_cost``.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import gymnasium as gym
import numpy as np

from ..core import check_finite_number, check_indices, check_positive_int, check_probability
from .finite import FiniteMDP

ACTIONS = ("up", "right", "down", "left")
ARROWS = ("↑", "→", "↓", "←")
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))


def _cell(name: str, cell, shape) -> tuple[int, int]:
    try:
        r, c = (check_finite_number(name, x, integer=True) for x in cell)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (row, col) pairs of integers, got {cell!r}") from None
    if not (0 <= r < shape[0] and 0 <= c < shape[1]):
        raise ValueError(f"{name} cell {(r, c)} lies outside the {shape[0]}x{shape[1]} grid")
    return r, c


class GridWorld(gym.Env):
    """A gridworld: an explicit finite MDP (``to_mdp()``) and a gymnasium environment.

    Args:
        shape: (n_rows, n_cols), each at least 1.
        terminals: {(row, col): reward} for the cells that end the episode (at least one).
        walls: cells the agent cannot enter.
        start: the start cell (default (n_rows - 1, 0), the bottom-left corner).
        step_cost: paid (as reward −step_cost) on every move.
        slip: probability in [0, 1] that a move goes sideways instead.
        max_steps: episodes are truncated after this many steps (gymnasium's ``truncated``).
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, shape=(4, 4), terminals: Mapping | None = None, walls: Iterable = (),
                 start=None, step_cost: float = 0.0, slip: float = 0.0, max_steps: int = 100,
                 render_mode: str | None = None):
        try:
            rows, cols = (check_positive_int("shape", x) for x in shape)
        except (TypeError, ValueError):
            raise ValueError(f"shape must be (n_rows, n_cols), two positive integers, got {shape!r}") from None
        if rows < 1 or cols < 1 or rows * cols < 2:
            raise ValueError(f"shape must have at least 1 row, 1 column and 2 cells, got {shape!r}")
        self.shape = (rows, cols)
        if terminals is None:
            terminals = {(0, cols - 1): 1.0}
        if not isinstance(terminals, Mapping) or len(terminals) == 0:
            raise ValueError(f"terminals must be a non-empty mapping {{(row, col): reward}}, got {terminals!r}")
        self.terminals = {_cell("terminals", k, self.shape): check_finite_number(f"terminals[{k!r}]", v)
                          for k, v in terminals.items()}
        self.walls = {_cell("walls", w, self.shape) for w in walls}
        if self.walls & set(self.terminals):
            raise ValueError(f"walls and terminals overlap at {sorted(self.walls & set(self.terminals))}")
        self.start = _cell("start", start if start is not None else (rows - 1, 0), self.shape)
        if self.start in self.walls or self.start in self.terminals:
            raise ValueError(f"start {self.start} must not be a wall or a terminal cell")
        self.step_cost = check_finite_number("step_cost", step_cost)
        self.slip = check_probability("slip", slip)
        self.max_steps = check_positive_int("max_steps", max_steps)
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Discrete(rows * cols)
        self.action_space = gym.spaces.Discrete(4)
        self._mdp = self._build_mdp()
        self._state = self.state_of(self.start)
        self._steps = 0

    # -- the explicit MDP --------------------------------------------------------------
    def state_of(self, cell) -> int:
        r, c = _cell("cell", cell, self.shape)
        return r * self.shape[1] + c

    def cell_of(self, state: int) -> tuple[int, int]:
        return divmod(check_indices("state", state, self.shape[0] * self.shape[1]), self.shape[1])

    def _move(self, cell, action: int) -> tuple[int, int]:
        dr, dc = _MOVES[action]
        r, c = cell[0] + dr, cell[1] + dc
        if not (0 <= r < self.shape[0] and 0 <= c < self.shape[1]) or (r, c) in self.walls:
            return cell
        return r, c

    def _build_mdp(self) -> FiniteMDP:
        S, A = self.shape[0] * self.shape[1], 4
        P = np.zeros((S, A, S))
        R = np.zeros((S, A, S))
        terminal = np.zeros(S, dtype=bool)
        for s in range(S):
            cell = self.cell_of(s)
            if cell in self.terminals or cell in self.walls:
                P[s, :, s] = 1.0  # absorbing, pays nothing (walls are never reached)
                terminal[s] = cell in self.terminals or cell in self.walls
                continue
            for a in range(A):
                # the intended move, or with prob. slip one of the two perpendicular moves
                outcomes = [(a, 1.0 - self.slip), ((a + 1) % 4, self.slip / 2), ((a + 3) % 4, self.slip / 2)]
                for move, prob in outcomes:
                    if prob == 0.0:
                        continue
                    nxt = self._move(cell, move)
                    s2 = self.state_of(nxt)
                    P[s, a, s2] += prob
                    R[s, a, s2] = -self.step_cost + self.terminals.get(nxt, 0.0)
        return FiniteMDP(P, R, terminal=terminal)

    def to_mdp(self) -> FiniteMDP:
        """The gridworld as arrays P[s, a, s'], R[s, a, s'].

        Every cell is a state. Terminal cells are absorbing and pay nothing once entered; wall
        cells are never reached and are stored the same way (absorbing, marked terminal, value
        0) so that exact policy evaluation also works with γ = 1.
        """
        return self._mdp

    def path(self, policy, start=None, max_steps: int | None = None) -> list[tuple[int, int]]:
        """The cells visited by a deterministic policy (shape (S,) actions), following each
        action's most likely outcome, from ``start`` (default the start cell) until a terminal
        cell, a repeated cell or ``max_steps``."""
        policy = np.asarray(policy)
        if policy.shape != (self.observation_space.n,):
            raise ValueError(f"policy must have one action per state, shape ({self.observation_space.n},), "
                             f"got {policy.shape}")
        policy = check_indices("policy", policy, 4)
        if max_steps is not None:
            max_steps = check_positive_int("max_steps", max_steps)
        cell = _cell("start", start if start is not None else self.start, self.shape)
        cells = [cell]
        for _ in range(max_steps or self.max_steps):
            s = self.state_of(cell)
            if self._mdp.terminal[s]:
                break
            cell = self.cell_of(int(np.argmax(self._mdp.P[s, int(policy[s])])))
            if cell in cells:
                cells.append(cell)
                break
            cells.append(cell)
        return cells

    @property
    def P(self) -> np.ndarray:
        return self._mdp.P

    @property
    def R(self) -> np.ndarray:
        return self._mdp.R

    # -- the gymnasium environment ------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._state = self.state_of(self.start)
        self._steps = 0
        return self._state, {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be one of 0..3 (up, right, down, left), got {action!r}")
        probs = self._mdp.P[self._state, int(action)]
        s2 = int(self.np_random.choice(len(probs), p=probs))
        reward = float(self._mdp.R[self._state, int(action), s2])
        self._state = s2
        self._steps += 1
        terminated = bool(self._mdp.terminal[s2])
        truncated = not terminated and self._steps >= self.max_steps
        return s2, reward, terminated, truncated, {}

    def render(self):
        rows = []
        for r in range(self.shape[0]):
            line = ""
            for c in range(self.shape[1]):
                s = self.state_of((r, c))
                if (r, c) in self.walls:
                    line += "#"
                elif (r, c) in self.terminals:
                    rew = self.terminals[(r, c)]
                    line += "+" if rew > 0 else ("X" if rew < 0 else "G")
                elif s == self._state:
                    line += "A"
                else:
                    line += "."
            rows.append(line)
        return "\n".join(rows)


def two_rewards_gridworld(slip: float = 0.0, step_cost: float = 0.0) -> GridWorld:
    """The notebook 01 gridworld: a small reward (+1) near the start, a large one (+10) far away.

    A 5x7 grid with the start at the bottom left, +1 two steps away, +10 in the far top-right
    corner (ten steps away) and a wall across the middle. A short-sighted agent (small γ)
    heads for the +1, a far-sighted one (large γ) for the +10; from the start the choice flips
    near γ = 0.75, where γ·1 = γ⁹·10.
    """
    return GridWorld(shape=(5, 7), terminals={(3, 1): 1.0, (0, 6): 10.0},
                     walls=[(2, 2), (2, 3), (2, 4), (2, 5)], start=(4, 0),
                     step_cost=step_cost, slip=slip, max_steps=100)


def cliff_gridworld(slip: float = 0.0) -> GridWorld:
    """A 4x12 cliff walk (Sutton & Barto, Example 6.6, with the cliff as terminal cells).

    Start at the bottom left, goal (+0) at the bottom right, the cells between are a cliff
    (−100, episode ends); every move costs 1.
    """
    terminals = {(3, c): -100.0 for c in range(1, 11)}
    terminals[(3, 11)] = 0.0
    return GridWorld(shape=(4, 12), terminals=terminals, start=(3, 0), step_cost=1.0, slip=slip,
                     max_steps=200)
