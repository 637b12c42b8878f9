"""This host: its devices, and its process's share of each global batch.

`use_cpu_devices` splits a CPU into single-threaded devices before JAX starts; the rest says
which rows of a batch laid out by a sharding this process loads (`data_shard`) and assembles the
global jax.Array from every process's rows (`make_global_batch`). Starting `jax.distributed` is
`tailjax.distributed`'s job.
"""

from __future__ import annotations

import os
import re

import numpy as np

# The XLA flag that splits a CPU into virtual devices (tests/conftest.py sets 8).
HOST_DEVICES = re.compile(r"--xla_force_host_platform_device_count=\d+")


def use_cpu_devices(count: int, huge_pages: bool = False):
    """Split a CPU-only host into `count` single-threaded devices; must run before JAX starts
    its backend (XLA reads XLA_FLAGS then). The config's count replaces a device count inherited
    in XLA_FLAGS (such as the tests' 8); count 0 leaves XLA_FLAGS alone.

    huge_pages: first restart this process once with huge-page malloc (for training, see
    `malloc.restart_with_huge_pages`); only a program's own entry point may ask for that.
    """
    if count <= 0:
        return
    if huge_pages:
        from tailjax import malloc

        malloc.restart_with_huge_pages()
    flags = HOST_DEVICES.sub("", os.environ.get("XLA_FLAGS", "")).split()
    flags.append(f"--xla_force_host_platform_device_count={count}")
    if not any(f.startswith("--xla_cpu_multi_thread_eigen") for f in flags):
        flags.append("--xla_cpu_multi_thread_eigen=false")
    os.environ["XLA_FLAGS"] = " ".join(flags)


def forced_cpu_devices() -> str | None:
    """The XLA_FLAGS entry that set this CPU's device count, when one did (for error hints)."""
    import jax

    forced = HOST_DEVICES.search(os.environ.get("XLA_FLAGS", ""))
    return forced.group(0) if forced and jax.default_backend() == "cpu" else None


def process_shard() -> tuple[int, int]:
    """(shard_index, shard_count) = (process_index, process_count): each process reads its own
    share of the records, e.g. grain.ShardOptions(shard_index, shard_count, drop_remainder=True).

    Right whenever the batch is split over all devices (the data/fsdp axes span every process);
    with a model axis spanning hosts use `data_shard`, which follows the sharding.
    """
    import jax

    return jax.process_index(), jax.process_count()


def data_shard(sharding) -> tuple[int, int]:
    """(shard_index, shard_count) of this process's rows of any batch laid out by `sharding`.

    Processes whose devices hold the same rows (a model axis spanning hosts) get the same index
    and must load the same data; each process loads `global_batch // shard_count` rows.
    """
    # Which fraction of the rows a process holds is fixed by the sharding; probe it with a batch
    # of one row per device.
    probe = sharding.num_devices
    start, stop = _local_rows(sharding, probe)
    return start // (stop - start), probe // (stop - start)


def local_batch_size(sharding, global_batch_size: int) -> int:
    """How many rows of each global batch this process loads."""
    count = data_shard(sharding)[1]
    if global_batch_size % count:
        raise ValueError(
            f"global batch {global_batch_size} does not split evenly over {count} data shards "
            f"of processes; make it a multiple of {count}"
        )
    return global_batch_size // count


def make_global_batch(local_batch, sharding):
    """Assembles a global jax.Array batch from each process's local rows (a pytree of arrays
    with the batch first; `sharding` one sharding or a matching pytree). Every process calls it
    with its own rows, the `data_shard` share of the records."""
    import jax

    def one(local, shard):
        local = np.asarray(local)
        global_shape = (local.shape[0] * data_shard(shard)[1],) + local.shape[1:]
        return jax.make_array_from_process_local_data(shard, local, global_shape)

    if isinstance(sharding, jax.sharding.Sharding):
        return jax.tree.map(lambda x: one(x, sharding), local_batch)
    return jax.tree.map(one, local_batch, sharding)


def _local_rows(sharding, global_rows: int) -> tuple[int, int]:
    """The contiguous block [start, stop) of batch rows this process's devices hold."""
    index_map = sharding.addressable_devices_indices_map((global_rows,))
    spans = sorted({ix[0].indices(global_rows)[:2] for ix in index_map.values()})
    start, stop = spans[0][0], spans[-1][1]
    if sum(b - a for a, b in spans) != stop - start:
        raise ValueError(
            f"this process's devices hold batch rows {spans} of {global_rows}, not one "
            f"contiguous block; put the batch (data/fsdp) mesh axes outermost so each host "
            f"holds consecutive rows"
        )
    return start, stop
