"""The training forward's attention: one entry point, a backend per platform.

    inputs = prepare(cfg, batch, seq_len, segment_ids, prompt_mask)   # once per forward
    out = attend(q, k, v, inputs, cfg, sliding)                      # in every layer

q [b, t, heads, hd], k and v [b, t, kv_heads, hd] (query head h reads kv head h // group, as
transformers' repeat_kv does), out [b, t, heads, hd] in q's dtype. What a query sees, on every
backend: keys at or before it (causal), in its own segment (segment_ids [b, t]; 0 marks padding,
which no query sees), within transformers' sliding window on sliding layers (`sliding`), and for
hybrid's local kv heads within `local_window` tokens (`prompt_window` at `prompt_mask`'s
tokens). Windows count slots (q - k < window); within a segment slots and positions differ by a
constant. A padding query's output is unspecified (finite; no loss reads it).

Backends (`Qwen2Config.attention`, the config's `model.attention`):
  xla        kernels.attention over materialized [b, (kv,) t, t] masks (the readable path; float32
             scores of a whole row per layer are kept for the backward pass).
  blockwise  model/attention_blockwise.py: FlashAttention-2 in plain JAX with a custom VJP;
             saves the output and the log-sum-exp only, so memory grows as t x block. Any
             platform; every feature above.
  splash     TPU: jax's Pallas splash attention (model/attention_splash.py). Not hybrid's
             prompt_window.
  cudnn      GPU: cuDNN flash attention via jax.nn.dot_product_attention (model/attention_gpu.py)
             for rows of one sequence then padding (`Qwen2Config.packed_rows` false: data.pack
             false); bfloat16/float16; not hybrid.
  pallas_gpu GPU: jax's Pallas GPU flash attention with segment ids, for packed rows; no windows.
  auto       `choose_backend`: a fused kernel of the platform (TPU splash; GPU cudnn for rows of
             one sequence, pallas_gpu for packed rows) for bfloat16/float16 compute when it can
             express the config; else xla up to XLA_MAX_TOKENS tokens per row, blockwise above.

A backend asked for by name that cannot compute the config raises ValueError naming the
feature and the fix; `auto` never picks such a backend. Fused kernels run per shard (`jax.shard_map`) under
a mesh, since XLA cannot split a Pallas call; off their platform splash and pallas_gpu run in
the Pallas interpreter (what the CPU tests use). splash, cudnn and pallas_gpu were tested only
that way on the CPU (cudnn up to the call it hands over), never on a TPU or GPU here.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import PartitionSpec

from tailjax.model import attention_blockwise, attention_gpu, attention_splash
from tailjax.model.kernels import attention as materialized_attention
from tailjax.model.sharding import logical_to_spec

# auto, off a fused kernel: materialized masks up to this many tokens per row (the CPU demo's 512
# among them), blockwise above. On this 2-core CPU (4 heads x 32, float32, forward + backward of
# 2048 tokens) xla took 0.12-0.14 s at 1024-token rows against blockwise's 0.14-0.18 s, and
# 0.25-0.26 s at 2048 against 0.16-0.19 s; blockwise's memory is smaller at every length.
XLA_MAX_TOKENS = 1024
GPU_PLATFORMS = ("gpu", "cuda")


class AttentionInputs(NamedTuple):
    """What every layer's attention needs, built once per forward by `prepare`."""

    backend: str                   # one of qwen2_config.ATTENTION_BACKENDS but auto
    platform: str                  # where it runs: fused kernels elsewhere are interpreted
    segment_ids: jax.Array | None  # [b, t]
    masks: tuple | None            # xla: (full, sliding) bool [b, (kv,) t, t]; sliding None if
                                   # no layer slides
    windows: tuple | None          # blockwise: (full, sliding) int [b, kv, t] or None each


