"""The chunked cross-entropy: the same sums and gradients as the loss on whole logits, through
the model and the training step, with less memory; `train.loss_chunk` checked by the config."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tailjax import step as step_lib
from tailjax.config import load_config
from tailjax.model import Qwen2Config, abstract_model, from_params, params_of
from tailjax.model.kernels import dense
from tailjax.model.loss import HEAD_SPECS, chunked_token_loss_sums, token_loss_sums
from tailjax.model.speed import use_fast_paths

B, T, D, V = 2, 13, 16, 50


def inputs(layout, seed=0):
    rng = np.random.default_rng(seed)
    hidden = jnp.asarray(rng.standard_normal((B, T, D)), jnp.float32)
    head_shape = (D, V) if layout == "dv" else (V, D)
    head = jnp.asarray(0.3 * rng.standard_normal(head_shape), jnp.float32)
    targets = jnp.asarray(rng.integers(0, V, (B, T)), jnp.int32)
    weights = jnp.asarray(rng.random((B, T)) < 0.7, jnp.float32)
    return hidden, head, targets, weights


def whole(hidden, head, targets, weights, layout):
    logits = dense(hidden, head, HEAD_SPECS[layout], out_dtype=jnp.float32)
    return token_loss_sums(logits, targets, weights)


@pytest.mark.parametrize("fast", [True, False], ids=["fast-paths", "plain"])
@pytest.mark.parametrize("layout", ["dv", "vd"])
@pytest.mark.parametrize("chunk", [1, 4, 13, 64])  # t = 13: uneven, whole, longer than t
def test_chunked_loss_equals_the_loss_on_whole_logits_in_value_and_gradient(chunk, layout, fast):
    hidden, head, targets, weights = inputs(layout)
    with use_fast_paths(fast):
        def ref(h, w):
            return whole(h, w, targets, weights, layout)[0]

        def got(h, w):
            return chunked_token_loss_sums(h, w, targets, weights, chunk, layout)[0]
        ref_value, ref_grads = jax.jit(jax.value_and_grad(ref, argnums=(0, 1)))(hidden, head)
        value, grads = jax.jit(jax.value_and_grad(got, argnums=(0, 1)))(hidden, head)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    count = chunked_token_loss_sums(hidden, head, targets, weights, chunk, layout)[1]
    assert count == weights.sum()


def test_chunked_loss_rejects_a_bad_chunk_and_layout():
    hidden, head, targets, weights = inputs("dv")
    with pytest.raises(ValueError, match="positive number of tokens, got 0"):
        chunked_token_loss_sums(hidden, head, targets, weights, 0)
    with pytest.raises(ValueError, match="head_layout 'x' is not one of dv, vd"):
        chunked_token_loss_sums(hidden, head, targets, weights, 4, "x")


def test_chunked_loss_never_holds_the_whole_logits():
    # Compiled memory is deterministic: the gradient of the whole-logits loss keeps float32
    # [b, t, vocab] logits (here 8 MiB) and their gradient; the chunked one [b, 32, vocab].
    b, t, d, v = 2, 256, 32, 4096
    hidden = jax.ShapeDtypeStruct((b, t, d), jnp.float32)
    head = jax.ShapeDtypeStruct((d, v), jnp.float32)
    targets = jnp.zeros((b, t), jnp.int32)
    weights = jnp.ones((b, t), jnp.float32)

    def temp_bytes(loss):
        fn = jax.jit(jax.grad(lambda h, w: loss(h, w, targets, weights), argnums=(0, 1)))
        return fn.lower(hidden, head).compile().memory_analysis().temp_size_in_bytes

    logits_bytes = b * t * v * 4
    full = temp_bytes(lambda h, w, tg, wt: whole(h, w, tg, wt, "dv")[0])
    chunked = temp_bytes(lambda h, w, tg, wt: chunked_token_loss_sums(h, w, tg, wt, 32)[0])
    assert full >= logits_bytes
    assert chunked < logits_bytes / 2, (chunked, full)


TINY = Qwen2Config(vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0)


def batch(seed=0, rows=2, t=12):
    rng = np.random.default_rng(seed)
    segments = np.repeat(np.array([[1] * 7 + [2] * 3 + [0] * 2]), rows, 0)
    positions = np.concatenate([np.arange(7), np.arange(3), np.zeros(2, int)])[None]
    mask = (rng.random((rows, t)) < 0.6) & (segments > 0)
    return {"inputs": jnp.asarray(rng.integers(0, 61, (rows, t)), jnp.int32),
            "targets": jnp.asarray(rng.integers(0, 61, (rows, t)), jnp.int32),
            "positions": jnp.asarray(np.repeat(positions, rows, 0), jnp.int32),
            "segment_ids": jnp.asarray(segments, jnp.int32),
            "loss_mask": jnp.asarray(mask, jnp.float32)}


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "lm_head"])
def test_training_loss_with_a_loss_chunk_equals_the_whole_logits_loss(tied):
    cfg = TINY.replace(tie_word_embeddings=tied)
    rng = np.random.default_rng(1)
    params = jax.tree.map(lambda s: jnp.asarray(0.2 * rng.standard_normal(s.shape), s.dtype),
                          params_of(abstract_model(cfg)))
    graphdef, state = nnx.split(from_params(cfg, params), nnx.Param)
    data = batch()

    def run(chunk):
        fn = jax.value_and_grad(lambda p: step_lib.loss_sums(graphdef, p, data, chunk),
                                has_aux=True)
        return jax.jit(fn)(state)
    (ref_sum, ref_count), ref_grads = run(0)
    (got_sum, got_count), grads = run(5)
    np.testing.assert_allclose(got_sum, ref_sum, rtol=1e-6)
    assert got_count == ref_count
    jax.tree.map(lambda g, r: np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6),
                 grads, ref_grads)


@pytest.mark.parametrize("tied,layout", [(True, "vd"), (False, "dv")])
def test_hidden_only_then_the_output_head_gives_the_logits(tied, layout):
    cfg = TINY.replace(tie_word_embeddings=tied)
    rng = np.random.default_rng(2)
    model = from_params(cfg, jax.tree.map(
        lambda s: jnp.asarray(0.2 * rng.standard_normal(s.shape), s.dtype),
        params_of(abstract_model(cfg))))
    ids = jnp.arange(12, dtype=jnp.int32)[None] * 5 % 61
    hidden = model(ids, hidden_only=True)
    head, got_layout = model.output_head()
    assert hidden.shape == (1, 12, cfg.hidden_size) and got_layout == layout
    np.testing.assert_allclose(dense(hidden, head, HEAD_SPECS[layout], jnp.float32), model(ids),
                               rtol=1e-6)


def test_loss_chunk_config_key():
    assert load_config(None, []).train.loss_chunk == 0
    assert load_config(None, ["train.loss_chunk=512"]).train.loss_chunk == 512
    with pytest.raises(ValueError, match="train.loss_chunk must be 0"):
        load_config(None, ["train.loss_chunk=-1"])
