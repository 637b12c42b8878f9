"""The KV cache: its layout, writing new keys and values, and attention of new queries over it.

The cache keeps each layer's keys transposed and its values plain, both kv-head-major:

    keys   [layers, batch, kv_heads, head_dim, slots]
    values [layers, batch, kv_heads, slots, head_dim]

A few new queries (a decode step) read the cache where it lies: per (row, kv head), scores are
q [group, t, hd] . K [hd, slots] and the output is probs [group, t, slots] . V [slots, hd]. In the
sequence-major layout the general `kernels.attention` takes, every decode step transposed each
layer's whole cache (and copied V to float32) before its matmuls; measured at batch 32 on the
CPU that copy dominated a step. On the CPU fast path (model/speed.py) the grouped queries are
folded into the rows of plain row-major matmuls over the batch dims (batch, kv heads), and the
decode loop carries the cache as one array per layer (`unstack`).

Scores and softmax are float32 via preferred_element_type, whatever the cache dtype; the
probabilities are cast to the values' dtype for the second product, as transformers does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from tailjax.model.kernels import MASK_VALUE, attention, precision_for
from tailjax.model.speed import fast_paths

# More new queries than this (a prefill) go through `kernels.attention`, which chunks the
# queries and skips causally masked key blocks; its layout costs one cache transpose per call.
FEW_QUERIES = 8

# Logical axes of the two cache arrays (the sharding rules split batch and kv heads only).
KEY_CACHE_AXES = ("cache_layers", "batch", "act_kv_heads", "head_dim", "cache_seq")
VALUE_CACHE_AXES = ("cache_layers", "batch", "act_kv_heads", "cache_seq", "head_dim")
SEQ_AXIS = {"k": KEY_CACHE_AXES.index("cache_seq"), "v": VALUE_CACHE_AXES.index("cache_seq")}


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
    return (v[0].shape[-2] if isinstance(v, tuple) else v.shape[-2])


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


def cache_attention(q: jax.Array, k_all: jax.Array, v_all: jax.Array, layer,
                    mask: jax.Array) -> jax.Array:
    """q [b, t, heads, hd] against layer `layer` of the cache (layouts above);
    mask [b, t, slots] bool (True = may attend), or [b, kv_heads, t, slots] per kv head.
    Returns [b, t, heads, hd] in q's dtype. Query head h reads kv head h // group, as
    transformers' repeat_kv does."""
    keys = _layer_of(k_all, layer)    # [b, kv, hd, s]
    values = _layer_of(v_all, layer)  # [b, kv, s, hd]
    if q.shape[1] > FEW_QUERIES:
        return attention(q, keys.transpose(0, 3, 1, 2).astype(q.dtype),
                         values.transpose(0, 2, 1, 3).astype(q.dtype), mask)
    attend = _attend_folded if fast_paths() else _attend
    return attend(q, keys, values, mask)


def _attend(q, keys, values, mask):
    """A few queries [b, t, heads, hd] against one layer's keys [b, kv, hd, s] and values
    [b, kv, s, hd], where they lie."""
    b, t, heads, hd = q.shape
    kv_heads = keys.shape[1]
    qh = q.reshape(b, t, kv_heads, heads // kv_heads, hd).astype(keys.dtype)
    precision = precision_for(q.dtype)
    scores = jnp.einsum("btkgd,bkds->bkgts", qh, keys, precision=precision,
                        preferred_element_type=jnp.float32)
    probs = _softmax(scores * hd ** -0.5, mask).astype(values.dtype)
    out = jnp.einsum("bkgts,bksd->btkgd", probs, values, precision=precision,
                     preferred_element_type=jnp.float32)
    return out.reshape(b, t, heads, hd).astype(q.dtype)


def _attend_folded(q, keys, values, mask):
    """`_attend` on the CPU fast path: each (row, kv head)'s grouped queries folded into the rows
    of one plain row-major matmul per product, which XLA:CPU runs on the cache buffer."""
    b, t, heads, hd = q.shape
    kv_heads = keys.shape[1]
    group = heads // kv_heads
    # rows ordered (group, t) per kv head; [b, t, kv*g, hd] -> [b, kv, g*t, hd]
    qh = q.reshape(b, t, kv_heads, group, hd).transpose(0, 2, 3, 1, 4)
    qh = qh.reshape(b, kv_heads, group * t, hd).astype(keys.dtype)
    precision = precision_for(q.dtype)
    scores = lax.dot_general(qh, keys, (((3,), (2,)), ((0, 1), (0, 1))), precision=precision,
                             preferred_element_type=jnp.float32)  # [b, kv, g*t, s]
    scores = scores.reshape(b, kv_heads, group, t, -1) * hd ** -0.5
    probs = _softmax(scores, mask)
    probs = probs.reshape(b, kv_heads, group * t, -1).astype(values.dtype)
    out = lax.dot_general(probs, values, (((3,), (2,)), ((0, 1), (0, 1))), precision=precision,
                          preferred_element_type=jnp.float32)  # [b, kv, g*t, hd]
    out = out.reshape(b, kv_heads, group, t, hd).transpose(0, 3, 1, 2, 4)
    return out.reshape(b, t, heads, hd).astype(q.dtype)


def _softmax(scores, mask):
    """Float32 softmax over the slots of scores [b, kv, group, t, s] where mask ([b, t, s] or
    [b, kv, t, s]) is True."""
    per_head = mask if mask.ndim == 4 else mask[:, None]
    scores = jnp.where(per_head[:, :, None], scores, MASK_VALUE)
    probs = jnp.exp(scores - jnp.max(scores, axis=-1, keepdims=True))
    return probs / jnp.sum(probs, axis=-1, keepdims=True)