def prepare(cfg, batch: int, seq_len: int, segment_ids=None, prompt_mask=None,
            platform: str | None = None) -> AttentionInputs:
    """Choose the backend (`choose_backend`) and build what it needs: masks for xla, windows
    for blockwise, nothing for the fused kernels. platform: default jax.default_backend()."""
    platform = platform or jax.default_backend()
    prompt_windowed = prompt_mask is not None and bool(cfg.prompt_window)
    backend = choose_backend(platform, cfg, seq_len, segmented=segment_ids is not None,
                             prompt_windowed=prompt_windowed)
    masks = windows = None
    if backend == "xla":
        masks = training_masks(batch, seq_len, segment_ids, cfg, prompt_mask)
    elif backend == "blockwise":
        windows = query_windows(cfg, batch, seq_len, prompt_mask)
    return AttentionInputs(backend, platform, segment_ids, masks, windows)


def attend(q: jax.Array, k: jax.Array, v: jax.Array, inputs: AttentionInputs, cfg,
           sliding=False) -> jax.Array:
    """Causal grouped-query self-attention of one layer by inputs.backend (see the module
    docstring). sliding: whether this layer uses transformers' sliding window (a Python bool,
    or a traced bool scalar under lax.scan; `layer_slides` gives it)."""
    if inputs.backend == "xla":
        full, slid = inputs.masks
        return materialized_attention(q, k, v, pick(sliding, slid, full))
    if inputs.backend == "blockwise":
        full, slid = inputs.windows
        if full is None and slid is not None and not isinstance(sliding, bool):
            full = jnp.int32(attention_blockwise.NO_WINDOW)  # where(sliding, ...) needs both
        return attention_blockwise.attention(q, k, v, inputs.segment_ids,
                                             pick(sliding, slid, full))
    if isinstance(sliding, bool):
        return _fused(q, k, v, inputs, cfg, sliding)
    return lax.cond(sliding, lambda: _fused(q, k, v, inputs, cfg, True),
                    lambda: _fused(q, k, v, inputs, cfg, False))


def layer_slides(cfg, layer):
    """Whether `layer` (an int, or a traced index under lax.scan) uses the sliding window: a
    Python bool unless the layers differ and the index is traced."""
    flags = cfg.sliding_layers
    if not any(flags) or all(flags):
        return bool(flags[0])
    return flags[layer] if isinstance(layer, int) else jnp.asarray(flags)[layer]


def pick(sliding, if_sliding, otherwise):
    """if_sliding where the layer slides (`layer_slides`: a bool, or a traced bool), else
    otherwise; otherwise when if_sliding is None (no layer slides)."""
    if if_sliding is None or sliding is False:
        return otherwise
    return if_sliding if sliding is True else jnp.where(sliding, if_sliding, otherwise)


# ---- choosing a backend -------------------------------------------------------------------------

def unsupported(backend: str, cfg, *, segmented: bool = False,
                prompt_windowed: bool = False) -> str | None:
    """Why `backend` cannot compute cfg's attention (with the fix), or None when it can.

    segmented: segment ids are given. prompt_windowed: hybrid's prompt_window applies (a
    prompt_mask is given).
    """
    hybrid = cfg.position_encoding == "hybrid"
    if backend == "cudnn" and segmented and cfg.packed_rows:
        return ("cuDNN takes rows of one sequence (lengths, no segment ids) and rows may be "
                "packed; set data.pack false (Qwen2Config.packed_rows), or use pallas_gpu")
    if backend == "splash" and prompt_windowed:
        return ("hybrid's prompt_window depends on each row's prompt, which splash's static "
                "masks cannot express; use blockwise (or auto)")
    if backend == "cudnn" and cfg.compute_dtype == jnp.float32:
        return ("cuDNN flash attention takes bfloat16 or float16 only; set model.dtype "
                "bfloat16, or use blockwise")
    if backend == "cudnn" and hybrid:
        return ("cuDNN takes one window for all heads, and hybrid's local and global heads "
                "need two; use blockwise (or auto)")
    if backend == "pallas_gpu" and (hybrid or any(cfg.sliding_layers)):
        return ("Pallas GPU attention has no window (sliding window, hybrid's local heads); "
                "use blockwise (or auto)")
    return None


