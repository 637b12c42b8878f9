"""GPU attention: cuDNN flash attention for rows of one sequence, Pallas GPU for packed rows.

- `cudnn`: `jax.nn.dot_product_attention(..., implementation='cudnn')`: causal, grouped-query
  heads as they are (k, v [b, s, kv_heads, hd]), a sliding window (`local_window_size`), and
  padding at the end of a row as query/key sequence lengths. Its public API takes no segment
  ids, so a row must hold one sequence followed by padding (`data.pack: false`, which sets
  `Qwen2Config.packed_rows` false; model/attention.py refuses cudnn otherwise): the lengths are
  the counts of non-zero segment ids, and a row that holds anything else (two segments, padding
  first) comes out NaN rather than silently attending across sequences. bfloat16/float16 only.
- `pallas_gpu`: jax's Pallas GPU flash attention (`jax.experimental.pallas.ops.gpu.attention.
  mha`): causal and runtime segment ids, so packed rows; equal query and kv heads, so keys and
  values are repeated for grouped-query heads (transformers' repeat_kv); no window. Its Triton
  matmuls leave the precision at the GPU default (TF32 for float32 inputs).

Both hand their arguments over as built by `cudnn_arguments` / `pallas_gpu_arguments`, which the
CPU tests check: jax.nn.dot_product_attention(implementation='xla') given cudnn's arguments, and
the Pallas kernel in interpret mode given its own, equal the plain attention. Neither has run on
a GPU here.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental.pallas.ops.gpu import attention as pallas_attention

PALLAS_BLOCK = 128  # the Pallas kernel's default query/key block; rows are padded to it


def cudnn_arguments(q: jax.Array, k: jax.Array, v: jax.Array, segment_ids: jax.Array | None,
                    window: int | None) -> tuple[tuple, dict]:
    """(args, kwargs) of the jax.nn.dot_product_attention call, implementation left out.

    q: [b, t, heads, hd]; k, v: [b, t, kv_heads, hd]; segment_ids: [b, t] (one sequence, then
    0s) or None; window: transformers' sliding window w (query i sees keys i - w < j <= i) or
    None.
    """
    kwargs = dict(scale=q.shape[-1] ** -0.5, is_causal=True)
    if window is not None:
        kwargs["local_window_size"] = (window - 1, 0)
    if segment_ids is not None:
        lengths = jnp.sum(segment_ids != 0, axis=1).astype(jnp.int32)
        kwargs.update(query_seq_lengths=lengths, key_value_seq_lengths=lengths)
    return (q, k, v), kwargs


def one_sequence_rows(segment_ids: jax.Array) -> jax.Array:
    """[b] bool: the row is one segment followed by padding (what sequence lengths describe)."""
    t = segment_ids.shape[1]
    lengths = jnp.sum(segment_ids != 0, axis=1)
    expected = jnp.where(jnp.arange(t) < lengths[:, None], segment_ids[:, :1], 0)
    return jnp.all(segment_ids == expected, axis=1)


def cudnn_attention(q, k, v, segment_ids, window, *, implementation: str = "cudnn"):
    """Causal attention by cuDNN; [b, t, heads, hd] in q's dtype. `implementation='xla'` runs
    the same call through XLA (what the CPU tests compare)."""
    args, kwargs = cudnn_arguments(q, k, v, segment_ids, window)
    out = jax.nn.dot_product_attention(*args, **kwargs, implementation=implementation)
    if segment_ids is not None:
        out = jnp.where(one_sequence_rows(segment_ids)[:, None, None, None], out, jnp.nan)
    return out.astype(q.dtype)


def pallas_gpu_arguments(q: jax.Array, k: jax.Array, v: jax.Array,
                         segment_ids: jax.Array | None) -> tuple[tuple, dict]:
    """(args, kwargs) of the Pallas GPU `mha` call: rows padded to a multiple of PALLAS_BLOCK
    (padding in segment 0), kv heads repeated to the query heads."""
    b, t, heads, hd = q.shape
    group = heads // k.shape[2]
    n = -(-t // PALLAS_BLOCK) * PALLAS_BLOCK
    pad = ((0, 0), (0, n - t), (0, 0), (0, 0))
    if segment_ids is None:
        segment_ids = jnp.ones((b, t), jnp.int32)
    seg = jnp.pad(segment_ids.astype(jnp.int32), ((0, 0), (0, n - t)))
    k, v = (jnp.pad(jnp.repeat(x, group, axis=2), pad) for x in (k, v))
    return (jnp.pad(q, pad), k, v, seg), dict(sm_scale=hd ** -0.5, causal=True)


def pallas_gpu_attention(q, k, v, segment_ids, *, interpret: bool = False):
    """Causal attention with segment ids by the Pallas GPU kernel; [b, t, heads, hd]."""
    args, kwargs = pallas_gpu_arguments(q, k, v, segment_ids)
    mha = functools.partial(pallas_attention.mha, **kwargs, interpret=interpret)
    return mha(*args)[:, :q.shape[1]].astype(q.dtype)
