"""The Qwen2 module itself: packing, cached decoding, scan vs unrolled, remat, real shapes.

Every model here shares one set of random parameters (built with numpy, no init compile) and
most calls share one input shape, so the jit caches are reused across tests.
"""

import re

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tailjax.model import Qwen2, Qwen2Config, count_params, preset
from tailjax.config import load_config
from tailjax.model.qwen2 import abstract_model, from_params, params_of
from tailjax.model.qwen2_config import REMAT_MODES

SMALL = Qwen2Config(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0)
T = 20  # the shared sequence length


def random_params(cfg, seed=0):
    """Random weights with non-zero biases and non-trivial norms, so every path is exercised."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: (0.1 * rng.standard_normal(s.shape) + (s.ndim <= 2) * 0.5)
                        .astype(s.dtype), params_of(abstract_model(cfg)))


PARAMS = random_params(SMALL)


def small_model(**overrides) -> Qwen2:
    cfg = SMALL.replace(**overrides)
    return from_params(cfg, jax.tree.map(lambda x: x.astype(cfg.param_dtype), PARAMS))


forward = jax.jit(lambda model, ids, positions, segments: model(ids, positions, segments))


def packed_inputs(lengths, seed=0):
    """One row of T tokens: samples of `lengths` packed back to back, then padding."""
    rng = np.random.default_rng(seed)
    samples = [rng.integers(0, 97, n) for n in lengths]
    pad = T - sum(lengths)
    ids = np.concatenate(samples + [np.zeros(pad, int)])[None]
    positions = np.concatenate([np.arange(n) for n in lengths] + [np.zeros(pad, int)])[None]
    segments = np.concatenate([np.full(n, i + 1) for i, n in enumerate(lengths)]
                              + [np.zeros(pad, int)])[None]
    return samples, jnp.asarray(ids), jnp.asarray(positions), jnp.asarray(segments)


def alone(model, sample, prompt_len=0):
    """Logits of one sample run by itself (padded to T, padding in segment 0); its first
    prompt_len - 1 tokens marked as the prompt's (Qwen2 prompt_mask)."""
    _, ids, pos, seg = packed_inputs([len(sample)])
    ids = ids.at[0, :len(sample)].set(jnp.asarray(sample))
    prompt = jnp.arange(T)[None] < prompt_len - 1
    return np.asarray(forward_prompt(model, ids, pos, seg, prompt)[0, :len(sample)])


forward_prompt = jax.jit(lambda model, ids, positions, segments, prompt: model(
    ids, positions, segments, prompt_mask=prompt))


def test_packed_segments_do_not_attend_across_samples():
    model = small_model()
    (a, b), ids, pos, seg = packed_inputs([11, 7])
    logits = np.asarray(forward(model, ids, pos, seg))
    np.testing.assert_allclose(logits[0, :11], alone(model, a), atol=1e-5)
    np.testing.assert_allclose(logits[0, 11:18], alone(model, b), atol=1e-5)
    assert np.isfinite(logits).all()  # padding rows see no key, yet stay finite
    # the check can fail: one segment for both samples lets the second attend to the first
    leaked = np.asarray(forward(model, ids, pos, jnp.where(seg > 0, 1, 0)))
    assert np.abs(leaked[0, 11:18] - alone(model, b)).max() > 1e-3


def test_default_positions_and_segments_are_a_causal_forward():
    model = small_model()
    _, ids, _, _ = packed_inputs([T])
    explicit = forward(model, ids, jnp.arange(T)[None], jnp.ones((1, T), jnp.int32))
    np.testing.assert_allclose(jax.jit(lambda m, ids: m(ids))(model, ids), explicit, atol=1e-5)


@pytest.mark.parametrize("layers", ["unrolled", "scan", "fused"])
def test_cached_decoding_with_left_padding_equals_full_forward(layers):
    # "fused": the decoder's per-layer weights with q/k/v and gate/up joined into one matmul each
    check_cached_equals_forward(small_model(scan_layers=layers == "scan"), layers == "fused")


