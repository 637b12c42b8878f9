"""The batched KV-cache decoder against transformers' generate, on a tiny random Qwen2.

One HF model (random weights, non-zero q/k/v biases, a wide init so greedy outputs vary) is
saved as safetensors and loaded through tailjax.model.load; every greedy test decodes the same
4 prompts (one row bucket, one length bucket, one budget), so they share one compile.
"""

import numpy as np
import pytest

import jax

from tailjax import decode as decode_lib
from tailjax.decode import Decoder, _decode_jit, bucket, generate, left_pad
from tailjax.plan import plan_kv_cache
from tailjax.model import load, preset, sharding

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

PROMPT_LENGTHS = (3, 11, 20, 29)
NEW = 24


@pytest.fixture(scope="module")
def hf_model_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.Qwen2Config(
        vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=False, initializer_range=0.3, rope_theta=10000.0)
    hf = transformers.Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.3)
    path = tmp_path_factory.mktemp("hf_tiny")
    hf.save_pretrained(path)
    return hf, str(path)


@pytest.fixture(scope="module")
def decoder(hf_model_dir):
    return Decoder(load(hf_model_dir[1], dtype="float32"))


@pytest.fixture(scope="module")
def prompts():
    rng = np.random.default_rng(0)
    return [rng.integers(2, 128, size=n).tolist() for n in PROMPT_LENGTHS]


def hf_greedy(hf, prompt, end_id=None, new=NEW):
    """transformers' greedy continuation of one prompt by itself (no padding)."""
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                          do_sample=False, pad_token_id=0, eos_token_id=end_id)
    return out[0, len(prompt):].tolist()


def test_greedy_matches_transformers_for_prompts_of_different_lengths(hf_model_dir, decoder,
                                                                       prompts):
    hf, _ = hf_model_dir
    out = decoder.generate(prompts, NEW, end_ids=[])
    assert out.rows() == [hf_greedy(hf, p) for p in prompts]
    assert out.lengths.tolist() == [NEW] * len(prompts)
    assert out.truncated.all()
    assert len({tuple(r) for r in out.rows()}) == len(prompts)  # outputs differ: a real check


def test_end_token_reached_mid_batch_stops_only_that_row(hf_model_dir, decoder, prompts):
    hf, _ = hf_model_dir
    free = decoder.generate(prompts, NEW, end_ids=[]).rows()
    # An end id the model really emits: the first token (after a few steps) of some row that
    # another row never produces, so one row stops early and another runs to the budget.
    end = next(t for row in free for t in row[3:] if any(t not in other for other in free))
    out = decoder.generate(prompts, NEW, end_ids=[end])
    expected = [hf_greedy(hf, p, end) for p in prompts]
    assert out.rows() == expected
    stopped = [row[-1] == end and len(row) < NEW for row in expected]
    assert any(stopped) and not all(stopped)
    assert out.truncated.tolist() == [not s for s in stopped]
    # tokens past a row's end are padding, never the model's continuation
    for b, n in enumerate(out.lengths):
        assert (out.tokens[b, n:] == 0).all()


def test_vocab_limit_keeps_outputs_inside_a_smaller_tokenizer(decoder, prompts):
    free = decoder.generate(prompts, NEW, end_ids=[]).rows()
    assert max(max(r) for r in free) >= 50  # unrestricted, the model does emit ids >= 50
    limited = decoder.generate(prompts, NEW, end_ids=[], vocab_limit=50)
    assert max(max(r) for r in limited.rows()) < 50
    # the first token is the argmax over the allowed ids only
    assert all(r[0] == f[0] for r, f in zip(limited.rows(), free) if f[0] < 50)


@pytest.mark.parametrize("fast_paths,unroll", [(True, 8), (True, 0), (False, 8)],
                         ids=["cpu-unrolled", "cpu-scanned", "plain"])
def test_blockwise_cache_reads_match_transformers(hf_model_dir, prompts, monkeypatch,
                                                  fast_paths, unroll):
    # With blocks of at least 8 slots, the 16-slot prompt bucket and a 40-token budget make a
    # cache of 56 slots read in 7 blocks of 8: step j reads ceil((16 + j) / 8) of them. A budget
    # of 37 makes 53 slots: the 7th block is read from slot 45, its first 3 slots masked. The CPU
    # fast paths with the layers unrolled (per-layer weights and cache) or scanned, and the
    # plain paths GPUs and TPUs run, all give transformers' tokens.
    monkeypatch.setattr(decode_lib, "MIN_BLOCK", 8)
    monkeypatch.setattr(decode_lib, "UNROLL_LAYERS", unroll)
    assert decode_lib.cache_layout(16, 40) == (56, 8)
    blockwise = Decoder(load(hf_model_dir[1], dtype="float32"), fast_paths=fast_paths)
    assert blockwise.per_layer == (fast_paths and unroll >= 2)
    hf, _ = hf_model_dir
    short = prompts[:2]
    free = [hf_greedy(hf, p, new=40) for p in short]
    # an end id row 1 first emits as token j >= 17, which step j makes reading 5 blocks or more
    j = next(j for j in range(17, 40) if free[1][j] not in free[1][:j])
    out = blockwise.generate(short, 40, end_ids=[free[1][j]])
    assert out.rows() == [hf_greedy(hf, p, free[1][j], new=40) for p in short]
    assert out.lengths[1] == j + 1 and not out.truncated[1]
    assert decode_lib.cache_layout(16, 37) == (53, 8)
    assert blockwise.generate(short, 37, end_ids=[]).rows() == [f[:37] for f in free]


