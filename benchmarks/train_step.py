"""One training step of a Qwen2 shape on packed rows: tokens/s, MFU and peak device memory.

    python benchmarks/train_step.py --preset tiny --seq 256 --steps 3          # CPU, seconds
    python benchmarks/train_step.py --preset 0.5b --seq 4096 --batch 8 --dtype bfloat16 \\
        --remat full --loss-chunk 512 --out results/train_step.jsonl          # a GPU or TPU

The step is the one `python -m tailjax.train` runs (`tailjax.step.make_train_step`: the
micro-batched loss, AdamW on float32 master weights, the model in --dtype; here without
gradient clipping or a learning-rate schedule, which cost next to nothing), on random weights
and random tokens packed like the data pipeline's rows: samples of random lengths (mean
--mean-sample tokens, the ~860 Qwen2.5 tokens of a TAIL S trace) back to back, positions
restarting per sample, the row's tail padding (segment 0). It compiles once, runs --warmup
untimed steps, then --steps timed ones, and reports the median:

- tokens/s: row tokens and real (non-padding) tokens per second;
- MFU: model FLOPs of the real tokens (`tailjax.metrics.flops_per_token`, 6 N + 12 L T heads x
  head_dim, PaLM appendix B) per second over the devices' dense bf16 peak (--peak-tflops, else
  `metrics.PEAK_TFLOPS` by device kind; none on a CPU);
- memory: the device's peak_bytes_in_use (`Device.memory_stats()`; GPUs and TPUs, none on a
  CPU) and the compiled step's temporaries (`memory_analysis()`, any backend).

Every run appends one JSON record to --out (when given) and prints one summary line. Nothing
here needs an accelerator: without one it runs on the CPU devices.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="tiny",
                   help="model shape (tailjax.model.qwen2_config.PRESETS: tiny, 0.5b, 1.5b, ...)")
    p.add_argument("--batch", type=int, default=0,
                   help="rows per step (default: one per device)")
    p.add_argument("--seq", type=int, default=4096, help="tokens per row")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="bfloat16")
    p.add_argument("--remat", default="full", help="model.remat policy")
    p.add_argument("--loss-chunk", type=int, default=512,
                   help="train.loss_chunk (0: the loss on whole logits)")
    p.add_argument("--micro-batches", type=int, default=1)
    p.add_argument("--mean-sample", type=int, default=860,
                   help="mean tokens of a packed sample")
    p.add_argument("--steps", type=int, default=5, help="timed steps")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps after the compile")
    p.add_argument("--peak-tflops", type=float, default=0.0,
                   help="dense peak TFLOP/s per device for the MFU (default: by device kind)")
    p.add_argument("--out", help="append the result as one JSON line to this file")
    return p.parse_args(argv)


def packed_rows(rows: int, seq: int, vocab: int, mean: int, seed: int = 0) -> dict:
    """A batch like the data pipeline's packed one ({inputs, targets, loss_mask, segment_ids,
    positions}, [rows, seq]): samples of 1 + exponential(mean) tokens, first fit in row order,
    the loss on every sample token."""
    import numpy as np

    rng = np.random.default_rng(seed)
    batch = {k: np.zeros((rows, seq), np.float32 if k == "loss_mask" else np.int32)
             for k in ("inputs", "targets", "loss_mask", "segment_ids", "positions")}
    for r in range(rows):
        start, segment = 0, 1
        while True:
            n = min(1 + int(rng.exponential(mean)), seq)
            if start + n > seq:
                break
            ids = rng.integers(2, vocab, n + 1, dtype=np.int32)
            span = slice(start, start + n)
            batch["inputs"][r, span], batch["targets"][r, span] = ids[:-1], ids[1:]
            batch["loss_mask"][r, span] = 1.0
            batch["segment_ids"][r, span] = segment
            batch["positions"][r, span] = np.arange(n)
            start, segment = start + n, segment + 1
    return batch


def run(args) -> dict:
    import jax
    import numpy as np
    import optax

    from tailjax.host import make_global_batch
    from tailjax.metrics import device_peak_tflops, flops_per_token
    from tailjax.model import count_params, create, params_of, preset, sharding
    from tailjax.train_state import jit_train_step, layout

    devices = jax.device_count()
    rows = args.batch or devices
    cfg = preset(args.preset, dtype=args.dtype, param_dtype="float32", remat=args.remat)
    mesh = sharding.make_mesh({"fsdp": -1})
    tx = optax.adamw(1e-5, weight_decay=0.1)
    where = layout(cfg, tx, mesh)
    params = params_of(create(cfg, 0, mesh))
    opt_state = jax.jit(tx.init, out_shardings=where.opt_shardings)(params)
    host = packed_rows(rows, args.seq, cfg.vocab_size, args.mean_sample)
    batch = make_global_batch(host, where.batch)
    step = jit_train_step(where, tx, args.micro_batches, args.loss_chunk)
    with jax.set_mesh(mesh):
        start = time.perf_counter()
        compiled = step.lower(params, opt_state, batch).compile()
        compile_s = time.perf_counter() - start
        times = []
        for i in range(args.warmup + args.steps):
            start = time.perf_counter()
            params, opt_state, metrics = compiled(params, opt_state, batch)
            loss = float(jax.device_get(metrics["loss"]))
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    tokens = rows * args.seq
    real = int(np.sum(host["segment_ids"] > 0))
    kind = jax.devices()[0].device_kind
    peak = args.peak_tflops or device_peak_tflops(kind)
    model_flops = flops_per_token(cfg, args.seq) * real
    stats = jax.devices()[0].memory_stats() or {}
    mem = compiled.memory_analysis()
    return {
        "preset": args.preset, "params": count_params(cfg), "device_kind": kind,
        "devices": devices, "rows": rows, "seq": args.seq, "dtype": args.dtype,
        "remat": args.remat, "loss_chunk": args.loss_chunk, "micro_batches": args.micro_batches,
        "compile_s": round(compile_s, 2), "step_s": seconds, "steps": len(times),
        "loss": loss, "tokens_per_s": tokens / seconds, "real_tokens_per_s": real / seconds,
        "real_fraction": real / tokens, "model_tflops_per_s": model_flops / seconds / 1e12,
        "peak_tflops_per_device": peak or None,
        "mfu": model_flops / seconds / (peak * 1e12 * devices) if peak else None,
        "peak_bytes_in_use": stats.get("peak_bytes_in_use"),
        "bytes_limit": stats.get("bytes_limit"),
        "compiled_temp_bytes": mem.temp_size_in_bytes if mem is not None else None,
    }


def summary(r: dict) -> str:
    gib = 1 << 30
    mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a (no peak known)"
    peak = (f"{r['peak_bytes_in_use'] / gib:.2f} GiB" if r["peak_bytes_in_use"] is not None
            else "n/a (backend keeps no memory stats)")
    temp = (f"{r['compiled_temp_bytes'] / gib:.2f} GiB" if r["compiled_temp_bytes"] is not None
            else "n/a")
    return (f"{r['preset']} ({r['params'] / 1e6:,.1f}M) {r['rows']} x {r['seq']} {r['dtype']} "
            f"remat {r['remat']} loss_chunk {r['loss_chunk']} on {r['devices']} x "
            f"{r['device_kind']}: {r['step_s']:.3f} s/step (median of {r['steps']}), "
            f"{r['tokens_per_s']:,.0f} tokens/s ({r['real_tokens_per_s']:,.0f} real, "
            f"{r['real_fraction']:.0%}), MFU {mfu}, peak memory {peak}, compiled temporaries "
            f"{temp}, compile {r['compile_s']:.1f} s, loss {r['loss']:.3f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.steps < 1 or args.seq < 2 or args.batch < 0:
        print("error: --steps must be >= 1, --seq >= 2 and --batch >= 0", file=sys.stderr)
        return 2
    try:
        result = run(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(result))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
