"""TRL's GRPOTrainer with the course's model, config and reward functions; two processes; bench trl."""
import pytest
import torch

pytest.importorskip("trl")

from course_lib import rewards, tasks  # noqa: E402
from course_lib.grpo import GRPOConfig  # noqa: E402
from course_lib.hf import (COURSE_REWARDS, TRL_FIELDS, TRL_FIXED, make_trl_trainer, to_hf_model,  # noqa: E402
                           to_trl_config, train_with_trl, trl_dataset)
from course_lib.lm import GPT, load_shipped, token_logprobs  # noqa: E402

# Every field set away from its default, so that a field mapped to the wrong place shows.
CUSTOM = GRPOConfig(group_size=4, eps_low=0.1, eps_high=0.28, beta=0.04, lr=1e-3, n_epochs=2, max_completion_length=5,
                    temperature=0.9, loss_aggregation="dr_grpo", prompts_per_step=6, steps=7, max_grad_norm=0.5,
                    seed=3)


def test_to_trl_config_maps_every_field(tmp_path):
    t = to_trl_config(CUSTOM, output_dir=str(tmp_path), num_processes=1)
    expected = {"num_generations": 4, "epsilon": 0.1, "epsilon_high": 0.28, "beta": 0.04, "num_iterations": 2,
                "loss_type": "dr_grpo", "scale_rewards": "none", "temperature": 0.9, "max_completion_length": 5,
                "learning_rate": 1e-3, "max_grad_norm": 0.5, "max_steps": 7, "per_device_train_batch_size": 24,
                "seed": 3}
    for name, value in expected.items():
        assert getattr(t, name) == value, name
    assert {trl_name for _, trl_name, _ in TRL_FIELDS} == set(expected), "the table and the test must agree"
    assert t.generation_batch_size == CUSTOM.batch_size and t.steps_per_generation == 1
    for name, value in TRL_FIXED.items():
        if name not in ("report_to", "steps_per_generation"):
            assert getattr(t, name) == value, name
    assert t.lr_scheduler_type == "constant" and t.output_dir == str(tmp_path)


def test_to_trl_config_per_aggregation_and_processes():
    for agg, scale in (("grpo", "group"), ("dapo", "group"), ("dr_grpo", "none")):
        t = to_trl_config(GRPOConfig(loss_aggregation=agg), num_processes=1)
        assert (t.loss_type, t.scale_rewards) == (agg, scale)
    t = to_trl_config(GRPOConfig(prompts_per_step=8, group_size=8), num_processes=2)
    assert t.per_device_train_batch_size == 32  # 64 completions per step over 2 processes
    assert to_trl_config(GRPOConfig(), num_processes=1, beta=0.5).beta == 0.5  # overrides win


def test_to_trl_config_rejects_what_trl_cannot_do():
    with pytest.raises(ValueError, match="cfg must be a course_lib.grpo.GRPOConfig"):
        to_trl_config({"group_size": 8})
    with pytest.raises(ValueError, match="dynamic_sampling"):
        to_trl_config(GRPOConfig(dynamic_sampling=True))
    with pytest.raises(ValueError, match="split evenly"):
        to_trl_config(GRPOConfig(prompts_per_step=3, group_size=3), num_processes=2)
    with pytest.raises(ValueError, match="num_processes"):
        to_trl_config(GRPOConfig(), num_processes=0)


def test_dataset_has_prompt_and_answer_columns_from_training_problems():
    ds = trl_dataset()
    assert set(ds.column_names) == {"prompt", "answer"}
    held = {p.prompt for p in tasks.eval_problems()}
    assert len(ds) == len(tasks.train_problems()) and not held & set(ds["prompt"][:2000])
    p = tasks.train_problems()[0]
    assert ds[0] == {"prompt": p.prompt, "answer": p.answer}
    with pytest.raises(ValueError, match="problems"):
        trl_dataset([])


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    model, tok, _ = load_shipped("sft")
    return make_trl_trainer(model, GRPOConfig(steps=2, prompts_per_step=4, group_size=4), tokenizer=tok,
                            output_dir=str(tmp_path_factory.mktemp("trl")))


def test_trainer_gets_the_course_reward_functions_unchanged(trainer):
    assert list(trainer.reward_funcs) == [rewards.accuracy_reward, rewards.format_reward]
    assert COURSE_REWARDS == (rewards.accuracy_reward, rewards.format_reward)


