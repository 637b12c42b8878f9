"""The two compute kernels of the model: every weight matmul and every attention go through here.

Keeping them in one place lets a later performance change (a custom VJP that computes dW directly
in weight order on the CPU, a query-chunked attention that skips masked key blocks) drop in
without touching the model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Masked scores get the most negative finite f32 rather than -inf: a query with no visible key
# (a padding row) then gets a uniform softmax instead of NaN, and NaN never reaches the gradients.
MASK_VALUE = float(jnp.finfo(jnp.float32).min)


def dense(x: jax.Array, w: jax.Array, spec: str, out_dtype=None) -> jax.Array:
    """einsum(spec, x, w) with the weight cast to x's dtype and f32 accumulation.

    The result is cast to `out_dtype` (default: x's dtype); logits ask for float32.
    """
    y = jnp.einsum(spec, x, w.astype(x.dtype), preferred_element_type=jnp.float32)
    return y.astype(out_dtype or x.dtype)


def attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """Grouped-query attention.

    q: [b, t, heads, hd]; k, v: [b, s, kv_heads, hd]; mask: [b, t, s] bool (True = may attend).
    Query head h reads kv head h // (heads // kv_heads), as transformers' repeat_kv does.
    Scores and softmax are float32; the result has q's dtype.
    """
    b, t, heads, hd = q.shape
    kv_heads = k.shape[2]
    qg = q.reshape(b, t, kv_heads, heads // kv_heads, hd)
    scores = jnp.einsum("btkgd,bskd->bkgts", qg, k, preferred_element_type=jnp.float32)
    scores = scores * (hd ** -0.5)
    scores = jnp.where(mask[:, None, None, :, :], scores, MASK_VALUE)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    out = jnp.einsum("bkgts,bskd->btkgd", probs, v, preferred_element_type=jnp.float32)
    return out.reshape(b, t, heads, hd).astype(q.dtype)
