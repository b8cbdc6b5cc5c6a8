"""Figures of notebook 05 (the language model as a policy)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.patches import Patch

from ..core import check_finite_array, check_finite_number, check_positive_int
from . import PALETTE, finish, house_style, legend_below, new_figure, smooth


def _check_temperature(temperature) -> float:
    return check_finite_number("temperature", temperature, low=0.0, low_open=True)


def tempered(logits: Sequence[float], temperature: float) -> np.ndarray:
    """softmax(logits / temperature) as a NumPy array (numerically stable).

    Args:
        logits: shape (V,), finite.
        temperature: > 0; so small that logits / temperature overflows gives the limit T -> 0,
            the greedy distribution (the maximising tokens share the probability).
    """
    t = _check_temperature(temperature)
    logits = check_finite_array("logits", logits, ndim=1)
    with np.errstate(over="ignore"):
        z = logits / t
    if not np.all(np.isfinite(z)):
        best = logits == logits.max()
        return best / best.sum()
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


def next_token_distribution(logits: Sequence[float], labels: Sequence[str], temperature: float = 1.0,
                            samples: Sequence[str] = (), correct: str | None = None, prompt: str = "",
                            top: int = 12):
    """The policy's next-token distribution at a temperature, beside a batch of samples.

    Args:
        logits: the model's logits for the next token (one per vocabulary entry).
        labels: how to show each token (e.g. "7", "<eos>").
        temperature: divides the logits before the softmax.
        samples: completions sampled at this temperature (shown on the right, ✓ if == correct).
        correct: the correct completion, if there is one.
        prompt: the text so far (the state), for the title.
        top: show the ``top`` most likely tokens.
    """
    logits = check_finite_array("logits", logits, nonempty=True)
    top = check_positive_int("top", top)
    if logits.ndim != 1 or len(labels) != len(logits):
        raise ValueError(f"logits must be 1-D with one label each; got {logits.shape} and {len(labels)} labels")
    p = tempered(logits, temperature)
    order = np.argsort(-p)[:top]
    entropy = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    fig, (ax, ax_txt) = new_figure(ncols=2, width=9.5, height=3.4)
    with house_style():
        starts_answer = [bool(correct) and labels[i] == correct[:1] for i in order]
        ax.bar(range(len(order)), p[order], color=[PALETTE[2] if s else PALETTE[0] for s in starts_answer])
        if any(starts_answer):  # the bars fall from left to right, so the upper right is free
            ax.legend([Patch(color=PALETTE[2]), Patch(color=PALETTE[0])],
                      [f"first token of the correct answer {correct!r}", "any other token"], loc="upper right")
        ax.set_xticks(range(len(order)), [labels[i] for i in order], rotation=45 if top > 12 else 0)
        ax.set_ylim(0, 1.0)
        ax.set_ylabel("π(next token | text so far)")
        ax.set_title(f"state: {prompt!r}   T = {temperature:.2f}, entropy {entropy:.2f} nats", fontsize=10)
        ax_txt.axis("off")
        ax_txt.grid(False)
        if samples:
            n_ok = sum(s == correct for s in samples) if correct is not None else None
            head = f"{len(samples)} samples at T = {temperature:.2f}"
            if n_ok is not None:
                head += f": {n_ok} correct (✓)"
            lines = [head, ""]
            cols = 2 if len(samples) > 8 else 1
            rows = int(np.ceil(len(samples) / cols))
            for r in range(rows):
                cells = []
                for c in range(cols):
                    i = r + c * rows
                    if i < len(samples):
                        mark = "✓" if correct is not None and samples[i] == correct else " "
                        cells.append(f"{mark} {prompt}{samples[i] or '∅'}".ljust(22))
                lines.append("".join(cells))
            ax_txt.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=9,
                        transform=ax_txt.transAxes)
    return finish(fig)


def token_logprobs_figure(tokens: Sequence[str], logprobs: Sequence[float], counted: Sequence[bool]):
    """Each token's log-probability as a bar; the counted ones (the completion) sum to log π(y|x).

    Args:
        tokens: the tokens of one sequence, as text.
        logprobs: log π(token | tokens before it) per token (the first has none: use 0).
        counted: which tokens belong to the completion (the mask).
    """
    logprobs = check_finite_array("logprobs", logprobs, ndim=1)
    counted = check_finite_array("counted", counted, ndim=1, dtype=bool)
    if not (len(tokens) == len(logprobs) == len(counted)):
        raise ValueError(f"tokens, logprobs and counted must have the same length; got {len(tokens)}, "
                         f"{len(logprobs)}, {len(counted)}")
    fig, ax = new_figure(width=8.0, height=3.0)
    with house_style():
        colours = [PALETTE[3] if c else "0.75" for c in counted]
        ax.bar(range(len(tokens)), logprobs, color=colours)
        ax.set_xticks(range(len(tokens)), list(tokens))
        ax.axhline(0, color="0.3", linewidth=0.8)
        ax.set_ylabel("log π(token | before)")
        total = float(logprobs[counted].sum())
        ax.set_title(f"log π(completion | prompt) = sum of the coloured bars = {total:.3f}"
                     f"  (probability {np.exp(total):.3f})", fontsize=10)
        fig.legend([Patch(color=PALETTE[3]), Patch(color="0.75")],
                   ["completion token: counted in log π(completion | prompt)", "prompt token: not counted"],
                   loc="outside lower center", ncols=2)
    return finish(fig)


def loss_curves(pretrain_loss: Sequence[float], sft_loss: Sequence[float], window: int = 20):
    """Training loss of pretraining and of SFT: each step (thin) and its moving average (thick)."""
    window = check_positive_int("window", window)
    pretrain_loss = check_finite_array("pretrain_loss", pretrain_loss, ndim=1, nonempty=False)
    sft_loss = check_finite_array("sft_loss", sft_loss, ndim=1, nonempty=False)
    fig, axes = new_figure(ncols=2, width=9.5, height=3.2)
    with house_style():
        for ax, loss, name, colour in ((axes[0], pretrain_loss, "pretraining: every token", PALETTE[0]),
                                       (axes[1], sft_loss, "SFT: completion tokens only", PALETTE[1])):
            loss = np.asarray(loss, dtype=float)
            if len(loss):
                ax.plot(np.arange(1, len(loss) + 1), loss, color=colour, alpha=0.25, linewidth=1)
                ax.plot(np.arange(1, len(loss) + 1), smooth(loss, max(1, min(window, len(loss)))),
                        color=colour)
            ax.set_title(name, fontsize=10)
            ax.set_xlabel("step")
            ax.set_ylabel("cross-entropy (nats / token)")
    return finish(fig, f"The first two training stages (thin: the loss at each step; thick: its moving average "
                       f"over {window} steps)")


def stage_comparison(results: Mapping[str, Mapping[str, float]]):
    """Accuracy, format rate and lenient accuracy of each stage's model (held-out, greedy).

    Args:
        results: stage name -> {"accuracy", "format_rate", "lenient_accuracy"} (fractions).
    """
    if not isinstance(results, Mapping) or not results or not all(isinstance(r, Mapping) for r in results.values()):
        raise ValueError("results must be a non-empty mapping stage name -> {'accuracy', 'format_rate', ...}")
    keys = [("accuracy", "exact-match accuracy"), ("format_rate", "format rate"),
            ("lenient_accuracy", "answer right, format ignored")]
    fig, ax = new_figure(width=7.5, height=3.2)
    with house_style():
        names = list(results)
        width = 0.8 / len(keys)
        for j, (key, label) in enumerate(keys):
            vals = [100 * float(results[n].get(key, np.nan)) for n in names]
            xs = np.arange(len(names)) + (j - (len(keys) - 1) / 2) * width
            bars = ax.bar(xs, vals, width=width, color=PALETTE[j], label=label)
            for b, v in zip(bars, vals):
                if np.isfinite(v):
                    ax.text(b.get_x() + b.get_width() / 2, v + 1, f"{v:.0f}", ha="center", fontsize=8)
        ax.set_xticks(range(len(names)), names)
        ax.set_ylim(0, 110)
        ax.set_ylabel("% of held-out problems")
        legend_below(fig, ax)  # below the axes: a bar of 100 % leaves no room above for a legend
    return finish(fig, "Held-out evaluation (greedy decoding)")
