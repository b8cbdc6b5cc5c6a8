"""The run doctor's figures: a run's key curves with its findings marked, and the token-level view.

``panel_figure(history, findings)`` is what the live panel (``course_lib.widgets.diagnose``) redraws;
``token_view_figure(view)`` shades a handful of completions token by token with what one GRPO or
RLHF update pushes on (``course_lib.diagnose.token_view`` computes the numbers).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from . import PALETTE, finish, house_style, new_figure, smooth

# The curves each kind of run shows, in order: (title, [(series, label)], per-evaluation?)
PANELS = {
    "cartpole": [("episode return", [("episode_returns", "return"), ("episode_return", "return"),
                                     ("batch_mean_return", "batch mean return")]),
                 ("step size", [("approx_kl", "approx KL"), ("clip_fraction", "clip fraction")]),
                 ("entropy", [("entropy", "entropy")]),
                 ("value model", [("explained_variance", "explained variance")])],
    "grpo": [("reward and gold", [("reward", "reward"), ("accuracy", "gold acc. of samples"),
                                  ("eval_accuracy", "held-out gold (greedy)")]),
             ("equal-reward groups", [("zero_variance_frac", "share of groups")]),
             ("entropy", [("entropy_proxy", "−mean log π")]),
             ("leash and step", [("kl", "KL to ref"), ("clip_fraction", "clip fraction")])],
    "rlhf": [("reward and gold", [("reward", "reward"), ("accuracy", "gold acc. of samples"),
                                  ("eval_accuracy", "held-out gold (greedy)")]),
             ("KL to the reference", [("kl", "nats per completion")]),
             ("entropy", [("entropy", "−mean log π")]),
             ("value model", [("explained_variance", "explained variance"), ("clip_fraction", "clip fraction")])],
}
PANELS["trl"] = [("reward and gold", [("reward", "reward"), ("eval_accuracy", "held-out gold (greedy)")]),
                 ("loss", [("loss", "loss")])]
PANELS["dpo"] = [("loss", [("loss", "loss")]), ("pairs", [("pair_accuracy", "pair accuracy"),
                                                          ("eval_accuracy", "held-out gold (greedy)")])]
PANELS["lm"] = PANELS["trl"]
SEVERITY_COLOUR = {"info": PALETTE[5], "warning": PALETTE[1], "error": PALETTE[3]}


def _x_of(history: Mapping, name: str, n: int) -> np.ndarray:
    if name.startswith("eval_"):
        for axis in ("eval_step", "eval_steps"):
            if axis in history and len(history[axis]) >= n:
                return np.asarray(history[axis][:n], dtype=float)
    if name.startswith("episode_") and "episode_steps" in history and len(history["episode_steps"]) >= n:
        return np.asarray(history["episode_steps"][:n], dtype=float)
    for axis in ("step", "env_steps", "iteration"):
        if axis in history and len(history[axis]) >= n:
            return np.asarray(history[axis][:n], dtype=float)
    return np.arange(1, n + 1, dtype=float)


def panel_figure(history: Mapping, findings: Sequence = (), kind: str | None = None, smooth_window: int = 5):
    """The key curves of a run (chosen by its kind) with each finding's step marked, its names listed below.

    Args:
        history: a trainer's History (or any dict of series).
        findings: ``course_lib.diagnose.diagnose(history)``'s list (or empty).
        kind: "cartpole", "grpo", "rlhf", "dpo", "trl" (default: ``diagnose.run_kind``).
        smooth_window: trailing mean over this many points for the per-update curves.
    """
    from ..diagnose import run_kind

    if not isinstance(history, Mapping):
        raise ValueError(f"history must be a History (a dict of series), got {type(history).__name__}")
    kind = kind or run_kind(history)
    panels = [(t, [(s, lab) for s, lab in series if isinstance(history.get(s), list) and history[s]])
              for t, series in PANELS.get(kind, PANELS["lm"])]
    panels = [p for p in panels if p[1]] or [("no series yet", [])]
    fig, axes = new_figure(ncols=len(panels), width=3.0 * len(panels) + 0.6, height=3.3)
    axes = np.atleast_1d(axes)
    with house_style():
        for ax, (title, series) in zip(axes, panels):
            for i, (name, label) in enumerate(series):
                y = np.asarray([np.nan if v is None else v for v in history[name]], dtype=float)
                x = _x_of(history, name, len(y))
                if name.startswith("eval_"):
                    ax.plot(x, y, "o-", color=PALETTE[i % len(PALETTE)], label=label, markersize=3)
                else:
                    ax.plot(x, y, color=PALETTE[i % len(PALETTE)], alpha=0.25, linewidth=1)
                    ax.plot(x, smooth(np.nan_to_num(y), smooth_window), color=PALETTE[i % len(PALETTE)], label=label)
            for f in findings:
                if getattr(f, "step", None) is not None and set(f.evidence.get("series", [])) & {s for s, _ in series}:
                    ax.axvline(f.step, color=SEVERITY_COLOUR[f.severity], linestyle="--", linewidth=1)
            ax.set_title(title)
            ax.set_xlabel("env steps" if kind == "cartpole" else "step")
            if series:
                ax.legend(fontsize=7, loc="best")
    names = ", ".join(f"{f.name} ({f.severity})" for f in findings) if findings else "no findings"
    return finish(fig, f"run doctor, {kind} run: {names}\n(thin: each update; thick: trailing mean of {smooth_window}; "
                       f"dots: held-out evaluations; dashed: where a finding fires)")


TOKEN_ROWS = (("advantage", "adv", "coolwarm", True), ("k3 KL to π_ref (× β)", "kl", "Purples", False),
              ("ratio clipped", "clipped", "Greys", False), ("π(token)", "p_policy", "viridis", False),
              ("π_ref(token)", "p_ref", "viridis", False))


def token_view_figure(view: Mapping, n: int = 6):
    """Each of ``n`` completions drawn token by token, once per quantity, each token shaded by its value.

    Args:
        view: ``course_lib.diagnose.token_view(...)``'s dict: "prompts", "tokens" (list of lists of
            strings), and (B, T) arrays "adv", "kl", "clipped", "p_policy", "p_ref", "mask".
        n: how many completions (the first n rows of the view).
    """
    import matplotlib as mpl

    for key in ("tokens", "prompts", "adv", "kl", "clipped", "p_policy", "p_ref"):
        if key not in view:
            raise ValueError(f"view must be token_view()'s dict; it has no {key!r}")
    n = max(1, min(int(n), len(view["tokens"])))
    rows = [r for r in TOKEN_ROWS if view.get(r[1]) is not None]
    width = max(len(t) for t in view["tokens"][:n])
    fig, axes = new_figure(ncols=len(rows), width=2.0 * len(rows) + 2.5, height=0.45 * n + 1.2)
    axes = np.atleast_1d(axes)
    with house_style():
        for ax, (title, key, cmap_name, diverging) in zip(axes, rows):
            vals = np.asarray(view[key], dtype=float)[:n]
            finite = vals[np.isfinite(vals)]
            if diverging:
                lim = float(np.max(np.abs(finite))) if finite.size else 1.0
                norm = mpl.colors.Normalize(-lim or -1, lim or 1)
            elif key.startswith("p_") or key == "clipped":
                norm = mpl.colors.Normalize(0, 1)
            else:
                norm = mpl.colors.Normalize(0, float(finite.max()) if finite.size and finite.max() > 0 else 1)
            cmap = mpl.colormaps[cmap_name]
            for r in range(n):
                for c, tok in enumerate(view["tokens"][r]):
                    v = vals[r, c]
                    colour = cmap(norm(v)) if np.isfinite(v) else (1, 1, 1, 1)
                    ax.add_patch(mpl.patches.Rectangle((c, n - 1 - r), 0.95, 0.9, color=colour))
                    light = np.mean(colour[:3]) < 0.5
                    ax.text(c + 0.47, n - 1 - r + 0.45, tok, ha="center", va="center", fontsize=8,
                            color="white" if light else "black")
            ax.set_xlim(0, width)
            ax.set_ylim(0, n)
            ax.set_xticks([])
            ax.set_yticks(np.arange(n) + 0.45)
            ax.set_yticklabels(list(reversed([p.strip()[-12:] for p in view["prompts"][:n]])) if ax is axes[0] else [],
                               fontsize=7)
            ax.grid(False)
            ax.set_title(title, fontsize=9)
            fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, orientation="horizontal", fraction=0.08,
                         pad=0.04)
    return finish(fig, "what one update pushes on, token by token")