ENCODINGS = {
    "nope": dict(position_encoding="nope"),
    "hybrid": dict(position_encoding="hybrid", local_heads=1, local_window=4),
    "hybrid, logit scale 1.3": dict(position_encoding="hybrid", local_heads=1, local_window=4,
                                    attn_logit_scale=1.3),
    "rope, logit scale 1.3": dict(attn_logit_scale=1.3),
    "hybrid, prompt window 2": dict(position_encoding="hybrid", local_heads=1, local_window=4,
                                    prompt_window=2),
}


@pytest.mark.parametrize("attention", ["auto", "blockwise"])
@pytest.mark.parametrize("layers", ["scan", "fused"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_position_encoding_decodes_as_it_trains(encoding, layers, attention):
    """The training forward (by the CPU's attention backend, xla, or by blockwise) and the
    KV-cache decoder give the same logits (left padding, a window shorter than the prompt, 5
    cached steps) for each opt-in encoding."""
    model = small_model(scan_layers=layers == "scan", attention=attention, **ENCODINGS[encoding])
    check_cached_equals_forward(model, layers == "fused")
    _, ids, pos, seg = packed_inputs([T])
    rope = np.asarray(forward(small_model(), ids, pos, seg))
    assert np.abs(np.asarray(forward(model, ids, pos, seg)) - rope).max() > 1e-3
    prompt = jnp.arange(T)[None] < 10
    marked = np.asarray(forward_prompt(model, ids, pos, seg, prompt))
    # a prompt window changes what the prompt's tokens (and so everything after) compute
    changed = np.abs(marked - np.asarray(forward(model, ids, pos, seg))).max() > 1e-4
    assert changed == bool(model.config.prompt_window)


def test_nope_ignores_positions_and_hybrid_local_heads_see_their_window_only():
    from tailjax.model.attention import training_masks

    _, ids, pos, seg = packed_inputs([T])
    nope = small_model(**ENCODINGS["nope"])
    shuffled = jnp.asarray(np.random.default_rng(0).permutation(T))[None]
    np.testing.assert_allclose(forward(nope, ids, shuffled, seg), forward(nope, ids, pos, seg),
                               atol=1e-5)
    hybrid = small_model(**ENCODINGS["hybrid"])
    assert np.abs(np.asarray(forward(hybrid, ids, shuffled, seg) -
                             forward(hybrid, ids, pos, seg))).max() > 1e-3
    full, _ = training_masks(1, 6, None, hybrid.config)
    assert full.shape == (1, 2, 6, 6)  # one mask per kv head
    local, global_ = np.asarray(full[0, 0]), np.asarray(full[0, 1])
    np.testing.assert_array_equal(global_, np.tril(np.ones((6, 6), bool)))
    np.testing.assert_array_equal(local, np.tril(np.ones((6, 6), bool)) &
                                  ~np.tril(np.ones((6, 6), bool), -4))


def check_cached_equals_forward(model, fuse):
    rng = np.random.default_rng(2)
    prompts = [rng.integers(0, 97, 13), rng.integers(0, 97, 6)]
    steps, width, max_len = 5, 13, 24
    continuation = rng.integers(0, 97, (2, steps))
    refs = [alone(model, np.concatenate([p, c]), len(p)) for p, c in zip(prompts, continuation)]

    pads = [width - len(p) for p in prompts]
    ids = np.stack([np.concatenate([np.zeros(n, int), p]) for n, p in zip(pads, prompts)])
    positions = np.stack([np.maximum(np.arange(width) - n, 0) for n in pads])
    kv_mask = jnp.asarray(np.stack([np.arange(max_len) >= n for n in pads]))
    step = jax.jit(lambda m, ids, pos, cache, i: m(
        ids, pos, cache=cache, cache_index=i, kv_mask=kv_mask,
        layers=m.layer_list(fuse=True) if fuse else None,
        prompt_mask=i + jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape) < width - 1))
    cache = model.init_cache(2, max_len)
    assert cache["k"].shape == (2, 2, 2, 16, max_len)  # [layers, batch, kv, head_dim, slots]
    assert cache["v"].shape == (2, 2, 2, max_len, 16)
    logits, cache = step(model, jnp.asarray(ids), jnp.asarray(positions), cache, jnp.int32(0))
    for i, (p, n) in enumerate(zip(prompts, pads)):
        np.testing.assert_allclose(logits[i, n:], refs[i][: len(p)], atol=1e-5)
    for s in range(steps):
        pos = np.array([[len(p) + s] for p in prompts])
        logits, cache = step(model, jnp.asarray(continuation[:, s:s + 1]), jnp.asarray(pos),
                             cache, jnp.int32(width + s))
        for i, p in enumerate(prompts):
            np.testing.assert_allclose(logits[i, 0], refs[i][len(p) + s], atol=1e-5)


def loss_and_grads(**overrides):
    """(a loss of the logits, its gradient) for two packed samples."""
    _, ids, pos, seg = packed_inputs([12, 8])
    graphdef, params = nnx.split(small_model(**overrides), nnx.Param)

    def loss(params):
        logits = nnx.merge(graphdef, params)(ids, pos, seg)
        return jax.nn.log_softmax(logits).mean()
    return jax.jit(jax.value_and_grad(loss))(params)


def test_scan_and_unrolled_layers_agree_and_remat_keeps_gradients():
    base_loss, base_grads = loss_and_grads(scan_layers=False)
    for overrides in (dict(scan_layers=True, remat="full"), dict(scan_layers=False, remat="dots")):
        value, grads = loss_and_grads(**overrides)
        np.testing.assert_allclose(value, base_loss, rtol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), grads, base_grads)


