"""The Qwen2 module itself: packing, cached decoding, scan vs unrolled, remat, real shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tailjax.model import Qwen2, Qwen2Config, count_params, preset

SMALL = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0)


def small_model(seed=0, **overrides) -> Qwen2:
    model = Qwen2(Qwen2Config(**{**SMALL, **overrides}), rngs=nnx.Rngs(seed))
    # non-zero biases, so the bias paths are exercised
    for name in ("q_bias", "k_bias", "v_bias"):
        p = getattr(model.layers, name)
        p[...] = (0.1 * jax.random.normal(jax.random.key(7), p.shape)).astype(p.dtype)
    return model


def test_packed_segments_do_not_attend_across_samples():
    model = small_model()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 97, 11), rng.integers(0, 97, 7)
    packed = np.concatenate([a, b, [0, 0]])[None]
    positions = np.concatenate([np.arange(11), np.arange(7), [0, 0]])[None]
    segments = np.array([[1] * 11 + [2] * 7 + [0, 0]])
    logits = model(jnp.asarray(packed), jnp.asarray(positions), jnp.asarray(segments))
    alone_a = model(jnp.asarray(a[None]))
    alone_b = model(jnp.asarray(b[None]))
    np.testing.assert_allclose(logits[0, :11], alone_a[0], atol=1e-5)
    np.testing.assert_allclose(logits[0, 11:18], alone_b[0], atol=1e-5)
    assert np.isfinite(np.asarray(logits)).all()  # padding rows see no key, yet stay finite


def test_without_segments_packed_samples_do_leak():
    # The segment test above must be able to fail: plain causal attention mixes the samples.
    model = small_model()
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 97, 9), rng.integers(0, 97, 6)
    packed = jnp.asarray(np.concatenate([a, b])[None])
    positions = jnp.asarray(np.concatenate([np.arange(9), np.arange(6)])[None])
    logits = model(packed, positions)
    assert np.abs(np.asarray(logits[0, 9:]) - np.asarray(model(jnp.asarray(b[None]))[0])).max() > 1e-3


@pytest.mark.parametrize("scan", [False, True])
def test_cached_decoding_with_left_padding_equals_full_forward(scan):
    model = small_model(scan_layers=scan)
    rng = np.random.default_rng(2)
    prompts = [rng.integers(0, 97, 13), rng.integers(0, 97, 6)]
    steps, width, max_len = 5, 13, 24
    continuation = rng.integers(0, 97, (2, steps))
    # reference: each sample alone, no padding, one full forward over prompt + continuation
    refs = [np.asarray(model(jnp.asarray(np.concatenate([p, c])[None]))[0])
            for p, c in zip(prompts, continuation)]

    pads = [width - len(p) for p in prompts]
    ids = np.stack([np.concatenate([np.zeros(n, int), p]) for n, p in zip(pads, prompts)])
    positions = np.stack([np.maximum(np.arange(width) - n, 0) for n in pads])
    kv_mask = np.stack([np.arange(max_len) >= n for n in pads])
    step = jax.jit(lambda m, *a, **k: m(*a, **k))
    cache = model.init_cache(2, max_len)
    logits, cache = step(model, jnp.asarray(ids), jnp.asarray(positions), cache=cache,
                         cache_index=jnp.int32(0), kv_mask=jnp.asarray(kv_mask))
    for i, (p, n) in enumerate(zip(prompts, pads)):
        np.testing.assert_allclose(logits[i, n:], refs[i][: len(p)], atol=1e-5)
    for s in range(steps):
        pos = np.array([[len(p) + s] for p in prompts])
        logits, cache = step(model, jnp.asarray(continuation[:, s:s + 1]), jnp.asarray(pos),
                             cache=cache, cache_index=jnp.int32(width + s),
                             kv_mask=jnp.asarray(kv_mask))
        for i, p in enumerate(prompts):
            np.testing.assert_allclose(logits[i, 0], refs[i][len(p) + s], atol=1e-5)


def test_scan_and_unrolled_layers_agree_and_remat_keeps_gradients():
    ids = jnp.asarray(np.random.default_rng(3).integers(0, 97, (2, 12)))

    def loss_and_grads(**overrides):
        model = small_model(**overrides)
        graphdef, params = nnx.split(model, nnx.Param)

        def loss(params):
            logits = nnx.merge(graphdef, params)(ids)
            return jax.nn.log_softmax(logits).mean()
        return jax.jit(jax.value_and_grad(loss))(params)

    base_loss, base_grads = loss_and_grads(scan_layers=False)
    for overrides in (dict(scan_layers=True), dict(scan_layers=True, remat="full"),
                      dict(scan_layers=False, remat="dots")):
        value, grads = loss_and_grads(**overrides)
        np.testing.assert_allclose(value, base_loss, rtol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), grads, base_grads)


def test_sliding_window_limits_attention_only_on_sliding_layers():
    base = small_model()
    windowed = small_model(use_sliding_window=True, sliding_window=4, max_window_layers=1)
    ids = jnp.asarray(np.random.default_rng(4).integers(0, 97, (1, 10)))
    full, slid = np.asarray(base(ids)), np.asarray(windowed(ids))
    np.testing.assert_allclose(slid[0, :4], full[0, :4], atol=1e-5)  # window not yet reached
    assert np.abs(slid[0, 4:] - full[0, 4:]).max() > 1e-4


def test_bf16_compute_stays_close_to_f32():
    model = small_model()
    bf16 = small_model(dtype="bfloat16", param_dtype="bfloat16")
    ids = jnp.asarray(np.random.default_rng(5).integers(0, 97, (2, 16)))
    ref, low = model(ids), bf16(ids)
    assert low.dtype == jnp.float32 and bf16.layers.q.dtype == jnp.bfloat16
    assert np.abs(np.asarray(low) - np.asarray(ref)).max() < 0.05


def test_real_shapes_abstractly():
    cfg = preset("qwen2.5-7b", param_dtype="bfloat16")
    abstract = nnx.eval_shape(lambda: Qwen2(cfg, rngs=nnx.Rngs(0)))
    leaves = jax.tree.leaves(nnx.state(abstract, nnx.Param))
    assert sum(x.size for x in leaves) == 7_615_616_512 == count_params(cfg)
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)
    assert abstract.lm_head.shape == (3584, 152064)
    assert abstract.layers.k.shape == (28, 3584, 4, 128)
    assert count_params(preset("qwen2.5-0.5b")) == 494_032_768
    assert count_params(preset("qwen2.5-1.5b")) == 1_543_714_304
    assert count_params(preset("qwen2.5-3b")) == 3_085_938_688
    assert 2.5e6 < count_params(preset("tiny")) < 3.5e6


def test_cached_call_without_positions_is_an_error():
    model = small_model()
    with pytest.raises(ValueError, match="positions"):
        model(jnp.zeros((1, 3), jnp.int32), cache=model.init_cache(1, 8), cache_index=0)