def test_trl_log_probs_equal_the_course_log_probs_on_left_padded_rows(trainer):
    """TRL's loss sees the same log π(token) as course_lib's: positions count real tokens only."""
    model, tok, _ = load_shipped("sft")
    T = 0.7  # the trainer's temperature (GRPOConfig's default)
    rows = [tok.encode(p.text(), bos=True, eos=True) for p in tasks.eval_problems()[:16]]
    width = max(map(len, rows))
    ids = torch.tensor([[tok.pad_id] * (width - len(r)) + r for r in rows])
    valid = ids != tok.pad_id
    keep = 4  # the last 4 columns: answers and <eos>
    mask = torch.zeros_like(valid)
    mask[:, -keep:] = valid[:, -keep:]
    with torch.no_grad():
        ours = token_logprobs(model, ids, mask, valid, temperature=T)[:, -keep:]
        theirs, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, valid.long(), keep)
    assert (ours - theirs)[mask[:, -keep:]].abs().max().item() < 1e-4


def test_two_trl_steps_train_and_come_back_as_a_course_gpt():
    model, tok, _ = load_shipped("sft")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = GRPOConfig(steps=2, prompts_per_step=4, group_size=4, seed=0)
    h = train_with_trl(model, cfg, tokenizer=tok, eval_set=tasks.eval_problems()[:20])
    assert h["step"] == [1, 2] and len(h["reward"]) == 2
    assert all(0.0 <= r <= 2.0 for r in h["reward"])  # accuracy + format, each 0 or 1
    assert h["eval_step"] == [0, 2] and h["completions_sampled"] == 2 * cfg.batch_size
    assert isinstance(h["model"], GPT)
    from course_lib.runs import History

    assert isinstance(h, History) and set(h.updates) == {"step", "reward", "loss"}  # the course's run contract
    assert set(h.evals) == {"eval_step", "eval_accuracy", "eval_format_rate"} and h.train_seconds > 0
    changed = [k for k, v in h["model"].state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "two optimiser steps must change the weights"
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "the input model stays as it was"


@pytest.mark.slow
def test_two_processes_with_accelerate_all_reduce_and_one_checkpoint(tmp_path):
    """accelerate launch, 2 CPU processes (gloo): different prompts per rank, equal weights after the steps."""
    from course_lib.hf.distributed import launch_data_parallel

    run = launch_data_parallel(tmp_path / "dp", num_processes=2, steps=2, prompts_per_step=4, group_size=4,
                               timeout=300)
    ranks = run["markers"]
    assert [m["rank"] for m in ranks] == [0, 1]
    assert all(m["world_size"] == 2 and m["backend"] == "gloo" and m["steps"] == 2 for m in ranks)
    p0, p1 = (set(m["prompts"]) for m in ranks)
    assert p0 and p1 and p0 != p1, "each process must score its own share of the prompts"
    assert len(ranks[0]["prompts"]) == len(ranks[1]["prompts"]) == 2 * 8  # 2 steps x 16 completions / 2 ranks
    assert ranks[0]["hash_before"] == ranks[1]["hash_before"]
    assert ranks[0]["hash_after"] == ranks[1]["hash_after"] != ranks[0]["hash_before"], \
        "equal weights after different data: the gradients were all-reduced"
    ckpts = list(tmp_path.glob("dp/**/model.safetensors"))
    assert [p.parent for p in ckpts] == [run["checkpoint"]], "exactly one checkpoint, written by the main process"
    import transformers

    from course_lib.hf import from_hf_model

    back = from_hf_model(transformers.GPT2LMHeadModel.from_pretrained(run["checkpoint"]))
    assert tasks.evaluate(back, tasks.eval_problems()[:50])["format_rate"] > 0.9


def test_bench_trl_prints_its_figures(capsys):
    from course_lib.__main__ import main

    assert main(["bench", "trl", "--steps", "1", "--prompts-per-step", "2", "--group-size", "2",
                 "--profile-steps", "1"]) == 0
    out = capsys.readouterr().out
    for needle in ("course_lib:", "TRL       :", "completions/s", "optimiser steps/s", "ratio course_lib/TRL:",
                   "where TRL's time goes", "sampling: transformers generate", "backward pass", "ncalls",
                   "floor: one forward + backward of the step's 4 sequences"):
        assert needle in out, needle


def test_training_pass_floor_times_the_steps_batch():
    from course_lib.experiments.bench_trl import training_pass_floor
    from course_lib.grpo import GRPOConfig

    floor = training_pass_floor(GRPOConfig(prompts_per_step=3, group_size=2), tasks.make_tokenizer(), 1, repeats=1)
    assert floor["batch"] == 6 and floor["tokens"] > 6 * 4
    assert floor["seconds"] > 0 and floor["completions_per_s"] == pytest.approx(6 / floor["seconds"])


def test_exported_model_uses_the_course_device():
    from course_lib import get_device

    model, tok, _ = load_shipped("sft")
    assert to_hf_model(model.to(get_device()), tok).device.type == get_device().type
