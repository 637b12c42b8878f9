"""TPU attention: the Pallas splash attention kernel that jax ships.

`jax.experimental.pallas.ops.tpu.splash_attention` (used the same way by MaxText): a static
mask per query head (here causal, or causal within a window: `LocalMask`), runtime segment ids
(`SegmentIds`; a query sees keys of its own segment id), and grouped-query heads through its
MHA kernel, which takes k, v [kv_heads, s, hd] with heads a multiple of kv_heads (query head h
reads kv head h // group). The kernel works on one row and does not scale the scores, so rows
are vmapped and queries are multiplied by 1/sqrt(head_dim) first.

Only what a static mask can say is computed here: hybrid's smaller window at each row's prompt
tokens (`prompt_window`) is not, and model/attention.py never hands it to this kernel.
Sequences are padded to a multiple of the block (128-512 tokens) with segment 0, which no real
token sees. Padding queries (segment 0) see the padding keys: their outputs are finite and
unspecified, as on every backend (no loss reads them).

Tested on the CPU in Pallas interpret mode (`interpret=True`: forward and gradients against the
plain attention, tests/test_attention.py), not on a TPU.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.experimental.pallas.ops.tpu import splash_attention as splash

MAX_BLOCK = 512  # tokens per block; a multiple of 128 (the kernel's lane width)


def attention(q: jax.Array, k: jax.Array, v: jax.Array, segment_ids: jax.Array | None,
              head_windows: tuple[int | None, ...], *, interpret: bool = False,
              max_block: int = MAX_BLOCK) -> jax.Array:
    """Causal grouped-query self-attention by the splash kernel.

    q: [b, t, heads, hd]; k, v: [b, t, kv_heads, hd]; segment_ids: [b, t] int (0 = padding) or
    None (one segment per row). head_windows: per query head, None (causal) or w (query i sees
    keys i - w < j <= i). interpret: run the kernel in the Pallas interpreter (any backend).
    max_block: the largest block (a multiple of 128); rows are padded to a multiple of the block.
    Returns [b, t, heads, hd] in q's dtype.
    """
    b, t, heads, hd = q.shape
    if len(head_windows) != heads:
        raise ValueError(f"head_windows has {len(head_windows)} entries for {heads} heads")
    block = min(max_block, -(-t // 128) * 128)
    n = -(-t // block) * block
    pad = n - t
    if segment_ids is None and pad:
        segment_ids = jnp.ones((b, t), jnp.int32)
    pad_seq = ((0, 0), (0, pad), (0, 0), (0, 0))
    scaled = (q.astype(jnp.float32) * hd ** -0.5).astype(q.dtype)
    qh = jnp.pad(scaled, pad_seq).transpose(0, 2, 1, 3)  # [b, heads, n, hd]
    kh = jnp.pad(k, pad_seq).transpose(0, 2, 1, 3)       # [b, kv_heads, n, hd]
    vh = jnp.pad(v, pad_seq).transpose(0, 2, 1, 3)
    kernel = splash.make_splash_mha(
        _mask(n, head_windows), block_sizes=_block_sizes(block), head_shards=1,
        q_seq_shards=1, interpret=interpret)
    if segment_ids is None:
        out = jax.vmap(kernel)(qh, kh, vh)
    else:
        seg = jnp.pad(segment_ids.astype(jnp.int32), ((0, 0), (0, pad)))
        out = jax.vmap(lambda q, k, v, s: kernel(q, k, v, segment_ids=splash.SegmentIds(s, s)))(
            qh, kh, vh, seg)
    return out.transpose(0, 2, 1, 3)[:, :t].astype(q.dtype)


def _mask(n: int, head_windows) -> splash.MultiHeadMask:
    shape = (n, n)
    return splash.MultiHeadMask([
        splash.CausalMask(shape) if w is None else splash.LocalMask(shape, (w - 1, 0), 0)
        for w in head_windows])


def _block_sizes(block: int) -> splash.BlockSizes:
    return splash.BlockSizes(block_q=block, block_kv=block, block_kv_compute=block,
                             block_q_dkv=block, block_kv_dkv=block, block_kv_dkv_compute=block,
                             block_q_dq=block, block_kv_dq=block)