def test_every_remat_policy_gives_the_loss_and_gradients_of_none():
    base_loss, base_grads = loss_and_grads(scan_layers=True)
    for remat in REMAT_MODES[:-1]:
        assert remat != "none"
        value, grads = loss_and_grads(scan_layers=True, remat=remat)
        np.testing.assert_allclose(value, base_loss, rtol=1e-6, err_msg=remat)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6, err_msg=remat),
                     grads, base_grads)


@pytest.mark.parametrize("remat,names", [
    ("full", set()), ("dots", set()), ("save_out_proj", {"out_proj"}),
    ("save_qkv_proj", {"query_proj", "key_proj", "value_proj"}),
    ("save_dot_except_mlp", {"query_proj", "key_proj", "value_proj", "out_proj"})])
def test_named_remat_policies_keep_exactly_their_named_activations(remat, names, capsys):
    # Unrolled layers, so each layer's residuals are listed with their checkpoint names.
    _, ids, pos, seg = packed_inputs([12, 8])
    graphdef, params = nnx.split(small_model(scan_layers=False, remat=remat), nnx.Param)
    jax.ad_checkpoint.print_saved_residuals(
        lambda p: nnx.merge(graphdef, p)(ids, pos, seg).sum(), params)
    saved = set(re.findall(r"named '(\w+)'", capsys.readouterr().out))
    assert saved == names


def test_an_unknown_remat_policy_is_one_line_listing_the_choices():
    with pytest.raises(ValueError) as error:
        SMALL.replace(remat="selective")
    message = str(error.value)
    assert "\n" not in message and all(mode in message for mode in REMAT_MODES)
    with pytest.raises(ValueError, match="model.remat 'selective' is unknown; choose one of "
                                         "full, save_out_proj, "):
        load_config(None, ["model.remat=selective"])


def test_full_remat_needs_less_temporary_memory_than_none():
    # The compiler's buffer assignment is deterministic (not a timing), so it can be tested.
    ids = jax.ShapeDtypeStruct((4, 256), jnp.int32)

    def temp_bytes(remat):
        graphdef, params = nnx.split(small_model(scan_layers=True, remat=remat), nnx.Param)
        grad = jax.jit(jax.grad(lambda p, ids: nnx.merge(graphdef, p)(ids).mean()))
        return grad.lower(params, ids).compile().memory_analysis().temp_size_in_bytes

    sizes = {remat: temp_bytes(remat) for remat in ("none", "save_dot_except_mlp", "full")}
    assert sizes["full"] < sizes["save_dot_except_mlp"] < sizes["none"], sizes


