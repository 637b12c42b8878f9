"""The two compute kernels of the model: every weight matmul and every attention go through here.

Both are written for speed on XLA:CPU (where the tiny demo trains) without changing results on
accelerators:

- `dense` flattens to one 2-D matmul with float32 accumulation and has a custom VJP whose
  backward computes dW directly in the weight's layout (contracting batch and sequence). Plain
  autodiff of `x @ W` makes XLA:CPU copy the output gradient into a transposed layout first
  (with the activation's backward fused into that strided copy), which cost ~6x the matmul. The
  weight is cast to x's dtype inside, so dW comes back in the master weight's dtype (float32).
- `attention` works in (batch, heads, seq, head_dim) layout with an additive mask and a
  hand-written softmax, float32 scores and probabilities, queries in chunks of `QUERY_CHUNK` (at most `MAX_CHUNKS` chunks);
  when queries and keys are the same positions (training), keys after a chunk's last query are
  causally masked and skipped.

Float32 compute means float32 products on every backend (`precision_for`): XLA's default on GPUs
is TF32 and on TPUs a single bf16 pass, which broke the 1e-4 parity with transformers on an H100.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

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

@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _matmul(x, w, w_out_first: bool, out_dtype):
    """x [M, K] @ w ([K, N], or [N, K] when w_out_first) -> [M, N] in out_dtype, f32 accumulate."""
    return _matmul_fwd(x, w, w_out_first, out_dtype)[0]


def _matmul_fwd(x, w, w_out_first, out_dtype):
    y = lax.dot_general(x, w.astype(x.dtype), (((1,), (1 if w_out_first else 0,)), ((), ())),
                        precision=precision_for(x.dtype), preferred_element_type=jnp.float32)
    return y.astype(out_dtype), (x, w)


def _matmul_bwd(w_out_first, out_dtype, residuals, g):
    x, w = residuals
    g = g.astype(x.dtype)
    wc = w.astype(x.dtype)
    dot = partial(lax.dot_general, precision=precision_for(x.dtype),
                  preferred_element_type=jnp.float32)
    # dx [M, K] = g [M, N] . w over N
    dx = dot(g, wc, (((1,), (0 if w_out_first else 1,)), ((), ()))).astype(x.dtype)
    # dW in the weight's own layout, contracting the flattened batch x sequence rows.
    if w_out_first:
        dw = dot(g, x, (((0,), (0,)), ((), ())))
    else:
        dw = dot(x, g, (((0,), (0,)), ((), ())))
    return dx, dw.astype(w.dtype)


_matmul.defvjp(_matmul_fwd, _matmul_bwd)


def dense(x: jax.Array, w: jax.Array, spec: str, out_dtype=None) -> jax.Array:
    """einsum(spec, x, w) with the weight cast to x's dtype and f32 accumulation.

    x's contracted axes must be its trailing ones and w's contracted axes its leading (e.g.
    "btd,dnh->btnh") or trailing ones (the tied head "btd,vd->btv"). The result is cast to
    `out_dtype` (default: x's dtype); logits ask for float32.
    """
    ins, out = spec.replace(" ", "").split("->")
    xs, ws = ins.split(",")
    contract = "".join(c for c in xs if c in ws)
    lead = xs[: len(xs) - len(contract)]
    free = "".join(c for c in ws if c not in xs)
    if xs != lead + contract or out != lead + free or ws not in (contract + free, free + contract):
        raise ValueError(f"dense spec {spec!r}: x must end with the contracted axes and the "
                         "output must be x's other axes then w's free axes")
    w_out_first = bool(free) and ws == free + contract
    m_shape = x.shape[: len(lead)]
    k = 1
    for size in x.shape[len(lead):]:
        k *= size
    f_shape = w.shape[: len(free)] if w_out_first else w.shape[len(contract):]
    n = 1
    for size in f_shape:
        n *= size
    x2 = x.reshape(-1, k)
    w2 = w.reshape(n, k) if w_out_first else w.reshape(k, n)
    y = _matmul(x2, w2, w_out_first, jnp.dtype(out_dtype or x.dtype))
    return y.reshape(*m_shape, *f_shape)


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
