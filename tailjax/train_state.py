"""The training state: the model's shape, where every array lives, and how a run starts.

A run starts from its out_dir's latest readable checkpoint when there is one (restored straight
onto the shardings, so no host holds the whole model), else from fresh (or model.init's)
float32 master weights and a new optimizer state.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import jax
from flax import nnx

from tailjax.config import Config, arch
from tailjax.model.sharding import batch_sharding
from tailjax.paths import resolve
from tailjax.step import make_train_step, opt_shardings


def model_config(cfg: Config, allow_missing_init: bool = False):
    """(runtime Qwen2Config, HF-style dict) from the init checkpoint, else from the preset.

    allow_missing_init: use the preset when model.init does not exist yet (for planning).
    """
    from tailjax.model.qwen2_config import Qwen2Config

    runtime = dict(dtype=cfg.model.dtype, param_dtype="float32", remat=cfg.model.remat,
                   scan_layers=cfg.model.scan_layers, attention=cfg.model.attention,
                   packed_rows=cfg.data.pack)
    if cfg.model.init and not (allow_missing_init and not resolve(cfg.model.init).is_dir()):
        hf = _checkpoint_arch(cfg.model.init)
    else:
        hf = arch(cfg)
    return Qwen2Config.from_hf(hf, **runtime), hf


def _checkpoint_arch(path: str) -> dict:
    for name in ("model_config.json", "config.json"):
        file = resolve(path) / name
        if file.exists():
            return json.loads(file.read_text())
    raise ValueError(f"model.init {path} has neither model_config.json nor config.json; point it "
                     "at an HF directory or a checkpoint written by `python -m tailjax.convert`")


def split_model(model_cfg):
    """(graph definition, abstract parameter tree) of the model, nothing allocated."""
    from tailjax.model import abstract_model, params_of

    graphdef, _ = nnx.split(abstract_model(model_cfg))
    return graphdef, params_of(abstract_model(model_cfg))


def abstract_arrays(tree, shardings):
    """`tree`'s leaves as jax.ShapeDtypeStructs placed on `shardings` (a matching tree)."""
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                        tree, shardings)


class Layout(NamedTuple):
    """Where the step's arrays live on the mesh, and their shapes (nothing allocated)."""

    graphdef: nnx.GraphDef
    params: dict               # ShapeDtypeStructs of the parameters, on their shardings
    opt_state: object          # ShapeDtypeStructs of the optimizer state, on their shardings
    batch: jax.sharding.NamedSharding       # [rows, T] arrays: rows over the data axes
    replicated: jax.sharding.NamedSharding  # scalars (the step's metrics)

    @property
    def param_shardings(self):
        return jax.tree.map(lambda x: x.sharding, self.params)

    @property
    def opt_shardings(self):
        return jax.tree.map(lambda x: x.sharding, self.opt_state)


def layout(model_cfg, tx, mesh) -> Layout:
    """The step's `Layout` for this model, optimizer and mesh."""
    from tailjax.model.qwen2 import param_shardings

    graphdef, params = split_model(model_cfg)
    p_sh = param_shardings(model_cfg, mesh)
    o_sh = opt_shardings(tx, params, p_sh, mesh)
    return Layout(graphdef, abstract_arrays(params, p_sh),
                  abstract_arrays(jax.eval_shape(tx.init, params), o_sh),
                  batch_sharding(mesh, 2),
                  jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def jit_train_step(where: Layout, tx, micro_batches: int, loss_chunk: int = 0):
    """The training step compiled for `where`: (params, opt_state, batch) -> (params, opt_state,
    metrics), the first two donated. loss_chunk: train.loss_chunk (tailjax.step)."""
    return jax.jit(make_train_step(where.graphdef, tx, micro_batches, loss_chunk),
                   in_shardings=(where.param_shardings, where.opt_shardings, where.batch),
                   out_shardings=(where.param_shardings, where.opt_shardings, where.replicated),
                   donate_argnums=(0, 1))


def init_params(cfg: Config, model_cfg, p_shardings, mesh):
    """float32 master weights, created (or loaded) directly onto their shardings."""
    from tailjax import model as model_lib

    if cfg.model.init:
        loaded = model_lib.load(cfg.model.init, dtype=cfg.model.dtype, mesh=mesh,
                                param_dtype="float32")
        return jax.device_put(model_lib.params_of(loaded), p_shardings)
    return model_lib.params_of(model_lib.create(model_cfg, cfg.train.seed, mesh))


class TrainState(NamedTuple):
    """Where a run stands: the last finished step and the arrays after it."""

    step: int
    params: dict
    opt_state: object
    rng: jax.Array   # saved in every checkpoint (checkpoint layout); the step draws no randomness
    resumed: bool    # restored from a checkpoint rather than started fresh


def start(cfg: Config, model_cfg, tx, where: Layout, mesh, ckpts, data_iter) -> TrainState:
    """The latest readable checkpoint of the run (moving `data_iter` to its position), or a
    fresh state at step 0 when there is none or checkpoint.resume is off."""
    if cfg.checkpoint.resume and ckpts.latest_step() is not None:
        restored = ckpts.restore_latest(where.params, where.opt_state, data_iter)
        if restored is not None:
            return TrainState(*restored, resumed=True)
    params = init_params(cfg, model_cfg, where.param_shardings, mesh)
    opt_state = jax.jit(tx.init, out_shardings=where.opt_shardings)(params)
    return TrainState(0, params, opt_state, jax.random.key(cfg.train.seed), resumed=False)
