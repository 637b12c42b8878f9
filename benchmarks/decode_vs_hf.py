"""Greedy decoding speed: tailjax's KV-cache decoder against transformers' generate.

    python benchmarks/decode_vs_hf.py                    # CPU, batch 1 and 32, 256 new tokens
    python benchmarks/decode_vs_hf.py --batches 32 --new 512 --shape tiny
    python benchmarks/decode_vs_hf.py --device gpu --shape 0.5b   # both sides on one GPU

The same random Qwen2 weights run on both sides: a transformers Qwen2ForCausalLM (torch, CPU)
is saved as safetensors and loaded with tailjax.model.load. Both continue the same prompts
greedily for exactly --new tokens (no end token), the tokens are checked identical, then each
side is timed over --rounds rounds, alternating so that both see the same machine load; in a
round each side repeats its call until --min-seconds have passed (one tailjax call is ~50 ms, one
transformers call ~1 s, so a burst of load on this shared machine cannot decide a round alone).
The medians of the rounds' rates, after one untimed warm-up (tailjax's compile), give tokens/s
and the ratio.

On the CPU tailjax splits the rows over one host device per core (--devices), as `python -m
tailjax.eval` does with the demo's mesh.cpu_devices, each device decoding its rows in its own
loop; --devices 1 gives the single-device figure.

torch threads: on a busy 2-core machine torch's default (one thread per core) collapses under
contention (measured 64 tok/s at batch 1), so compare against --torch-threads 1 too, transformers'
fastest setting there, and quote the lower ratio.

Shapes: "micro" (hidden 64, 2 layers: decoding cost is mostly per-step overhead, the regime of
TAIL's tiny demo at batch 1) and "tiny" (hidden 256, 4 layers); "0.5b" is Qwen2.5-0.5B's shape
with random weights, for GPUs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

SHAPES = {
    "micro": dict(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2),
    "tiny": dict(vocab_size=128, hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                 num_attention_heads=8, num_key_value_heads=2, head_dim=32),
    "0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", choices=tuple(SHAPES), default="micro")
    p.add_argument("--batches", default="1,32", help="comma-separated batch sizes")
    p.add_argument("--new", type=int, default=256, help="new tokens per prompt")
    p.add_argument("--prompt", type=int, default=32, help="prompt tokens")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per side and batch")
    p.add_argument("--min-seconds", type=float, default=0.5,
                   help="each side repeats its call within a round until this long has passed")
    p.add_argument("--torch-threads", type=int, default=0,
                   help="torch intra-op threads (default 0: torch's own choice)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                   help="where both sides run (gpu: torch on cuda, JAX on its default GPU)")
    p.add_argument("--devices", type=int, default=os.cpu_count(),
                   help="CPU: host devices tailjax splits the rows over, as `python -m "
                        "tailjax.eval` does with mesh.cpu_devices (default: one per core)")
    return p.parse_args(argv)


def hf_model(shape: str, path: str, device: str = "cpu"):
    """A random transformers Qwen2 with varied greedy outputs, saved as safetensors at path."""
    import torch
    import transformers

    torch.manual_seed(0)
    cfg = transformers.Qwen2Config(**SHAPES[shape], max_position_embeddings=4096,
                                   tie_word_embeddings=True, rope_theta=10000.0,
                                   initializer_range=0.02 if shape == "0.5b" else 0.3)
    model = transformers.Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():  # non-zero q/k/v biases, so the bias path is compared too
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.3)
    model.save_pretrained(path)
    return model.to("cuda" if device == "gpu" else "cpu")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == "cpu":
        from tailjax.host import use_cpu_devices

        use_cpu_devices(args.devices)
    os.environ.setdefault("JAX_PLATFORMS", "cpu" if args.device == "cpu" else "cuda")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # torch shares the GPU
    import jax
    import numpy as np
    import torch

    from tailjax.decode import Decoder
    from tailjax.model import load, sharding

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        hf = hf_model(args.shape, tmp, args.device)
        mesh = sharding.make_mesh({"data": -1}) if jax.device_count() > 1 else None
        decoder = Decoder(load(tmp, dtype="float32", mesh=mesh), mesh=mesh)
    print(f"shape {args.shape} ({sum(p.numel() for p in hf.parameters())} parameters), prompt "
          f"{args.prompt} tokens, {args.new} new tokens, float32, torch threads "
          f"{torch.get_num_threads()}, {os.cpu_count()} cores, "
          f"JAX on {jax.device_count()} {jax.devices()[0].device_kind} device(s)"
          + (f", torch on {torch.cuda.get_device_name()}" if args.device == "gpu" else "")
          + f"; built and loaded in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"{'batch':>5} {'transformers tok/s':>19} {'tailjax tok/s':>14} {'ratio':>7} "
          f"{'tailjax compile s':>18}")
    rng = np.random.default_rng(0)
    for batch in (int(b) for b in args.batches.split(",")):
        prompts = rng.integers(2, SHAPES[args.shape]["vocab_size"], (batch, args.prompt))

        def run_hf():
            ids = torch.from_numpy(prompts).to(hf.device)
            with torch.no_grad():
                out = hf.generate(ids, attention_mask=torch.ones_like(ids),
                                  max_new_tokens=args.new, min_new_tokens=args.new,
                                  do_sample=False, pad_token_id=0, eos_token_id=None)
            return out[:, args.prompt:].cpu().numpy()

        def run_tailjax():
            return decoder.generate(prompts.tolist(), args.new, end_ids=[]).tokens

        t0 = time.perf_counter()
        ours = run_tailjax()  # compiles
        compile_s = time.perf_counter() - t0
        theirs = run_hf()
        if not np.array_equal(ours, theirs):
            rows = np.flatnonzero((ours != theirs).any(axis=1))
            print(f"error: tokens differ from transformers in {len(rows)} of {batch} rows "
                  f"(first: row {rows[0]})", file=sys.stderr)
            return 1
        rates = {"hf": [], "tailjax": []}
        for _ in range(args.rounds):
            for name, fn in (("hf", run_hf), ("tailjax", run_tailjax)):
                calls, t0 = 0, time.perf_counter()
                while not calls or time.perf_counter() - t0 < args.min_seconds:
                    fn()
                    calls += 1
                rates[name].append(calls * batch * args.new / (time.perf_counter() - t0))
        hf_rate = statistics.median(rates["hf"])
        our_rate = statistics.median(rates["tailjax"])
        print(f"{batch:>5} {hf_rate:>19,.0f} {our_rate:>14,.0f} {our_rate / hf_rate:>6.1f}x "
              f"{compile_s:>18.1f}", flush=True)
    print("tokens identical to transformers generate(do_sample=False) at every batch size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
