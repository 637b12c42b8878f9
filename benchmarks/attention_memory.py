"""Memory of one attention layer's forward + backward: xla (materialized masks) vs blockwise.

    python benchmarks/attention_memory.py [--lengths 4096 8192 16384] [--dtype float32]

Compiles (ahead of time, nothing is allocated or run) the gradient with respect to q, k and v
of one causal grouped-query attention over a packed row, as the training forward computes it:
`attention.prepare` (the masks, or the windows) and `attention.attend`, with segment ids and,
by default, Qwen2.5-7B's attention shape (28 query heads, 4 kv heads, head_dim 128, batch 1).
Prints XLA's temporary bytes (`compiled.memory_analysis().temp_size_in_bytes`, the buffers the
step needs beyond its inputs and outputs) for both backends side by side, and their ratio.
Compiled for the CPU; another backend's compiler makes other choices, but what either path
keeps (whole [heads, T, T] float32 scores vs blocks of [heads, T, block]) does not change.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from tailjax.model import attention, attention_blockwise
from tailjax.model.qwen2_config import Qwen2Config

GIB = 1 << 30


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[4096, 8192, 16384])
    p.add_argument("--heads", type=int, default=28)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--block", type=int, default=attention_blockwise.BLOCK)
    return p.parse_args(argv)


def temp_bytes(backend: str, args, t: int) -> int:
    """XLA's temporary bytes of d(sum(attention * w))/d(q, k, v) for one layer."""
    cfg = Qwen2Config(vocab_size=8, hidden_size=args.heads * args.head_dim, intermediate_size=8,
                      num_hidden_layers=1, num_attention_heads=args.heads,
                      num_key_value_heads=args.kv_heads, head_dim=args.head_dim,
                      dtype=args.dtype, attention=backend)
    b = args.batch

    def loss(q, k, v, w, segment_ids):
        inputs = attention.prepare(cfg, b, t, segment_ids)
        out = attention.attend(q, k, v, inputs, cfg)
        return jnp.sum(out.astype(jnp.float32) * w)

    q = jax.ShapeDtypeStruct((b, t, args.heads, args.head_dim), args.dtype)
    kv = jax.ShapeDtypeStruct((b, t, args.kv_heads, args.head_dim), args.dtype)
    w = jax.ShapeDtypeStruct(q.shape, jnp.float32)
    seg = jax.ShapeDtypeStruct((b, t), jnp.int32)
    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
    compiled = grad.lower(q, kv, kv, w, seg).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def main(argv=None):
    args = parse_args(argv)
    attention_blockwise.BLOCK = args.block
    print(f"one attention layer, forward + backward (d q, k, v): batch {args.batch}, "
          f"{args.heads} heads / {args.kv_heads} kv heads x {args.head_dim}, {args.dtype}, "
          f"blockwise block {args.block}; XLA temporary bytes, compiled for "
          f"{jax.default_backend()}")
    print(f"{'tokens':>8} {'xla GiB':>10} {'blockwise GiB':>14} {'xla / blockwise':>16}")
    for t in args.lengths:
        xla, blockwise = (temp_bytes(backend, args, t) for backend in ("xla", "blockwise"))
        print(f"{t:>8} {xla / GIB:>10.3f} {blockwise / GIB:>14.3f} {xla / blockwise:>16.1f}")


if __name__ == "__main__":
    main()
