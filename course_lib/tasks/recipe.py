"""How the course's shipped language model is built for the arithmetic task (notebook 05).

Three stages, the first two here: pretraining on unlabelled task text (documents of solved
problems), SFT on 512 demonstrations (prompt -> answer <eos>), then RL in later notebooks.

``python -m course_lib train-lm`` rebuilds the shipped checkpoints (``data/lm/pretrained.pt``,
``data/lm/sft.pt``) and the held-out set from scratch. On the machine that built them the same
seed gives the same bytes (one thread, no wall-clock in the files). On another CPU the arithmetic
rounds differently and the run takes another path; pretraining then stops by a measured rule, not
a step count, so the SFT model still lands in the stated ``BAND`` of held-out accuracy.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..lm.checkpoint import save_checkpoint
from ..lm.model import GPT
from ..lm.tokenizer import CharTokenizer
from ..lm.train import MODEL, SEED, TrainConfig, new_model, pretrain, sft, text_batch
from ..runs import RunOptions, threads
from . import arithmetic as tasks

# The shipped model's two stages. Changing any of these changes the shipped checkpoints.
# Pretraining stops on purpose in the middle of the model's steep learning phase (measured on
# the machine that built the shipped files: 500 steps give an SFT model with about 21% held-out
# accuracy, 550 steps 43%, 600 steps 55%, 700 steps 84%), so the SFT model is mediocre and RL has
# room to improve it. Where that phase starts is chaotic: rounding differences between CPUs (or
# between one and two torch threads) move it by hundreds of steps. So the stage does not end at a
# fixed step: from STOP_FROM on, every STOP_EVERY steps, the SFT stage is tried on a copy and
# pretraining stops at the first check where that SFT model's accuracy on a validation set of
# training problems (never the held-out ones) reaches STOP_ACCURACY. PRETRAIN.steps is the most it
# may run. The learning rate is constant after the warm-up (min_lr_frac=1.0), so where it stops
# changes nothing before.
PRETRAIN = TrainConfig(steps=4000, batch_size=64, lr=6e-3, warmup=50, min_lr_frac=1.0, seed=0)
SFT = TrainConfig(steps=30, batch_size=32, lr=1e-3, warmup=10, seed=1)
SFT_EXAMPLES = 512  # size of the SFT set (demonstrations are the scarce resource)
STOP_FROM, STOP_EVERY = 500, 25  # pretraining steps of the first check, and between checks
STOP_ACCURACY = 0.40  # validation accuracy of the tried SFT model that ends pretraining
VALIDATION_SIZE, VALIDATION_SEED = 300, 424242  # training problems the rule scores (not held out)
# The band a rebuild lands in: the SFT model's held-out greedy accuracy. The rule stops at the
# first check at or above STOP_ACCURACY, and 25 steps in the steep phase add at most about 20
# points, so a rebuild lands between about 40% and 60%. Measured (seed 0, this recipe, on the
# course's 2-core machine): the shipped files are the first row, rebuilt byte for byte; the others
# stand in for other CPUs. One run in six sat on a plateau until step 2,300 (about 4 minutes), so
# PRETRAIN.steps leaves room for longer ones; a run that reaches it is reported outside the band.
BAND = (0.35, 0.65)
RUNS_MEASURED = (
    # (how the run differed from the shipped one, pretraining steps, held-out accuracy of the SFT model)
    ("none: the machine that built the shipped files, one thread", 550, 0.432),
    ("two torch threads instead of one", 1025, 0.524),
    ("initial weights jittered by 1e-6 (relative), jitter seed 1", 775, 0.468),
    ("initial weights jittered by 1e-6, jitter seed 2", 2400, 0.454),
    ("initial weights jittered by 1e-6, jitter seed 3", 625, 0.412),
    ("initial weights jittered by 1e-6, jitter seed 4", 575, 0.492),
)

__all__ = ["PRETRAIN", "SFT", "SFT_EXAMPLES", "MODEL", "SEED", "STOP_ACCURACY", "BAND", "RUNS_MEASURED",
           "pretraining_batch", "jitter_", "sft_stop_rule", "build", "main"]


def pretraining_batch(tokenizer: CharTokenizer, batch_size: int, block_size: int, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, loss_mask) of ``batch_size`` documents of the task's pretraining text."""
    return text_batch(tokenizer, tasks.pretraining_documents(batch_size, rng), block_size)


