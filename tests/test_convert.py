"""HF <-> tailjax conversion against the reference: transformers' Qwen2ForCausalLM on torch CPU.

Tiny random HF models (non-zero biases, non-unit norms, weights large enough that the logits
are O(1)) are saved as safetensors, loaded by tailjax, and compared on ~500-token prompts, where
RoPE's rotation is far from the identity.
"""

import copy
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
import torch
from safetensors.numpy import load_file, save_file
from transformers import Qwen2Config as HFConfig
from transformers import Qwen2ForCausalLM

from tailjax import convert
from tailjax.model import Qwen2Config, load, params_of
from tailjax.model import loading
from tailjax.model.loading import write_model_config
from tailjax.model.loss import IGNORE, causal_lm_loss

torch.set_num_threads(2)
VOCAB, PROMPT = 101, 500
forward = jax.jit(lambda model, ids: model(ids))


def make_hf_model(directory, tied, seed, dtype=torch.float32, arch=None, **save_kwargs):
    torch.manual_seed(seed)
    config = HFConfig(**{**dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96,
                                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                tie_word_embeddings=tied, max_position_embeddings=1024,
                                initializer_range=0.08,
                                rope_parameters={"rope_type": "default", "rope_theta": 1e4},
                                bos_token_id=1, eos_token_id=2), **(arch or {})})
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bias" in name:
                p.copy_(0.5 * torch.randn_like(p))
            elif "norm" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p))
    model = model.to(dtype)
    model.save_pretrained(directory, **save_kwargs)
    return model


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory):
    out = {}
    for tied in (False, True):
        d = str(tmp_path_factory.mktemp(f"hf_tied{tied}"))
        out[tied] = d, make_hf_model(d, tied, seed=int(tied))
    return out


@pytest.fixture(scope="module")
def prompts():
    return torch.randint(0, VOCAB, (2, PROMPT), generator=torch.Generator().manual_seed(0))


def hf_logits(model, ids, **kw):
    with torch.no_grad():
        return model(ids, **kw)


@pytest.mark.parametrize("tied", [False, True])
def test_f32_logits_and_loss_match_transformers(hf_models, prompts, tied):
    directory, hf = hf_models[tied]
    model = load(directory)
    assert model.config.tie_word_embeddings == tied and hasattr(model, "lm_head") == (not tied)
    labels = prompts.clone()
    labels[0, :100] = IGNORE  # e.g. a prompt without loss
    ref = hf_logits(hf, prompts, labels=labels)
    ours = np.asarray(forward(model, jnp.asarray(prompts.numpy())))
    assert ours.shape == (2, PROMPT, VOCAB) and ours.dtype == np.float32
    assert np.abs(ref.logits.numpy()).max() > 1.0  # the comparison is not of near-zero numbers
    assert np.abs(ours - ref.logits.numpy()).max() <= 1e-4
    total, count = causal_lm_loss(jnp.asarray(ours), jnp.asarray(labels.numpy()))
    assert int(count) == 2 * (PROMPT - 1) - 99  # targets are labels[:, 1:]
    np.testing.assert_allclose(float(total / count), ref.loss.item(), rtol=1e-5)


def test_layer_types_list_wins_over_max_window_layers_as_in_transformers(tmp_path, prompts):
    # transformers 5 reads layer_types; max_window_layers=2 alone would make no layer sliding.
    arch = dict(use_sliding_window=True, sliding_window=5, max_window_layers=2,
                layer_types=["sliding_attention", "full_attention"])
    hf = make_hf_model(str(tmp_path), tied=False, seed=3, arch=arch)
    model = load(str(tmp_path))
    assert model.config.sliding_layers == (True, False)
    ids = prompts[:, :64]
    ref = hf_logits(hf, ids).logits.numpy()
    ours = np.asarray(forward(model, jnp.asarray(ids.numpy())))
    assert np.abs(ours - ref).max() <= 1e-4
    assert Qwen2Config.from_hf(model.config.to_hf()).sliding_layers == (True, False)


