"""`python -m tailjax.plan --config FILE --devices N [--chip h100]`: will the training step fit,
and how fast could it be?

Compiles the config's training step ahead of time for a mesh of N virtual CPU devices, from
shapes only (jax.ShapeDtypeStruct; nothing is allocated and no checkpoint is read), and prints
what each device holds: parameters, optimizer state, the batch, and the compiler's temporaries
(activations, gradients, logits). The CPU compiler's buffer assignment stands in for the
accelerator's, so read the figure as an estimate of the same program's footprint. The step is
traced with the model's plain code paths, the ones a GPU or TPU runs (model/speed.py), unless
`--cpu-paths` asks for the CPU's.

Beside the memory it prints the step's work, all of it arithmetic on the config (`Throughput`;
nothing is run or timed): tokens per step, the real (non-padding) share when the config's
tokenizer can be loaded to sample the data, model FLOPs per token and per step (PaLM's count,
`metrics.flops_per_token`), and for a chip named with `--chip` (or `--peak-tflops`) the step
time that 100% and 50% MFU would take; with `--step-seconds` (a step time measured elsewhere)
it prints that step's MFU.

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
# --chip names -> the device kinds of metrics.PEAK_TFLOPS (dense bf16 peak TFLOP/s per chip,
# from the vendors' datasheets: H100/H200 SXM 989, A100 312, TPU v4 275, v5e 197, v5p 459,
# v6e 918).
CHIPS = {"a100": "NVIDIA A100", "h100": "NVIDIA H100", "h200": "NVIDIA H200", "v4": "TPU v4",
         "v5e": "TPU v5e", "v5p": "TPU v5p", "v6e": "TPU v6e"}
# Packed rows are filled to about this share of real tokens (the figure steps_per_epoch uses).
PACKED_FILL = 0.95


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
    remat: str = "none"
    loss_chunk: int = 0
    throughput: "Throughput | None" = None

    def describe(self) -> str:
        loss = (f"loss in chunks of {self.loss_chunk} tokens" if self.loss_chunk
                else "loss on whole logits")
        lines = [
            f"training step on {self.devices} devices, mesh {self.mesh}",
            f"model {_count(self.params)} parameters; batch {self.rows} rows x "
            f"{self.seq_len} tokens in {self.micro_batches} micro-batches; remat {self.remat}; "
            f"{loss}",
            "per device:",
            f"  weights (float32)      {self.weights / GIB:8.2f} GiB",
            f"  optimizer state        {self.optimizer / GIB:8.2f} GiB",
            f"  batch                  {self.batch / GIB:8.2f} GiB",
            f"  temporaries            {self.temporaries / GIB:8.2f} GiB",
            f"  peak                   {self.peak / GIB:8.2f} GiB",
        ]
        if self.throughput is not None:
            lines += self.throughput.describe()
        return "\n".join(lines)


@dataclass
class Throughput:
    """The work of one training step, from the config's shapes (estimates; nothing is timed).

    FLOPs are model FLOPs (PaLM, arXiv 2204.02311 appendix B, as MaxText and the train log's
    MFU count them): 6 N per token for the matmul parameters' forward and backward, plus
    12 L T (heads x head_dim) for attention's scores and weighted values over the row length T.
    They count the real tokens only, and no recomputation: remat adds work the chips do but the
    model does not need.
    """

    devices: int
    rows: int
    seq_len: int
    pack: bool
    matmul_params: int          # N: parameters that take part in a matmul
    layers: int
    attn_width: int             # heads x head_dim
    flops_per_token: float      # model FLOPs per token: 6 N + 12 L T attn_width
    remat: str
    real_fraction: float | None = None  # real (non-padding) tokens / row tokens; None: unknown
    real_source: str = ""       # how real_fraction was found, or why it was not
    mean_sample: float | None = None    # mean tokens of a kept sample, when sampled
    chip: str | None = None     # the --chip name, or "peak" for --peak-tflops
    peak_tflops: float = 0.0    # dense bf16 peak per device
    step_seconds: float = 0.0   # a measured step time (--step-seconds), 0 = none

    @property
    def tokens(self) -> int:
        return self.rows * self.seq_len

    @property
    def real_tokens(self) -> float:
        """Real tokens per step: the estimate when there is one, else every row token."""
        return self.tokens * (self.real_fraction if self.real_fraction is not None else 1.0)

    @property
    def samples_per_step(self) -> float | None:
        if not self.pack:
            return float(self.rows)
        if self.mean_sample:
            return self.real_tokens / self.mean_sample
        return None

    @property
    def flops_per_step(self) -> float:
        return self.flops_per_token * self.real_tokens

    def seconds_at(self, mfu: float) -> float:
        """The step time at this model FLOPs utilization of every device's peak."""
        return self.flops_per_step / (mfu * self.peak_tflops * 1e12 * self.devices)

    def describe(self) -> list[str]:
        layout = (f"packed: rows filled to about {PACKED_FILL:.0%}" if self.pack
                  else "unpacked: one sample per row, the rest padding")
        real = (f"~{self.real_tokens:,.0f} ({self.real_fraction:.0%})"
                if self.real_fraction is not None else "not estimated")
        samples = self.samples_per_step
        n = self.matmul_params
        lines = [
            "throughput (estimates from the shapes; nothing was run):",
            f"  tokens per step        {self.tokens:,} = {self.rows} rows x {self.seq_len} "
            f"({layout})",
            f"  real tokens per step   {real}",
            f"                         ({self.real_source})",
        ]
        if samples is not None:
            mean = f", mean {self.mean_sample:,.0f} tokens each" if self.mean_sample else ""
            lines.append(f"  samples per step       ~{samples:,.0f}{mean}")
        lines += [
            f"  model FLOPs per token  {self.flops_per_token:.4g} = 6 N + 12 L T (heads x "
            "head_dim)",
            f"                         = 6 x {n:,} + 12 x {self.layers} x {self.seq_len} x "
            f"{self.attn_width}",
            "                         (PaLM, arXiv 2204.02311 app. B; MaxText and the train "
            "log's MFU count the same)",
            f"  model FLOPs per step   {self.flops_per_step:.4g} on the "
            f"{'real' if self.real_fraction is not None else 'row'} tokens, "
            f"{self.flops_per_step / self.devices:.4g} per device",
        ]
        if self.remat == "full":
            lines.append("  remat full recomputes every layer's forward: the chips do ~8/6 of "
                         "the model FLOPs, so MFU stays under ~75%")
        if self.peak_tflops:
            name = f"{self.chip} " if self.chip and self.chip != "peak" else ""
            per_device = self.real_tokens / self.devices
            lines += [
                f"  peak                   {name}{self.peak_tflops:g} TFLOP/s per device "
                "(dense bf16)",
                f"  step time              {self.seconds_at(1.0):.3g} s at 100% MFU, "
                f"{self.seconds_at(0.5):.3g} s at 50% MFU "
                f"({per_device / self.seconds_at(0.5):,.0f} real tokens/s per device)"]
            if self.step_seconds:
                mfu = self.seconds_at(1.0) / self.step_seconds
                lines.append(f"  MFU                    {mfu:.1%} for the {self.step_seconds:g} s "
                             "step given (--step-seconds)")
        else:
            lines.append(f"  MFU: name the chip with --chip ({', '.join(CHIPS)}) or "
                         "--peak-tflops")
        return lines


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
    GPU or TPU runs. `Plan.throughput` is left unset (see `throughput`).
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
                rows=rows, seq_len=seq, micro_batches=cfg.train.micro_batches,
                remat=model_cfg.remat, loss_chunk=cfg.train.loss_chunk)


