"""`load` and `save`: a model from/to disk, in every layout tailjax reads.

Layouts `load` accepts:
  * a Hugging Face directory: config.json + *.safetensors (one file, or shards with an index);
  * a tailjax model checkpoint (`save`, `python -m tailjax.convert --from-hf`):
    DIR/model_config.json (HF-style config, plus "tokenizer": where the tokenizer came from)
    and DIR/params/ (an orbax checkpoint of the parameter tree, `params_of` layout);
  * a training run (orbax CheckpointManager root): DIR/model_config.json and DIR/<step>/params/;
    the latest finalized step that has params/ is loaded. A step that cannot be read (a crash
    mid-write, a corrupted file) is skipped with a warning, as training's resume skips it, and
    the step before it loaded; when no step reads, one ValueError line says so.
Parameters are restored straight onto the mesh's shardings when a mesh is given.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import warnings

import jax
import orbax.checkpoint as ocp

from tailjax.model.convert import load_hf_params, save_hf_params, stored_dtype
from tailjax.model.qwen2 import (Qwen2, Qwen2Config, flat_arrays, flat_items, from_params, nest,
                                 param_shardings, param_specs, params_of)
from tailjax.model.safetensors_io import SafetensorsDir
from tailjax.paths import resolve

MODEL_CONFIG = "model_config.json"
# Orbax moves arrays through host buffers, all of them at once by default (96 GB in flight).
# Limiting that bounds the host memory of a conversion above the weights themselves
# (benchmarks/convert_memory.py). Orbax refuses an array larger than the limit, so the limit
# is raised to the largest array (a 7B's stacked MLP weights are 3.8 GB each).
IN_FLIGHT_GB = 0.25
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                   "special_tokens_map.json", "added_tokens.json", "generation_config.json")


def load(path: str, dtype: str | None = None, mesh=None, **runtime) -> Qwen2:
    """The model stored at `path` (any layout above).

    dtype: compute dtype and, unless `param_dtype` is given, parameter dtype; by default the
    stored dtype. runtime: other Qwen2Config run options (param_dtype, scan_layers, remat).
    mesh: place each parameter on its shards (qwen2.param_shardings) as it is read.
    """
    kind, params_dir = checkpoint_layout(path)
    cfg = _stored_config(path, kind, dtype, runtime)
    shardings = param_shardings(cfg, mesh) if mesh is not None else None
    if kind == "hf":
        params = load_hf_params(cfg, path, shardings)
    elif kind == "run":
        with _run_metadata_quiet():
            params = _newest_readable(path, lambda d: restore_params(cfg, d, shardings))
    else:
        params = restore_params(cfg, params_dir, shardings)
    return from_params(cfg, params)


def _stored_config(path: str, kind: str, dtype: str | None, runtime: dict) -> Qwen2Config:
    if kind == "hf":
        hf = _read_json(os.path.join(path, "config.json"))
        saved = stored_dtype(SafetensorsDir(path))
    else:
        hf = _read_json(resolve(path) / MODEL_CONFIG)
        saved = hf.get("dtype") or hf.get("torch_dtype") or "float32"
    runtime.setdefault("param_dtype", dtype or saved)
    return Qwen2Config.from_hf(hf, dtype=dtype or runtime["param_dtype"], **runtime)


def save(model: Qwen2, path: str, tokenizer: str | None = None) -> None:
    """Write a tailjax model checkpoint: path/model_config.json and path/params/."""
    params_dir = resolve(path) / "params"
    if params_dir.exists():
        raise ValueError(f"{params_dir} already exists; save to a new directory")
    write_model_config(model.config, path, tokenizer)
    # Without OCDBT, tensorstore writes each array's chunks straight to their files instead of
    # buffering the whole checkpoint until commit: on a 2.6 GB model the peak host memory of
    # `convert --from-hf` drops from 1.8x to 1.5x the weights. `load` reads either format.
    params = params_of(model)
    handler = ocp.StandardCheckpointHandler(use_ocdbt=False,
                                            save_concurrent_gb=in_flight_gb(params))
    absl_log = logging.getLogger("absl")
    level = absl_log.level
    absl_log.setLevel(logging.ERROR)  # orbax warns that it has no OCDBT files to merge
    try:
        with ocp.Checkpointer(handler) as checkpointer:
            checkpointer.save(params_dir, args=ocp.args.StandardSave(params))
    finally:
        absl_log.setLevel(level)


def save_hf(model: Qwen2, directory: str, tokenizer: str | None = None) -> list[str]:
    """Write a Hugging Face directory that transformers' Qwen2ForCausalLM.from_pretrained (and
    vLLM) load: *.safetensors in the parameters' dtype, config.json, and the tokenizer files of
    `tokenizer`: an HF tokenizer directory's own, "tail-bpe" written as HF files ("char" has no
    HF form)."""
    cfg = model.config.replace(param_dtype=str(model.embed.dtype))
    return _write_hf(cfg, flat_arrays(params_of(model)).__getitem__, directory, tokenizer)


def export_hf(path: str, directory: str, dtype: str | None = None,
              tokenizer: str | None = None) -> list[str]:
    """save_hf(load(path, dtype), directory, tokenizer), but a tailjax checkpoint or run is read
    one parameter at a time (orbax partial restore), so the host holds one parameter, not the
    model (`convert --to-hf`)."""
    kind, params_dir = checkpoint_layout(path)
    if kind == "hf":
        return save_hf(load(path, dtype), directory, tokenizer)
    cfg = _stored_config(path, kind, dtype, {})
    # Before any step is read: for a run, a failure inside the read means "this step is
    # unreadable, try the one before", which a model transformers cannot represent is not.
    cfg.check_hf_compatible()
    _check_export_target(directory, tokenizer)
    if kind == "run":
        with _run_metadata_quiet():
            return _newest_readable(path, lambda d: _export_params(cfg, d, directory, tokenizer))
    return _export_params(cfg, params_dir, directory, tokenizer)


def _export_params(cfg: Qwen2Config, params_dir: str, directory: str, tokenizer: str | None):
    """export_hf of one orbax params directory; a failed export leaves `directory` empty."""
    _check_export_target(directory, tokenizer)  # new or empty: a failure may empty it again
    _check_saved_tree(cfg, params_dir)
    specs = dict(flat_items(param_specs(cfg)))
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])

    def fetch(name):
        target = jax.ShapeDtypeStruct(specs[name][0], cfg.weight_dtype, sharding=device)
        item = nest({name: target})
        restore_args = jax.tree.map(lambda t: ocp.ArrayRestoreArgs(
            sharding=t.sharding, global_shape=t.shape, dtype=t.dtype), item)
        handler = ocp.PyTreeCheckpointHandler(restore_concurrent_gb=in_flight_gb(item))
        with ocp.Checkpointer(handler) as checkpointer:
            restored = checkpointer.restore(params_dir, args=ocp.args.PyTreeRestore(
                item=item, restore_args=restore_args, partial_restore=True))
        return flat_arrays(restored)[name]
    try:
        return _write_hf(cfg, fetch, directory, tokenizer)
    except Exception:
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            target = os.path.join(directory, name)
            shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
        raise


def _check_export_target(directory: str, tokenizer: str | None) -> None:
    from tailjax.tokenizer import BUILTIN

    if os.path.isdir(directory) and os.listdir(directory):
        raise ValueError(f"{directory} exists and is not empty; export to a new directory")
    if tokenizer and tokenizer not in BUILTIN and not os.path.isdir(tokenizer):
        raise ValueError(f"tokenizer directory {tokenizer} (recorded in the checkpoint) does not "
                         "exist; pass the tokenizer's directory explicitly")


def _write_hf(cfg: Qwen2Config, fetch, directory: str, tokenizer: str | None) -> list[str]:
    from tailjax.tokenizer import BUILTIN, load_tokenizer

    cfg.check_hf_compatible()
    _check_export_target(directory, tokenizer)
    files = save_hf_params(cfg, fetch, directory)
    cfg.save(os.path.join(directory, "config.json"))
    if tokenizer in BUILTIN:
        built_in = load_tokenizer(tokenizer)
        if hasattr(built_in, "save_hf"):
            built_in.save_hf(directory)
    elif tokenizer:
        for name in TOKENIZER_FILES:
            if os.path.exists(os.path.join(tokenizer, name)):
                shutil.copyfile(os.path.join(tokenizer, name), os.path.join(directory, name))
    return files


def write_model_config(cfg: Qwen2Config, directory: str, tokenizer: str | None = None) -> None:
    """directory/model_config.json: the HF config, plus where the tokenizer came from."""
    extra = {"tokenizer": tokenizer} if tokenizer else {}
    cfg.save(str(resolve(directory) / MODEL_CONFIG), **extra)


def checkpoint_tokenizer(path: str) -> str | None:
    """The tokenizer a checkpoint was made with: a built-in name ("char", "tail-bpe"), a
    directory, or None when unknown."""
    kind, _ = checkpoint_layout(path)
    if kind == "hf":
        return path if os.path.exists(os.path.join(path, "tokenizer_config.json")) or \
            os.path.exists(os.path.join(path, "tokenizer.json")) else None
    return _read_json(resolve(path) / MODEL_CONFIG).get("tokenizer")


def checkpoint_layout(path: str) -> tuple[str, str | None]:
    """("hf", None) | ("tailjax", params_dir) | ("run", latest step's params_dir).

    Hugging Face directories are local (safetensors are memory-mapped); tailjax checkpoints and
    runs may also be on cloud storage (gs://).
    """
    root = resolve(path)
    if not root.is_dir():
        raise ValueError(f"checkpoint {path} does not exist or is not a directory")
    if (root / "config.json").exists():
        return "hf", None
    if not (root / MODEL_CONFIG).exists():
        raise ValueError(f"{path} is not a model checkpoint: it has neither config.json (a Hugging "
                         f"Face directory) nor {MODEL_CONFIG} (a tailjax checkpoint)")
    if (root / "params").is_dir():
        return "tailjax", str(root / "params")
    steps = _run_params_dirs(root)
    if not steps:
        raise ValueError(f"{path} has {MODEL_CONFIG} but no params/ and no finished training "
                         "step with params/; was the run stopped before its first checkpoint?")
    return "run", steps[0]


def _run_params_dirs(root) -> list[str]:
    """The params/ directories of a run's finished steps, newest first."""
    steps = sorted(s for s in ocp.step.checkpoint_steps(root)
                   if (root / str(s) / "params").is_dir())
    return [str(root / str(s) / "params") for s in reversed(steps)]


class _NoStepMetadataWarning(logging.Filter):
    """Drops orbax's "Metadata file does not exist" warning: a training run keeps a step's
    _CHECKPOINT_METADATA in DIR/<step>/, not in the DIR/<step>/params/ that loading reads."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Metadata file does not exist")


@contextlib.contextmanager
def _run_metadata_quiet():
    absl_log, quiet = logging.getLogger("absl"), _NoStepMetadataWarning()
    absl_log.addFilter(quiet)
    try:
        yield
    finally:
        absl_log.removeFilter(quiet)


def _newest_readable(path: str, read):
    """read(params_dir) of the newest step of the run at `path` that can be read. Each step that
    cannot (read raises) is skipped with a warning; ValueError when none can."""
    params_dirs = _run_params_dirs(resolve(path))
    for i, params_dir in enumerate(params_dirs):
        try:
            return read(params_dir)
        except Exception as e:
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            if i + 1 == len(params_dirs):
                raise ValueError(f"no step of the run {path} can be read; the oldest, "
                                 f"{params_dir}, fails with {reason}") from None
            warnings.warn(f"checkpoint {params_dir} cannot be read ({reason}); loading the "
                          "step before it", stacklevel=3)


def restore_params(cfg: Qwen2Config, params_dir: str, shardings=None) -> dict:
    """The parameter tree from an orbax checkpoint, cast to cfg.param_dtype, on `shardings`."""
    _check_saved_tree(cfg, params_dir)
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    flat_shardings = dict(flat_items(shardings)) if shardings is not None else {}
    target = {name: jax.ShapeDtypeStruct(shape, cfg.weight_dtype,
                                         sharding=flat_shardings.get(name, default))
              for name, (shape, _) in flat_items(param_specs(cfg))}
    handler = ocp.StandardCheckpointHandler(restore_concurrent_gb=in_flight_gb(target))
    with ocp.Checkpointer(handler) as checkpointer:
        return checkpointer.restore(params_dir, args=ocp.args.StandardRestore(nest(target)))


def in_flight_gb(tree) -> float:
    """Orbax's host-buffer budget for saving or restoring `tree`: IN_FLIGHT_GB, or the largest
    array's size when that is larger (orbax counts 1e9 bytes to the GB)."""
    largest = max(math.prod(x.shape) * jax.numpy.dtype(x.dtype).itemsize
                  for x in jax.tree.leaves(tree))
    return max(IN_FLIGHT_GB, math.ceil(largest / 1e6) / 1e3)


def _check_saved_tree(cfg: Qwen2Config, params_dir: str) -> None:
    """One clear line for a checkpoint that does not match its config (not orbax's tree diff)."""
    with ocp.StandardCheckpointer() as checkpointer:
        saved_tree = checkpointer.metadata(params_dir).item_metadata.tree
    saved = flat_arrays(saved_tree)
    for name, (shape, _) in flat_items(param_specs(cfg)):
        if name not in saved:
            raise ValueError(f"parameter {name} is missing from {params_dir} (expected shape "
                             f"{list(shape)})")
        if tuple(saved[name].shape) != shape:
            raise ValueError(f"parameter {name} in {params_dir} has shape "
                             f"{list(saved[name].shape)}, expected {list(shape)} from "
                             f"{MODEL_CONFIG}")
    expected = {name for name, _ in flat_items(param_specs(cfg))}
    for name in saved.keys() - expected:
        raise ValueError(f"unexpected parameter {name} in {params_dir}; it is not part of a "
                         f"Qwen2 model with this {MODEL_CONFIG}")


def _read_json(path) -> dict:
    try:
        return json.loads(resolve(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
