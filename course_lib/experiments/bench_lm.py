"""``python -m course_lib bench lm``: how fast the small LM trains and samples on this machine.

Prints training tokens/s, and sampling new-tokens/s with and without the KV cache for the shipped
model size with G completions for each of P prompts (default G = 8, P = 64, 16 new tokens each),
the shape of a GRPO batch.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from .. import tasks
from ..lm.generate import generate
from ..lm.train import lm_loss, new_model
from ..tasks.recipe import PRETRAIN, pretraining_batch
from ..runs import threads


def _time(fn, repeats: int) -> float:
    """Median wall-clock seconds of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_training(model, tok, steps: int, batch_size: int) -> dict:
    rng = np.random.default_rng(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = [pretraining_batch(tok, batch_size, model.config.block_size, rng) for _ in range(steps + 1)]
    model.train()

    def step(tokens, mask):
        loss = lm_loss(model, tokens, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(*batches[0])  # warm-up
    t = time.perf_counter()
    for tokens, mask in batches[1:]:
        step(tokens, mask)
    seconds = time.perf_counter() - t
    model.eval()
    real = sum(int((tokens != tok.pad_id).sum()) for tokens, _ in batches[1:])
    padded = sum(tokens.numel() for tokens, _ in batches[1:])
    return {"steps_per_s": steps / seconds, "tokens_per_s": real / seconds, "padded_tokens_per_s": padded / seconds}


def bench_sampling(model, tok, n_prompts: int, group: int, new_tokens: int, repeats: int) -> dict:
    prompts = [tok.encode(p.prompt, bos=True) for p in tasks.sample_problems(n_prompts, seed=0)]
    batch = [p for p in prompts for _ in range(group)]  # G completions per prompt
    out = {}
    for use_cache in (True, False):
        gen = torch.Generator().manual_seed(0)
        secs = _time(lambda: generate(model, batch, new_tokens, eos_id=tok.eos_id, temperature=1.0,
                                      generator=gen, use_cache=use_cache, stop_at_eos=False), repeats)
        out["cache" if use_cache else "no_cache"] = {"seconds": secs, "new_tokens_per_s": len(batch) * new_tokens / secs}
    out["speedup"] = out["no_cache"]["seconds"] / out["cache"]["seconds"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib bench lm", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--group", type=int, default=8, help="completions per prompt (G)")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from ..data import verified_path

    with threads(args.threads):
        tok = tasks.make_tokenizer()
        try:
            from ..lm.checkpoint import load_checkpoint

            path = verified_path("lm/sft.pt")
            model, tok, _ = load_checkpoint(path)
            size = f"shipped SFT checkpoint ({path.stat().st_size / 1024:.0f} KiB on disk)"
        except FileNotFoundError:
            model = new_model(tok)
            size = "freshly initialised model of the shipped shape (data/lm/sft.pt is missing)"
        cfg = model.config
        print(f"bench lm: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} thread(s)")
        print(f"model: {size}; {model.num_params():,} parameters, {cfg.n_layer} layers x {cfg.n_embd} wide, "
              f"{cfg.n_head} heads, block {cfg.block_size}")
        tr = bench_training(new_model(tok), tok, args.train_steps, PRETRAIN.batch_size)
        print(f"training:  {tr['tokens_per_s']:,.0f} tokens/s ({tr['padded_tokens_per_s']:,.0f} incl. padding), "
              f"{tr['steps_per_s']:.1f} steps/s at batch {PRETRAIN.batch_size} x {cfg.block_size}")
        s = bench_sampling(model, tok, args.prompts, args.group, args.new_tokens, args.repeats)
        n = args.prompts * args.group
        print(f"sampling {n} completions ({args.prompts} prompts x G={args.group}) of {args.new_tokens} new tokens:")
        print(f"  with KV cache:    {s['cache']['new_tokens_per_s']:,.0f} new tokens/s ({s['cache']['seconds']:.3f} s)")
        print(f"  without (recompute): {s['no_cache']['new_tokens_per_s']:,.0f} new tokens/s "
              f"({s['no_cache']['seconds']:.3f} s)")
        print(f"  KV cache speed-up: {s['speedup']:.1f}x (target >= 5x)")
    return 0
