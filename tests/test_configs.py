"""One config style: frozen dataclasses, validated with course_lib.core's checks (what they return is
kept), and a docstring under every field with its meaning (and, where it has one, its usual range and source)."""
from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import sys
import textwrap

import numpy as np
import pytest

from course_lib.grpo import GRPOConfig
from course_lib.lm.train import TrainConfig
from course_lib.policy_gradient import REINFORCEConfig
from course_lib.ppo import PPOConfig
from course_lib.rlhf.reward_model import RewardModelConfig
from course_lib.rlhf import RLHFConfig
from course_lib.rlhf.dpo import DPOConfig

CONFIGS = [PPOConfig, GRPOConfig, RLHFConfig, DPOConfig, RewardModelConfig, TrainConfig, REINFORCEConfig]
REQUIRED = {TrainConfig: {"steps": 10}}  # fields without a default


def field_docs(cls) -> dict[str, str]:
    """{field: the docstring written under it} read from the class's source."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:] + [None]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            doc = nxt.value.value if (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                                      and isinstance(nxt.value.value, str)) else ""
            docs[node.target.id] = doc
    return docs


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_is_a_frozen_dataclass(cls):
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_is_documented(cls):
    docs = field_docs(cls)
    assert set(docs) == {f.name for f in dataclasses.fields(cls)}
    undocumented = [name for name, doc in docs.items() if len(doc.split()) < 3]
    assert not undocumented, f"{cls.__name__}: write a docstring under {undocumented} (meaning, usual range, source)"


def test_the_documentation_test_can_fail():
    @dataclasses.dataclass(frozen=True)
    class Bad:
        documented: int = 1
        """A count of things (1–10)."""
        silent: float = 0.5

    assert field_docs(Bad) == {"documented": "A count of things (1–10).", "silent": ""}


def _bad_values(cls, f):
    """Values a field must refuse, by its default's type."""
    default = f.default
    if isinstance(default, bool):
        return ["yes", 1]
    if isinstance(default, int):
        return [2.5, float("nan"), "3"]
    if isinstance(default, float):
        return [float("nan"), float("inf"), "0.1"]
    return []


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_refuses_bad_values_naming_the_field(cls):
    base = REQUIRED.get(cls, {})
    checked = 0
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING:
            continue
        for bad in _bad_values(cls, f):
            with pytest.raises(ValueError, match=f.name):
                cls(**{**base, f.name: bad})
            checked += 1
    assert checked >= 5


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_keeps_what_its_validators_return(cls):
    """NumPy scalars come back as Python numbers (RLHFConfig used to drop what its checks returned)."""
    base = REQUIRED.get(cls, {})
    changes = {}
    for f in dataclasses.fields(cls):
        if isinstance(f.default, bool) or f.default is dataclasses.MISSING:
            continue
        if isinstance(f.default, int):
            changes[f.name] = np.int64(f.default)
        elif isinstance(f.default, float) and math.isfinite(f.default):
            changes[f.name] = np.float64(f.default)
    cfg = cls(**{**base, **changes})
    for name in changes:
        assert type(getattr(cfg, name)) in (int, float), (cls.__name__, name, type(getattr(cfg, name)))


# -- one name per hyperparameter: the names table --------------------------------------------------

def test_the_names_table_covers_every_field_of_every_config_once():
    from course_lib.hyperparameters import NAMES

    rows = [(n.config, n.field) for n in NAMES]
    assert len(rows) == len(set(rows)), "a field has two rows"
    want = {(cls.__name__, f.name) for cls in CONFIGS for f in dataclasses.fields(cls)}
    assert set(rows) == want, (f"fields without a row: {sorted(want - set(rows))}; "
                               f"rows without a field: {sorted(set(rows) - want)}")
    assert all(n.meaning and n.trl and n.sb3 and n.cleanrl for n in NAMES)


def test_the_names_table_agrees_with_trl_fields():
    pytest.importorskip("trl")
    from course_lib.hf import TRL_FIELDS
    from course_lib.hyperparameters import NAMES

    grpo = {n.field: n.trl for n in NAMES if n.config == "GRPOConfig"}
    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    for course, trl, _ in TRL_FIELDS:
        if course in fields:  # advantage_scale is a property derived from loss_aggregation
            assert grpo[course] == trl, course


def test_former_names_are_the_configs_own_and_stored_configs_still_read():
    from course_lib.core import config_from_dict, current_names
    from course_lib.hyperparameters import FORMER

    table = {(config, old, new) for config, old, new in FORMER}
    own = {(cls.__name__, old, new) for cls in CONFIGS if hasattr(cls, "from_dict")
           for old, new in getattr(sys.modules[cls.__module__], "FORMER_NAMES", {}).items()}
    assert table == own
    for config, old, new in FORMER:
        cls = next(c for c in CONFIGS if c.__name__ == config)
        assert old not in {f.name for f in dataclasses.fields(cls)} and new in {f.name for f in dataclasses.fields(cls)}
    assert current_names({"a": 1, "b": 2}, {"a": "c"}) == {"c": 1, "b": 2}
    with pytest.raises(ValueError, match="both 'a' and its new name 'c'"):
        current_names({"a": 1, "c": 2}, {"a": "c"})
    with pytest.raises(ValueError, match="fields must be a dict"):
        current_names([("a", 1)], {})
    with pytest.raises(ValueError, match="RewardModelConfig does not know: \\['clip'\\]"):
        config_from_dict(RewardModelConfig, {"clip": 1.0})


def test_the_shipped_checkpoints_training_configs_read():
    from course_lib.lm import load_checkpoint
    from course_lib.lm.train import TrainConfig
    from course_lib.data import data_dir
    from course_lib.rlhf.reward_model import load_shipped_reward_model
    from course_lib.tasks import recipe

    _, meta = load_shipped_reward_model()
    assert RewardModelConfig.from_dict(meta["train"]) == RewardModelConfig()  # the defaults built it
    _, _, meta = load_checkpoint(data_dir() / "lm" / "sft.pt")
    assert TrainConfig.from_dict(meta["train"]) == recipe.SFT
    stored = {("grad_clip" if k == "max_grad_norm" else k): v for k, v in dataclasses.asdict(recipe.SFT).items()}
    assert TrainConfig.from_dict(stored) == recipe.SFT


def test_docs_hyperparameters_md_is_the_table():
    from pathlib import Path

    from course_lib.hyperparameters import markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "hyperparameters.md"
    assert doc.read_text(encoding="utf-8") == markdown(), \
        "docs/hyperparameters.md is stale: python -m course_lib.hyperparameters > docs/hyperparameters.md"
