"""The training config: YAML + --set overrides, strict keys and types, the shipped configs load."""

import os

import pytest

from tailjax.config import arch, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return str(path)


def test_yaml_then_overrides(tmp_path):
    path = write(tmp_path, "train:\n  lr: 1e-5\n  steps: 10\ndata:\n  tasks: {addition: 2}\n")
    cfg = load_config(path, ["train.steps=20", "data.lengths={S: [1, 3]}", "model.remat=full"])
    assert cfg.train.lr == 1e-5 and isinstance(cfg.train.lr, float)  # YAML 1.1 reads 1e-5 as str
    assert cfg.train.steps == 20
    assert cfg.data.tasks == {"addition": 2.0}
    assert cfg.data.lengths == {"S": [1, 3]}
    assert cfg.model.remat == "full"
    assert cfg.train.batch_size == 32  # untouched keys keep their defaults


@pytest.mark.parametrize("overrides, message", [
    (["trian.lr=1"], "unknown config key 'trian'; valid keys: model, data, train"),
    (["train.learning_rate=1"], "unknown config key 'train.learning_rate'; valid keys of train:"),
    (["train.steps=1.5"], "train.steps must be int, got 1.5"),
    (["train.lr=fast"], "train.lr must be float, got 'fast'"),
    (["model.preset=huge"], "model.preset 'huge' is unknown; choose one of tiny"),
    (["model.dtype=int8"], "model.dtype 'int8' is unknown; choose one of float32, bfloat16"),
    (["model.overrides={depth: 3}"], "unknown key model.overrides.depth; valid keys: vocab_size"),
    (["data.splits={X: 1}"], "unknown split 'X'"),
    (["data.lengths={S: [5, 1]}"], "data.lengths.S must be [low, high]"),
    (["train.batch_size=10", "train.micro_batches=4"], "not divisible by train.micro_batches"),
    (["data.source=jsonl"], "data.files is empty"),
    (["train.schedule=step"], "train.schedule 'step' is unknown; choose cosine or linear"),
    (["model.overrides={position_encoding: alibi}"], "position_encoding 'alibi' is not one of"),
    (["model.overrides={position_encoding: hybrid}"], "hybrid needs 0 < local_heads"),
    (["data.notation=tagged"], "data.notation tagged writes integer operands only"),
    (["data.notation=roman"], "has no 'roman' notation"),
    (["data.resumed=0.5"], "data.resumed resumes tagged `tail` addition traces only; set"),
    (["data.notation=tagged", "data.integer=true", "data.variant=tail-styled",
      "data.resumed=0.5"], "data.resumed resumes tagged `tail` addition traces only"),
    (["data.resumed=1.5"], "data.resumed is a share of the records, 0 to 1; got 1.5"),
    (["data.tasks={bubble_sort: 1}", "data.integer=true"], "has no integer-only option"),
    (["eval.stretch=[9]"], "eval.stretch must be [low, high]"),
    (["eval.attention_scale=0"], "eval.attention_scale must be positive"),
    (["eval.max_new_tokens=0"], "eval.max_new_tokens must be at least 1 token, got 0"),
    (["eval.max_new_tokens=atuo"], "eval.max_new_tokens 'atuo' is neither a number of tokens "
                                   "nor auto"),
    (["eval.budget_margin=0.8"], "eval.budget_margin must be at least 1, got 0.8"),
    (["eval.warn_truncated=1.5"], "eval.warn_truncated must be a share of outputs in [0, 1)"),
    (["eval.batch_tokens=-1"], "eval.batch_tokens must be 0"),
    (["train"], "must look like section.key=value"),
    (["study.grid={seed: 0}"], "study.grid.seed must be a list (e.g. [0]), got 0"),
    (["eval.splits=S"], "eval.splits must be a list of str (e.g. ['S']), got 'S'"),
])
def test_bad_keys_and_values_are_named(overrides, message):
    with pytest.raises(ValueError) as e:
        load_config(None, overrides)
    assert message in str(e.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(write(tmp_path, "train: [1, 2\n"))
    with pytest.raises(ValueError, match="train must be a mapping"):
        load_config(write(tmp_path, "train: 3\n"))
    with pytest.raises(ValueError, match=r"`base:` in config file .* must be one file name "
                                         r"\(relative to the file, e.g. ../demo.yaml\), got \[1, 2\]"):
        load_config(write(tmp_path, "base: [1, 2]\n"))


def test_preset_overrides_change_the_architecture():
    cfg = load_config(None, ["model.overrides={num_hidden_layers: 2, hidden_size: 64}"])
    hf = arch(cfg)
    assert (hf["num_hidden_layers"], hf["hidden_size"], hf["vocab_size"]) == (2, 64, 128)


@pytest.mark.parametrize("name", ["demo.yaml", "qwen2.5-7b-tail.yaml"])
def test_shipped_configs_load(name):
    cfg = load_config(os.path.join(ROOT, "configs", name))
    assert cfg.data.tasks and cfg.train.batch_size % cfg.train.micro_batches == 0


def test_7b_config_is_the_paper_recipe():
    cfg = load_config(os.path.join(ROOT, "configs", "qwen2.5-7b-tail.yaml"))
    assert (cfg.train.lr, cfg.train.final_lr, cfg.train.weight_decay) == (1e-5, 7e-7, 0.1)
    # L traces reach 34k Qwen2.5 tokens: one fixed budget cut off a quarter of them (BUILD.md).
    assert cfg.eval.max_new_tokens == "auto" and cfg.eval.batch_tokens == 32 * 32768
    # Packed rows of ~4.5 traces each (see the config's comment): ~1,010 traces per step.
    assert cfg.data.pack and cfg.train.batch_size == 224 and cfg.train.epochs == 2
    assert cfg.train.loss_chunk > 0 and cfg.model.remat == "full"
    assert cfg.data.variant == "tail-styled" and cfg.data.per_task == 100_000
    assert cfg.model.dtype == "bfloat16" and len(cfg.data.tasks) == 18