def choose_backend(platform: str, cfg, seq_len: int, *, segmented: bool,
                   prompt_windowed: bool = False) -> str:
    """The backend for cfg.attention on `platform` (jax.default_backend()'s name) and rows of
    `seq_len` tokens; a pure function of its arguments.

    segmented: segment ids are given (packed rows unless cfg.packed_rows is false).
    prompt_windowed: see `unsupported`.
    Raises ValueError (one line: the backend, the feature, the fix) when a backend named in the
    config cannot compute it.
    """
    if cfg.attention != "auto":
        reason = unsupported(cfg.attention, cfg, segmented=segmented,
                             prompt_windowed=prompt_windowed)
        if reason:
            raise ValueError(f"model.attention {cfg.attention}: {reason}")
        return cfg.attention
    fused = None
    if platform == "tpu":
        fused = "splash"
    elif platform in GPU_PLATFORMS:
        fused = "pallas_gpu" if segmented and cfg.packed_rows else "cudnn"
    # float32 compute stays on XLA, whose matmuls ask for float32 products (kernels.
    # precision_for); the fused kernels leave the precision at the device's default.
    if fused and cfg.compute_dtype != jnp.float32 and not unsupported(
            fused, cfg, segmented=segmented, prompt_windowed=prompt_windowed):
        return fused
    return "xla" if seq_len <= XLA_MAX_TOKENS else "blockwise"


# ---- what a query sees: materialized masks (xla, the KV cache) and windows (blockwise) ---------

def training_masks(b, t, segment_ids, cfg, prompt_mask=None):
    """(full, sliding) [b, t, t] masks: causal, within one segment, padding (segment 0) masked;
    [b, kv_heads, t, t] for hybrid (`per_head`); sliding is None when no layer slides."""
    idx = jnp.arange(t)
    full = jnp.broadcast_to(idx[None, :] <= idx[:, None], (b, t, t))
    if segment_ids is not None:
        seg = segment_ids
        full = full & (seg[:, :, None] == seg[:, None, :]) & (seg[:, None, :] != 0)
    return (per_head(full, idx, idx, cfg, prompt_mask),
            per_head(windowed(full, idx, idx, cfg), idx, idx, cfg, prompt_mask))


def per_head(mask, q_idx, k_idx, cfg, prompt_mask=None):
    """mask [b, t, s] -> [b, kv_heads, t, s] with hybrid's local heads limited to their window
    (query slot - key slot < local_window, or prompt_window at prompt_mask's queries; within a
    row, slots and positions differ by a constant). Other encodings keep one mask for all
    heads."""
    if mask is None or cfg.position_encoding != "hybrid":
        return mask
    window = jnp.full(mask.shape[:2], cfg.local_window)
    if prompt_mask is not None and cfg.prompt_window:
        window = jnp.where(prompt_mask, cfg.prompt_window, window)
    near = (q_idx[:, None] - k_idx[None, :])[None] < window[:, :, None]   # [b, t, s]
    local = jnp.asarray(cfg.local_kv_heads)[None, :, None, None]
    return mask[:, None] & (near[:, None] | ~local)


def windowed(mask, q_idx, k_idx, cfg):
    """transformers' sliding window: key k is visible to query q when q - k < window."""
    if not any(cfg.sliding_layers):
        return None
    return mask & ((q_idx[:, None] - k_idx[None, :]) < cfg.sliding_window)[None]


