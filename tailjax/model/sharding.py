"""Device mesh and the one table of logical-axis rules. The only file that names mesh axes.

Parameters, optimizer state, activations and the KV cache are described by *logical* axes
("embed", "heads", "batch", ...); `RULES` maps each to mesh axes. The same code runs on one
device (every mesh axis of size 1) and on N.

Mesh axes:
  data    pure data parallelism (parameters replicated);
  fsdp    data parallelism with parameters and optimizer state sharded along "embed";
  tensor  tensor (Megatron) parallelism: heads, MLP columns and the vocabulary.

A rule that does not divide a dimension is dropped for that dimension (it is replicated
instead): e.g. the tiny model's 2 kv heads on a tensor axis of 4. Uneven shards are never made.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import jax
from jax.sharding import AxisType, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")

# logical axis -> mesh axes, in order. None (or absent) = replicated.
RULES: Mapping[str, tuple[str, ...] | None] = {
    # parameters
    "vocab": ("tensor",),
    "embed": ("fsdp",),
    "heads": ("tensor",),
    "kv_heads": ("tensor",),
    "head_dim": None,
    "mlp": ("tensor",),
    "layers": None,
    "norm": None,
    # activations and the KV cache
    "batch": ("data", "fsdp"),
    "seq": None,
    "act_embed": None,
    "act_heads": ("tensor",),
    "act_kv_heads": ("tensor",),
    "act_mlp": ("tensor",),
    "act_vocab": ("tensor",),
    "cache_layers": None,
    "cache_seq": None,
}


def replica_axes(mesh) -> tuple[str, ...]:
    """The mesh axes (of size > 1) that split the batch while every parameter is replicated
    along them: work on different rows there needs no communication at all."""
    return ("data",) if mesh.shape["data"] > 1 else ()


def make_mesh(shape: Mapping[str, int] | None = None, devices: Sequence[Any] | None = None):
    """A mesh with axes (data, fsdp, tensor) from e.g. {"fsdp": 2, "tensor": 4}.

    Missing axes have size 1; one axis may be -1 to take the remaining devices. The product must
    equal the number of devices. Axis types are Auto: the model places activations with
    sharding constraints from `RULES` and XLA propagates the rest (Explicit axes would need an
    out_sharding on every einsum).
    """
    devices = list(devices if devices is not None else jax.devices())
    shape = dict(shape or {"fsdp": -1})
    unknown = set(shape) - set(MESH_AXES)
    if unknown:
        raise ValueError(f"unknown mesh axes {sorted(unknown)}; use {', '.join(MESH_AXES)}")
    sizes = [int(shape.get(a, 1)) for a in MESH_AXES]
    if sizes.count(-1) > 1:
        raise ValueError(f"mesh {shape}: at most one axis may be -1")
    if -1 in sizes:
        rest = math.prod(s for s in sizes if s != -1)
        if rest <= 0 or len(devices) % rest:
            raise ValueError(f"mesh {shape} does not fit {len(devices)} devices")
        sizes[sizes.index(-1)] = len(devices) // rest
    if any(s < 1 for s in sizes) or math.prod(sizes) != len(devices):
        raise ValueError(f"mesh {dict(zip(MESH_AXES, sizes))} needs {math.prod(sizes)} devices "
                         f"but {len(devices)} are available; make the axis sizes multiply to "
                         f"{len(devices)}")
    return jax.make_mesh(tuple(sizes), MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES),
                         devices=devices)


def logical_to_spec(logical_axes: Sequence[str | None], shape: Sequence[int] | None,
                    mesh) -> PartitionSpec:
    """The PartitionSpec that `RULES` give for these logical axes on this mesh.

    With `shape`, a mesh axis is used for a dimension only when it divides it evenly; a mesh axis
    is never used twice in one spec.
    """
    used: set[str] = set(getattr(mesh, "manual_axes", ()))  # inside shard_map: split already
    spec = []
    for i, name in enumerate(logical_axes):
        if name is not None and name not in RULES:
            raise ValueError(f"logical axis {name!r} has no sharding rule; add it to RULES")
        chosen: list[str] = []
        size = 1
        for axis in (RULES.get(name) or ()) if name else ():
            n = mesh.shape[axis]
            if axis in used or n == 1:
                continue
            if shape is not None and shape[i] % (size * n):
                continue
            chosen.append(axis)
            size *= n
        used.update(chosen)
        spec.append(None if not chosen else chosen[0] if len(chosen) == 1 else tuple(chosen))
    return PartitionSpec(*spec)


def logical_to_sharding(logical_axes: Sequence[str | None], mesh,
                        shape: Sequence[int] | None = None) -> NamedSharding:
    return NamedSharding(mesh, logical_to_spec(logical_axes, shape, mesh))


def constrain(x: jax.Array, logical_axes: Sequence[str | None]) -> jax.Array:
    """Sharding constraint for an activation inside jit, under the mesh set with jax.set_mesh.

    Without a mesh (or on a single device) this is the identity, so the model runs anywhere.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or mesh.size == 1 or not mesh.auto_axes:
        return x
    return jax.lax.with_sharding_constraint(x, logical_to_spec(logical_axes, x.shape, mesh))


def tree_shardings(shapes_and_axes, mesh):
    """NamedShardings for a tree whose leaves are (shape, logical_axes) pairs."""
    return jax.tree.map(lambda leaf: logical_to_sharding(leaf[1], mesh, leaf[0]), shapes_and_axes,
                        is_leaf=is_shape_axes)


def is_shape_axes(x) -> bool:
    return isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], tuple)


def batch_sharding(mesh, ndim: int = 2) -> NamedSharding:
    """Batch arrays: the leading dimension over (data, fsdp), the rest replicated."""
    return NamedSharding(mesh, logical_to_spec(("batch",) + (None,) * (ndim - 1), None, mesh))