def test_bf16_is_as_close_to_the_f32_reference_as_transformers_bf16(hf_models, prompts):
    # bf16 keeps 8 mantissa bits (relative rounding 2^-9 ~ 0.002 per op), so bf16 logits differ
    # from f32 ones by far more than 1e-4. The fair tolerance is the reference's own bf16 error:
    # tailjax's bf16 logits (f32 softmax, norms and accumulation) must be at least about as
    # close to the f32 truth as transformers' bf16 logits are.
    directory, hf = hf_models[False]
    truth = hf_logits(hf, prompts).logits.numpy()
    hf_bf16 = hf_logits(copy.deepcopy(hf).to(torch.bfloat16), prompts).logits.float().numpy()
    ours = np.asarray(forward(load(directory, dtype="bfloat16"), jnp.asarray(prompts.numpy())))
    hf_err, our_err = np.abs(hf_bf16 - truth).max(), np.abs(ours - truth).max()
    assert our_err <= 1.25 * hf_err, (our_err, hf_err)
    assert our_err < 0.1 * np.abs(truth).max()


def test_round_trip_gives_equal_tensors_and_transformers_reloads(hf_models, prompts, tmp_path):
    directory, hf = hf_models[False]
    ckpt, back = str(tmp_path / "ckpt"), str(tmp_path / "hf")
    assert convert.main(["--from-hf", directory, "--out", ckpt]) == 0
    assert convert.main(["--to-hf", ckpt, "--out", back]) == 0
    original = load_file(os.path.join(directory, "model.safetensors"))
    exported = load_file(os.path.join(back, "model.safetensors"))
    assert sorted(exported) == sorted(original)
    for name, tensor in original.items():
        assert exported[name].dtype == tensor.dtype and np.array_equal(exported[name], tensor), name
    reloaded = Qwen2ForCausalLM.from_pretrained(back).eval()
    assert reloaded.config.rope_parameters["rope_theta"] == 1e4
    np.testing.assert_array_equal(hf_logits(reloaded, prompts).logits.numpy(),
                                  hf_logits(hf, prompts).logits.numpy())


def test_bf16_tied_sharded_checkpoint_round_trips_bit_exactly(tmp_path, monkeypatch):
    # Every array is larger than this host-buffer budget, as a 7B's stacked weights are larger
    # than the real one: orbax must still save and restore them (the budget grows to fit).
    monkeypatch.setattr(loading, "IN_FLIGHT_GB", 1e-7)
    src, ckpt, back = str(tmp_path / "src"), str(tmp_path / "ckpt"), str(tmp_path / "back")
    make_hf_model(src, tied=True, seed=3, dtype=torch.bfloat16, max_shard_size="40KB")
    assert os.path.exists(os.path.join(src, "model.safetensors.index.json"))
    model = load(src)
    assert model.config.param_dtype == "bfloat16" and model.layers.q.dtype == jnp.bfloat16
    assert convert.main(["--from-hf", src, "--out", ckpt]) == 0
    assert convert.main(["--to-hf", ckpt, "--out", back]) == 0
    before = {k: v for f in os.listdir(src) if f.endswith(".safetensors")
              for k, v in _load_torch_free(os.path.join(src, f)).items()}
    after = _load_torch_free(os.path.join(back, "model.safetensors"))
    assert sorted(before) == sorted(after) and "lm_head.weight" not in after
    for name in before:
        assert np.array_equal(before[name].view(np.uint16), after[name].view(np.uint16)), name
    with open(os.path.join(back, "config.json")) as f:
        assert json.load(f)["dtype"] == "bfloat16"


def _load_torch_free(path):
    """All tensors of one file as numpy (bf16 via ml_dtypes), read by tailjax's own reader."""
    from tailjax.model.safetensors_io import SafetensorsDir, read_header

    files = SafetensorsDir(os.path.dirname(path))
    return {name: np.array(files.array(name)) for name in read_header(path)}


