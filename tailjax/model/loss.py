"""Next-token cross-entropy, as transformers' causal-LM loss computes it.

Returns the summed loss and the token count separately: gradient accumulation must add both
over micro-batches and divide once (averaging per-micro-batch means is wrong when masks differ).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

IGNORE = -100  # transformers' ignore_index


def causal_lm_loss(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sum of -log p(labels[:, i+1] | logits[:, i]), number of counted tokens).

    logits [b, t, vocab] float32; labels [b, t] int, IGNORE where no loss is taken. The mean
    loss, transformers' `Qwen2ForCausalLM(..., labels=labels).loss`, is sum / count.
    """
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logp = jax.nn.log_softmax(logits[:, :-1].astype(jnp.float32), axis=-1)
    picked = jnp.take_along_axis(logp, jnp.where(keep, targets, 0)[..., None], axis=-1)[..., 0]
    return -jnp.sum(jnp.where(keep, picked, 0.0)), jnp.sum(keep)