def test_sliding_window_limits_attention_only_on_sliding_layers():
    _, ids, pos, seg = packed_inputs([T])
    full = np.asarray(forward(small_model(), ids, pos, seg))
    slid = np.asarray(forward(small_model(use_sliding_window=True, sliding_window=4,
                                          max_window_layers=1), ids, pos, seg))
    np.testing.assert_allclose(slid[0, :4], full[0, :4], atol=1e-5)  # window not yet reached
    assert np.abs(slid[0, 4:] - full[0, 4:]).max() > 1e-4


def test_bf16_compute_stays_close_to_f32():
    _, ids, pos, seg = packed_inputs([T])
    bf16 = small_model(dtype="bfloat16", param_dtype="bfloat16")
    ref, low = forward(small_model(), ids, pos, seg), forward(bf16, ids, pos, seg)
    assert low.dtype == jnp.float32 and bf16.layers.q.dtype == jnp.bfloat16
    assert np.abs(np.asarray(low) - np.asarray(ref)).max() < 0.05


def _dot_precisions(jaxpr) -> set:
    """The precision of every dot_general in a jaxpr, its sub-jaxprs (custom VJPs) included."""
    found = set()
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            found.add(str(eqn.params["precision"]))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            found |= _dot_precisions(sub)
    return found


@pytest.mark.parametrize("dtype,precision", [("float32", "HIGHEST"), ("bfloat16", "DEFAULT")])
def test_float32_compute_asks_for_float32_products_in_every_matmul(dtype, precision):
    # XLA's default precision is TF32 on GPUs and one bf16 pass on TPUs: an f32 model that
    # left it at the default lost parity with transformers on an H100.
    _, ids, pos, seg = packed_inputs([T])
    model = small_model(dtype=dtype)
    graphdef, state = nnx.split(model)

    def loss(state):
        return nnx.merge(graphdef, state)(ids, pos, seg).sum()

    precisions = _dot_precisions(jax.make_jaxpr(jax.grad(loss))(state).jaxpr)
    assert precisions and all(precision in p for p in precisions), precisions


def test_real_shapes_abstractly():
    cfg = preset("qwen2.5-7b", param_dtype="bfloat16")
    abstract = nnx.eval_shape(lambda: Qwen2(cfg, rngs=nnx.Rngs(0)))
    leaves = jax.tree.leaves(nnx.state(abstract, nnx.Param))
    assert sum(x.size for x in leaves) == 7_615_616_512 == count_params(cfg)
    assert all(isinstance(x, jax.ShapeDtypeStruct) and x.dtype == jnp.bfloat16 for x in leaves)
    assert abstract.lm_head.shape == (3584, 152064)
    assert abstract.layers.k.shape == (28, 3584, 4, 128)
    assert count_params(preset("qwen2.5-0.5b")) == 494_032_768
    assert count_params(preset("qwen2.5-1.5b")) == 1_543_714_304
    assert count_params(preset("qwen2.5-3b")) == 3_085_938_688
    assert 2.5e6 < count_params(preset("tiny")) < 3.5e6


def test_from_params_rejects_a_wrong_shape_and_a_missing_parameter():
    params = jax.tree.map(lambda x: x, PARAMS)
    params["layers"]["q"] = params["layers"]["q"][:, :, :2]
    with pytest.raises(ValueError, match=r"layers/q has shape \(2, 64, 2, 16\), expected"):
        from_params(SMALL, params)
    del params["final_norm"]
    with pytest.raises(ValueError, match="final_norm is missing"):
        from_params(SMALL, params)


def test_cached_call_without_positions_is_an_error():
    model = small_model()
    with pytest.raises(ValueError, match="positions"):
        model(jnp.zeros((1, 3), jnp.int32), cache=model.init_cache(1, 8), cache_index=0)
