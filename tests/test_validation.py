"""Every public math function and config of core, mdp, tabular, gridworld, policy_gradient, tasks,
lm (generate, tokenizer) and plotting.lm, fed NaN, ±inf, empty, wrong-shape, wrong-type and
NumPy/torch-scalar inputs (issue 13, section 4).

Each invalid input must end in a ValueError whose message names the argument, or in a correct
result (an empty input where an empty answer is right): never a silent NaN, never another
exception. A NumPy or torch scalar must give exactly the result of the Python number. Every
input tried is counted by class and outcome; ``test_zz_summary`` prints the table (run with -s).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_lib import mdp, tabular, tasks
from course_lib.mdp.gridworld import GridWorld, two_rewards_gridworld
from course_lib.lm import GPT, GPTConfig, CharTokenizer, generate, logprobs_from_logits, token_logprobs
from course_lib.plotting.lm import tempered
from course_lib.policy_gradient import REINFORCEConfig, new_nets, policy_gradient_loss, reinforce, reward_to_go

OUTCOMES: Counter = Counter()
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# -- the functions under test, each with valid arguments -------------------------------------------

_TOK = CharTokenizer("0123456789+=")
torch.manual_seed(0)
_MODEL = GPT(GPTConfig(vocab_size=_TOK.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
_MDP = mdp.two_state_example()
_GRID = two_rewards_gridworld()


def _gen(**kw):
    return generate(_MODEL, kw.pop("prompts"), kw.pop("max_new_tokens"), eos_id=kw.pop("eos_id"),
                    generator=torch.Generator().manual_seed(0), **kw).completions


def _token_logprobs(**kw):
    return token_logprobs(_MODEL, kw["tokens"], kw["mask"], temperature=kw["temperature"])


def _reinforce(**kw):
    base = dict(n_iterations=1, episodes_per_batch=2, measure_variance=False, hidden=4, value_steps=1)
    cfg = REINFORCEConfig(**{**base, **kw})
    policy, value = new_nets(cfg)
    return reinforce(policy, cfg, value=value)["episode_return"]


def _grid(**kw):
    g = GridWorld(**kw)
    return g.to_mdp().P, g.to_mdp().R


@dataclass
class Case:
    fn: Callable
    kwargs: Callable[[], dict]  # fresh valid arguments for every call
    scalars: dict = field(default_factory=dict)  # argument -> "int" or "float": scalar arguments to corrupt
    arrays: tuple = ()  # array arguments to corrupt
    empty_ok: tuple = ()  # array arguments for which an empty input has a correct (empty) result
    optional: tuple = ()  # scalar arguments for which None is a documented value

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn)).lstrip("_")


def _logits():
    return torch.randn(2, 4, _TOK.vocab_size, generator=torch.Generator().manual_seed(1))


CASES = [
    Case(mdp.discounted_returns, lambda: dict(rewards=[1.0, 0.0, 2.0], gamma=0.9, dones=[False, True, False]),
         {"gamma": "float"}, ("rewards", "dones")),
    Case(mdp.effective_horizon, lambda: dict(gamma=0.5), {"gamma": "float"}),
    Case(mdp.FiniteMDP, lambda: dict(P=_MDP.P.copy(), R=_MDP.R.copy()), {}, ("P", "R")),
    Case(mdp.policy_matrix, lambda: dict(policy=np.full((2, 2), 0.5), n_states=2, n_actions=2), {}, ("policy",)),
    Case(mdp.bellman_backup, lambda: dict(P=_MDP, R=None, V=np.array([1.0, 2.0]), policy=[0, 1], gamma=0.9),
         {"gamma": "float"}, ("V",)),
    Case(mdp.q_from_v, lambda: dict(P=_MDP, R=None, V=np.array([1.0, 2.0]), gamma=0.9), {"gamma": "float"}, ("V",)),
    Case(mdp.policy_evaluation, lambda: dict(P=_MDP, R=None, policy=[0, 1], gamma=0.9, tol=1e-6, max_iter=500),
         {"gamma": "float", "tol": "float", "max_iter": "int"}),
    Case(mdp.policy_evaluation_exact, lambda: dict(P=_MDP, R=None, policy=[0, 1], gamma=0.9), {"gamma": "float"}),
    Case(mdp.value_iteration, lambda: dict(P=_MDP, R=None, gamma=0.9, tol=1e-6, max_iter=500),
         {"gamma": "float", "tol": "float", "max_iter": "int"}),
    Case(mdp.greedy_policy, lambda: dict(Q=np.array([[1.0, 2.0], [3.0, 0.0]])), {}, ("Q",), empty_ok=("Q",)),
    Case(mdp.token_mdp, lambda: dict(vocab=["a", "."], max_len=2, reward=len), {"max_len": "int"}),
    Case(tabular.epsilon_greedy_probs, lambda: dict(q_values=[1.0, 3.0, 2.0], epsilon=0.1),
         {"epsilon": "float"}, ("q_values",)),
    Case(tabular.td0_update, lambda: dict(V=np.array([0.0, 1.0, 2.0]), s=0, r=1.0, s_next=1, terminated=False,
                                          alpha=0.5, gamma=0.9),
         {"s": "int", "r": "float", "s_next": "int", "alpha": "float", "gamma": "float"}, ("V",)),
    Case(tabular.sarsa_update, lambda: dict(Q=np.arange(6.0).reshape(3, 2), s=0, a=1, r=1.0, s_next=2, a_next=0,
                                            terminated=False, alpha=0.5, gamma=0.9),
         {"s": "int", "a": "int", "r": "float", "s_next": "int", "a_next": "int", "alpha": "float",
          "gamma": "float"}, ("Q",)),
    Case(tabular.q_learning_update, lambda: dict(Q=np.arange(6.0).reshape(3, 2), s=0, a=1, r=1.0, s_next=2,
                                                 terminated=False, alpha=0.5, gamma=0.9),
         {"s": "int", "a": "int", "r": "float", "s_next": "int", "alpha": "float", "gamma": "float"}, ("Q",)),
    Case(tabular.q_learning, lambda: dict(env=_GRID, n_episodes=1, alpha=0.5, gamma=0.9, epsilon=0.1, seed=0,
                                          q_init=0.0),
         {"n_episodes": "int", "alpha": "float", "gamma": "float", "epsilon": "float", "seed": "int",
          "q_init": "float"}),
    Case(tabular.greedy_return, lambda: dict(env=_GRID, Q=np.zeros((35, 4)), n_episodes=1, seed=0),
         {"n_episodes": "int", "seed": "int"}, ("Q",)),
    Case(_grid, lambda: dict(shape=(2, 3), step_cost=0.5, slip=0.1, max_steps=10),
         {"step_cost": "float", "slip": "float", "max_steps": "int"}),
    Case(reward_to_go, lambda: dict(rewards=[1.0, 1.0, 2.0], gamma=0.9), {"gamma": "float"}, ("rewards",),
         empty_ok=("rewards",)),
    Case(policy_gradient_loss, lambda: dict(logp=torch.tensor([-0.5, -1.0, -2.0]), returns=torch.tensor([1.0, 2.0, 3.0]),
                                            baseline=torch.tensor([0.5, 0.5, 0.5])), {}, ("logp", "returns", "baseline")),
    Case(_reinforce, lambda: dict(gamma=0.9, lr=0.01, value_lr=0.01, hidden=4, n_iterations=1, seed=0,
                                  target_return=100.0),
         {"gamma": "float", "lr": "float", "value_lr": "float", "hidden": "int", "n_iterations": "int",
          "seed": "int", "target_return": "float"}, optional=("target_return",)),
    Case(tasks.format_answer, lambda: dict(n=92), {"n": "int"}),
    Case(tasks.Problem, lambda: dict(a=34, op="+", b=58), {"a": "int", "b": "int"}),
    Case(tasks.sample_problems, lambda: dict(n=3, seed=1), {"n": "int", "seed": "int"}),
    Case(_gen, lambda: dict(prompts=[[1, 4, 5]], max_new_tokens=3, eos_id=2, temperature=1.0, top_k=5),
         {"max_new_tokens": "int", "eos_id": "int", "temperature": "float", "top_k": "int"}, optional=("top_k",)),
    Case(logprobs_from_logits, lambda: dict(logits=_logits(), tokens=torch.tensor([[1, 3, 4, 2], [1, 5, 6, 2]]),
                                            mask=torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])), {}, ("logits",)),
    Case(_token_logprobs, lambda: dict(tokens=torch.tensor([[1, 3, 4, 2]]), mask=torch.tensor([[0, 1, 1, 1]]),
                                       temperature=1.0), {"temperature": "float"}),
    Case(tempered, lambda: dict(logits=[1.0, 2.0, 3.0], temperature=0.7), {"temperature": "float"}, ("logits",)),
]
SCALAR_ARGS = [(c, a) for c in CASES for a in c.scalars]
ARRAY_ARGS = [(c, a) for c in CASES for a in c.arrays]


# -- what counts as a correct ending -------------------------------------------------------------

def _has_nan(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return x.is_floating_point() and bool(torch.isnan(x).any())
    if isinstance(x, np.ndarray):
        return x.dtype.kind == "f" and bool(np.isnan(x).any())
    if isinstance(x, float):
        return math.isnan(x)
    if isinstance(x, (list, tuple)):
        return any(_has_nan(v) for v in x)
    if isinstance(x, mdp.FiniteMDP):
        return _has_nan(x.P) or _has_nan(x.R)
    if hasattr(x, "__dict__"):
        return any(_has_nan(v) for v in vars(x).values())
    return False


def _names(message: str, arg: str) -> bool:
    return re.search(rf"(?<![A-Za-z_]){re.escape(arg)}(?![A-Za-z_])", message) is not None


def _ends_well(case: Case, kwargs: dict, arg: str, cls: str, result_ok: bool) -> str:
    """Call the function; return the outcome or fail the test with what went wrong."""
    try:
        out = case.fn(**kwargs)
    except ValueError as exc:
        assert _names(str(exc), arg), f"{case.name}({arg}=<{cls}>): the ValueError does not name {arg!r}: {exc}"
        outcome = "ValueError naming the argument"
    except Exception as exc:  # anything else is a failure of the validation
        raise AssertionError(f"{case.name}({arg}=<{cls}>) raised {type(exc).__name__}, not ValueError: {exc}") from exc
    else:
        assert result_ok, f"{case.name}({arg}=<{cls}>) returned instead of refusing: {out!r}"[:400]
        assert not _has_nan(out), f"{case.name}({arg}=<{cls}>) returned a silent NaN"
        outcome = "correct result"
    OUTCOMES[(cls, outcome)] += 1
    return outcome


# -- scalars ---------------------------------------------------------------------------------------

NON_FINITE = [float("nan"), float("inf"), float("-inf"), np.float64("nan"), np.float32("inf"),
              torch.tensor(float("nan")), torch.tensor(float("-inf"))]
WRONG_TYPE = ["0.5", None, True, np.bool_(False), [1], 1 + 2j, torch.tensor([1.0, 2.0])]


@SETTINGS
@given(pick=st.sampled_from(SCALAR_ARGS), bad=st.sampled_from(NON_FINITE))
def test_non_finite_scalars_are_refused_by_name(pick, bad):
    case, arg = pick
    _ends_well(case, {**case.kwargs(), arg: bad}, arg, "NaN/inf scalar", result_ok=False)


@SETTINGS
@given(pick=st.sampled_from(SCALAR_ARGS), bad=st.sampled_from(WRONG_TYPE))
def test_wrong_type_scalars_are_refused_by_name(pick, bad):
    case, arg = pick
    if bad is None and arg in case.optional:
        return
    _ends_well(case, {**case.kwargs(), arg: bad}, arg, "wrong type", result_ok=False)


@SETTINGS
@given(pick=st.sampled_from(SCALAR_ARGS), delta=st.sampled_from([0.5, 1e6, -1e6]))
def test_integer_arguments_refuse_non_integers(pick, delta):
    case, arg = pick
    if case.scalars[arg] != "int":
        return
    value = case.kwargs()[arg] + delta  # 1.5, or far out of range
    _ends_well(case, {**case.kwargs(), arg: value}, arg, "non-integer or out of range", result_ok=False)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, mdp.FiniteMDP):
        return _same(a.P, b.P) and _same(a.R, b.R)
    if isinstance(a, tabular.TabularHistory):
        return _same(a.values, b.values) and _same(a.returns, b.returns)
    return a == b


@SETTINGS
@given(pick=st.sampled_from(SCALAR_ARGS), kind=st.sampled_from(["np64", "np32", "torch0d"]))
def test_numpy_and_torch_scalars_give_the_python_result(pick, kind):
    case, arg = pick
    value = case.kwargs()[arg]
    if case.scalars[arg] == "int":
        wrapped = {"np64": np.int64, "np32": np.int32, "torch0d": torch.tensor}[kind](value)
    else:
        wrapped = {"np64": np.float64, "np32": np.float64, "torch0d": lambda v: torch.tensor(v, dtype=torch.float64)}[kind](value)
    expected = case.fn(**case.kwargs())
    got = case.fn(**{**case.kwargs(), arg: wrapped})
    assert _same(expected, got), f"{case.name}({arg}={wrapped!r}) differs from {arg}={value!r}"
    OUTCOMES[("NumPy/torch scalar", "correct result")] += 1


# -- arrays -----------------------------------------------------------------------------------------

def _corrupt(x: Any, cls: str, draw) -> Any:
    is_tensor = isinstance(x, torch.Tensor)
    a = x.clone() if is_tensor else np.array(x, dtype=float if np.asarray(x).dtype != bool else float)
    if cls in ("NaN in an array", "inf in an array"):
        a = a.double() if is_tensor else a.astype(float)
        flat = a.reshape(-1)
        i = draw(st.integers(0, flat.shape[0] - 1))
        flat[i] = float("nan") if cls == "NaN in an array" else draw(st.sampled_from([float("inf"), float("-inf")]))
        return a
    if cls == "empty array":
        return a[:0]
    if cls == "wrong shape":
        return a[None]
    raise AssertionError(cls)


@SETTINGS
@given(pick=st.sampled_from(ARRAY_ARGS), cls=st.sampled_from(["NaN in an array", "inf in an array",
                                                             "empty array", "wrong shape"]), data=st.data())
def test_bad_arrays_are_refused_by_name_or_give_a_correct_result(pick, cls, data):
    case, arg = pick
    kwargs = case.kwargs()
    kwargs[arg] = _corrupt(kwargs[arg], cls, data.draw)
    if case.fn is mdp.discounted_returns and arg == "rewards" and cls == "empty array":
        kwargs["dones"] = None  # an empty episode without dones: the return of nothing is nothing
        ok = True
    else:
        ok = cls == "empty array" and arg in case.empty_ok
    _ends_well(case, kwargs, arg, cls, result_ok=ok)


# -- the answer format ------------------------------------------------------------------------------

@SETTINGS
@given(digits=st.from_regex(r"[0-9]{1,3}", fullmatch=True),
       tail=st.sampled_from(["\n", " ", "\t", "\r\n", "\n\n", "x", "٣"]))
def test_the_answer_format_matches_the_whole_string(digits, tail):
    assert tasks.parse_answer(digits) == int(digits[::-1])
    assert tasks.parse_answer(digits + tail) is None
    assert tasks.parse_answer(tail + digits) is None
    OUTCOMES[("malformed answer text", "rejected (None)")] += 2


@SETTINGS
@given(x=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                   st.text(max_size=5)))
def test_as_answer_never_truncates(x):
    try:
        got = tasks.as_answer(x)
    except ValueError as exc:
        assert "answer" in str(exc)
        outcome = "ValueError naming the argument"
        if isinstance(x, float):
            assert not (math.isfinite(x) and x.is_integer())
        if isinstance(x, str):
            assert not re.fullmatch(r"\s*[+-]?[0-9]+\s*", x, flags=re.ASCII)
    else:
        outcome = "correct result"
        assert isinstance(got, int)
        if isinstance(x, float):
            assert x.is_integer() and got == x
        elif isinstance(x, int):
            assert got == x
        else:
            assert got == int(x.strip())
    if not isinstance(x, int):
        OUTCOMES[("answer value (float/str)", outcome)] += 1


def test_named_edge_cases():
    """The cases the issue names, one by one."""
    assert tasks.parse_answer("12\n") is None  # used to parse as 21
    with pytest.raises(ValueError, match="answer"):
        tasks.as_answer(3.7)  # used to become 3
    assert tasks.as_answer(np.int64(12)) == 12 and tasks.as_answer("12") == 12 and tasks.as_answer(12.0) == 12
    assert tasks.format_answer(np.int64(8)) == "8"  # np.int64 used to be "not an integer" in places
    with pytest.raises(ValueError, match="eos_id"):
        _gen(prompts=[[1, 2]], max_new_tokens=2, eos_id=_TOK.vocab_size)
    with pytest.raises(ValueError, match=r"prompts\[0\]"):
        _gen(prompts=[[1, _TOK.vocab_size + 3]], max_new_tokens=2, eos_id=2)
    with pytest.raises(ValueError, match=r"prompts\[1\]"):
        _gen(prompts=[[1, 2], [1, 2.5]], max_new_tokens=2, eos_id=2)
    with pytest.raises(ValueError, match="s_next"):
        tabular.td0_update([0.0, 1.0], 0, 1.0, 2, False, 0.5, 0.9)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\]"):
        tabular.q_learning_update(np.zeros((2, 2)), 0, 0, 1.0, 1, False, 1.5, 0.9)
    with pytest.raises(ValueError, match="token ids must be integers"):
        _TOK.decode([3, 4.7])
    with pytest.raises(ValueError, match=r"reward\('\.'\) must be a finite number"):
        mdp.token_mdp(["a", "."], 2, lambda t: float("nan"))
    with pytest.raises(ValueError, match="mask must hold only 0 and 1"):
        logprobs_from_logits(_logits(), torch.ones(2, 4, dtype=torch.long), torch.tensor([[0, 0.5, 1, 1]] * 2))
    assert np.allclose(tempered([1.0, 3.0, 3.0], 1e-320), [0.0, 0.5, 0.5])  # the T -> 0 limit, not NaN
    for t in (1e-300, 1e-40):  # logits / t would overflow float32 to inf, then NaN
        with pytest.raises(ValueError, match="temperature must be 0 \\(greedy\\) or at least"):
            _gen(prompts=[[1, 2]], max_new_tokens=2, eos_id=2, temperature=t)
        with pytest.raises(ValueError, match="temperature must be at least"):
            _token_logprobs(tokens=torch.tensor([[1, 3]]), mask=torch.tensor([[0, 1]]), temperature=t)


def test_a_checkpoint_whose_tokenizer_does_not_match_is_refused(tmp_path):
    from course_lib.lm import load_checkpoint, save_checkpoint

    path = save_checkpoint(tmp_path / "m.pt", _MODEL, _TOK)
    payload = torch.load(path, weights_only=True)
    payload["tokenizer"] = {"chars": "0123456789"}  # two tokens fewer than the model's embedding
    torch.save(payload, path)
    with pytest.raises(ValueError, match="tokenizer has 13 tokens but the model's vocab_size is 15"):
        load_checkpoint(path)
    payload["tokenizer"] = _TOK.to_dict()
    payload["state_dict"]["wte.weight"][3, 0] = float("nan")
    torch.save(payload, path)
    with pytest.raises(ValueError, match="non-finite weights .* wte.weight"):
        load_checkpoint(path)


def test_training_leaves_the_callers_random_generators_alone():
    torch.manual_seed(123)
    np.random.seed(123)
    expected_torch, expected_np = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    _reinforce(seed=5)
    tabular.q_learning(_GRID, 2, seed=5)
    assert torch.equal(torch.rand(3), expected_torch) and np.array_equal(np.random.rand(3), expected_np)


def test_zz_summary(capsys):
    """Print how many invalid inputs were tried and how each class ended (run with -s)."""
    if not OUTCOMES:
        pytest.skip("run the whole file: the property tests fill the table")
    tried = sum(n for (cls, _), n in OUTCOMES.items() if cls != "NumPy/torch scalar")
    with capsys.disabled():
        print(f"\ninputs tried: {tried} invalid or edge-case inputs, "
              f"{OUTCOMES[('NumPy/torch scalar', 'correct result')]} NumPy/torch-scalar calls")
        for (cls, outcome), n in sorted(OUTCOMES.items()):
            print(f"  {cls:<32} {outcome:<34} {n}")
