"""model/attention.py: every backend computes the plain attention (kernels.attention over
materialized masks), forward and gradients; auto's choice per platform; the whole model.

Rows are packed (two segments, then padding in segment 0) with grouped-query heads (4 query
heads on 2 kv heads). Outputs at padding queries are unspecified on every backend and no loss
reads them, so they are compared only where the query is a real token (and gradients of a
loss that weighs only those). Float32 tolerances: forward atol = rtol = 1e-5, gradients
atol = rtol = 2e-5 (blockwise measured ~1e-6 off); a whole model's parameter gradients
(entries up to ~12, summed over every token and layer) atol = rtol = 1e-4.
"""

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tailjax.model import attention, attention_blockwise, attention_gpu, attention_splash
from tailjax.model.kernels import attention as plain
from tailjax.model.qwen2 import abstract_model, from_params, params_of
from tailjax.model.qwen2_config import Qwen2Config
from tailjax.model.sharding import make_mesh

FORWARD = dict(atol=1e-5, rtol=1e-5)
GRADIENT = dict(atol=2e-5, rtol=2e-5)
MODEL_GRADIENT = dict(atol=1e-4, rtol=1e-4)  # a whole model's parameter gradients
CFG = Qwen2Config(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0)
HYBRID = dict(position_encoding="hybrid", local_heads=1, local_window=5)


