"""`python -m tailjax.plan --config FILE --devices N`: will the training step fit?

Compiles the config's training step ahead of time for a mesh of N virtual CPU devices, from
shapes only (jax.ShapeDtypeStruct; nothing is allocated and no checkpoint is read), and prints
what each device holds: parameters, optimizer state, the batch, and the compiler's temporaries
(activations, gradients, logits). The CPU compiler's buffer assignment stands in for the
accelerator's, so read the figure as an estimate of the same program's footprint.
"""

from __future__ import annotations

import argparse
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


def plan(cfg) -> Plan:
    """Lower and compile cfg's training step for the current devices; the memory it needs."""
    import jax
    import jax.numpy as jnp

    from tailjax import train as train_lib
    from tailjax.model import count_params, sharding

    model_cfg, _ = train_lib.model_config(cfg, allow_missing_init=True)
    mesh = sharding.make_mesh(cfg.mesh.shape)
    steps = cfg.train.steps or 1000
    tx, _ = train_lib.make_optimizer(cfg.train, steps)
    graphdef, abstract = train_lib.split_model(model_cfg)
    p_sh = sharding.param_shardings(model_cfg, mesh)
    o_sh = train_lib.opt_shardings(tx, abstract, p_sh, mesh)
    params = train_lib._abstract(abstract, p_sh)
    opt_state = train_lib._abstract(jax.eval_shape(tx.init, abstract), o_sh)
    rows, seq = cfg.train.batch_size, cfg.data.max_length
    b_sh = sharding.batch_sharding(mesh, 2)
    batch = {k: jax.ShapeDtypeStruct((rows, seq), jnp.float32 if k == "loss_mask" else jnp.int32,
                                     sharding=b_sh)
             for k in ("inputs", "targets", "loss_mask", "segment_ids", "positions")}
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    step = jax.jit(train_lib.make_train_step(graphdef, tx, cfg.train.micro_batches),
                   in_shardings=(p_sh, o_sh, b_sh), out_shardings=(p_sh, o_sh, replicated),
                   donate_argnums=(0, 1))
    with jax.set_mesh(mesh):
        compiled = step.lower(params, opt_state, batch).compile()
    mem = compiled.memory_analysis()
    weights, optimizer, batch_bytes = (_per_device_bytes(t) for t in (params, opt_state, batch))
    peak = (mem.argument_size_in_bytes + mem.temp_size_in_bytes + mem.output_size_in_bytes
            - mem.alias_size_in_bytes)
    return Plan(devices=len(jax.devices()), mesh=dict(mesh.shape),
                params=count_params(model_cfg), weights=weights, optimizer=optimizer,
                batch=batch_bytes, temporaries=float(mem.temp_size_in_bytes), peak=float(peak),
                rows=rows, seq_len=seq, micro_batches=cfg.train.micro_batches)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tailjax.plan", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="training config YAML")
    p.add_argument("--devices", type=int, required=True,
                   help="devices of the target mesh (simulated as virtual CPU devices)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")
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

        result = plan(load_config(args.config, args.set))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(result.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
