"""Greedy decoding speed of one shape on JAX's default device: compile time, tokens/s, and the
fraction of the memory-bandwidth roofline.

    python benchmarks/decode_speed.py --shape qwen2.5-0.5b --batch 1 --new 8192      # a GPU
    python benchmarks/decode_speed.py --shape tiny --batch 8 --new 512 --dtype float32  # a CPU

Random weights (`tailjax.model.create`) in --dtype and random prompts of --prompt tokens, no end
token, so every row decodes exactly --new tokens. The first `Decoder.generate` call compiles
and runs, the next --repeats only run: compile seconds = the first call's time less the median
of the others, tokens/s = rows x new tokens / that median.

Roofline: a decode step reads every weight once and the KV cache written so far, so at the
device's peak memory bandwidth (`metrics.PEAK_TBPS`) a step takes at least (weight bytes + rows
x mean slots read x cache bytes per slot) / bandwidth, mean slots = prompt + new / 2. The
printed fraction is the measured tokens/s over that bound (0 where the device is not in the
table). With --out, appends one JSON record per run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", default="qwen2.5-0.5b", help="a model preset (tailjax PRESETS)")
    p.add_argument("--batch", type=int, default=1, help="rows decoded together")
    p.add_argument("--prompt", type=int, default=64, help="prompt tokens per row")
    p.add_argument("--new", type=int, default=8192, help="new tokens per row")
    p.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    p.add_argument("--repeats", type=int, default=2, help="timed calls after the first")
    p.add_argument("--out", help="append a JSON record to this file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import jax
    import numpy as np

    from tailjax.decode import Decoder
    from tailjax.metrics import device_peak_tbps
    from tailjax.model import count_params, create, preset

    cfg = preset(args.shape).replace(dtype=args.dtype, param_dtype=args.dtype)
    decoder = Decoder(create(cfg, seed=0))
    prompts = np.random.default_rng(0).integers(2, cfg.vocab_size, (args.batch, args.prompt))
    prompts = prompts.tolist()
    seconds = []
    for _ in range(1 + args.repeats):
        start = time.perf_counter()
        out = decoder.generate(prompts, args.new, end_ids=[])
        seconds.append(time.perf_counter() - start)
        assert int(out.lengths.min()) == args.new  # no end token: every row ran to the budget
    run = statistics.median(seconds[1:])
    tokens_per_s = args.batch * args.new / run
    itemsize = np.dtype(jax.numpy.dtype(args.dtype)).itemsize
    slot_bytes = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim * itemsize
    step_bytes = (count_params(cfg) * itemsize
                  + args.batch * (args.prompt + args.new / 2) * slot_bytes)
    device = jax.devices()[0]
    bandwidth = device_peak_tbps(device.device_kind) * 1e12
    roofline = args.batch * bandwidth / step_bytes if bandwidth else 0.0
    record = {"shape": args.shape, "dtype": args.dtype, "batch": args.batch,
              "prompt": args.prompt, "new": args.new, "device": device.device_kind,
              "compile_s": round(seconds[0] - run, 2), "run_s": round(run, 3),
              "tokens_per_s": round(tokens_per_s, 1),
              "roofline_tokens_per_s": round(roofline, 1),
              "roofline_fraction": round(tokens_per_s / roofline, 3) if roofline else None}
    print(f"decode {args.shape} {args.dtype} on {device.device_kind}: batch {args.batch} x "
          f"{args.new} new tokens: compile {record['compile_s']} s, {tokens_per_s:,.0f} "
          f"tokens/s" + (f", {record['roofline_fraction']:.1%} of the bandwidth roofline "
                         f"({roofline:,.0f} tokens/s)" if roofline else ""))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
