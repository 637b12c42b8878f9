"""The one typed training config: dataclass sections loaded from YAML, with `--set a.b=c` overrides.

Every key is checked: an unknown key or a value of the wrong type is a ValueError that names the
key and what it accepts, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

DTYPES = ("float32", "bfloat16")
STRETCH = "stretch"  # the split label of eval.stretch: lengths beyond L, from L's test stream


@dataclass
class ModelConfig:
    preset: str = "tiny"          # architecture from scratch (tailjax.model.qwen2_config.PRESETS)
    # Changes to the preset's shape, e.g. {num_hidden_layers: 2, hidden_size: 64}.
    overrides: dict[str, Union[int, float, bool, str]] = field(default_factory=dict)
    init: str | None = None       # HF dir or tailjax checkpoint to fine-tune; None = scratch
    tokenizer: str = "char"       # "char", "tail-bpe" (built in) or an HF tokenizer directory
    dtype: str = "bfloat16"       # compute dtype; master weights stay float32
    # Recompute activations in the backward pass: none, full, dots, or a MaxText-named policy
    # (save_qkv_proj, ...); model/qwen2_config.py REMAT_MODES lists them, least memory first.
    remat: str = "none"
    scan_layers: bool | None = None  # lax.scan over layers; None: scan off the CPU fast paths
    # The training forward's attention: auto (per platform and row length), xla, blockwise,
    # splash (TPU), cudnn (GPU, one sequence per row), pallas_gpu (GPU); see model/attention.py.
    attention: str = "auto"


@dataclass
class DataConfig:
    tasks: dict[str, float] = field(default_factory=lambda: {"addition": 1.0})  # name -> weight
    splits: dict[str, float] = field(default_factory=lambda: {"S": 1.0})       # S:M:L weights
    variant: str = "tail-styled"
    # Length range per split (e.g. {"S": [1, 5]}); splits not named use the task's own ranges.
    lengths: dict[str, list[int]] = field(default_factory=dict)
    template: int | None = None   # a fixed prompt template index; None draws one per record
    notation: str = "plain"       # how numbers are written: plain, or tagged (addition only)
    integer: bool = False         # integer-only operands (tasks with the option: addition)
    # The share of training records resumed mid-trace (tagged `tail` addition only): the first
    # line, a context line for the columns before a random place (loss weight 1e-6), and the
    # trace from that place on; data.pipeline.resumed. 0 trains on whole traces.
    resumed: float = 0.0
    source: str = "synthesize"    # "synthesize" (on the fly, by index) or "jsonl"
    files: list[str] = field(default_factory=list)  # JSONL files when source is "jsonl"
    per_task: int = 100_000       # distinct synthesized records per (task, split) stream
    seed: int = 0                 # the synthesis stream and the shuffle
    max_length: int = 512         # packed row length; longer samples are dropped, never cut
    pack: bool = True


@dataclass
class TrainConfig:
    out_dir: str = "runs/demo"    # logs, loss curve, checkpoints, eval results
    seed: int = 0                 # parameter init and dropout-free RNG stream
    steps: int | None = None      # optimizer steps; None = epochs over the data
    epochs: float = 1.0
    batch_size: int = 32          # packed rows per optimizer step (global)
    micro_batches: int = 1        # gradient accumulation: batch_size = micro_batches * rows
    # Loss from the whole float32 logits (0), or from chunks of this many positions whose logits
    # the backward recomputes (tailjax.step): never [rows, T, vocab] floats at once.
    loss_chunk: int = 0
    lr: float = 1e-3
    final_lr: float = 1e-4
    warmup_steps: int = 100
    schedule: str = "cosine"      # decay from lr to final_lr: cosine or linear
    weight_decay: float = 0.1
    b1: float = 0.9
    b2: float = 0.95
    clip_norm: float = 1.0
    log_every: int = 10
    val_every: int = 0            # 0 = no periodic validation loss
    val_batches: int = 4
    peak_tflops: float = 0.0      # per device, for the MFU estimate; 0 = known accelerators only


@dataclass
class CheckpointConfig:
    every: int = 200              # steps between (asynchronous) saves; 0 = only at the end
    keep: int = 3                 # how many recent checkpoints to keep
    resume: bool = True           # continue from the latest checkpoint in out_dir


@dataclass
class EvalConfig:
    at_end: bool = True           # evaluate pass@1 on the splits when training ends
    splits: list[str] = field(default_factory=lambda: ["S", "M", "L"])
    n: int = 500                  # test items per task and split
    lengths: dict[str, list[int]] = field(default_factory=dict)  # reduced ranges, as data.lengths
    batch_size: int = 64
    # New tokens per output: a number for every task and split, or auto: per (task, split), the
    # longest reference completion of its test items in the model's tokens plus the end token,
    # times budget_margin, rounded up to a power of two or three halves of one (the decoder
    # compiles once per budget; tailjax/budgets.py).
    max_new_tokens: Union[int, str] = "auto"
    budget_margin: float = 1.25
    # Cap on a decode batch's KV cache, rows x (prompt + budget) tokens: a budget's batches take
    # fewer than batch_size rows where they would hold more. 0: batch_size rows for every budget.
    batch_tokens: int = 0
    # Warn (stderr, results.json, results.md) when more than this share of a cell's outputs hit
    # the budget without an end token.
    warn_truncated: float = 0.01
    # A length range beyond L, e.g. [12, 12], tested on L's stream and reported as "stretch".
    stretch: list[int] = field(default_factory=list)
    attention_scale: float = 1.0  # attention-logit multiplier of the global heads when decoding

    def ranges(self) -> dict[str, tuple[int, int]]:
        """The reduced length range of every split tested, "stretch" included when set."""
        ranges = {s: tuple(r) for s, r in self.lengths.items()}
        return {**ranges, STRETCH: tuple(self.stretch)} if self.stretch else ranges


@dataclass
class MeshConfig:
    # Mesh axis sizes, in the order tailjax.model.sharding defines; -1 takes the devices left.
    shape: dict[str, int] = field(default_factory=lambda: {"data": -1})
    # On a CPU-only host, split the CPU into this many devices (one per core, each running
    # single-threaded: faster than one multi-threaded device); 0 leaves XLA_FLAGS alone.
    cpu_devices: int = 0


@dataclass
class StudyConfig:
    """A grid of training runs over this config (`python -m tailjax.study`; training ignores it)."""

    out_dir: str = "runs/study"   # the study's report; each cell trains in out_dir/cells/NAME
    # Axis -> values; the cells are every combination. `variant` sets data.variant (and the
    # variant's `variants` entry), `seed` sets train.seed and data.seed, any dotted config key
    # (train.lr, data.lengths.S) sets that key.
    grid: dict[str, list[Any]] = field(default_factory=dict)
    # Variant name -> the dotted keys it sets besides data.variant (which it may set too, for a
    # named setting of a variant), e.g. {no-fetch: {data.resumed: 0.0}}.
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    study: StudyConfig = field(default_factory=StudyConfig)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp, key: str):
    """`value` checked against (and lightly converted to) the annotated type `tp`."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except ValueError as e:
                errors.append(e)
        raise errors[0]
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a mapping of {_type_name(kt)} to {_type_name(vt)}, "
                             f"got {value!r}")
        return {_coerce(k, kt, f"{key}.{k}"): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if origin is list:
        (et,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            what = "a list" if et is Any else f"a list of {_type_name(et)}"
            raise ValueError(f"{key} must be {what} (e.g. [{value!r}]), got {value!r}")
        return [_coerce(v, et, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        # YAML 1.1 reads "1e-5" as a string; accept any number written out.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ValueError(f"{key} must be {_type_name(tp)}, got {value!r}")


def _build(cls, data: Any, prefix: str):
    if not isinstance(data, dict):
        raise ValueError(f"{prefix or 'the config'} must be a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ValueError(f"unknown config key {path!r}; valid keys"
                             f"{' of ' + prefix if prefix else ''}: {', '.join(names)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value if value is not None else {}, path)
        else:
            kwargs[key] = _coerce(value, tp, path)
    return cls(**kwargs)


def _set_dotted(tree: dict, assignment: str):
    """Apply one `a.b=c` override to the nested dict `tree`; the value is parsed as YAML."""
    if "=" not in assignment:
        raise ValueError(f"--set {assignment!r} must look like section.key=value")
    dotted, raw = assignment.split("=", 1)
    parts = dotted.strip().split(".")
    if not all(parts):
        raise ValueError(f"--set {assignment!r} has an empty key")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"--set {dotted}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""


def _validate(cfg: Config):
    from tailjax.model.qwen2_config import (ATTENTION_BACKENDS, PRESETS, REMAT_MODES, Qwen2Config,
                                            preset)

    if cfg.model.preset not in PRESETS:
        raise ValueError(f"model.preset {cfg.model.preset!r} is unknown; choose one of "
                         f"{', '.join(PRESETS)}")
    # Set by model.* and eval.* keys instead:
    runtime = ("dtype", "param_dtype", "scan_layers", "remat", "attn_logit_scale", "attention",
               "packed_rows")
    shape_keys = [f.name for f in dataclasses.fields(Qwen2Config) if f.name not in runtime]
    for key in cfg.model.overrides:
        if key not in shape_keys:
            raise ValueError(f"unknown key model.overrides.{key}; valid keys: "
                             f"{', '.join(shape_keys)}")
    if not cfg.model.init:  # the architecture from scratch: check its values now, not at step 0
        preset(cfg.model.preset, **cfg.model.overrides)
    if cfg.model.remat not in REMAT_MODES:
        raise ValueError(f"model.remat {cfg.model.remat!r} is unknown; choose one of "
                         f"{', '.join(REMAT_MODES)}")
    if cfg.model.attention not in ATTENTION_BACKENDS:
        raise ValueError(f"model.attention {cfg.model.attention!r} is unknown; choose one of "
                         f"{', '.join(ATTENTION_BACKENDS)}")
    if cfg.model.attention == "cudnn" and cfg.data.pack:
        raise ValueError("model.attention cudnn takes rows of one sequence, and data.pack puts "
                         "several in a row; set data.pack false, or use pallas_gpu")
    if cfg.model.dtype not in DTYPES:
        raise ValueError(f"model.dtype {cfg.model.dtype!r} is unknown; choose one of "
                         f"{', '.join(DTYPES)}")
    if cfg.data.source not in ("synthesize", "jsonl"):
        raise ValueError(f"data.source {cfg.data.source!r} is unknown; choose synthesize or jsonl")
    if cfg.data.source == "jsonl" and not cfg.data.files:
        raise ValueError("data.source is jsonl but data.files is empty; list the JSONL files "
                         "made by `python -m tailjax.data generate`")
    if cfg.train.schedule not in ("cosine", "linear"):
        raise ValueError(f"train.schedule {cfg.train.schedule!r} is unknown; choose cosine or "
                         "linear")
    if cfg.train.batch_size % cfg.train.micro_batches:
        raise ValueError(f"train.batch_size {cfg.train.batch_size} is not divisible by "
                         f"train.micro_batches {cfg.train.micro_batches}")
    for name, table in (("data.splits", cfg.data.splits), ("data.tasks", cfg.data.tasks)):
        if not table or any(w < 0 for w in table.values()) or sum(table.values()) <= 0:
            raise ValueError(f"{name} needs at least one positive weight, got {table}")
    for name, table in (("data.lengths", cfg.data.lengths), ("eval.lengths", cfg.eval.lengths)):
        for split, rng in table.items():
            if len(rng) != 2 or not 0 < rng[0] <= rng[1]:
                raise ValueError(f"{name}.{split} must be [low, high] with 0 < low <= high, "
                                 f"got {rng}")
    if cfg.eval.stretch and (len(cfg.eval.stretch) != 2 or not 0 < cfg.eval.stretch[0] <=
                             cfg.eval.stretch[1]):
        raise ValueError(f"eval.stretch must be [low, high] with 0 < low <= high, got "
                         f"{cfg.eval.stretch}")
    from tailjax import budgets

    budgets.check_setting(cfg.eval.max_new_tokens)
    budgets.check_margin(cfg.eval.budget_margin)
    budgets.check_warn_share(cfg.eval.warn_truncated)
    budgets.check_batch_tokens(cfg.eval.batch_tokens)
    if cfg.eval.attention_scale <= 0:
        raise ValueError(f"eval.attention_scale must be positive, got {cfg.eval.attention_scale}")
    from tailjax.tasks import check_form

    for task in cfg.data.tasks:
        check_form(task, cfg.data.notation, cfg.data.integer)
    if cfg.data.notation == "tagged" and not cfg.data.integer:
        raise ValueError("data.notation tagged writes integer operands only; set data.integer: "
                         "true")
    if not 0 <= cfg.data.resumed <= 1:
        raise ValueError(f"data.resumed is a share of the records, 0 to 1; got {cfg.data.resumed}")
    if cfg.data.resumed and (set(cfg.data.tasks) != {"addition"} or cfg.data.variant != "tail"
                             or cfg.data.notation != "tagged"):
        raise ValueError("data.resumed resumes tagged `tail` addition traces only; set "
                         "data.tasks {addition: 1.0}, data.variant tail and data.notation tagged, "
                         "or data.resumed 0")
    for split in [*cfg.data.splits, *cfg.data.lengths, *cfg.eval.splits, *cfg.eval.lengths]:
        if split not in ("S", "M", "L"):
            raise ValueError(f"unknown split {split!r} in the config; choose S, M or L")
    for key in ("steps", "batch_size", "micro_batches", "log_every"):
        value = getattr(cfg.train, key)
        if value is not None and value <= 0:
            raise ValueError(f"train.{key} must be positive, got {value}")
    if cfg.train.loss_chunk < 0:
        raise ValueError(f"train.loss_chunk must be 0 (whole logits) or a positive number of "
                         f"tokens, got {cfg.train.loss_chunk}")
    if cfg.data.max_length < 2:
        raise ValueError(f"data.max_length must be at least 2, got {cfg.data.max_length}")


BASE_KEY = "base"  # a config file's base config, relative to the file


def load_config(path: str | None = None, overrides: list[str] = ()) -> Config:
    """The config of YAML file `path` (None: all defaults) with `a.b=c` overrides applied.

    A file may name a base config (`base: ../demo.yaml`, relative to the file): the file's keys
    replace the base's keys of the same name, section by section (a key's whole value, so a
    file's data.tasks replaces the base's mix rather than adding to it).
    """
    tree = _read_tree(path, ()) if path is not None else {}
    for assignment in overrides:
        _set_dotted(tree, assignment)
    return config_from_dict(tree)


def config_from_dict(tree: dict) -> Config:
    """The checked Config of a nested dict (what `to_dict` gives back); ValueError as
    load_config."""
    cfg = _build(Config, tree, "")
    _validate(cfg)
    return cfg


def _read_tree(path: str, seen: tuple[str, ...]) -> dict:
    """The YAML tree of config file `path` with its base configs merged in."""
    if os.path.abspath(path) in seen:
        raise ValueError(f"config file {path} is its own base (through {' -> '.join(seen)}); "
                         f"remove one of the `{BASE_KEY}:` keys")
    try:
        with open(path) as f:
            tree = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except yaml.YAMLError as e:
        raise ValueError(f"config file {path} is not valid YAML: {e}") from None
    if not isinstance(tree, dict):
        raise ValueError(f"config file {path} must be a mapping of keys, got {tree!r}")
    base = tree.pop(BASE_KEY, None)
    if base is None:
        return tree
    if not isinstance(base, str):
        raise ValueError(f"`{BASE_KEY}:` in config file {path} must be one file name (relative "
                         f"to the file, e.g. ../demo.yaml), got {base!r}")
    merged = _read_tree(os.path.join(os.path.dirname(path), base),
                        (*seen, os.path.abspath(path)))
    for section, keys in tree.items():
        if isinstance(keys, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **keys}
        else:
            merged[section] = keys
    return merged


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def arch(cfg: Config) -> dict:
    """The HF-style config.json dict of the preset with the overrides (what training from
    scratch builds; fine-tuning reads the architecture from `init` instead)."""
    from tailjax.model.qwen2_config import preset

    return preset(cfg.model.preset, **cfg.model.overrides).to_hf()
