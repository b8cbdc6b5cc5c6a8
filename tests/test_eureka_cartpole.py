"""The Eureka-style reward search on CartPole (notebook 09 §5.1)."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib.experiments import eureka_cartpole as ek


def test_a_candidate_is_the_python_function_it_prints():
    c = ek.Candidate("mix", w_alive=1.0, w_upright=0.5, w_centred=0.25, w_fall=-10.0, w_swing=2.0)
    namespace: dict = {}
    exec(c.source(), namespace)  # noqa: S102  (the course's own candidate, not untrusted code)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(5, 4)) * [1.0, 1.0, 0.1, 1.0]
    reward, term = np.ones(5), np.array([0, 0, 1, 0, 1], dtype=bool)
    expected = [namespace["mix"](o, r, t) for o, r, t in zip(obs, reward, term)]
    assert np.allclose(c(obs, reward, term), expected)


def test_mutations_are_seeded_and_keep_the_parent():
    a = ek.mutate(ek.SEEDS[2], np.random.default_rng(1), 3)
    b = ek.mutate(ek.SEEDS[2], np.random.default_rng(1), 3)
    assert a == b and all(c.parent == "upright_centred" for c in a)


def test_scoring_measures_the_true_return_not_the_shaped_one():
    r = ek.score(ek.SEEDS[4], steps=4096, eval_every=2048)
    assert r["eval_steps"] and len(r["true_return"]) == len(r["eval_steps"])
    assert r["shaped_return"] != pytest.approx(r["true_return"][-1])


def test_the_cached_search_shows_what_the_notebook_says():
    cp = ek.load_cached()
    by = {r["name"]: r for r in cp["results"]}
    true, upright, swing = by["true_reward"], by["upright"], by["swing_bonus"]
    assert upright["auc"] > true["auc"]  # a shaped reward that learns faster
    assert swing["auc"] < 0.2 * true["auc"] and swing["shaped_return"] > swing["auc"]  # hacked
    assert any(r["parent"] for r in cp["results"])  # the mutation round ran


def test_policies_that_learn_nothing_give_the_yardstick_for_hacked():
    ref = ek.reference_returns(episodes=400, seed=3)
    assert 19 < ref["random"]["mean"] < 25 and 8.8 < ref["one_way"]["mean"] < 10.0
    assert ref == ek.reference_returns(episodes=400, seed=3)  # seeded
    with pytest.raises(ValueError, match="episodes"):
        ek.reference_returns(episodes=0)


def test_the_hacked_candidate_is_worse_than_random_on_every_seed():
    cp = ek.load_cached()
    over = cp["over_seeds"]
    assert over["seeds"] == list(ek.SEED_RUNS) and set(over["scores"]) == {c.name for c in ek.SEEDS}
    random_return = cp["reference"]["random"]["mean"]
    assert 21 < random_return < 23.5 and 9.0 < cp["reference"]["one_way"]["mean"] < 9.7
    swing = over["scores"]["swing_bonus"]
    assert max(swing["auc"]) < random_return and min(swing["shaped_return"]) > max(swing["auc"])
    # seed 0 of the over-seeds table is the search's own run, not a second one
    assert over["scores"]["upright"]["auc"][0] == next(r["auc"] for r in cp["results"] if r["name"] == "upright")


def test_the_figure_draws_the_reference_and_the_seeds():
    fig = __import__("course_lib.plotting.pitfalls", fromlist=["x"]).eureka_cartpole_figure(ek.load_cached())
    assert len(fig.axes) == 3
    labels = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert any("random" in t for t in labels)
