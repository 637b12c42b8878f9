"""Next-token cross-entropy: the loss training takes, and transformers' causal-LM loss.

Returns the summed loss and the token count separately: gradient accumulation must add both
over micro-batches and divide once (averaging per-micro-batch means is wrong when masks differ).

Two ways to the same sums:

- `token_loss_sums` takes whole logits [b, t, vocab] float32: the model's plain output.
- `chunked_token_loss_sums` takes the final normed hidden states [b, t, d] and the output
  embedding, and computes the logits `chunk` tokens at a time under `jax.checkpoint`, so the
  float32 [b, t, vocab] logits (and their gradient) never exist whole: at Qwen2.5's 152k
  vocabulary, 4 rows of 4096 tokens have 9.3 GiB of float32 logits and as much gradient, while a
  512-token chunk has 1.2 GiB. The backward recomputes each chunk's logits (one more
  [tokens, d] x [d, vocab] matmul per chunk, ~2 d vocab FLOPs per token). The same idea as
  MaxText's vocabulary tiling (`num_vocab_tiling`, which tiles the batch x sequence tokens and
  writes the gradient by hand) and levanter's blockwise cross-entropy; here autodiff of a
  checkpointed `lax.scan` body gives the gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tailjax.model.kernels import dense
from tailjax.model.sharding import constrain

IGNORE = -100  # transformers' ignore_index
# Layouts of the output embedding: lm_head [d, vocab] (untied), or the tied embedding [vocab, d].
HEAD_SPECS = {"dv": "btd,dv->btv", "vd": "btd,vd->btv"}


def token_loss_sums(logits: jax.Array, targets: jax.Array,
                    weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sum of weights * -log p(targets | logits), sum of weights); what training minimizes.

    logits [b, t, vocab] float32; targets [b, t] int, the token each position predicts (any
    valid id where the weight is 0); weights [b, t] float32, 0 where no loss is taken.
    """
    logz = jax.nn.logsumexp(logits, axis=-1)
    target = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return jnp.sum((logz - target) * weights), jnp.sum(weights)


def chunked_token_loss_sums(hidden: jax.Array, head: jax.Array, targets: jax.Array,
                            weights: jax.Array, chunk: int,
                            head_layout: str = "dv") -> tuple[jax.Array, jax.Array]:
    """`token_loss_sums(logits, targets, weights)` for logits = hidden @ head, computed `chunk`
    sequence positions at a time; equal in value and gradient up to float32 summation order.

    hidden [b, t, d] in the compute dtype (the model's final normed hidden states,
    `Qwen2(..., hidden_only=True)`); head: the output embedding, lm_head [d, vocab] with
    head_layout "dv" or the tied embedding [vocab, d] with "vd" (`Qwen2.output_head()` gives
    both); it is cast to hidden's dtype and the logits accumulate in float32, as the model's
    own head does (`kernels.dense`). targets [b, t] int, weights [b, t] float32, as in
    `token_loss_sums`. chunk: positions per chunk (> 0); t need not be a multiple of it (the
    last chunk is padded with weight 0). Peak memory of the logits is that of
    [b, chunk, vocab] float32 (a few such buffers in the backward) instead of [b, t, vocab].

    Raises ValueError for chunk < 1 or an unknown head_layout.
    """
    if chunk < 1:
        raise ValueError(f"loss chunk must be a positive number of tokens, got {chunk}")
    if head_layout not in HEAD_SPECS:
        raise ValueError(f"head_layout {head_layout!r} is not one of {', '.join(HEAD_SPECS)}")
    spec = HEAD_SPECS[head_layout]
    b, t, d = hidden.shape
    n = -(-t // chunk)
    pad = n * chunk - t
    if pad:
        hidden = jnp.pad(hidden, ((0, 0), (0, pad), (0, 0)))
        targets = jnp.pad(targets, ((0, 0), (0, pad)))
        weights = jnp.pad(weights, ((0, 0), (0, pad)))

    def by_chunk(x):  # [b, n * chunk, ...] -> [n, b, chunk, ...]
        return jnp.moveaxis(x.reshape(b, n, chunk, *x.shape[2:]), 1, 0)

    @jax.checkpoint  # the backward recomputes the chunk's logits instead of keeping them
    def chunk_loss(head, h, tgt, w):
        logits = dense(h, head, spec, out_dtype=jnp.float32)
        logits = constrain(logits, ("batch", "seq", "act_vocab"))
        return token_loss_sums(logits, tgt, w)[0]

    def body(total, xs):
        return total + chunk_loss(head, *xs), None

    total, _ = jax.lax.scan(body, jnp.float32(0),
                            (by_chunk(hidden), by_chunk(targets), by_chunk(weights)))
    return total, jnp.sum(weights)


def causal_lm_loss(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sum of -log p(labels[:, i+1] | logits[:, i]), number of counted tokens, float32).

    logits [b, t, vocab]; labels [b, t] int, IGNORE where no loss is taken. The mean loss,
    transformers' `Qwen2ForCausalLM(..., labels=labels).loss`, is sum / count.
    """
    targets = labels[:, 1:]
    keep = targets != IGNORE
    return token_loss_sums(logits[:, :-1].astype(jnp.float32), jnp.where(keep, targets, 0),
                           keep.astype(jnp.float32))
