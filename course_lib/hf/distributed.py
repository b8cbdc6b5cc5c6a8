"""The same TRL training as data parallelism over several processes (notebook 10).

``accelerate launch --num_processes 2 --cpu -m course_lib.hf.distributed --out DIR`` starts two
Python processes joined by ``torch.distributed`` (the gloo backend on CPUs). Each one holds a full
copy of the model, samples and scores its own half of every step's completions, computes
gradients on them, and the gradients are averaged across processes (an all-reduce, done by
PyTorch's DistributedDataParallel) before each identical optimiser step. So the copies stay equal
while each process saw different prompts. On GPUs the same script runs one process per GPU.

Every process writes ``rank{r}.json``: its rank, the number of processes, the prompts it scored,
and a SHA-256 of its parameters before and after training. The main process writes one
checkpoint (``checkpoint/``, transformers format). ``launch_data_parallel`` starts the command
and reads the markers back.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

MARKER = "rank{rank}.json"
CHECKPOINT = "checkpoint"


def parameter_hash(model) -> str:
    """SHA-256 of every parameter's bytes, in name order: equal hashes mean equal weights."""
    import torch

    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(p.detach().cpu().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


class _RecordingReward:
    """A reward function that records the prompts it scores and returns ``fn``'s rewards unchanged."""

    def __init__(self, fn):
        self.fn, self.prompts = fn, []
        self.__name__ = getattr(fn, "__name__", "reward")

    def __call__(self, completions, **kwargs):
        self.prompts.extend(kwargs.get("prompts") or [])
        return self.fn(completions, **kwargs)


def main(argv: list[str] | None = None) -> int:
    """Run TRL's GRPO on this process's share of the batch; write the rank's marker and the checkpoint."""
    parser = argparse.ArgumentParser(prog="accelerate launch --num_processes 2 --cpu -m course_lib.hf.distributed",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the markers and the checkpoint")
    parser.add_argument("--steps", type=int, default=3, help="optimiser steps (default 3)")
    parser.add_argument("--prompts-per-step", type=int, default=8, help="prompts per step over all processes")
    parser.add_argument("--group-size", type=int, default=8, help="G, completions per prompt (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from .. import tasks
    from ..grpo.config import GRPOConfig
    from ..lm import load_shipped
    from .trl_grpo import COURSE_REWARDS, make_trl_trainer

    torch.set_num_threads(1)  # one core per process
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = GRPOConfig(steps=args.steps, prompts_per_step=args.prompts_per_step, group_size=args.group_size,
                     seed=args.seed)
    model, tok, _ = load_shipped("sft")
    rewards = [_RecordingReward(f) for f in COURSE_REWARDS]
    trainer = make_trl_trainer(model, cfg, tokenizer=tok, reward_funcs=rewards, output_dir=str(out / "trl"))
    acc = trainer.accelerator
    before = parameter_hash(trainer.model)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    marker = {"rank": acc.process_index, "world_size": acc.num_processes,
              "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
              "distributed_type": str(acc.distributed_type), "steps": trainer.state.global_step,
              "prompts": rewards[0].prompts, "hash_before": before, "hash_after": parameter_hash(trainer.model),
              "train_seconds": seconds, "rewards": [r["reward"] for r in trainer.state.log_history if "reward" in r]}
    (out / MARKER.format(rank=acc.process_index)).write_text(json.dumps(marker), encoding="utf-8")
    trainer.save_model(str(out / CHECKPOINT))  # writes on the main process only
    acc.wait_for_everyone()
    return 0


def accelerate_command(num_processes: int = 2) -> list[str]:
    """The ``accelerate launch`` command line for ``num_processes`` CPU processes (no config file needed)."""
    exe = Path(sys.executable).with_name("accelerate")
    launcher = [str(exe)] if exe.exists() else [sys.executable, "-m", "accelerate.commands.accelerate_cli"]
    return [*launcher, "launch", "--num_processes", str(num_processes), "--num_machines", "1", "--multi_gpu",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
            "-m", "course_lib.hf.distributed"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_data_parallel(out_dir: str | Path, *, num_processes: int = 2, steps: int = 3, prompts_per_step: int = 8,
                         group_size: int = 8, seed: int = 0, timeout: float = 600) -> dict:
    """Run ``main`` under ``accelerate launch`` with ``num_processes`` CPU processes and read the results.

    Args:
        out_dir: a folder for the markers and the checkpoint (emptied first).
        num_processes: data-parallel processes (2 on the course's 2-core machine).
        steps, prompts_per_step, group_size, seed: the run's settings (``prompts_per_step · G``
            completions per step in total, split evenly over the processes).
        timeout: seconds before the run is stopped.

    Returns:
        {"markers": one dict per rank (sorted by rank), "checkpoint": the checkpoint folder,
        "seconds": wall-clock of the launch, "command": the command line, "log": its output}.

    Raises:
        RuntimeError: the launch failed (its output's tail is in the message).
    """
    if isinstance(num_processes, bool) or not isinstance(num_processes, int) or num_processes < 1:
        raise ValueError(f"num_processes must be a positive integer, got {num_processes!r}")
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cmd = [*accelerate_command(num_processes), "--out", str(out), "--steps", str(steps),
           "--prompts-per-step", str(prompts_per_step), "--group-size", str(group_size), "--seed", str(seed)]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", ACCELERATE_USE_CPU="true")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"accelerate launch failed with exit code {proc.returncode}:\n{log[-3000:]}")
    markers = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("rank*.json"))]
    return {"markers": sorted(markers, key=lambda m: m["rank"]), "checkpoint": out / CHECKPOINT,
            "seconds": seconds, "command": " ".join(cmd), "log": log}


if __name__ == "__main__":
    sys.exit(main())