def throughput(cfg, devices: int, chip: str | None = None, peak_tflops: float = 0.0,
               step_seconds: float = 0.0, sample: int = 64) -> Throughput:
    """The step's tokens and model FLOPs (`Throughput`) for cfg on `devices` devices.

    chip: a CHIPS name, whose dense bf16 peak (metrics.PEAK_TFLOPS) gives the MFU figures;
    peak_tflops (per device) overrides it; neither: cfg.train.peak_tflops when set.
    sample: records per (task, split) stream to tokenize with the config's tokenizer for the
    real-token share (0 skips it; a tokenizer that cannot be loaded is reported, not an error).
    Raises ValueError for an unknown chip.
    """
    from tailjax.metrics import PEAK_TFLOPS, flops_per_token, matmul_params
    from tailjax.train_state import model_config

    if chip is not None and chip not in CHIPS:
        raise ValueError(f"unknown chip {chip!r}; choose one of {', '.join(CHIPS)} or give "
                         "--peak-tflops")
    model_cfg, _ = model_config(cfg, allow_missing_init=True)
    peak = peak_tflops or (PEAK_TFLOPS[CHIPS[chip]] if chip else cfg.train.peak_tflops)
    fraction, source, mean = _real_share(cfg, sample)
    return Throughput(
        devices=devices, rows=cfg.train.batch_size, seq_len=cfg.data.max_length,
        pack=cfg.data.pack, matmul_params=matmul_params(model_cfg),
        layers=model_cfg.num_hidden_layers,
        attn_width=model_cfg.num_attention_heads * model_cfg.head_dim,
        flops_per_token=flops_per_token(model_cfg, cfg.data.max_length), remat=model_cfg.remat,
        real_fraction=fraction, real_source=source, mean_sample=mean,
        chip=chip if chip and not peak_tflops else ("peak" if peak else None),
        peak_tflops=peak, step_seconds=step_seconds)