def qkv(t, b=2, heads=4, kv_heads=2, hd=16, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((b, t, heads, hd))
    k, v = (rng.standard_normal((b, t, kv_heads, hd)) for _ in range(2))
    return tuple(jnp.asarray(x, jnp.float32) for x in (q, k, v))


def packed_segments(t, b=2):
    """Row 0: segments 1 and 2, then padding (0); row 1: one segment over the whole row."""
    seg = np.zeros((b, t), np.int32)
    a = int(t * 0.45)
    seg[0, :a], seg[0, a:int(t * 0.85)] = 1, 2
    seg[1:] = 3
    return jnp.asarray(seg)


def check_equal(fn, reference, q, k, v, segment_ids):
    """fn and reference agree at real queries, forward and gradients w.r.t. q, k and v."""
    real = (segment_ids != 0)[:, :, None, None]
    np.testing.assert_allclose(np.where(real, fn(q, k, v), 0),
                               np.where(real, reference(q, k, v), 0), **FORWARD)
    weights = jax.random.normal(jax.random.key(1), q.shape) * real

    def loss(f):
        return lambda q, k, v: jnp.sum(f(q, k, v).astype(jnp.float32) * weights)

    got = jax.grad(loss(fn), argnums=(0, 1, 2))(q, k, v)
    want = jax.grad(loss(reference), argnums=(0, 1, 2))(q, k, v)
    for name, a, b in zip("qkv", got, want):
        np.testing.assert_allclose(a, b, **GRADIENT, err_msg=f"d{name}")


def plain_with(cfg, segment_ids, prompt_mask=None, sliding=False):
    """The xla backend's attention for cfg: kernels.attention over training_masks."""
    b, t = segment_ids.shape
    full, slid = attention.training_masks(b, t, segment_ids, cfg, prompt_mask)
    return lambda q, k, v: plain(q, k, v, slid if sliding else full)


# ---- blockwise ----------------------------------------------------------------------------------

@pytest.mark.parametrize("block", [16, 512])  # several blocks (t padded to 80), and one block
def test_blockwise_equals_plain_attention_packed_gqa_causal(block):
    q, k, v = qkv(70)
    seg = packed_segments(70)
    check_equal(jax.jit(lambda q, k, v: attention_blockwise.attention(q, k, v, seg, block=block)),
                plain_with(CFG, seg), q, k, v, seg)
    out = attention_blockwise.attention(q, k, v, seg, block=block)
    np.testing.assert_array_equal(out[0, 60:], 0)  # padding queries see nothing: 0


@pytest.mark.parametrize("case", ["sliding window", "hybrid", "hybrid, prompt window"])
def test_blockwise_windows_equal_the_masks(case):
    """query_windows (index arithmetic) and training_masks say the same; blockwise follows."""
    t = 70
    q, k, v = qkv(t)
    seg = packed_segments(t)
    prompt = None
    if case == "sliding window":
        cfg = CFG.replace(use_sliding_window=True, sliding_window=6, max_window_layers=0)
    else:
        cfg = CFG.replace(**HYBRID, prompt_window=2 if "prompt" in case else 0)
        prompt = jnp.asarray(np.arange(t)[None] % 31 < 9).repeat(2, axis=0)
    sliding = case == "sliding window"
    full, slid = attention.query_windows(cfg, 2, t, prompt)
    window = slid if sliding else full
    check_equal(jax.jit(lambda q, k, v: attention_blockwise.attention(q, k, v, seg, window,
                                                                      block=16)),
                plain_with(cfg, seg, prompt, sliding), q, k, v, seg)


def test_blockwise_without_segment_ids_and_in_bfloat16():
    q, k, v = qkv(40)
    ones = jnp.ones((2, 40), jnp.int32)
    check_equal(lambda q, k, v: attention_blockwise.attention(q, k, v, block=16),
                plain_with(CFG, ones), q, k, v, ones)
    low = [x.astype(jnp.bfloat16) for x in (q, k, v)]
    out = attention_blockwise.attention(*low, block=16)
    assert out.dtype == jnp.bfloat16
    mask, _ = attention.training_masks(2, 40, None, CFG)
    np.testing.assert_allclose(out.astype(jnp.float32), plain(*low, mask).astype(jnp.float32),
                               atol=2e-2)


# ---- splash (TPU) and Pallas GPU, in the Pallas interpreter ------------------------------------

@pytest.mark.parametrize("windows", [(None,) * 4, (5, 5, None, None)])
def test_splash_interpreted_equals_plain_attention(windows):
    t = 200  # padded to 256: two blocks of 128
    q, k, v = qkv(t)
    seg = packed_segments(t)
    cfg = CFG if windows[0] is None else CFG.replace(**HYBRID)
    assert attention.head_windows(cfg, 4, sliding=False) == windows
    check_equal(jax.jit(lambda q, k, v: attention_splash.attention(
        q, k, v, seg, windows, interpret=True, max_block=128)),
        plain_with(cfg, seg), q, k, v, seg)


def test_pallas_gpu_interpreted_equals_plain_attention():
    t = 200
    q, k, v = qkv(t)
    seg = packed_segments(t)
    args, kwargs = attention_gpu.pallas_gpu_arguments(q, k, v, seg)
    assert [a.shape for a in args] == [(2, 256, 4, 16)] * 3 + [(2, 256)]  # padded, kv repeated
    assert kwargs == dict(sm_scale=0.25, causal=True)
    check_equal(jax.jit(lambda q, k, v: attention_gpu.pallas_gpu_attention(
        q, k, v, seg, interpret=True)), plain_with(CFG, seg), q, k, v, seg)


# ---- cuDNN: up to the hand-over -----------------------------------------------------------------

@pytest.mark.parametrize("window", [None, 6])
def test_cudnn_arguments_through_xla_equal_plain_attention(window):
    t = 48
    q, k, v = qkv(t)
    seg = jnp.asarray(np.stack([np.r_[np.ones(30), np.zeros(18)], np.full(t, 2)]), jnp.int32)
    (q_, k_, v_), kwargs = attention_gpu.cudnn_arguments(q, k, v, seg, window)
    assert q_ is q and k_.shape == (2, t, 2, 16)  # grouped-query heads handed over as they are
    np.testing.assert_array_equal(kwargs["query_seq_lengths"], [30, t])
    assert kwargs["key_value_seq_lengths"].dtype == jnp.int32 and kwargs["is_causal"]
    assert kwargs.get("local_window_size") == (None if window is None else (window - 1, 0))
    cfg = CFG if window is None else CFG.replace(use_sliding_window=True, sliding_window=window,
                                                 max_window_layers=0)
    check_equal(lambda q, k, v: attention_gpu.cudnn_attention(q, k, v, seg, window,
                                                              implementation="xla"),
                plain_with(cfg, seg, sliding=window is not None), q, k, v, seg)


def test_cudnn_turns_packed_rows_to_nan_rather_than_attend_across_them():
    q, k, v = qkv(40)
    seg = packed_segments(40)  # row 0 holds two sequences
    np.testing.assert_array_equal(attention_gpu.one_sequence_rows(seg), [False, True])
    out = attention_gpu.cudnn_attention(q, k, v, seg, None, implementation="xla")
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()


# ---- choosing a backend -------------------------------------------------------------------------

def test_an_unknown_backend_is_refused_in_one_line():
    with pytest.raises(ValueError, match="attention 'flash' is not one of auto, xla, blockwise"):
        CFG.replace(attention="flash")
    from tailjax.config import load_config

    with pytest.raises(ValueError, match="model.attention 'flash' is unknown; choose one of"):
        load_config(None, ["model.attention=flash"])
    with pytest.raises(ValueError, match="set data.pack false, or use pallas_gpu"):
        load_config(None, ["model.attention=cudnn"])


def test_auto_picks_per_platform_and_row_length():
    choose = attention.choose_backend
    f32, bf16 = CFG, CFG.replace(dtype="bfloat16")
    assert choose("cpu", f32, 512, segmented=True) == "xla"  # the CPU demo's rows
    assert choose("cpu", f32, attention.XLA_MAX_TOKENS + 1, segmented=True) == "blockwise"
    assert choose("cpu", bf16, 32768, segmented=True) == "blockwise"
    assert choose("tpu", bf16, 512, segmented=True) == "splash"
    assert choose("gpu", bf16, 512, segmented=False) == "cudnn"
    assert choose("gpu", bf16, 512, segmented=True) == "pallas_gpu"  # rows may be packed
    assert choose("gpu", bf16.replace(packed_rows=False), 512, segmented=True) == "cudnn"
    # float32 compute keeps XLA's float32 products; features a kernel lacks fall back
    assert choose("tpu", f32, 8192, segmented=True) == "blockwise"
    hybrid = bf16.replace(**HYBRID, prompt_window=2)
    assert choose("tpu", hybrid, 512, segmented=True) == "splash"  # static windows: splash
    assert choose("tpu", hybrid, 512, segmented=True, prompt_windowed=True) == "xla"
    assert choose("gpu", hybrid, 8192, segmented=False) == "blockwise"
    sliding = bf16.replace(use_sliding_window=True, sliding_window=8, max_window_layers=0)
    assert choose("gpu", sliding, 512, segmented=True) == "xla"
    assert choose("gpu", sliding, 512, segmented=False) == "cudnn"
    # named backends are taken as named, or refused with the reason and the fix
    assert choose("cpu", f32.replace(attention="splash"), 512, segmented=True) == "splash"
    for cfg, prompt, match in [
            (bf16.replace(attention="cudnn"), False, "cudnn: cuDNN takes rows of one sequence"),
            (f32.replace(attention="cudnn", packed_rows=False), False,
             "cudnn: cuDNN flash attention takes bfloat16 or float16 only"),
            (hybrid.replace(attention="splash"), True, "splash: hybrid's prompt_window"),
            (hybrid.replace(attention="cudnn", packed_rows=False), False,
             "cudnn: cuDNN takes one window"),
            (sliding.replace(attention="pallas_gpu"), False, "pallas_gpu: Pallas GPU attention "
                                                             "has no window")]:
        with pytest.raises(ValueError, match="model.attention " + match):
            choose("gpu", cfg, 512, segmented=True, prompt_windowed=prompt)


# ---- the whole model ----------------------------------------------------------------------------

PARAMS = jax.tree.map(
    lambda s: (0.1 * np.random.default_rng(0).standard_normal(s.shape) + (s.ndim <= 2) * 0.5)
    .astype(s.dtype), params_of(abstract_model(CFG)))


def model_loss_and_grads(t=40, **overrides):
    """Logits and parameter gradients of a 2-layer model on two packed rows (hybrid, a prompt
    window and sliding layers as `overrides` say)."""
    cfg = CFG.replace(**overrides)
    graphdef, params = nnx.split(from_params(cfg, PARAMS), nnx.Param)
    rng = np.random.default_rng(3)
    ids = jnp.asarray(rng.integers(0, 97, (2, t)))
    seg = packed_segments(t)
    pos = jnp.asarray(np.concatenate([np.arange(t)[None], np.arange(t)[None]]))
    prompt = jnp.asarray(np.arange(t)[None] % 17 < 6).repeat(2, axis=0) & (seg != 0)
    real = (seg != 0)[..., None]

    def loss(params):
        logits = nnx.merge(graphdef, params)(ids, pos, seg, prompt_mask=prompt)
        return jnp.sum(jax.nn.log_softmax(logits) * real), logits

    (_, logits), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
    return np.where(real, logits, 0), grads


@pytest.mark.parametrize("overrides", [
    dict(remat="full"), dict(**HYBRID, prompt_window=2, scan_layers=True, remat="dots"),
    dict(use_sliding_window=True, sliding_window=6, max_window_layers=1, scan_layers=True)],
    ids=["rope, remat", "hybrid, prompt window, scan, remat dots", "sliding layer 1 of 2, scan"])
def test_the_model_with_blockwise_attention_equals_xla(overrides):
    want_logits, want = model_loss_and_grads(attention="xla", **overrides)
    got_logits, got = model_loss_and_grads(attention="blockwise", **overrides)
    np.testing.assert_allclose(got_logits, want_logits, **FORWARD)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **MODEL_GRADIENT), got, want)


