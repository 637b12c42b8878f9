"""Training-step speed: tailjax against transformers + torch, same Qwen2 shape and batch.

    python benchmarks/train_vs_hf.py --batch 32 --seq 512 --dtype float32
    python benchmarks/train_vs_hf.py --batch 128 --seq 128 --dtype bfloat16
    python benchmarks/train_vs_hf.py --device gpu --shape 0.5b --batch 8 --seq 1024 --dtype bfloat16

Both sides run one full optimizer step (forward, backward, AdamW) on random tokens, in one
process, in alternating rounds so that both see the same machine load: per round, each side
runs one untimed step and then --steps timed ones. The untimed step absorbs the switch between
frameworks (on the CPU the first tailjax step after torch's spent seconds in the kernel
re-faulting memory torch had just freed), which a training run, one framework throughout,
never pays. The medians of the timed steps give tokens/s and the ratio.

On the CPU tailjax runs data parallel over one host device per core
(`--xla_force_host_platform_device_count=<cores>`, single-threaded Eigen) with glibc's malloc
on transparent huge pages (`tailjax.malloc.restart_with_huge_pages`), as the demo's training
does; torch, in the same process, gets the same allocator and uses its own intra-op threads
over the same cores. bfloat16 means bf16 compute with float32 master weights on both sides
(torch: autocast).

--device gpu runs both on one GPU (JAX's default device, torch's cuda), float32 meaning true
float32 products on both sides (no TF32).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--rounds", type=int, default=3, help="rounds of steps per side")
    p.add_argument("--steps", type=int, default=2, help="timed steps per side and round")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per side first")
    p.add_argument("--only", choices=("both", "tailjax", "torch"), default="both")
    p.add_argument("--devices", type=int, default=os.cpu_count(),
                   help="host devices for tailjax's data parallelism (default: one per core)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--default-malloc", action="store_true",
                   help="leave glibc malloc at its defaults (to measure what tuning it gives)")
    p.add_argument("--shape", choices=("tiny", "0.5b"), default="tiny",
                   help="tiny: the 2.85M-parameter shape of the issue; 0.5b: Qwen2.5-0.5B's")
    return p.parse_args(argv)


SHAPES = {
    "tiny": dict(vocab_size=128, hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                 num_attention_heads=8, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
                 rope_theta=10000.0, tie_word_embeddings=True, max_position_embeddings=8192),
    "0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, rms_norm_eps=1e-6,
                 rope_theta=1e6, tie_word_embeddings=True, max_position_embeddings=32768),
}


def tailjax_step(args):
    """A zero-argument function running one tailjax training step, blocking until done."""
    import jax
    import numpy as np
    import optax
    from flax import nnx

    from tailjax.host import make_global_batch
    from tailjax.model import sharding
    from tailjax.model.qwen2 import Qwen2, param_shardings
    from tailjax.model.qwen2_config import Qwen2Config
    from tailjax.step import make_train_step, opt_shardings

    shape = SHAPES[args.shape]
    cfg = Qwen2Config(**shape, dtype=args.dtype, param_dtype="float32",
                      scan_layers=args.device == "gpu")
    mesh = sharding.make_mesh({"data": -1})
    model = Qwen2(cfg, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    p_sh = param_shardings(cfg, mesh)
    params = jax.device_put(nnx.to_pure_dict(state), p_sh)
    tx = optax.adamw(1e-4, weight_decay=0.1)
    o_sh = opt_shardings(tx, params, p_sh, mesh)
    opt_state = jax.jit(tx.init, out_shardings=o_sh)(params)
    rng = np.random.default_rng(0)
    ids = rng.integers(2, shape["vocab_size"], (args.batch, args.seq + 1), dtype=np.int32)
    batch = {"inputs": ids[:, :-1], "targets": ids[:, 1:],
             "loss_mask": np.ones((args.batch, args.seq), np.float32),
             "segment_ids": np.ones((args.batch, args.seq), np.int32),
             "positions": np.broadcast_to(np.arange(args.seq, dtype=np.int32),
                                          (args.batch, args.seq)).copy()}
    batch = make_global_batch(batch, sharding.batch_sharding(mesh, 2))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    step = jax.jit(make_train_step(graphdef, tx, 1),
                   in_shardings=(p_sh, o_sh, sharding.batch_sharding(mesh, 2)),
                   out_shardings=(p_sh, o_sh, replicated), donate_argnums=(0, 1))
    state = {"params": params, "opt": opt_state}

    def run():
        with jax.set_mesh(mesh):
            state["params"], state["opt"], metrics = step(state["params"], state["opt"], batch)
        jax.block_until_ready(metrics["loss"])
    return run, len(jax.devices())


def torch_step(args):
    import torch
    import transformers

    torch.manual_seed(0)
    device = "cuda" if args.device == "gpu" else "cpu"
    config = transformers.Qwen2Config(**SHAPES[args.shape], attn_implementation="sdpa")
    model = transformers.Qwen2ForCausalLM(config).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1,
                            foreach=device == "cuda")
    ids = torch.randint(2, SHAPES[args.shape]["vocab_size"], (args.batch, args.seq + 1),
                        device=device)
    inputs, labels = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    bf16 = args.dtype == "bfloat16"

    def run():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                                 labels.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
    return run, torch.get_num_threads()


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == "gpu":
        os.environ.setdefault("JAX_PLATFORMS", "cuda")
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # torch shares the GPU
    else:
        from tailjax.host import use_cpu_devices

        # As `python -m tailjax.train` sets up a CPU run: huge-page malloc (torch, in this
        # process too, gets the same allocator), one single-threaded device per core.
        use_cpu_devices(args.devices, huge_pages=not args.default_malloc)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    tokens = args.batch * args.seq
    sides = {}
    if args.only in ("both", "tailjax"):
        sides["tailjax"] = tailjax_step(args)
    if args.only in ("both", "torch"):
        sides["torch"] = torch_step(args)
    for name, (run, _) in sides.items():
        for _ in range(args.warmup):
            run()
    times = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, (run, _) in sides.items():
            run()  # settles after the other side's step (untimed)
            for _ in range(args.steps):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    import jax
    print(f"{args.shape} shape, batch {args.batch} x {args.seq}, {args.dtype}, "
          f"{jax.devices()[0].device_kind} ({os.cpu_count()} cores), "
          f"{args.rounds} x {args.steps} timed steps each (median)")
    rate = {}
    for name, (_, parallel) in sides.items():
        rate[name] = tokens / statistics.median(times[name])
        unit = "devices" if name == "tailjax" else "threads"
        if args.device == "gpu":
            parallel, unit = 1, "GPU"
        print(f"  {name:8s} {rate[name]:10,.0f} tokens/s   ({statistics.median(times[name]):.3f} "
              f"s/step, {parallel} {unit})")
    if len(rate) == 2:
        print(f"  ratio tailjax / torch = {rate['tailjax'] / rate['torch']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
