"""The two compute kernels of the model: every weight matmul goes through `dense`, and the
materialized-mask attention through `attention` (the training forward's `xla` backend, see
model/attention.py, and the KV cache's prefill).

- `dense` is an einsum with the weight cast to x's dtype and float32 accumulation. With the CPU
  fast paths on (model/speed.py, the default on the CPU) it runs as model/fast_dense.py's 2-D
  matmul, whose custom VJP spares XLA:CPU a transposed copy of every output gradient.
- `attention` works in (batch, heads, seq, head_dim) layout with an additive mask and a
  hand-written softmax, float32 scores and probabilities, queries in chunks of `QUERY_CHUNK`
  (at most `MAX_CHUNKS` chunks); when queries and keys are the same positions (training), keys
  after a chunk's last query are causally masked and skipped.

Float32 compute means float32 products on every backend (`precision_for`): XLA's default on GPUs
is TF32 and on TPUs a single bf16 pass, which broke the 1e-4 parity with transformers on an H100.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from tailjax.model import fast_dense
from tailjax.model.speed import fast_paths

# Masked scores get the most negative finite f32 rather than -inf: a query with no visible key
# (a padding row) then gets a uniform softmax instead of NaN, and NaN never reaches the gradients.
MASK_VALUE = float(jnp.finfo(jnp.float32).min)
QUERY_CHUNK = 64
MAX_CHUNKS = 8  # longer sequences use longer chunks: each chunk is unrolled, compile time grows


def precision_for(compute_dtype) -> lax.Precision:
    """HIGHEST for float32 compute, DEFAULT otherwise (bf16 operands are exact in one pass)."""
    return lax.Precision.HIGHEST if jnp.dtype(compute_dtype) == jnp.float32 else \
        lax.Precision.DEFAULT


# ---- dense --------------------------------------------------------------------------------------

def dense(x: jax.Array, w: jax.Array, spec: str, out_dtype=None) -> jax.Array:
    """einsum(spec, x, w) with the weight cast to x's dtype and f32 accumulation.

    x's contracted axes must be its trailing ones and w's contracted axes its leading (e.g.
    "btd,dnh->btnh") or trailing ones (the tied head "btd,vd->btv"). The result is cast to
    `out_dtype` (default: x's dtype); logits ask for float32. With the CPU fast paths on
    (model/speed.py) the same product runs as one 2-D matmul with a custom gradient.
    """
    out_dtype = jnp.dtype(out_dtype or x.dtype)
    precision = precision_for(x.dtype)
    if fast_paths():
        return fast_dense.dense(x, w, spec, out_dtype, precision)
    return jnp.einsum(spec, x, w.astype(x.dtype), precision=precision,
                      preferred_element_type=jnp.float32).astype(out_dtype)


# ---- attention ----------------------------------------------------------------------------------

def attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """Grouped-query attention.

    q: [b, t, heads, hd]; k, v: [b, s, kv_heads, hd]; mask: [b, t, s] bool (True = may attend),
    or [b, kv_heads, t, s] for a mask per kv head (and its query group).
    Query head h reads kv head h // (heads // kv_heads), as transformers' repeat_kv does.
    Scores and softmax are float32; the result has q's dtype.

    When t == s the queries are the keys' own positions (the training forward, or a cache
    exactly filled from slot 0), where every caller's mask is causal; key blocks after a query
    chunk's last position are then skipped rather than computed and masked.
    """
    b, t, heads, hd = q.shape
    s, kv_heads = k.shape[1], k.shape[2]
    group = heads // kv_heads
    causal = t == s
    qh = q.reshape(b, t, kv_heads, group, hd).transpose(0, 2, 3, 1, 4)  # [b, kv, g, t, hd]
    kh = k.transpose(0, 2, 1, 3)                                        # [b, kv, s, hd]
    vh = v.transpose(0, 2, 1, 3).astype(jnp.float32)
    bias = jnp.where(mask, 0.0, MASK_VALUE).astype(jnp.float32)         # [b, (kv,) t, s]
    bias = bias[:, None] if bias.ndim == 3 else bias                    # [b, 1 or kv, t, s]
    scale = hd ** -0.5
    precision = precision_for(q.dtype)
    chunk = max(QUERY_CHUNK, -(-t // MAX_CHUNKS))
    outs = []
    for start in range(0, t, chunk):
        stop = min(start + chunk, t)
        keys = stop if causal else s
        scores = jnp.einsum("bkgqd,bksd->bkgqs", qh[:, :, :, start:stop], kh[:, :, :keys],
                            precision=precision, preferred_element_type=jnp.float32)
        scores = scores * scale + bias[:, :, None, start:stop, :keys]
        # Softmax is shift-invariant, so the max needs no gradient.
        top = lax.stop_gradient(jnp.max(scores, axis=-1, keepdims=True))
        probs = jnp.exp(scores - top)
        probs = probs / jnp.sum(probs, axis=-1, keepdims=True)
        outs.append(jnp.einsum("bkgqs,bksd->bkgqd", probs, vh[:, :, :keys], precision=precision))
    out = outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=3)
    return out.transpose(0, 3, 1, 2, 4).reshape(b, t, heads, hd).astype(q.dtype)
