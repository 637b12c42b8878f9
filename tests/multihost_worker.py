"""One process of the 2-process loopback test in tests/test_distributed.py.

Started as `python -m tailjax.distributed --coordinator ... run multihost_worker CKPT_DIR` with 4
CPU devices per process, so the two processes share one global mesh of 8. It builds global
batches from each process's rows, runs collectives over them, saves a checkpoint (parameters
sharded across both processes, optimizer state, a grain iterator per process) from both
processes with tailjax.checkpoint, restores it onto another mesh, and prints one JSON line of
what it saw; the test compares that with what it must be.
"""

import json
import sys

import grain
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from tailjax import distributed, host
from tailjax.checkpoint import Checkpoints
from tailjax.model.sharding import logical_to_sharding, make_mesh

ROWS, COLS = 16, 3


def full_batch():
    return np.arange(ROWS * COLS, dtype=np.int32).reshape(ROWS, COLS)


def main(ckpt_dir: str):
    cluster = distributed.initialize()  # `run` already joined: this only reports
    checked = distributed.check(cluster)  # what `python -m tailjax.distributed check` runs
    out = {"method": cluster.method, "process": jax.process_index(),
           "processes": jax.process_count(), "devices": jax.device_count(),
           "main": distributed.is_main_process(),
           "check": checked}

    # Data parallel over both hosts: each process loads only its own rows.
    mesh = make_mesh({"data": 2, "fsdp": 4})
    batch_sharding = logical_to_sharding(("batch", None), mesh)
    index, count = host.data_shard(batch_sharding)
    rows = host.local_batch_size(batch_sharding, ROWS)
    local = full_batch()[index * rows:(index + 1) * rows]
    batch = host.make_global_batch({"x": local}, batch_sharding)
    out["shard"] = [index, count]
    out["local_rows"] = rows
    out["global_shape"] = list(batch["x"].shape)
    out["sum"] = int(jax.jit(lambda b: b["x"].sum())(batch))
    out["gathered_equal"] = bool(np.array_equal(
        multihost_utils.process_allgather(batch["x"], tiled=True), full_batch()))

    # Tensor parallel over both hosts: the batch is replicated, every process loads all of it.
    tp_sharding = logical_to_sharding(("batch", None), make_mesh({"tensor": 8}))
    out["tp_shard"] = list(host.data_shard(tp_sharding))
    tp_batch = host.make_global_batch(full_batch(), tp_sharding)
    out["tp_sum"] = int(jax.jit(lambda x: x.sum())(tp_batch))

    # A checkpoint written by both processes: fsdp-sharded weights (each process holds half),
    # an optimizer state, and each process's own data iterator position.
    w_sharding = logical_to_sharding(("embed", "mlp"), mesh, shape=(8, 4))
    weights = np.arange(8 * 4, dtype=np.float32).reshape(8, 4)
    params = {"w": jax.make_array_from_callback(weights.shape, w_sharding, lambda i: weights[i])}
    opt_state = {"mu": jax.jit(lambda p: p["w"] * 2, out_shardings=w_sharding)(params)}
    data_iter = iter(grain.MapDataset.source(list(range(100))).to_iter_dataset())
    for _ in range(3 + jax.process_index()):  # the two processes stand at different positions
        next(data_iter)
    ckpt = Checkpoints(ckpt_dir, every=1, keep=2, async_save=True)
    ckpt.save(5, params, opt_state, data_iter, jax.random.key(7), force=True)
    ckpt.close()

    # Restore onto a different layout (tensor parallel) and a fresh iterator.
    tp_mesh = make_mesh({"tensor": 8})
    target = logical_to_sharding(("embed", "mlp"), tp_mesh, shape=(8, 4))
    abstract = {"w": jax.ShapeDtypeStruct(weights.shape, jnp.float32, sharding=target)}
    fresh_iter = iter(grain.MapDataset.source(list(range(100))).to_iter_dataset())
    ckpt = Checkpoints(ckpt_dir, every=1, keep=2)
    step, p2, o2, rng = ckpt.restore_latest(abstract, {"mu": abstract["w"]}, fresh_iter)
    ckpt.close()
    out["restored_step"] = step
    out["restored_sharding_is_target"] = p2["w"].sharding == target
    out["restored_w_equal"] = bool(np.array_equal(
        multihost_utils.process_allgather(p2["w"], tiled=True), weights))
    out["restored_mu_equal"] = bool(np.array_equal(
        multihost_utils.process_allgather(o2["mu"], tiled=True), weights * 2))
    out["restored_rng_equal"] = bool(np.array_equal(
        jax.random.key_data(rng), jax.random.key_data(jax.random.key(7))))
    out["next_record"] = int(next(fresh_iter))
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
