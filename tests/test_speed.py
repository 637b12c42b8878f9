"""The CPU fast paths (model/speed.py) compute what the plain paths compute.

A few AdamW steps of a tiny Qwen2 and a greedy decode run once with the fast paths off (einsum
dense, scanned layers, stacked weights and cache, the general attention over the cache) and
once on (the CPU defaults): losses agree to float32 rounding and the tokens are the same. The
jaxprs show each run took the path it was asked for.
"""

import jax
import numpy as np
import pytest
from flax import nnx

from tailjax.config import TrainConfig
from tailjax.decode import Decoder
from tailjax.model import Qwen2Config, abstract_model, from_params, params_of
from tailjax.model.speed import ENV, fast_paths, use_fast_paths
from tailjax.step import make_optimizer, make_train_step

# hybrid heads: the masks differ per kv head, the cache attention's harder case
CFG = Qwen2Config(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0,
                  position_encoding="hybrid", local_heads=1, local_window=4)
ROWS, T, STEPS = 4, 32, 3


def tiny_model():
    """Random weights wide enough that greedy decoding does not repeat one token."""
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda s: (0.3 * rng.standard_normal(s.shape) + (s.ndim <= 2) * 0.5)
                          .astype(s.dtype), params_of(abstract_model(CFG)))
    return from_params(CFG, params)


def packed_batch():
    """Two samples per row, prompts carrying no loss, padding after them (segment 0)."""
    rng = np.random.default_rng(1)
    inputs = rng.integers(0, CFG.vocab_size, (ROWS, T)).astype(np.int32)
    segments = np.repeat(np.array([[1] * 14 + [2] * 12 + [0] * 6]), ROWS, 0).astype(np.int32)
    positions = np.concatenate([np.arange(14), np.arange(12), np.zeros(6, int)])
    loss_mask = ((positions >= 4) & (segments[0] > 0)).astype(np.int32)
    return {"inputs": inputs, "targets": np.roll(inputs, -1, 1),
            "positions": np.repeat(positions[None], ROWS, 0).astype(np.int32),
            "segment_ids": segments, "loss_mask": np.repeat(loss_mask[None], ROWS, 0)}


def train(on: bool):
    """(losses, grad norms, the forward's jaxpr text) of STEPS optimizer steps with the fast
    paths on/off."""
    graphdef, params = nnx.split(tiny_model(), nnx.Param)
    tx, _ = make_optimizer(TrainConfig(lr=3e-3, warmup_steps=1), STEPS)
    opt_state = tx.init(params)
    batch = packed_batch()
    with use_fast_paths(on):  # read while the step is traced
        step = jax.jit(make_train_step(graphdef, tx, micro_batches=2))
        jaxpr = str(jax.make_jaxpr(lambda p: nnx.merge(graphdef, p)(batch["inputs"]))(params))
        losses, norms = [], []
        for _ in range(STEPS):
            params, opt_state, metrics = step(params, opt_state, batch)
            losses.append(float(metrics["loss"]))
            norms.append(float(metrics["grad_norm"]))
    return losses, norms, jaxpr


def test_training_steps_agree_with_the_fast_paths_off_and_on():
    plain_losses, plain_norms, plain = train(False)
    fast_losses, fast_norms, fast = train(True)
    np.testing.assert_allclose(plain_losses, fast_losses, rtol=1e-5)
    np.testing.assert_allclose(plain_norms, fast_norms, rtol=1e-4)
    assert plain_losses[-1] < plain_losses[0]  # the steps did train
    # each run took its own path: the custom-VJP dense and unrolled layers only when on
    assert "custom_vjp_call" in fast and "custom_vjp_call" not in plain
    assert " scan[" in plain and " scan[" not in fast


def test_greedy_decoding_is_the_same_with_the_fast_paths_off_and_on():
    model = tiny_model()
    rng = np.random.default_rng(2)
    prompts = [rng.integers(0, CFG.vocab_size, n).tolist() for n in (3, 9, 17, 12)]
    outputs = {}
    for on in (False, True):
        with use_fast_paths(on):  # the Decoder decides once, when it is built
            decoder = Decoder(model)
        assert decoder.fast_paths == on and decoder.fuse_projections == on
        outputs[on] = decoder.generate(prompts, 40, end_ids=[0])
    np.testing.assert_array_equal(outputs[False].tokens, outputs[True].tokens)
    np.testing.assert_array_equal(outputs[False].lengths, outputs[True].lengths)
    assert len({tuple(row) for row in outputs[True].rows()}) > 1  # the prompts lead apart


def test_the_switch_reads_the_block_then_the_environment_then_the_backend(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert fast_paths("cpu") and not fast_paths("gpu") and not fast_paths("tpu")
    monkeypatch.setenv(ENV, "0")
    assert not fast_paths("cpu")
    monkeypatch.setenv(ENV, "1")
    assert fast_paths("gpu")
    with use_fast_paths(False):
        assert not fast_paths("cpu")
        with use_fast_paths(True):
            assert fast_paths("tpu")
        assert not fast_paths("cpu")
    monkeypatch.setenv(ENV, "yes")
    with pytest.raises(ValueError, match=ENV):
        fast_paths("cpu")
