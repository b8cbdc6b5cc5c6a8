"""Pitfalls of RL on a language model and their fixes (notebook 09).

* ``verify``: pass@k (unbiased and naive), majority voting (maj@k), best-of-n, diversity measures,
  and ``sample_answers`` (n samples per held-out problem);
* ``measures``: the notebook's measurements built on them — ``diversity`` (entropy and distinct
  answers among G samples), ``pass_at_k_curve`` / ``verification_curves``, ``token_gradient_weights``
  (the length bias of each loss aggregation) and ``load_cached`` (the shipped runs of
  ``python -m course_lib sweep pitfalls``);
* ``eureka``: an Eureka-style search over reward functions (candidates, reward reflection, search).

This face exports the public names of ``measures`` and ``verify``; ``eureka`` is used as a module
(``from course_lib.pitfalls import eureka``).
"""
from . import eureka, verify
from .measures import (FILES, FORMAT_VERSION, KS, diversity, load_cached, pass_at_k_curve, token_gradient_weights,
                       verification_curves)
from .verify import (best_of_n, best_of_n_at_k, distinct_answers, maj_at_k, majority_vote, mean_pass_at_k, pass_at_k,
                     pass_at_k_naive, sample_answers, token_entropy)

__all__ = ["KS", "FILES", "FORMAT_VERSION", "diversity", "pass_at_k_curve", "verification_curves",
           "token_gradient_weights", "load_cached", "pass_at_k", "pass_at_k_naive", "mean_pass_at_k", "majority_vote",
           "maj_at_k", "best_of_n", "best_of_n_at_k", "distinct_answers", "token_entropy", "sample_answers",
           "eureka", "verify"]