@pytest.mark.parametrize("backend", ["splash", "pallas_gpu"])
def test_the_model_with_a_fused_kernel_interpreted_equals_xla(backend):
    overrides = dict(scan_layers=True)
    if backend == "splash":  # a traced layer index picks between two static masks
        overrides.update(HYBRID, use_sliding_window=True, sliding_window=6, max_window_layers=1)
    want_logits, want = model_loss_and_grads(attention="xla", **overrides)
    got_logits, got = model_loss_and_grads(attention=backend, **overrides)
    np.testing.assert_allclose(got_logits, want_logits, **FORWARD)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **MODEL_GRADIENT), got, want)


def test_blockwise_builds_no_t_by_t_array(monkeypatch):
    """Neither the masks nor a [t, t] score block exist when blocks are shorter than rows."""
    monkeypatch.setattr(attention_blockwise, "BLOCK", 16)
    t = 80  # not a model dimension (intermediate 96, vocab 97)
    cfg = CFG.replace(attention="blockwise", **HYBRID, prompt_window=2)
    seg = packed_segments(t)
    inputs = attention.prepare(cfg, 2, t, seg, seg == 1)
    assert inputs.backend == "blockwise" and inputs.masks is None
    graphdef, params = nnx.split(from_params(cfg, PARAMS), nnx.Param)

    def loss(params):
        ids = jnp.zeros((2, t), jnp.int32)
        return nnx.merge(graphdef, params)(ids, None, seg, prompt_mask=seg == 1).sum()

    shapes = set()

    def collect(jaxpr):
        for eqn in jaxpr.eqns:
            shapes.update(tuple(v.aval.shape) for v in eqn.outvars)
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                collect(sub)

    collect(jax.make_jaxpr(jax.grad(loss))(params).jaxpr)
    assert not [s for s in shapes if s[-2:] == (t, t)], "a [t, t] array was built"
    assert any(s[-2:] == (16, 16) for s in shapes)  # the score blocks


