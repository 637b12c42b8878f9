"""`python -m tailjax.plan --config FILE --devices N`: will the training step fit?

Compiles the config's training step ahead of time for a mesh of N virtual CPU devices, from
shapes only (jax.ShapeDtypeStruct; nothing is allocated and no checkpoint is read), and prints
what each device holds: parameters, optimizer state, the batch, and the compiler's temporaries
(activations, gradients, logits). The CPU compiler's buffer assignment stands in for the
accelerator's, so read the figure as an estimate of the same program's footprint. The step is
traced with the model's plain code paths, the ones a GPU or TPU runs (model/speed.py), unless
`--cpu-paths` asks for the CPU's.

`plan_kv_cache` sizes the decoder's KV cache per device, from shapes only too (what `python -m
tailjax.eval --plan` prints).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from typing import Sequence

GIB = 1024 ** 3


@dataclass
class Plan:
    devices: int
    mesh: dict
    params: int               # parameter count
    weights: float            # bytes per device
    optimizer: float
    batch: float
    temporaries: float
    peak: float               # arguments + temporaries + outputs not aliased to inputs
    rows: int
    seq_len: int
    micro_batches: int

    def describe(self) -> str:
        return "\n".join([
            f"training step on {self.devices} devices, mesh {self.mesh}",
            f"model {_count(self.params)} parameters; batch {self.rows} rows x "
            f"{self.seq_len} tokens in {self.micro_batches} micro-batches",
            "per device:",
            f"  weights (float32)      {self.weights / GIB:8.2f} GiB",
            f"  optimizer state        {self.optimizer / GIB:8.2f} GiB",
            f"  batch                  {self.batch / GIB:8.2f} GiB",
            f"  temporaries            {self.temporaries / GIB:8.2f} GiB",
            f"  peak                   {self.peak / GIB:8.2f} GiB",
        ])


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M"


def _per_device_bytes(tree) -> float:
    import jax
    import numpy as np

    total = 0.0
    for leaf in jax.tree.leaves(tree):
        shard = leaf.sharding.shard_shape(leaf.shape)
        total += float(np.prod(shard)) * np.dtype(leaf.dtype).itemsize
    return total


def plan(cfg, cpu_paths: bool = False) -> Plan:
    """Lower and compile cfg's training step for the current devices; the memory it needs.

    cpu_paths: trace the model's CPU fast paths (model/speed.py) rather than the plain ones a
    GPU or TPU runs.
    """
    import jax
    import jax.numpy as jnp

    from tailjax.model import count_params, sharding
    from tailjax.model.speed import use_fast_paths
    from tailjax.step import make_optimizer
    from tailjax.train_state import jit_train_step, layout, model_config

    model_cfg, _ = model_config(cfg, allow_missing_init=True)
    mesh = sharding.make_mesh(cfg.mesh.shape)
    steps = cfg.train.steps or 1000
    tx, _ = make_optimizer(cfg.train, steps)
    where = layout(model_cfg, tx, mesh)
    params, opt_state = where.params, where.opt_state
    rows, seq = cfg.train.batch_size, cfg.data.max_length
    batch = {k: jax.ShapeDtypeStruct((rows, seq), jnp.float32 if k == "loss_mask" else jnp.int32,
                                     sharding=where.batch)
             for k in ("inputs", "targets", "loss_mask", "segment_ids", "positions")}
    step = jit_train_step(where, tx, cfg.train.micro_batches, cfg.train.loss_chunk)
    with jax.set_mesh(mesh), use_fast_paths(cpu_paths):
        compiled = step.lower(params, opt_state, batch).compile()
    mem = compiled.memory_analysis()
    weights, optimizer, batch_bytes = (_per_device_bytes(t) for t in (params, opt_state, batch))
    peak = (mem.argument_size_in_bytes + mem.temp_size_in_bytes + mem.output_size_in_bytes
            - mem.alias_size_in_bytes)
    return Plan(devices=len(jax.devices()), mesh=dict(mesh.shape),
                params=count_params(model_cfg), weights=weights, optimizer=optimizer,
                batch=batch_bytes, temporaries=float(mem.temp_size_in_bytes), peak=float(peak),
                rows=rows, seq_len=seq, micro_batches=cfg.train.micro_batches)


# ---- decoding: the KV cache ---------------------------------------------------------------------

@dataclass(frozen=True)
class KVPlan:
    """The KV cache `Decoder` allocates for one batch, and its share on each device."""

    layers: int
    batch: int
    max_len: int
    kv_heads: int
    head_dim: int
    dtype: str
    mesh_shape: dict
    spec: tuple
    total_bytes: int
    per_device_bytes: int

    def describe(self) -> str:
        gib = 1 << 30
        mesh = " x ".join(f"{k}={v}" for k, v in self.mesh_shape.items())
        return "\n".join([
            f"KV cache: {self.layers} layers x (k, v) x [batch {self.batch}, tokens "
            f"{self.max_len}, kv heads {self.kv_heads}, head dim {self.head_dim}] {self.dtype}",
            f"  total      {self.total_bytes / gib:9.2f} GiB ({self.total_bytes} bytes)",
            f"  mesh       {mesh} ({math.prod(self.mesh_shape.values())} devices); k and v "
            f"[layers, batch, kv heads, tokens, head dim] (k: head dim before tokens) are each "
            f"split as {self.spec}",
            f"  per device {self.per_device_bytes / gib:9.2f} GiB ({self.per_device_bytes} bytes)",
        ] + ([f"  note: mesh axes {', '.join(self.unused_axes)} do not split the cache (they "
              "divide neither the batch nor the kv heads), so it is replicated along them"]
             if self.unused_axes else []))

    @property
    def unused_axes(self) -> list[str]:
        used = {a for e in self.spec if e is not None for a in ((e,) if isinstance(e, str) else e)}
        return [a for a, n in self.mesh_shape.items() if n > 1 and a not in used]


def plan_kv_cache(arch: dict, batch: int, max_len: int, mesh_shape: dict,
                  dtype: str = "bfloat16") -> KVPlan:
    """Size of the KV cache for an HF-style architecture dict on a mesh of the given axis sizes.

    The split per device follows the model's sharding rules (batch over the data axes, kv heads
    over tensor when they divide), so the plan is what `Decoder` would allocate.
    """
    import jax
    import jax.numpy as jnp
    from jax.sharding import AbstractMesh

    from tailjax.model import sharding
    from tailjax.model.cache_attention import cache_shapes
    from tailjax.model.qwen2 import CACHE_AXES

    if batch < 1 or max_len < 1:
        raise ValueError(f"batch and tokens must be positive, got {batch} and {max_len}")
    sizes = {a: int(mesh_shape.get(a, 1)) for a in sharding.MESH_AXES}
    unknown = set(mesh_shape) - set(sharding.MESH_AXES)
    if unknown:
        raise ValueError(f"unknown mesh axes {sorted(unknown)}; use "
                         f"{', '.join(sharding.MESH_AXES)}")
    if -1 in sizes.values():
        rest = math.prod(s for s in sizes.values() if s != -1)
        devices = jax.device_count()
        if devices % rest:
            raise ValueError(f"mesh {mesh_shape} does not fit {devices} devices")
        sizes = {a: devices // rest if s == -1 else s for a, s in sizes.items()}
    if any(s < 1 for s in sizes.values()):
        raise ValueError(f"mesh axis sizes must be positive, got {mesh_shape}")
    mesh = AbstractMesh(tuple(sizes.values()), tuple(sizes))
    layers = arch["num_hidden_layers"]
    kv_heads = arch["num_key_value_heads"]
    head_dim = arch.get("head_dim") or arch["hidden_size"] // arch["num_attention_heads"]
    # Keys and values differ only in the order of two unsplit axes, so the values' spec says it.
    shape = cache_shapes(layers, batch, max_len, kv_heads, head_dim)["v"]
    spec = sharding.logical_to_spec(CACHE_AXES["v"], shape, mesh)
    split = 1
    for entry in spec:
        for axis in (() if entry is None else (entry,) if isinstance(entry, str) else entry):
            split *= sizes[axis]
    itemsize = jnp.dtype(dtype).itemsize
    total = 2 * math.prod(shape) * itemsize  # keys and values
    return KVPlan(layers, batch, max_len, kv_heads, head_dim, str(jnp.dtype(dtype)), sizes,
                  tuple(spec), total, total // split)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tailjax.plan", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="training config YAML")
    p.add_argument("--devices", type=int, required=True,
                   help="devices of the target mesh (simulated as virtual CPU devices)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")
    p.add_argument("--cpu-paths", action="store_true",
                   help="plan the CPU fast paths (what a CPU run compiles) instead of the "
                        "plain paths of GPUs and TPUs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.devices < 1:
            raise ValueError(f"--devices must be at least 1, got {args.devices}")
        # Virtual CPU devices stand in for the accelerators; set before JAX starts its backend.
        os.environ["JAX_PLATFORMS"] = "cpu"
        flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                         if "xla_force_host_platform_device_count" not in f)
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={args.devices}"
        from tailjax.config import load_config

        result = plan(load_config(args.config, args.set), cpu_paths=args.cpu_paths)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(result.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
