"""Sliders of notebook 06: the format weight of a weighted sum of rule rewards."""
from __future__ import annotations

from collections import Counter

from ..plotting.rewards import weighted_rewards_figure
from . import interactive_figure


def sample_answers(model, tokenizer, prompt: str, answer: int, n_samples: int = 16, temperature: float = 1.0,
                   seed: int = 0) -> dict:
    """Sample ``n_samples`` answers of ``model`` to ``prompt`` and score them with the rule rewards.

    Returns:
        {"prompt", "answers": distinct completions, "counts": how often each was sampled,
        "r_acc", "r_fmt": their accuracy and format rewards (``course_lib.rewards``)}.
    """
    from .. import tasks
    from ..rewards import accuracy_reward, format_reward

    texts, finished = tasks.complete(model, tokenizer, [prompt] * n_samples, temperature=temperature, seed=seed)
    seen = Counter(zip(texts, finished))
    keys = sorted(seen, key=lambda k: (-seen[k], k))
    answers = [t for t, _ in keys]
    fin = [f for _, f in keys]
    return {"prompt": prompt, "answers": answers, "counts": [seen[k] for k in keys],
            "r_acc": accuracy_reward(answers, answer=[answer] * len(answers), finished=fin),
            "r_fmt": format_reward(answers, finished=fin)}


def weights_view(samples: dict, w_fmt: float, w_acc: float = 1.0):
    """The figure behind the slider: ``plotting.rewards.weighted_rewards_figure`` for these samples."""
    if not isinstance(samples, dict) or "answers" not in samples:
        raise ValueError("samples must be the dict returned by sample_answers()")
    return weighted_rewards_figure(samples["answers"], samples["r_acc"], samples["r_fmt"], w_acc, w_fmt,
                                   prompt=samples["prompt"], counts=samples["counts"])


def format_weight_slider(samples: dict, w_fmt: float = 1.0, w_acc: float = 1.0):
    """A slider over the format weight w_fmt (w_acc fixed) redrawing which sampled answer ranks first.

    Args:
        samples: from ``sample_answers`` (real samples of a model for one prompt).
        w_fmt: the starting weight (1.0: R1's equal weights).
    """
    import ipywidgets as widgets

    control = widgets.FloatSlider(value=w_fmt, min=-2.0, max=2.0, step=0.1, description="w_fmt",
                                  continuous_update=False, readout_format=".1f")
    return interactive_figure(lambda w_fmt: weights_view(samples, w_fmt, w_acc), w_fmt=control)


__all__ = ["sample_answers", "weights_view", "format_weight_slider"]