def sft_stop_rule(tokenizer: CharTokenizer, examples, *, sft_cfg: TrainConfig = SFT, start: int = STOP_FROM,
                  every: int = STOP_EVERY, accuracy: float = STOP_ACCURACY, num_threads: int | None = 1,
                  log=print):
    """The measured criterion that ends pretraining: ``stop_when(steps_done, model) -> bool``.

    At steps ``start``, ``start + every``, ... it fine-tunes a copy of the model on ``examples``
    with ``sft_cfg`` and scores it greedily on ``VALIDATION_SIZE`` training problems; True once
    that accuracy reaches ``accuracy``. The model itself is not touched. Each check's numbers are
    kept in the returned function's ``checks`` list, and ``fired`` says whether it ended pretraining.
    """
    import copy

    validation = [p.to_dict() for p in tasks.sample_problems(VALIDATION_SIZE, seed=VALIDATION_SEED)]

    def stop_when(steps_done: int, model: GPT) -> bool:
        if steps_done < start or (steps_done - start) % every:
            return False
        trial = copy.deepcopy(model)
        sft(trial, tokenizer, examples, sft_cfg, run=RunOptions(threads=num_threads))
        acc = tasks.evaluate(trial, validation, tokenizer)["accuracy"]
        stop_when.checks.append({"step": steps_done, "validation_accuracy": acc})
        stop_when.fired = acc >= accuracy
        log(f"  pretraining step {steps_done}: the SFT model would reach {acc:.1%} on the validation problems"
            f"{' -> stop' if stop_when.fired else ''}")
        return stop_when.fired

    stop_when.checks, stop_when.fired = [], False
    return stop_when


def jitter_(model: torch.nn.Module, scale: float, seed: int = 0) -> torch.nn.Module:
    """Multiply every weight by (1 + scale · N(0, 1)) in place: a stand-in for another CPU's rounding.

    ``scale`` = 1e-6 is far below anything a learner could see in the weights, about the relative
    size of the rounding differences two processors make in one matrix product.
    """
    from ..core import check_finite_number

    scale = check_finite_number("scale", scale, low=0.0)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1 + scale * torch.randn(p.shape, generator=gen))
    return model


