"""Blockwise (flash) attention in plain JAX: memory that grows as T x block, not T x T.

The `blockwise` backend of model/attention.py, and the one attention kernel this project writes
itself, because nothing we can depend on gives a memory-efficient attention that runs on the
CPU (and anywhere XLA runs) with a custom VJP, segment ids, grouped-query heads and per-query
windows: jax's `jax.nn.dot_product_attention(implementation='xla')` materializes the [T, S]
scores, and jax's memory-efficient kernels are platform kernels (splash: TPU; cuDNN and Pallas
GPU attention: GPU). Pure-JAX flash attentions outside jax are either causal with a key padding
mask only (lucidrains' flash-attention-jax: no segment ids, no windows) or written on another
framework's named arrays (levanter's, on haliax).

The algorithm is FlashAttention-2's (Dao, arXiv 2307.08691, Algorithms 1 and 2), written with
lax loops instead of a fused kernel:

- forward: for each block of queries (`lax.map`), a loop over the key blocks it can see keeps
  the running row maximum m, the running sum l of exp(score - m) and the unnormalized output,
  rescaling both by exp(m_old - m_new) when m grows; only the output and the log-sum-exp
  m + log(l) of each query row are saved for the backward pass.
- backward: for each key block (`lax.scan`), a loop over the query blocks that can see it
  recomputes the probabilities exp(score - logsumexp), accumulates dK and dV for the block
  and adds its share to dQ (carried whole: [T, head_dim] per head, as O is); D = rowsum(dO * O)
  is computed once up front.

Key blocks that no query of a block can see (after its last query, or before its window) are
skipped, not computed and masked. Scores, probabilities and accumulators are float32; the
matmuls ask for float32 products when the inputs are float32 (`kernels.precision_for`), as
`kernels.attention` does.

Masking is index arithmetic on slot indices (no [T, S] mask is built): query i sees key j when
j <= i (causal), both are in the same segment and the key's segment is not 0 (padding), and
i - j < window[b, kv head, i] when a window is given. A query that sees no key (a padding row)
gets output 0 and no gradient.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from tailjax.model.kernels import MASK_VALUE, precision_for

BLOCK = 512          # queries and keys per block: scores of one step are [b, heads, 512, 512]
NO_WINDOW = 1 << 30  # a window that never limits (fits int32 arithmetic on slot indices)


def attention(q: jax.Array, k: jax.Array, v: jax.Array, segment_ids: jax.Array | None = None,
              window: jax.Array | None = None, *, block: int | None = None) -> jax.Array:
    """Causal grouped-query self-attention, blockwise, with a custom VJP.

    q: [b, t, heads, hd]; k, v: [b, t, kv_heads, hd] (the queries' own positions: training);
    query head h reads kv head h // (heads // kv_heads), as transformers' repeat_kv does.
    segment_ids: [b, t] int, tokens see only keys of their own segment; 0 marks padding (seen
    by no query). None: one segment per row, no padding.
    window: int [b, kv_heads, t] (or broadcastable to it): query i of kv head h's group sees key
    j only when i - j < window[b, h, i] (a sliding window, hybrid's local heads); None: no
    window. Use NO_WINDOW for heads without one.
    block: queries and keys per block (default BLOCK); t is padded up to a multiple of it.

    Returns [b, t, heads, hd] in q's dtype; rows that see no key are 0.
    Raises ValueError when shapes disagree.
    """
    b, t, heads, hd = q.shape
    if k.shape != v.shape or k.shape[:2] != (b, t) or k.shape[3] != hd or heads % k.shape[2]:
        raise ValueError(f"blockwise attention takes q [b, t, heads, hd] and k, v [b, t, "
                         f"kv_heads, hd] with heads a multiple of kv_heads; got q {q.shape}, "
                         f"k {k.shape}, v {v.shape}")
    kv_heads = k.shape[2]
    block = min(block or BLOCK, -(-t // 8) * 8)  # short rows: one block, rounded up to 8
    n = -(-t // block) * block
    pad = n - t
    if pad and segment_ids is None:
        segment_ids = jnp.ones((b, t), jnp.int32)
    if segment_ids is not None:
        segment_ids = jnp.pad(segment_ids.astype(jnp.int32), ((0, 0), (0, pad)))
    if window is not None:
        window = jnp.broadcast_to(jnp.asarray(window, jnp.int32), (b, kv_heads, t))
        window = jnp.pad(window, ((0, 0), (0, 0), (0, pad)), constant_values=1)
    # [b, kv, group, n, hd] queries; [b, kv, n, hd] keys and values
    qh = jnp.pad(q, ((0, 0), (0, pad), (0, 0), (0, 0)))
    qh = qh.reshape(b, n, kv_heads, heads // kv_heads, hd).transpose(0, 2, 3, 1, 4)
    kh = jnp.pad(k, ((0, 0), (0, pad), (0, 0), (0, 0))).transpose(0, 2, 1, 3)
    vh = jnp.pad(v, ((0, 0), (0, pad), (0, 0), (0, 0))).transpose(0, 2, 1, 3)
    out = _flash(qh, kh, vh, segment_ids, window, block)
    return out.transpose(0, 3, 1, 2, 4).reshape(b, n, heads, hd)[:, :t]


# ---- the custom VJP -----------------------------------------------------------------------------

@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _flash(q, k, v, segment_ids, window, block):
    return _forward(q, k, v, segment_ids, window, block)[0]


def _flash_fwd(q, k, v, segment_ids, window, block):
    out, lse = _forward(q, k, v, segment_ids, window, block)
    return out, (q, k, v, segment_ids, window, out, lse)


def _flash_bwd(block, residuals, d_out):
    q, k, v, segment_ids, window, out, lse = residuals
    dq, dk, dv = _backward(q, k, v, segment_ids, window, out, lse, d_out, block)
    return dq, dk, dv, None, None


_flash.defvjp(_flash_fwd, _flash_bwd)


def _visible(q_start, k_start, block, seg_q, seg_k, win_q):
    """[b or 1, kv or 1, 1, block, block] bool: which keys of a block each query sees."""
    diff = (q_start + jnp.arange(block))[:, None] - (k_start + jnp.arange(block))[None, :]
    mask = (diff >= 0)[None, None, None]
    if seg_q is not None:
        same = (seg_q[:, :, None] == seg_k[:, None, :]) & (seg_k[:, None, :] != 0)
        mask = mask & same[:, None, None]
    if win_q is not None:
        mask = mask & (diff[None, None] < win_q[:, :, :, None])[:, :, None]
    return mask


def _slice(x, start, block, axis):
    return None if x is None else lax.dynamic_slice_in_dim(x, start, block, axis)


def _reach(window):
    """The widest window (no query sees a key further back than this), or None: no window."""
    return None if window is None else jnp.max(window)


def _key_range(i, block, reach):
    """[lo, hi): the key blocks that query block i can see (causal, and within `reach`)."""
    if reach is None:
        return 0, i + 1
    return jnp.maximum(0, (i * block - reach + 1) // block), i + 1


def _query_range(j, block, n_blocks, reach):
    """[lo, hi): the query blocks that can see key block j."""
    if reach is None:
        return j, n_blocks
    return j, jnp.minimum(n_blocks, ((j + 1) * block + reach - 2) // block + 1)


def _forward(q, k, v, segment_ids, window, block):
    """(out [b, kv, g, n, hd] in q's dtype, logsumexp [b, kv, g, n] float32)."""
    b, kv, g, n, hd = q.shape
    scale = hd ** -0.5
    precision = precision_for(q.dtype)
    n_blocks = n // block
    reach = _reach(window)

    def query_block(i):
        qi = _slice(q, i * block, block, 3)
        seg_q = _slice(segment_ids, i * block, block, 1)
        win_q = _slice(window, i * block, block, 2)

        def body(j, carry):
            m, l, acc = carry
            kj = _slice(k, j * block, block, 2)
            vj = _slice(v, j * block, block, 2).astype(jnp.float32)
            seg_k = _slice(segment_ids, j * block, block, 1)
            scores = jnp.einsum("bkgqd,bksd->bkgqs", qi, kj, precision=precision,
                                preferred_element_type=jnp.float32) * scale
            mask = _visible(i * block, j * block, block, seg_q, seg_k, win_q)
            scores = jnp.where(mask, scores, MASK_VALUE)
            m_new = jnp.maximum(m, jnp.max(scores, axis=-1))
            p = jnp.where(mask, jnp.exp(scores - m_new[..., None]), 0.0)
            alpha = jnp.exp(m - m_new)
            l = alpha * l + jnp.sum(p, axis=-1)
            acc = alpha[..., None] * acc + jnp.einsum("bkgqs,bksd->bkgqd", p, vj,
                                                      precision=precision)
            return m_new, l, acc

        init = (jnp.full((b, kv, g, block), MASK_VALUE, jnp.float32),
                jnp.zeros((b, kv, g, block), jnp.float32),
                jnp.zeros((b, kv, g, block, hd), jnp.float32))
        lo, hi = _key_range(i, block, reach)
        m, l, acc = lax.fori_loop(lo, hi, body, init)
        seen = l > 0
        out = acc / jnp.where(seen, l, 1.0)[..., None]
        lse = jnp.where(seen, m + jnp.log(jnp.where(seen, l, 1.0)), 0.0)
        return out.astype(q.dtype), lse

    out, lse = lax.map(query_block, jnp.arange(n_blocks))  # [n_blocks, b, kv, g, block, ...]
    out = jnp.moveaxis(out, 0, 3).reshape(b, kv, g, n, hd)
    lse = jnp.moveaxis(lse, 0, 3).reshape(b, kv, g, n)
    return out, lse


def _backward(q, k, v, segment_ids, window, out, lse, d_out, block):
    """(dq, dk, dv) in the dtypes of q, k, v (FlashAttention-2's backward pass)."""
    b, kv, g, n, hd = q.shape
    scale = hd ** -0.5
    precision = precision_for(q.dtype)
    n_blocks = n // block
    reach = _reach(window)
    d_out = d_out.astype(jnp.float32)
    delta = jnp.sum(d_out * out.astype(jnp.float32), axis=-1)  # D = rowsum(dO * O)

    def key_block(dq, j):
        kj = _slice(k, j * block, block, 2)
        vj = _slice(v, j * block, block, 2).astype(jnp.float32)
        seg_k = _slice(segment_ids, j * block, block, 1)

        def body(i, carry):
            dq, dk, dv = carry
            qi = _slice(q, i * block, block, 3)
            do_i = _slice(d_out, i * block, block, 3)
            scores = jnp.einsum("bkgqd,bksd->bkgqs", qi, kj, precision=precision,
                                preferred_element_type=jnp.float32) * scale
            mask = _visible(i * block, j * block, block, _slice(segment_ids, i * block, block, 1),
                            seg_k, _slice(window, i * block, block, 2))
            lse_i = _slice(lse, i * block, block, 3)
            p = jnp.where(mask, jnp.exp(scores - lse_i[..., None]), 0.0)
            dv = dv + jnp.einsum("bkgqs,bkgqd->bksd", p, do_i, precision=precision)
            dp = jnp.einsum("bkgqd,bksd->bkgqs", do_i, vj, precision=precision)
            ds = p * (dp - _slice(delta, i * block, block, 3)[..., None]) * scale
            dk = dk + jnp.einsum("bkgqs,bkgqd->bksd", ds, qi.astype(jnp.float32),
                                 precision=precision)
            dq_i = _slice(dq, i * block, block, 3) + jnp.einsum(
                "bkgqs,bksd->bkgqd", ds, kj.astype(jnp.float32), precision=precision)
            return lax.dynamic_update_slice_in_dim(dq, dq_i, i * block, 3), dk, dv

        zeros = jnp.zeros((b, kv, block, hd), jnp.float32)
        lo, hi = _query_range(j, block, n_blocks, reach)
        dq, dk, dv = lax.fori_loop(lo, hi, body, (dq, zeros, zeros))
        return dq, (dk, dv)

    dq, (dk, dv) = lax.scan(key_block, jnp.zeros(q.shape, jnp.float32), jnp.arange(n_blocks))
    dk = jnp.moveaxis(dk, 0, 2).reshape(b, kv, n, hd)
    dv = jnp.moveaxis(dv, 0, 2).reshape(b, kv, n, hd)
    return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype)
