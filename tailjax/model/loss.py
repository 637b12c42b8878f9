"""Next-token cross-entropy: the loss training takes, and transformers' causal-LM loss.

Returns the summed loss and the token count separately: gradient accumulation must add both
over micro-batches and divide once (averaging per-micro-batch means is wrong when masks differ).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

IGNORE = -100  # transformers' ignore_index


def token_loss_sums(logits: jax.Array, targets: jax.Array,
                    weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sum of weights * -log p(targets | logits), sum of weights); what training minimizes.

    logits [b, t, vocab] float32; targets [b, t] int, the token each position predicts (any
    valid id where the weight is 0); weights [b, t] float32, 0 where no loss is taken.
    """
    logz = jax.nn.logsumexp(logits, axis=-1)
    target = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return jnp.sum((logz - target) * weights), jnp.sum(weights)


def causal_lm_loss(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(sum of -log p(labels[:, i+1] | logits[:, i]), number of counted tokens, float32).

    logits [b, t, vocab]; labels [b, t] int, IGNORE where no loss is taken. The mean loss,
    transformers' `Qwen2ForCausalLM(..., labels=labels).loss`, is sum / count.
    """
    targets = labels[:, 1:]
    keep = targets != IGNORE
    return token_loss_sums(logits[:, :-1].astype(jnp.float32), jnp.where(keep, targets, 0),
                           keep.astype(jnp.float32))