def build(out_dir: str | Path | None = None, *, seed: int = SEED, pretrain_cfg: TrainConfig = PRETRAIN,
          sft_cfg: TrainConfig = SFT, sft_examples: int = SFT_EXAMPLES, num_threads: int | None = 1,
          progress: bool = False, log=print, stop_rule: bool = True, init_jitter: float = 0.0,
          jitter_seed: int = 1) -> dict:
    """Run pretraining then SFT from scratch, evaluate both, and (if ``out_dir``) write the files.

    With ``stop_rule`` pretraining ends by ``sft_stop_rule`` (at most ``pretrain_cfg.steps``);
    without it, it runs exactly ``pretrain_cfg.steps``. ``init_jitter`` > 0 perturbs the initial
    weights (``jitter_``) to show what another CPU's rounding does to the same seed.

    Returns:
        {"pretrained", "sft": the models, "tokenizer", "pretrain_loss", "sft_loss" (lists of
         per-step losses), "eval_pretrained", "eval_sft": evaluate() results, "seconds": per stage}.
    """
    tok = tasks.make_tokenizer()
    model = new_model(tok, seed)
    if init_jitter:
        jitter_(model, init_jitter, jitter_seed)
    log(f"model: {model.num_params():,} parameters, {model.config}")
    examples = tasks.sft_examples(sft_examples, seed=1000 + seed)
    rule = sft_stop_rule(tok, examples, sft_cfg=sft_cfg, num_threads=num_threads, log=log) if stop_rule else None
    t0 = time.perf_counter()
    pre_loss = pretrain(model, tok, pretrain_cfg, documents=tasks.pretraining_documents,
                        run=RunOptions(threads=num_threads, progress=progress), stop_when=rule)["loss"]
    t1 = time.perf_counter()
    capped = rule is not None and not rule.fired
    pretrain_cfg = replace(pretrain_cfg, steps=len(pre_loss))  # the steps it ran, as the files record
    log(f"pretraining: {pretrain_cfg.steps} steps in {t1 - t0:.1f} s, final loss {pre_loss[-1]:.3f}")
    if capped:
        log(f"WARNING: the stopping rule never fired: no tried SFT model reached {STOP_ACCURACY:.0%} on the "
            f"validation problems within {pretrain_cfg.steps} pretraining steps; this model is outside the recipe's band")
    heldout = [p.to_dict() for p in tasks.eval_problems()]
    with threads(num_threads):
        ev_pre = tasks.evaluate(model, heldout, tok)
    log(f"pretrained model, held-out greedy: accuracy {ev_pre['accuracy']:.1%}, format {ev_pre['format_rate']:.1%}, "
        f"lenient accuracy (format ignored) {ev_pre['lenient_accuracy']:.1%}")
    pretrained = GPT(model.config)
    pretrained.load_state_dict(model.state_dict())
    pretrained.eval()

    t2 = time.perf_counter()
    sft_loss = sft(model, tok, examples, sft_cfg, run=RunOptions(threads=num_threads, progress=progress))["loss"]
    t3 = time.perf_counter()
    log(f"SFT: {sft_cfg.steps} steps on {len(examples)} examples in {t3 - t2:.1f} s, final loss {sft_loss[-1]:.3f}")
    with threads(num_threads):
        ev_sft = tasks.evaluate(model, heldout, tok)
    in_band = BAND[0] <= ev_sft["accuracy"] <= BAND[1]
    log(f"SFT model, held-out greedy: accuracy {ev_sft['accuracy']:.1%}, format {ev_sft['format_rate']:.1%}, "
        f"lenient accuracy {ev_sft['lenient_accuracy']:.1%} (the recipe's band: {BAND[0]:.0%}-{BAND[1]:.0%}"
        f"{'' if in_band else '; OUTSIDE it'})")

    if out_dir is not None:
        out = Path(out_dir)
        common = {"seed": seed, "model": dict(MODEL)}
        save_checkpoint(out / "pretrained.pt", pretrained, tok, {
            **common, "stage": "pretrained", "train": asdict(pretrain_cfg), "loss_history": pre_loss,
            "eval_greedy": {k: ev_pre[k] for k in ("accuracy", "format_rate", "lenient_accuracy", "n")}})
        save_checkpoint(out / "sft.pt", model, tok, {
            **common, "stage": "sft", "train": asdict(sft_cfg), "sft_examples": sft_examples,
            "loss_history": sft_loss, "pretrain_loss_history": pre_loss,
            "eval_greedy": {k: ev_sft[k] for k in ("accuracy", "format_rate", "lenient_accuracy", "n")}})
        tasks.write_eval_set(out / "eval.jsonl")
        log(f"wrote {out / 'pretrained.pt'}, {out / 'sft.pt'}, {out / 'eval.jsonl'}")
    return {"pretrained": pretrained, "sft": model, "tokenizer": tok, "pretrain_loss": pre_loss,
            "sft_loss": sft_loss, "eval_pretrained": ev_pre, "eval_sft": ev_sft,
            "pretrain_steps": len(pre_loss), "stop_checks": rule.checks if rule else [],
            "rule_fired": rule is not None and rule.fired, "in_band": in_band,
            "seconds": {"pretrain": t1 - t0, "sft": t3 - t2}}


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib train-lm``: rebuild data/lm/ (checkpoints and held-out set)."""
    from ..data import writable_dir

    parser = argparse.ArgumentParser(prog="python -m course_lib train-lm", description=main.__doc__)
    parser.add_argument("--out", default=None, help="output folder (default: the course's data/lm)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest and exact)")
    parser.add_argument("--no-manifest", action="store_true", help="do not rewrite data/MANIFEST.json")
    parser.add_argument("--pretrain-steps", type=int, default=None,
                        help="a fixed number of pretraining steps instead of the stopping rule (needs --out)")
    parser.add_argument("--sft-steps", type=int, default=SFT.steps,
                        help=f"SFT steps (shipped: {SFT.steps}; other values need --out)")
    args = parser.parse_args(argv)
    shipped = (args.seed, args.pretrain_steps, args.sft_steps) == (SEED, None, SFT.steps)
    if args.out is None and not shipped:
        parser.error("non-default --seed/--pretrain-steps/--sft-steps would overwrite the shipped "
                     "checkpoints; give an --out folder")
    out = Path(args.out) if args.out else writable_dir("lm")  # a clear error on a read-only course folder
    start = time.perf_counter()
    fixed = args.pretrain_steps is not None
    build(out, seed=args.seed, num_threads=args.threads, stop_rule=not fixed,
          pretrain_cfg=replace(PRETRAIN, steps=args.pretrain_steps) if fixed else PRETRAIN,
          sft_cfg=replace(SFT, steps=args.sft_steps))
    if args.out is None and not args.no_manifest:
        from ..data import write_manifest

        write_manifest()
        print("rewrote data/MANIFEST.json")
    print(f"train-lm finished in {time.perf_counter() - start:.1f} s")
    return 0