def test_tokenizer_files_travel_with_the_checkpoint(hf_models, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    directory, _ = hf_models[True]
    src = tmp_path / "src"
    src.mkdir()
    for name in os.listdir(directory):
        (src / name).write_bytes(open(os.path.join(directory, name), "rb").read())
    vocab = {w: i for i, w in enumerate(["<pad>", "<s>", "</s>", "hello", "world"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>") \
        .save_pretrained(str(src))
    ckpt, back = str(tmp_path / "ckpt"), str(tmp_path / "back")
    assert convert.main(["--from-hf", str(src), "--out", ckpt]) == 0
    with open(os.path.join(ckpt, "model_config.json")) as f:
        assert json.load(f)["tokenizer"] == str(src)
    assert convert.main(["--to-hf", ckpt, "--out", back]) == 0
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert open(os.path.join(back, name), "rb").read() == (src / name).read_bytes()
    assert PreTrainedTokenizerFast.from_pretrained(back).encode("hello world") == [3, 4]


def test_training_run_layout_loads_the_latest_finished_step(hf_models, tmp_path):
    directory, _ = hf_models[False]
    model = load(directory)
    run = str(tmp_path / "run")
    write_model_config(model.config, run, tokenizer="char")
    params = params_of(model)
    with ocp.CheckpointManager(run) as manager:
        for step, scale in ((10, 1.0), (20, 2.0)):
            scaled = jax.tree.map(lambda x: x * scale, params)
            manager.save(step, args=ocp.args.Composite(params=ocp.args.StandardSave(scaled)))
        manager.wait_until_finished()
    os.makedirs(os.path.join(run, "30.orbax-checkpoint-tmp-1"))  # an interrupted save
    latest = load(run)
    np.testing.assert_array_equal(latest.layers.q[...], 2 * np.asarray(model.layers.q[...]))
    # --to-hf reads the run one parameter at a time, here casting to bfloat16 as it goes.
    back = str(tmp_path / "hf")
    assert convert.main(["--to-hf", run, "--out", back, "--dtype", "bfloat16"]) == 0
    exported = _load_torch_free(os.path.join(back, "model.safetensors"))
    original = load_file(os.path.join(directory, "model.safetensors"))
    assert sorted(exported) == sorted(original)
    for name, tensor in original.items():
        expected = (2 * tensor).astype(exported[name].dtype)
        assert exported[name].dtype == jnp.bfloat16 and np.array_equal(
            exported[name].view(np.uint16), expected.view(np.uint16)), name


# ---- bad input: one clear line each --------------------------------------------------------

def _broken_copy(directory, tmp_path, edit_tensors=None, edit_config=None):
    tensors = load_file(os.path.join(directory, "model.safetensors"))
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    if edit_tensors:
        edit_tensors(tensors)
    if edit_config:
        edit_config(config)
    bad = tmp_path / "bad"
    bad.mkdir()
    save_file(tensors, str(bad / "model.safetensors"), metadata={"format": "pt"})
    (bad / "config.json").write_text(json.dumps(config))
    return str(bad)


def _drop(name):
    return lambda t: t.pop(name)


def _reshape(name):
    return lambda t: t.__setitem__(name, t[name][:-1])


def _retype(name):
    return lambda t: t.__setitem__(name, t[name].astype(np.int32))


def _extra(t):
    t["model.layers.2.mlp.up_proj.weight"] = t["model.layers.1.mlp.up_proj.weight"]


@pytest.mark.parametrize("edit_tensors,edit_config,message", [
    (_drop("model.layers.1.self_attn.k_proj.bias"), None,
     r"tensor model\.layers\.1\.self_attn\.k_proj\.bias is missing .*expected shape \[32\]"),
    (_reshape("model.layers.0.mlp.down_proj.weight"), None,
     r"tensor model\.layers\.0\.mlp\.down_proj\.weight has shape \[63, 96\], expected \[64, 96\]"),
    (_retype("model.norm.weight"), None,
     r"tensor model\.norm\.weight has dtype I32, expected one of F32/BF16/F16"),
    (_extra, None, r"unexpected tensor model\.layers\.2\.mlp\.up_proj\.weight"),
    (None, lambda c: c.update(rope_parameters={"rope_type": "yarn", "factor": 4.0,
                                               "rope_theta": 1e4}),
     r"unsupported rope scaling type 'yarn'"),
    (None, lambda c: c.update(quantization_config={"quant_method": "gptq", "bits": 4}),
     r"quantization_config \(gptq\); tailjax loads only unquantized"),
    (None, lambda c: c.update(layer_types=["full_attention"]),
     r"layer_types must list 2 entries, each one of full_attention, sliding_attention"),
    (None, lambda c: c.update(use_sliding_window=False,
                              layer_types=["sliding_attention", "full_attention"]),
     r"layer_types names sliding_attention layers but use_sliding_window is false"),
])
def test_bad_checkpoints_give_one_clear_error(hf_models, tmp_path, capsys, edit_tensors,
                                              edit_config, message):
    bad = _broken_copy(hf_models[False][0], tmp_path, edit_tensors, edit_config)
    with pytest.raises(ValueError, match=message):
        load(bad)
    assert convert.main(["--from-hf", bad, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "out" / "params")


def test_hf_config_layouts_of_transformers_4_and_5():
    base = dict(model_type="qwen2", vocab_size=10, hidden_size=8, intermediate_size=16,
                num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1)
    v4 = Qwen2Config.from_hf({**base, "rope_theta": 1e6, "rope_scaling": None,
                              "use_sliding_window": False, "sliding_window": 4096})
    v5 = Qwen2Config.from_hf({**base, "rope_parameters": {"rope_type": "default",
                                                          "rope_theta": 1e6}})
    assert v4.rope_theta == v5.rope_theta == 1e6 and v4.head_dim == 4
    assert v4.sliding_window is None and v4.sliding_layers == (False,) * 3
    slid = Qwen2Config.from_hf({**base, "use_sliding_window": True, "sliding_window": 16,
                                "max_window_layers": 1})
    assert slid.sliding_layers == (False, True, True)
    assert Qwen2Config.from_hf(v5.to_hf()) == v5
    assert HFConfig(**{k: v for k, v in v5.to_hf().items()
                       if k not in ("architectures", "model_type")}).rope_parameters[
        "rope_theta"] == 1e6
    with pytest.raises(ValueError, match="unsupported rope scaling type 'linear'"):
        Qwen2Config.from_hf({**base, "rope_scaling": {"type": "linear", "factor": 2.0}})
    with pytest.raises(ValueError, match="model_type 'llama'"):
        Qwen2Config.from_hf({**base, "model_type": "llama"})


def test_cli_errors_for_missing_and_occupied_paths(tmp_path, capsys, hf_models):
    assert convert.main(["--from-hf", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "has no config.json" in capsys.readouterr().err
    assert convert.main(["--to-hf", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert convert.main(["--from-hf", hf_models[False][0], "--out", hf_models[True][0]]) == 2
    assert "not empty" in capsys.readouterr().err


def test_to_hf_refuses_a_position_encoding_qwen2_cannot_represent(tmp_path, capsys):
    """A hybrid model saves and loads as a tailjax checkpoint; --to-hf refuses it in one line
    and writes nothing."""
    from tailjax.model import create, preset, save

    cfg = preset("tiny", vocab_size=64, hidden_size=32, intermediate_size=64,
                 num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                 head_dim=16, position_encoding="hybrid", local_heads=1, local_window=8)
    ckpt, out = str(tmp_path / "ckpt"), tmp_path / "hf"
    save(create(cfg, seed=0), ckpt)
    assert load(ckpt).config.replace(param_dtype="float32") == cfg.replace(param_dtype="float32")
    assert convert.main(["--to-hf", ckpt, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "position_encoding 'hybrid'" in err and len(err.splitlines()) == 1
    assert not out.exists() or not os.listdir(out)
    # a training run of the same model: refused as such, not read as "no step can be read"
    run = str(tmp_path / "run")
    write_model_config(cfg, run, tokenizer="char")
    with ocp.CheckpointManager(run) as manager:
        manager.save(1, args=ocp.args.Composite(
            params=ocp.args.StandardSave(params_of(load(ckpt)))))
        manager.wait_until_finished()
    assert convert.main(["--to-hf", run, "--out", str(tmp_path / "hf2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "position_encoding 'hybrid'" in err and len(err.splitlines()) == 1
    assert "can be read" not in err