def query_windows(cfg, b, t, prompt_mask=None):
    """(full, sliding) windows for blockwise: int32 [b, kv_heads, t] (or broadcastable), query
    i of a kv head's group sees key j when i - j < window; None where nothing limits it. The
    same rules as `training_masks`, as numbers instead of masks."""
    full = None
    if cfg.position_encoding == "hybrid":
        local = jnp.full((b, t), cfg.local_window, jnp.int32)
        if prompt_mask is not None and cfg.prompt_window:
            local = jnp.where(prompt_mask, cfg.prompt_window, local)
        is_local = jnp.asarray(cfg.local_kv_heads)[None, :, None]
        full = jnp.where(is_local, local[:, None, :], attention_blockwise.NO_WINDOW)
    sliding = None
    if any(cfg.sliding_layers):
        sliding = jnp.minimum(attention_blockwise.NO_WINDOW if full is None else full,
                              cfg.sliding_window).astype(jnp.int32)
    return full, sliding


def head_windows(cfg, heads: int, sliding: bool) -> tuple[int | None, ...]:
    """Per query head, its static window (None: causal only), for the fused kernels; hybrid's
    prompt_window is not static and not here."""
    group = heads // cfg.num_key_value_heads
    out = []
    for h in range(heads):
        local = cfg.position_encoding == "hybrid" and cfg.local_kv_heads[h // group]
        windows = ([cfg.local_window] if local else []) + ([cfg.sliding_window] if sliding else [])
        out.append(min(windows) if windows else None)
    return tuple(out)


# ---- the fused kernels --------------------------------------------------------------------------

def _fused(q, k, v, inputs: AttentionInputs, cfg, sliding: bool):
    backend, platform = inputs.backend, inputs.platform
    split_heads = True
    if backend == "splash":
        windows = head_windows(cfg, q.shape[2], sliding)
        # A shard's heads get one static mask each: shards hold different heads, so heads are
        # split over devices only when every head has the same window.
        split_heads = len(set(windows)) == 1
        interpret = platform != "tpu"

        def kernel(q, k, v, seg):
            return attention_splash.attention(q, k, v, seg, windows[:q.shape[2]],
                                              interpret=interpret)
    elif backend == "cudnn":
        window = cfg.sliding_window if sliding else None

        def kernel(q, k, v, seg):
            return attention_gpu.cudnn_attention(q, k, v, seg, window)
    elif backend == "pallas_gpu":
        interpret = platform not in GPU_PLATFORMS

        def kernel(q, k, v, seg):
            return attention_gpu.pallas_gpu_attention(q, k, v, seg, interpret=interpret)
    else:
        raise ValueError(f"unknown attention backend {backend!r}")
    return per_shard(kernel, q, k, v, inputs.segment_ids, split_heads)


def per_shard(kernel, q, k, v, segment_ids, split_heads: bool = True):
    """kernel(q, k, v, segment_ids) on each device's shard under the current mesh (XLA cannot
    split a Pallas call): rows split as "batch", heads as "act_heads" / "act_kv_heads" when
    split_heads and both split alike (so each shard holds whole query groups), else whole on
    every device. Without a mesh, kernel(q, k, v, segment_ids)."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or mesh.size == 1 or not mesh.auto_axes:
        return kernel(q, k, v, segment_ids)
    q_spec = logical_to_spec(("batch", "seq", "act_heads", "head_dim"), q.shape, mesh)
    kv_spec = logical_to_spec(("batch", "seq", "act_kv_heads", "head_dim"), k.shape, mesh)
    if not split_heads or q_spec[2] != kv_spec[2] or q_spec[0] != kv_spec[0]:
        q_spec = kv_spec = logical_to_spec(("batch", None, None, None), q.shape, mesh)
    rows = PartitionSpec(q_spec[0], None)
    if segment_ids is None:
        return jax.shard_map(lambda q, k, v: kernel(q, k, v, None), in_specs=(
            q_spec, kv_spec, kv_spec), out_specs=q_spec, check_vma=False)(q, k, v)
    return jax.shard_map(kernel, in_specs=(q_spec, kv_spec, kv_spec, rows), out_specs=q_spec,
                         check_vma=False)(q, k, v, segment_ids)