@pytest.mark.parametrize("hybrid", [False, True])
def test_fused_kernels_run_per_shard_under_a_mesh(hybrid):
    """Under a mesh (2 data x 2 tensor here) the splash kernel runs on each shard: rows and
    whole query groups (rows only when heads have different windows), the same numbers as
    unsharded."""
    cfg = CFG.replace(attention="splash", **(HYBRID if hybrid else {}))
    q, k, v = qkv(130, b=4)
    seg = jnp.concatenate([packed_segments(130)] * 2)
    inputs = attention.prepare(cfg, 4, 130, seg)
    want = attention.attend(q, k, v, inputs, cfg)
    mesh = make_mesh({"data": 2, "tensor": 2}, jax.devices()[:4])
    with jax.set_mesh(mesh):
        got = jax.jit(lambda q, k, v: attention.attend(q, k, v, inputs, cfg))(q, k, v)
    real = (seg != 0)[:, :, None, None]
    np.testing.assert_allclose(np.where(real, got, 0), np.where(real, want, 0), **FORWARD)


@pytest.mark.parametrize("dtype,precision", [("float32", "HIGHEST"), ("bfloat16", "DEFAULT")])
def test_blockwise_asks_for_float32_products_in_float32(dtype, precision):
    """As kernels.attention does (kernels.precision_for), forward and custom backward."""
    q, k, v = (x.astype(dtype) for x in qkv(40))
    seg = packed_segments(40)

    def loss(q, k, v):
        return attention_blockwise.attention(q, k, v, seg, block=16).astype(jnp.float32).sum()

    found = set()

    def collect(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                found.add(str(eqn.params["precision"]))
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                collect(sub)

    collect(jax.make_jaxpr(jax.grad(loss, argnums=(0, 1, 2)))(q, k, v).jaxpr)
    assert found and all(precision in p for p in found), found
