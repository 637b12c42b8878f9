"""Cache attention (the decode path) against the general attention kernel, on random inputs."""

import numpy as np
import pytest

import jax.numpy as jnp

from tailjax.model import cache_attention as ca
from tailjax.model.kernels import attention
from tailjax.model.speed import use_fast_paths

B, HEADS, KV, HD, LAYERS, SLOTS = 3, 6, 2, 8, 2, 20


def filled_cache(rng):
    """A stacked cache with random contents and the same keys/values in the kernel's layout."""
    k = rng.standard_normal((LAYERS, B, SLOTS, KV, HD)).astype(np.float32)
    v = rng.standard_normal((LAYERS, B, SLOTS, KV, HD)).astype(np.float32)
    cache = {"k": jnp.asarray(k.transpose(0, 1, 3, 4, 2)),
             "v": jnp.asarray(v.transpose(0, 1, 3, 2, 4))}
    assert {n: c.shape for n, c in cache.items()} == ca.cache_shapes(LAYERS, B, SLOTS, KV, HD)
    return cache, k, v


@pytest.mark.parametrize("fast", [True, False])  # model/speed.py: folded matmuls or einsums
@pytest.mark.parametrize("t", [1, 3, 12])  # 12 > FEW_QUERIES: the prefill route
def test_matches_the_general_kernel_with_grouped_heads_and_a_mask(t, fast):
    with use_fast_paths(fast):
        rng = np.random.default_rng(t)
        cache, k, v = filled_cache(rng)
        q = jnp.asarray(rng.standard_normal((B, t, HEADS, HD)).astype(np.float32))
        mask = jnp.asarray(rng.random((B, t, SLOTS)) < 0.6).at[:, :, 0].set(True)
        for layer in range(LAYERS):
            expected = attention(q, jnp.asarray(k[layer]), jnp.asarray(v[layer]), mask)
            stacked = ca.cache_attention(q, cache["k"], cache["v"], layer, mask)
            split = ca.unstack(cache)
            per_layer = ca.cache_attention(q, split["k"], split["v"], layer, mask)
            np.testing.assert_allclose(stacked, expected, atol=1e-5)
            np.testing.assert_allclose(per_layer, expected, atol=1e-5)
        # the mask matters: attending everywhere gives another answer
        everywhere = ca.cache_attention(q, cache["k"], cache["v"], 0, jnp.ones_like(mask))
        assert not np.allclose(everywhere,
                               attention(q, jnp.asarray(k[0]), jnp.asarray(v[0]), mask))


def test_write_puts_new_keys_and_values_at_their_slots_in_both_forms():
    rng = np.random.default_rng(0)
    cache, k, v = filled_cache(rng)
    new_k = rng.standard_normal((B, 2, KV, HD)).astype(np.float32)
    new_v = rng.standard_normal((B, 2, KV, HD)).astype(np.float32)
    k[1, :, 5:7], v[1, :, 5:7] = new_k, new_v
    stacked = ca.write_cache(cache["k"], cache["v"], jnp.asarray(new_k), jnp.asarray(new_v), 1, 5)
    split = ca.unstack(cache)
    per_layer = ca.restack(dict(zip("kv", ca.write_cache(split["k"], split["v"], jnp.asarray(new_k),
                                                         jnp.asarray(new_v), 1, 5))))
    for k_all, v_all in (stacked, (per_layer["k"], per_layer["v"])):
        np.testing.assert_array_equal(np.asarray(k_all).transpose(0, 1, 4, 2, 3), k)
        np.testing.assert_array_equal(np.asarray(v_all).transpose(0, 1, 3, 2, 4), v)
    assert ca.cache_slots(cache) == ca.cache_slots(split) == SLOTS


def test_bf16_cache_scores_in_float32():
    rng = np.random.default_rng(1)
    cache, k, v = filled_cache(rng)
    q = jnp.asarray(rng.standard_normal((B, 1, HEADS, HD)).astype(np.float32))
    mask = jnp.ones((B, 1, SLOTS), bool)
    low = {n: c.astype(jnp.bfloat16) for n, c in cache.items()}
    out = ca.cache_attention(q.astype(jnp.bfloat16), low["k"], low["v"], 0, mask)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float32),
                               attention(q, jnp.asarray(k[0]), jnp.asarray(v[0]), mask), atol=3e-2)
