"""The KV cache: its layout, writing new keys and values, and attention of new queries over it.

The cache keeps each layer's keys transposed and its values plain, both kv-head-major:

    keys   [layers, batch, kv_heads, head_dim, slots]
    values [layers, batch, kv_heads, slots, head_dim]

A few new queries (a decode step) read the cache where it lies: per (row, kv head), the
grouped queries are folded into the rows of plain row-major matmuls, scores q [group * t, hd] .
K [hd, slots] and output probs [group * t, slots] . V [slots, hd]. In the sequence-major layout
the general `kernels.attention` takes, every decode step transposed each layer's whole cache
(and copied V to float32) before its matmuls; measured at batch 32 on the CPU that copy
dominated a step. A decode step reads the cache in blocks up to the slots written so far and
merges the blocks' (max, sum, weighted values) as flash-decoding does (Dao et al. 2023,
"Flash-Decoding for long-context inference"). jax's ragged decode kernels do not fit this layout
(Pallas GPU `decode_attention` takes sequence-major [b, slots, kv, hd] keys, the TPU kernels a
paged cache), so the blocks are plain XLA. The CPU fast path's decode loop may carry the cache
as one array per layer (`unstack`).

Scores and softmax are float32 via preferred_element_type, whatever the cache dtype; the
softmax weights are cast to the values' dtype for the second product, as transformers does
(before normalizing: exp(score - max) is in [0, 1] either way).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from tailjax.model.kernels import MASK_VALUE, attention, precision_for

# More new queries than this (a prefill) go through `kernels.attention`, which chunks the
# queries and skips causally masked key blocks; its layout costs one cache transpose per call.
FEW_QUERIES = 8

# Logical axes of the two cache arrays (the sharding rules split batch and kv heads only).
KEY_CACHE_AXES = ("cache_layers", "batch", "act_kv_heads", "head_dim", "cache_seq")
VALUE_CACHE_AXES = ("cache_layers", "batch", "act_kv_heads", "cache_seq", "head_dim")
# The slot axis of each, counted from the end: the same in a stacked cache and in one layer's.
SLOTS_FROM_END = {"k": KEY_CACHE_AXES.index("cache_seq") - len(KEY_CACHE_AXES),
                  "v": VALUE_CACHE_AXES.index("cache_seq") - len(VALUE_CACHE_AXES)}


def cache_shapes(layers: int, batch: int, slots: int, kv_heads: int, head_dim: int) -> dict:
    """{"k": shape, "v": shape} of a cache with these sizes."""
    return {"k": (layers, batch, kv_heads, head_dim, slots),
            "v": (layers, batch, kv_heads, slots, head_dim)}


def unstack(cache: dict) -> dict:
    """The cache as a tuple of per-layer arrays per name. A decode loop should carry this form:
    XLA:CPU copies a layer out of a stacked array (every step) before a matmul reads it."""
    return {name: tuple(c) for name, c in cache.items()}


def restack(cache: dict) -> dict:
    """The inverse of `unstack`: one stacked [layers, ...] array per name."""
    return {name: jnp.stack(c) for name, c in cache.items()}


def cache_slots(cache: dict) -> int:
    v = cache["v"]
    return (v[0] if isinstance(v, tuple) else v).shape[SLOTS_FROM_END["v"]]


def _layer_of(c, layer):
    if isinstance(c, tuple):
        return c[layer]  # per-layer arrays: layer is a Python int (unrolled layers)
    return lax.dynamic_index_in_dim(c, layer, keepdims=False)


def _write(c, new, layer, start):
    """c (stacked, or a tuple of per-layer arrays) with `new` [b, ...] written at `start`."""
    if isinstance(c, tuple):
        return c[:layer] + (lax.dynamic_update_slice(c[layer], new, start),) + c[layer + 1:]
    return lax.dynamic_update_slice(c, new[None], (layer,) + start)


def write_cache(k_all, v_all, k, v, layer, index):
    """k_all, v_all with the new keys/values k, v [b, t, kv, hd] written at slots
    [index, index + t) of `layer` (in place when the caller donates or loops over the cache).
    Each is a stacked [layers, ...] array or a tuple of per-layer arrays (see `unstack`)."""
    k_new = k.transpose(0, 2, 3, 1).astype(k_all[0].dtype)  # [b, kv, hd, t]
    v_new = v.transpose(0, 2, 1, 3).astype(v_all[0].dtype)  # [b, kv, t, hd]
    return (_write(k_all, k_new, layer, (0, 0, 0, index)),
            _write(v_all, v_new, layer, (0, 0, index, 0)))


def cache_attention(q: jax.Array, k_all, v_all, layer, mask, live=None,
                    block: int | None = None) -> jax.Array:
    """q [b, t, heads, hd] against layer `layer` of the cache (layouts above).

    mask: [b, t, slots] bool (True = may attend), or [b, kv_heads, t, slots] per kv head; or a
        function (start, size) -> that mask for slots [start, start + size) only, so a blockwise
        read never builds the whole mask.
    live, block: a decode step (t <= FEW_QUERIES) with a block size smaller than the cache reads
        only blocks [0, ceil(live / block)) of it, live (an int32 scalar, may be traced) being
        the slots written so far (cache_index + t): the read grows with the length decoded, not
        with the budget. A last block that would run past the cache is read ending at its last
        slot, with the slots the block before already read masked out.
    Returns [b, t, heads, hd] in q's dtype. Query head h reads kv head h // group, as
    transformers' repeat_kv does.
    """
    masks = mask if callable(mask) else (
        lambda start, size: lax.dynamic_slice_in_dim(mask, start, size, axis=-1))
    slots = cache_slots({"v": v_all})
    if q.shape[1] > FEW_QUERIES:
        keys, values = _layer_of(k_all, layer), _layer_of(v_all, layer)
        return attention(q, keys.transpose(0, 3, 1, 2).astype(q.dtype),
                         values.transpose(0, 2, 1, 3).astype(q.dtype), masks(0, slots))
    if live is None or block is None or slots <= block:
        return _finish(q, *_attend_block(q, _layer_of(k_all, layer), _layer_of(v_all, layer),
                                         masks(0, slots)))

    def one_block(j, carry):
        start = jnp.minimum(j * block, slots - block)  # the last block ends at the last slot
        keys = _block_of(k_all, layer, start, block, SLOTS_FROM_END["k"])    # [b, kv, hd, block]
        values = _block_of(v_all, layer, start, block, SLOTS_FROM_END["v"])  # [b, kv, block, hd]
        unread = start + jnp.arange(block) >= j * block  # not read by the block before
        return _merge(carry, _attend_block(q, keys, values, masks(start, block) & unread))

    # Every block is read inside the loop: a block read outside it fuses with the step's cache
    # write, which then keeps the unwritten cache alive beside the written one (a whole copy).
    b, t, heads, hd = q.shape
    rows = (b, v_all[0].shape[-3] if isinstance(v_all, tuple) else v_all.shape[-3])
    rows += ((heads // rows[1]) * t,)
    empty = (jnp.full(rows, MASK_VALUE, jnp.float32), jnp.zeros(rows, jnp.float32),
             jnp.zeros(rows + (hd,), jnp.float32))
    n = (jnp.asarray(live, jnp.int32) + block - 1) // block
    return _finish(q, *lax.fori_loop(0, n, one_block, empty))


def _block_of(c, layer, start, size: int, axis: int):
    """Slots [start, start + size) of `layer`'s keys or values (axis: their slot axis, from the
    end), sliced from the cache in one step: a layer taken out first is a copy of the whole
    layer (XLA does not fold the two slices)."""
    if isinstance(c, tuple):
        return lax.dynamic_slice_in_dim(c[layer], start, size, axis=c[layer].ndim + axis)
    starts = [jnp.int32(0)] * c.ndim
    starts[0], starts[c.ndim + axis] = jnp.asarray(layer, jnp.int32), jnp.asarray(start, jnp.int32)
    sizes = (1,) + c.shape[1:c.ndim + axis] + (size,) + c.shape[c.ndim + axis + 1:]
    return lax.dynamic_slice(c, starts, sizes)[0]


def _attend_block(q, keys, values, mask):
    """Unnormalized attention of q [b, t, heads, hd] over one block of a layer's keys
    [b, kv, hd, s] and values [b, kv, s, hd] (mask [b, (kv,) t, s]): the running max
    [b, kv, g * t], the sum of exp(score - max) and the exp-weighted values [b, kv, g * t, hd],
    all float32 (the flash-decoding triple; `_merge` joins two, `_finish` normalizes)."""
    b, t, heads, hd = q.shape
    kv_heads = keys.shape[1]
    group = heads // kv_heads
    # rows ordered (group, t) per kv head; [b, t, kv*g, hd] -> [b, kv, g*t, hd]: one plain
    # row-major matmul per (row, kv head), which XLA:CPU runs on the cache buffer where it lies
    qh = q.reshape(b, t, kv_heads, group, hd).transpose(0, 2, 3, 1, 4)
    qh = qh.reshape(b, kv_heads, group * t, hd).astype(keys.dtype)
    precision = precision_for(q.dtype)
    scores = lax.dot_general(qh, keys, (((3,), (2,)), ((0, 1), (0, 1))), precision=precision,
                             preferred_element_type=jnp.float32) * hd ** -0.5  # [b, kv, g*t, s]
    per_head = mask if mask.ndim == 4 else mask[:, None]                     # [b, kv|1, t, s]
    allowed = jnp.broadcast_to(per_head[:, :, None], (b, kv_heads, group) + per_head.shape[2:])
    scores = jnp.where(allowed.reshape(scores.shape), scores, MASK_VALUE)
    top = jnp.max(scores, axis=-1)
    weights = jnp.exp(scores - top[..., None])
    # transformers casts the probabilities to the values' dtype before the second product
    mixed = lax.dot_general(weights.astype(values.dtype), values,
                            (((3,), (2,)), ((0, 1), (0, 1))), precision=precision,
                            preferred_element_type=jnp.float32)              # [b, kv, g*t, hd]
    return top, jnp.sum(weights, axis=-1), mixed


def _merge(a, b):
    """Two blocks' (max, sum, weighted values) as one (online softmax)."""
    top = jnp.maximum(a[0], b[0])
    scale_a, scale_b = jnp.exp(a[0] - top), jnp.exp(b[0] - top)
    return (top, a[1] * scale_a + b[1] * scale_b,
            a[2] * scale_a[..., None] + b[2] * scale_b[..., None])


def _finish(q, top, total, mixed):
    """The normalized output [b, t, heads, hd] in q's dtype from `_attend_block`'s triple."""
    del top
    b, t, heads, hd = q.shape
    kv_heads = mixed.shape[1]
    out = (mixed / total[..., None]).reshape(b, kv_heads, heads // kv_heads, t, hd)
    return out.transpose(0, 3, 1, 2, 4).reshape(b, t, heads, hd).astype(q.dtype)