def test_cache_layout_splits_long_budgets_into_few_blocks():
    assert decode_lib.cache_layout(64, 256) == (320, None)  # up to MIN_BLOCK slots: read whole
    assert decode_lib.cache_layout(64, 32768) == (32832, 8192)  # at most MAX_BLOCKS blocks
    assert decode_lib.cache_layout(1024, 768) == (1792, decode_lib.MIN_BLOCK)


def test_chunked_prefill_gives_the_same_tokens(hf_model_dir, decoder, prompts, monkeypatch):
    # Logits of 4 rows x 8 positions x 128 vocab fit the cap: the 32-token bucket runs in 4 chunks.
    monkeypatch.setattr(decode_lib, "PREFILL_LOGITS_BYTES", 4 * 8 * 128 * 4)
    assert decode_lib._prefill_chunk(4, 32, 128) == 8
    chunked = Decoder(load(hf_model_dir[1], dtype="float32"))
    assert chunked.generate(prompts, NEW, end_ids=[]).rows() == \
        decoder.generate(prompts, NEW, end_ids=[]).rows()


def test_kv_cache_is_donated_and_reused_not_copied(decoder, prompts):
    decoder.generate(prompts, NEW, end_ids=[])
    kept = decoder._cache
    compiled = _decode_jit._cache_size()
    decoder.generate(prompts[::-1], NEW, end_ids=[3, 4])  # other prompts, other end ids
    partial = decoder.generate(prompts[:3], NEW, end_ids=[], rows=4)  # padded to 4 rows
    assert _decode_jit._cache_size() == compiled  # the same shapes reuse one compile
    assert partial.rows() == decoder.generate(prompts, NEW, end_ids=[]).rows()[:3]
    assert all(leaf.is_deleted() for leaf in jax.tree.leaves(kept))  # donated to the call
    assert decoder._cache is not None and not any(
        leaf.is_deleted() for leaf in jax.tree.leaves(decoder._cache))


@pytest.mark.parametrize("axes", [{"data": 4, "tensor": 2}, {"data": 8}, {"fsdp": 4, "tensor": 2}])
def test_sharded_decoding_on_a_mesh_gives_the_same_tokens(hf_model_dir, decoder, prompts, axes):
    mesh = sharding.make_mesh(axes)
    sharded = Decoder(load(hf_model_dir[1], dtype="float32", mesh=mesh), mesh=mesh)
    # The training layout's fsdp axis is folded into data (the weights fit): rows split 4 ways
    # with the weights whole along them, and over tensor as the rules say.
    assert dict(sharded.mesh.shape) == {"data": 8 // axes.get("tensor", 1), "fsdp": 1,
                                        "tensor": axes.get("tensor", 1)}
    # q/k/v and gate/up are joined only where no weight is split: on the pure data mesh
    assert sharded.fuse_projections == ("tensor" not in axes)
    out = sharded.generate(prompts[:3], NEW, end_ids=[])
    assert out.rows() == decoder.generate(prompts[:3], NEW, end_ids=[]).rows()
    compiled = _decode_jit._cache_size()
    again = sharded.generate(prompts[1:], NEW, end_ids=[])
    assert _decode_jit._cache_size() == compiled  # the reused sharded cache: no recompile
    assert again.rows() == decoder.generate(prompts[1:], NEW, end_ids=[]).rows()
    # [layers, batch, kv heads, ...], or [batch, kv heads, ...] per layer
    spec = jax.tree.leaves(sharded._cache)[0].sharding.spec[1 - sharded.per_layer:]
    assert "data" in str(spec[0])  # batch over data
    if "tensor" in axes:
        assert spec[1] == "tensor"  # kv heads over tensor


def test_sampling_on_a_mesh_gives_each_shard_of_rows_its_own_random_stream(hf_model_dir, prompts):
    mesh = sharding.make_mesh({"data": 4, "tensor": 2})
    sharded = Decoder(load(hf_model_dir[1], dtype="float32", mesh=mesh), mesh=mesh)
    same = [prompts[0]] * 8  # two rows per data shard, each shard decoding in its own loop
    hot = [sharded.generate(same, NEW, [], temperature=5.0, key=jax.random.key(3)).rows()
           for _ in range(2)]
    assert hot[0] == hot[1]  # reproducible per key
    # One stream for every shard would give rows 0, 2, 4 and 6 (each shard's first) alike.
    assert len({tuple(r) for r in hot[0][::2]}) == 4