def _real_share(cfg, sample: int) -> tuple[float | None, str, float | None]:
    """(real tokens / row tokens, how it was found, mean tokens of a kept sample).

    Tokenizes the first `sample` records of every (task, split) stream with the config's
    tokenizer; samples longer than data.max_length are left out, as training drops them.
    Packed rows are taken to be PACKED_FILL full; an unpacked row holds one sample.
    """
    import numpy as np

    from tailjax.data.pipeline import Encoder, record_streams
    from tailjax.tokenizer import load_tokenizer

    packed = f"the ~{PACKED_FILL:.0%} packing fill steps_per_epoch assumes"
    if not sample:
        return (PACKED_FILL, packed, None) if cfg.data.pack else (None, "not sampled", None)
    try:
        tokenizer = load_tokenizer(cfg.model.tokenizer)
    except (ValueError, OSError):
        why = f"tokenizer {cfg.model.tokenizer} not loadable here"
        if cfg.data.pack:
            return PACKED_FILL, f"{packed}; samples per row not estimated, {why}", None
        return None, why, None
    encoder = Encoder(tokenizer, cfg.data.max_length)
    means, weights, seen, kept = [], [], 0, 0
    for ds, weight in record_streams(cfg.data):
        lengths = [len(s["inputs"]) for s in map(encoder, ds[: min(sample, len(ds))])
                   if s is not None]
        seen += min(sample, len(ds))
        kept += len(lengths)
        if lengths:
            means.append(float(np.mean(lengths)))
            weights.append(weight)
    if not means:
        return None, f"every sampled record is over {cfg.data.max_length} tokens", None
    mean = float(np.average(means, weights=weights))
    what = (f"{kept} of {seen} sampled records fit, mean {mean:,.0f} tokens by tokenizer "
            f"{cfg.model.tokenizer}")
    if cfg.data.pack:
        return PACKED_FILL, f"{packed}; {what}", mean
    return mean / cfg.data.max_length, what, mean


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
    split = _split_count(spec, sizes)
    itemsize = jnp.dtype(dtype).itemsize
    total = 2 * math.prod(shape) * itemsize  # keys and values
    return KVPlan(layers, batch, max_len, kv_heads, head_dim, str(jnp.dtype(dtype)), sizes,
                  tuple(spec), total, total // split)


@dataclass(frozen=True)
class DecodePlan:
    """What a `Decoder` holds per device for one batch: its weights (compute dtype, the decode
    layout of `decode.decode_mesh`) and the KV cache; with `compiled`, the ahead-of-time
    compiled program's memory per device beside it (bytes: arguments, temporaries, peak)."""

    kv: KVPlan
    dtype: str
    weights_per_device: int
    fsdp_folded: bool
    compiled: dict | None = None

    @property
    def per_device_bytes(self) -> int:
        return self.weights_per_device + self.kv.per_device_bytes

    def describe(self) -> str:
        gib = 1 << 30
        layout = ("fsdp folded into data: weights whole along the rows" if self.fsdp_folded
                  else "weights split as the mesh says")
        lines = [self.kv.describe(),
                 f"weights    {self.weights_per_device / gib:9.2f} GiB per device ({self.dtype}; "
                 f"{layout})",
                 f"planned    {self.per_device_bytes / gib:9.2f} GiB per device (weights + KV "
                 "cache; the decode loop's temporaries are a small fraction of the cache)"]
        if self.compiled:
            c = self.compiled
            lines.append(
                f"compiled   {c['peak'] / gib:9.2f} GiB per device peak (arguments "
                f"{c['arguments'] / gib:.2f}, temporaries {c['temporaries'] / gib:.2f}), "
                f"{c['peak'] / self.per_device_bytes:.3f}x the plan")
            if self.dtype == "bfloat16":
                lines.append("  note: compiled for the CPU, whose matmuls are f32: XLA:CPU keeps "
                             "f32 copies of bf16 weights among the temporaries, which a GPU or "
                             "TPU does not; plan float32 (--dtype float32) to compare like with "
                             "like")
        return "\n".join(lines)


def _split_count(spec, sizes: dict) -> int:
    """How many pieces a PartitionSpec cuts an array into on a mesh of these axis sizes."""
    names = [a for entry in spec if entry is not None
             for a in ((entry,) if isinstance(entry, str) else entry)]
    return math.prod(sizes[a] for a in names)


def plan_decode(cfg, batch: int, max_len: int, mesh_shape: dict, compile: bool = False,
                prompt: int = 512) -> DecodePlan:
    """The decoder's memory per device for `batch` rows of `max_len` cache tokens (prompt
    included) of the model cfg (a Qwen2Config) on a mesh of these axis sizes.

    Weights: in cfg's compute dtype, split over tensor only when `decode.decode_mesh` folds the
    fsdp axis into data (as it does where a device does not report its memory, e.g. when
    planning), else over fsdp and tensor. compile: also lower and compile one generate call of
    `prompt` prompt tokens and max_len - prompt new tokens ahead of time on this process's
    devices (which must number the mesh's size: virtual CPU devices, see `python -m
    tailjax.eval --plan --compile`) and record its memory. Raises ValueError for a bad mesh or
    sizes.
    """
    import jax
    import jax.numpy as jnp
    from jax.sharding import AbstractMesh

    from tailjax.model import sharding
    from tailjax.model.qwen2 import param_specs

    kv = plan_kv_cache(cfg.to_hf(), batch, max_len, mesh_shape, dtype=cfg.compute_dtype)
    sizes = dict(kv.mesh_shape)
    folded = sizes["fsdp"] > 1
    if folded:
        sizes = {"data": sizes["data"] * sizes["fsdp"], "fsdp": 1, "tensor": sizes["tensor"]}
    mesh = AbstractMesh(tuple(sizes.values()), tuple(sizes))
    itemsize = jnp.dtype(cfg.compute_dtype).itemsize
    weights = sum(math.prod(shape) * itemsize
                  // _split_count(sharding.logical_to_spec(axes, shape, mesh), sizes)
                  for shape, axes in jax.tree.leaves(param_specs(cfg),
                                                     is_leaf=sharding.is_shape_axes))
    compiled = None
    if compile:
        compiled = _compile_decode(cfg, batch, max_len, kv.mesh_shape, prompt)
    return DecodePlan(kv, str(jnp.dtype(cfg.compute_dtype)), weights, folded, compiled)


def _compile_decode(cfg, batch: int, max_len: int, mesh_shape: dict, prompt: int) -> dict:
    import jax

    from tailjax.decode import Decoder
    from tailjax.model import sharding
    from tailjax.model.qwen2 import abstract_model

    if not 0 < prompt < max_len:
        raise ValueError(f"the prompt ({prompt} tokens) must be shorter than the cache "
                         f"({max_len} tokens)")
    devices = math.prod(mesh_shape.values())
    if jax.device_count() != devices:
        raise ValueError(f"compiling for a mesh of {devices} devices needs {devices} devices, "
                         f"this process has {jax.device_count()}")
    mesh = sharding.make_mesh(mesh_shape)
    decoder = Decoder(abstract_model(cfg), mesh=mesh, fast_paths=False)
    mem = decoder.lower(batch, prompt, max_len - prompt).compile().memory_analysis()
    return {"arguments": mem.argument_size_in_bytes, "temporaries": mem.temp_size_in_bytes,
            "peak": (mem.argument_size_in_bytes + mem.output_size_in_bytes
                     + mem.temp_size_in_bytes - mem.alias_size_in_bytes)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tailjax.plan", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="training config YAML")
    p.add_argument("--devices", type=int, required=True,
                   help="devices of the target mesh (simulated as virtual CPU devices)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")
    p.add_argument("--chip", choices=sorted(CHIPS),
                   help="accelerator whose dense bf16 peak the MFU figures use")
    p.add_argument("--peak-tflops", type=float, default=0.0,
                   help="dense peak TFLOP/s per device instead of --chip's")
    p.add_argument("--step-seconds", type=float, default=0.0,
                   help="a measured step time: print its MFU")
    p.add_argument("--sample", type=int, default=64,
                   help="records per task and split to tokenize for the real-token share "
                        "(0: skip)")
    p.add_argument("--cpu-paths", action="store_true",
                   help="plan the CPU fast paths (what a CPU run compiles) instead of the "
                        "plain paths of GPUs and TPUs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.devices < 1:
            raise ValueError(f"--devices must be at least 1, got {args.devices}")
        if args.peak_tflops < 0 or args.step_seconds < 0 or args.sample < 0:
            raise ValueError("--peak-tflops, --step-seconds and --sample cannot be negative")
        # Virtual CPU devices stand in for the accelerators; set before JAX starts its backend.
        os.environ["JAX_PLATFORMS"] = "cpu"
        flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                         if "xla_force_host_platform_device_count" not in f)
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={args.devices}"
        from tailjax.config import load_config

        cfg = load_config(args.config, args.set)
        result = plan(cfg, cpu_paths=args.cpu_paths)
        result.throughput = throughput(cfg, result.devices, args.chip, args.peak_tflops,
                                       args.step_seconds, args.sample)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(result.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
