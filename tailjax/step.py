"""The training step: the loss of a batch, gradient accumulation, and the AdamW optimizer.

What `train`, `plan` and the benchmarks compile. The batch is split into micro-batches whose
token losses and token counts are summed before one divide; AdamW (warmup + decay to a final
lr, weight decay, clipping) then updates the float32 master weights while the model computes in
the configured dtype.

`loss_chunk` (config `train.loss_chunk`) picks how the logits are made: 0 takes the model's
whole float32 [rows, T, vocab] logits (the default, and what the demo measured); N > 0 computes
them N positions at a time and recomputes them in the backward (model/loss.py
`chunked_token_loss_sums`), so they never exist whole.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from tailjax.model.loss import chunked_token_loss_sums, token_loss_sums


def loss_sums(graphdef, params, batch, loss_chunk: int = 0):
    """(sum of token losses, number of loss tokens) of one batch; loss_mask weighs each token.

    batch: {"inputs", "targets", "positions", "segment_ids"} int32 [rows, T] and "loss_mask"
    [rows, T] (see data.pipeline.Encoder). Both results are float32 scalars. loss_chunk: 0 =
    from the whole logits, N > 0 = N positions at a time (see the module docstring).
    """
    model = nnx.merge(graphdef, params)
    # The prompt's tokens but its last carry no loss weight (see data.pipeline.Encoder).
    prompt = (batch["loss_mask"] == 0) & (batch["segment_ids"] != 0)
    weights = batch["loss_mask"].astype(jnp.float32)
    if loss_chunk:
        hidden = model(batch["inputs"], batch["positions"], batch["segment_ids"],
                       prompt_mask=prompt, hidden_only=True)
        head, layout = model.output_head()
        return chunked_token_loss_sums(hidden, head, batch["targets"], weights, loss_chunk,
                                       layout)
    logits = model(batch["inputs"], batch["positions"], batch["segment_ids"], prompt_mask=prompt)
    return token_loss_sums(logits, batch["targets"], weights)


def split_micro(batch, micro_batches: int):
    """[rows, T] -> [micro, rows / micro, T], row r going to micro-batch r % micro, so every
    micro-batch keeps rows on every data shard."""
    def one(x):
        rows = x.shape[0]
        return x.reshape(rows // micro_batches, micro_batches, *x.shape[1:]).swapaxes(0, 1)
    return jax.tree.map(one, batch)


def grads_and_loss(graphdef, params, batch, micro_batches: int, loss_chunk: int = 0):
    """Gradient of the mean token loss over the whole batch, accumulated over micro-batches:
    token-loss sums and token counts are summed first and divided once at the end."""
    grad_fn = jax.value_and_grad(lambda p, b: loss_sums(graphdef, p, b, loss_chunk),
                                 has_aux=True)
    if micro_batches == 1:
        (loss_sum, count), grads = grad_fn(params, batch)
    else:
        def body(carry, micro):
            g_acc, l_acc, n_acc = carry
            (l, n), g = grad_fn(params, micro)
            return (jax.tree.map(jnp.add, g_acc, g), l_acc + l, n_acc + n), None

        zeros = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
        (grads, loss_sum, count), _ = jax.lax.scan(
            body, (zeros, jnp.float32(0), jnp.float32(0)), split_micro(batch, micro_batches))
    count = jnp.maximum(count, 1.0)
    grads = jax.tree.map(lambda g: g / count, grads)
    return grads, loss_sum / count, count


def make_optimizer(train_cfg, total_steps: int):
    """(AdamW with clipping, lr schedule): linear warmup, then cosine or linear decay to
    final_lr."""
    warmup = min(train_cfg.warmup_steps, max(total_steps - 1, 0))
    decay_steps = max(total_steps - warmup, 1)
    if train_cfg.schedule == "cosine":
        decay = optax.cosine_decay_schedule(train_cfg.lr, decay_steps,
                                            alpha=train_cfg.final_lr / train_cfg.lr)
    else:
        decay = optax.linear_schedule(train_cfg.lr, train_cfg.final_lr, decay_steps)
    warm = optax.linear_schedule(train_cfg.lr / max(warmup, 1), train_cfg.lr, max(warmup - 1, 1))
    schedule = optax.join_schedules([warm, decay], [warmup]) if warmup else decay
    parts = [optax.clip_by_global_norm(train_cfg.clip_norm)] if train_cfg.clip_norm > 0 else []
    parts.append(optax.adamw(schedule, b1=train_cfg.b1, b2=train_cfg.b2,
                             weight_decay=train_cfg.weight_decay, mask=decay_mask))
    return optax.chain(*parts), schedule


def decays(name: str) -> bool:
    """Whether the parameter named `name` ("layers/attn_norm", "layers/3/q_bias", ...) gets weight
    decay: weight matrices do, norm scales and biases do not (the usual LLM recipe). Chosen by the
    parameter's role, not its number of dimensions, which stacking the layers changes."""
    role = name.rsplit("/", 1)[-1]
    return not (role.endswith("norm") or role.endswith("bias"))


def decay_mask(params):
    """A tree of bools like `params` (stacked or per-layer layout): True where weight decays."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: decays("/".join(str(getattr(k, "key", getattr(k, "idx", k)))
                                        for k in path)), params)


def make_train_step(graphdef, tx, micro_batches: int, loss_chunk: int = 0):
    """(params, opt_state, batch) -> (params, opt_state, {"loss", "grad_norm", "tokens"}): one
    optimizer step on the mean token loss of the batch (float32 scalar metrics)."""
    def step(params, opt_state, batch):
        grads, loss, count = grads_and_loss(graphdef, params, batch, micro_batches, loss_chunk)
        grad_norm = optax.tree.norm(grads)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, {"loss": loss, "grad_norm": grad_norm, "tokens": count}
    return step


def make_eval_step(graphdef, loss_chunk: int = 0):
    """(params, batch) -> `loss_sums` of the batch, for validation."""
    def step(params, batch):
        return loss_sums(graphdef, params, batch, loss_chunk)
    return step


def opt_shardings(tx, abstract_params, p_shardings, mesh):
    """Optimizer state shardings: moments like their parameters, counters replicated."""
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    abstract_opt = jax.eval_shape(tx.init, abstract_params)
    return optax.tree_map_params(tx, lambda _, s: s, abstract_opt, p_shardings,
                                 transform_non_params=lambda _: replicated)