def test_sampling_is_reproducible_per_key_and_top_p_near_zero_is_greedy(decoder, prompts):
    greedy = decoder.generate(prompts, NEW, end_ids=[]).rows()
    key = jax.random.key(7)
    narrow = decoder.generate(prompts, NEW, [], temperature=1.0, top_p=1e-6, key=key)
    assert narrow.rows() == greedy
    hot = [decoder.generate(prompts, NEW, [], temperature=5.0, key=jax.random.key(k)).rows()
           for k in (1, 1, 2)]
    assert hot[0] == hot[1] and hot[0] != hot[2] and hot[0] != greedy


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompts=[]), "no prompts"),
    (dict(prompts=[[5], []]), "prompt 1 is empty"),
    (dict(prompts=[[5, 300]]), "outside the model's vocabulary"),
    (dict(max_new_tokens=0), "max_new_tokens must be at least 1"),
    (dict(end_ids=[128]), "end ids"),
    (dict(temperature=0.5), "explicit PRNG key"),
    (dict(top_p=0.0, temperature=1.0, key=jax.random.key(0)), "top_p must be in"),
    (dict(prompts=[[5], [6]], rows=1), "rows=1 is fewer than the 2 prompts"),
    (dict(vocab_limit=129), "vocab_limit 129 must be in"),
])
def test_bad_requests_fail_with_one_clear_error(decoder, kwargs, message):
    args = dict(prompts=[[5, 6]], max_new_tokens=4, end_ids=[1]) | kwargs
    with pytest.raises(ValueError, match=message):
        decoder.generate(args.pop("prompts"), args.pop("max_new_tokens"), args.pop("end_ids"),
                         **args)


def test_argmax_picks_the_first_of_tied_maxima_like_jnp_argmax():
    from tailjax.sampling import argmax as _argmax

    rng = np.random.default_rng(0)
    logits = rng.integers(-3, 3, (64, 50)).astype(np.float32)  # many ties
    logits[0] = -np.inf
    logits[1, 7:] = -np.inf
    np.testing.assert_array_equal(np.asarray(_argmax(jax.numpy.asarray(logits))),
                                  np.argmax(logits, axis=-1))


def test_left_padding_and_buckets():
    ids, lengths = left_pad([[7, 8], [9]], 4, 3, pad_id=0)
    assert ids.tolist() == [[0, 0, 7, 8], [0, 0, 0, 9], [0, 0, 0, 0]]
    assert lengths.tolist() == [2, 1, 1]  # the filler row gets a 1-token prompt
    assert [bucket(n, 16) for n in (1, 16, 17, 100)] == [16, 16, 32, 128]


def test_generate_function_wraps_a_decoder(hf_model_dir, decoder, prompts):
    model = load(hf_model_dir[1], dtype="float32")
    assert generate(model, prompts, NEW, end_ids=[]).rows() == \
        decoder.generate(prompts, NEW, end_ids=[]).rows()


def test_kv_cache_plan_for_7b_at_batch_32_and_32k_tokens():
    arch = preset("qwen2.5-7b").to_hf()
    full = 2 * 28 * 32 * 32768 * 4 * 128 * 2  # k and v, bf16
    plan = plan_kv_cache(arch, 32, 32768, {"data": 2, "tensor": 4})
    assert plan.total_bytes == full and plan.per_device_bytes == full // 8
    assert "7.00 GiB" in plan.describe()
    # 4 kv heads cannot be split 8 ways: the plan says the cache is replicated over tensor
    wide = plan_kv_cache(arch, 32, 32768, {"tensor": 8})
    assert wide.per_device_bytes == full and wide.unused_axes == ["tensor"]
    assert "replicated" in wide.describe()
    with pytest.raises(ValueError, match="unknown mesh axes"):
        plan_kv_cache(arch, 32, 32768, {"model": 8})


@pytest.mark.parametrize("axes", [{"data": 4, "tensor": 2}, {"fsdp": 8}])
def test_decode_plan_matches_the_compiled_program(axes):
    # The tiny shape at 16 rows x 16384 cache tokens in float32, compiled ahead of time on the 8
    # virtual devices as `python -m tailjax.eval --plan --compile` does (the plain paths GPUs
    # and TPUs run), 64 prompt tokens: weights + KV cache per device are within 10% of the
    # compiled peak, so the decode loop's temporaries are bounded (the window phases it replaced
    # held about another cache's worth).
    from tailjax.plan import plan_decode

    cfg = preset("tiny").replace(dtype="float32")
    plan = plan_decode(cfg, 16, 16384, axes, compile=True, prompt=64)
    assert plan.fsdp_folded == ("fsdp" in axes)  # fsdp folded into data: weights whole
    # the arguments are the weights, the cache and the prompts' few kilobytes
    assert 0 <= plan.compiled["arguments"] - plan.per_device_bytes < 1 << 20
    assert plan.per_device_bytes <= plan.compiled["peak"] <= 1.1 * plan.per_device_bytes
    assert plan.compiled["temporaries"] <= 0.1 * plan.kv.per_device_bytes
    assert "x the plan" in plan.describe()
