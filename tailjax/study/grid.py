"""The cells of a study: its config's `study.grid` expanded into named training configs.

A study config is an ordinary training config (it may name a `base:` config) with a `study`
section: `grid` maps axes to values, every combination is one cell. Axes:

- `variant`: the trace variant (data.variant), plus the dotted keys `study.variants` gives it;
- `seed`: train.seed and data.seed together (initialization and data order, as the demo's seeds);
- any dotted config key (`train.lr`, `data.lengths.S`): that key.

Cells run in grid order (the first axis outermost: `seed` first runs every variant of seed 0
before any of seed 1). They are named by their values, the variant first and the seed last,
joined by "_": `tail_seed0`, or `tail_train.lr=0.001_seed0` for an axis that is a config key.
Each cell trains in `study.out_dir/cells/NAME` (its train.out_dir) and evaluates at the end
(eval.at_end).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import json
import re
import typing
from dataclasses import dataclass
from typing import Any, Sequence

from tailjax.config import Config, StudyConfig, load_config

VARIANT = "variant"
SEED = "seed"
CELLS_DIR = "cells"  # under study.out_dir: one training run per cell
_UNSAFE = re.compile(r"[^A-Za-z0-9.=+-]")


@dataclass(frozen=True)
class Cell:
    """One training run of a study.

    name: its directory under study.out_dir/cells, e.g. "no-fetch_seed2".
    axes: axis -> value, in grid order ({"variant": "no-fetch", "seed": 2}).
    overrides: the `--set` assignments ("key=value", the value as JSON) that make the cell's
        config from the study config, in order.
    """

    name: str
    axes: dict[str, Any]
    overrides: tuple[str, ...]


def expand(cfg: Config) -> list[Cell]:
    """The cells of `cfg.study.grid`, first axis outermost (the order they run in).
    ValueError (one line, naming the fix) for an empty grid, an axis without values, an unknown
    axis, or two cells of one name."""
    grid = cfg.study.grid
    if not grid or any(not values for values in grid.values()):
        empty = [axis for axis, values in grid.items() if not values]
        what = f"axis {', '.join(empty)} of study.grid has no values" if empty else \
            "study.grid is empty"
        raise ValueError(f"{what}, so the study has no cells; give every axis at least one "
                         "value, e.g. study.grid: {variant: [tail, direct], seed: [0, 1, 2]}")
    for axis in grid:
        check_axis(axis)
    cells = []
    for values in itertools.product(*grid.values()):
        axes = dict(zip(grid, values))
        sets: list[str] = []
        for axis, value in axes.items():
            sets += _assignments(cfg.study, axis, value)
        named = sorted(axes.items(), key=lambda kv: (kv[0] != VARIANT) + (kv[0] == SEED))
        name = "_".join(_name_part(axis, value) for axis, value in named)
        cells.append(Cell(name, axes, tuple(sets)))
    names = [c.name for c in cells]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"study.grid gives several cells the name {twice[0]}; make the values "
                         "of each axis distinct")
    return cells


def check_axis(axis: str) -> str:
    """`axis` when it is variant, seed or a dotted key of the training config; ValueError
    naming the choices otherwise."""
    if axis in (VARIANT, SEED) or (_is_config_key(axis) and not axis.startswith("study.")):
        return axis
    raise ValueError(f"unknown grid key {axis!r} in study.grid; use {VARIANT}, {SEED} or a "
                     "dotted key of the training config such as train.lr or data.lengths.S")


def cell_config(path: str | None, overrides: Sequence[str], cell: Cell) -> Config:
    """The training config of `cell`: the study config `path` with the study's own `--set`
    overrides, the cell's assignments, train.out_dir in the study's cells directory and
    eval.at_end on; its study section cleared (a cell is an ordinary training run).
    ValueError when the cell's config is not valid, or its variant is not one of its tasks'."""
    from tailjax.paths import resolve
    from tailjax.tasks import get_task

    base = load_config(path, overrides)
    out_dir = str(resolve(base.study.out_dir) / CELLS_DIR / cell.name)
    variant = next((json.loads(a.split("=", 1)[1]) for a in reversed(cell.overrides)
                    if a.startswith("data.variant=")), base.data.variant)
    for task in base.data.tasks:  # before the config's own checks, which assume a known variant
        if variant not in get_task(task).variants:
            raise ValueError(f"cell {cell.name}: task {task} has no variant {variant!r}; "
                             f"choose from {', '.join(get_task(task).variants)} in "
                             "study.grid.variant (or set data.variant in its study.variants "
                             "entry)")
    try:
        cfg = load_config(path, [*overrides, *cell.overrides, f"train.out_dir={out_dir}",
                                 "eval.at_end=true"])
    except ValueError as e:
        raise ValueError(f"cell {cell.name}: {e}") from None
    return dataclasses.replace(cfg, study=StudyConfig())


def select(cells: Sequence[Cell], patterns: str | None) -> list[Cell]:
    """The cells whose names match one of the comma-separated names or shell patterns
    (`tail_*`), in grid order; all cells for None. ValueError for a pattern that matches none."""
    if patterns is None:
        return list(cells)
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    if not wanted:
        raise ValueError("--cells is empty; name cells (or patterns such as 'tail_*') "
                         "from --dry-run's list")
    for pattern in wanted:
        if not any(fnmatch.fnmatchcase(c.name, pattern) for c in cells):
            raise ValueError(f"--cells {pattern!r} matches no cell; the cells are "
                             f"{', '.join(c.name for c in cells)}")
    return [c for c in cells if any(fnmatch.fnmatchcase(c.name, p) for p in wanted)]


def setting(cell_axes: dict[str, Any]) -> str:
    """What a cell's seeds share: its axes other than seed, as a row label ("tail",
    "tail, train.lr=0.001"); "all" when seed is the only axis."""
    parts = [str(v) if a == VARIANT else f"{a}={_text(v)}" for a, v in cell_axes.items()
             if a != SEED]
    return ", ".join(parts) or "all"


def _assignments(study: StudyConfig, axis: str, value) -> list[str]:
    if axis == VARIANT:
        extra = study.variants.get(str(value), {})
        for key in extra:
            if not _is_config_key(key) or key.startswith("study."):
                raise ValueError(f"unknown key {key!r} in study.variants.{value}; use dotted "
                                 "keys of the training config such as data.resumed")
        # an entry may name the data.variant of a named setting (tail-untagged: tail)
        own = [] if "data.variant" in extra else [_assign("data.variant", value)]
        return own + [_assign(k, v) for k, v in extra.items()]
    if axis == SEED:
        return [_assign("train.seed", value), _assign("data.seed", value)]
    return [_assign(axis, value)]


def _assign(key: str, value) -> str:
    return f"{key}={json.dumps(value)}"  # JSON is YAML: --set parses it back to the value


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _name_part(axis: str, value) -> str:
    text = _text(value)
    part = text if axis == VARIANT else f"seed{text}" if axis == SEED else f"{axis}={text}"
    return _UNSAFE.sub("-", part)


def _is_config_key(key: str) -> bool:
    """Whether a dotted key names a field of the training config (or an entry of a mapping
    field, such as data.tasks.addition or model.overrides.hidden_size)."""
    node: Any = Config
    parts = key.split(".")
    for i, part in enumerate(parts):
        if dataclasses.is_dataclass(node):
            hints = typing.get_type_hints(node)
            if part not in {f.name for f in dataclasses.fields(node)}:
                return False
            node = hints[part]
        elif typing.get_origin(node) is dict:
            return i == len(parts) - 1 or typing.get_args(node)[1] is Any
        else:
            return False
    return not dataclasses.is_dataclass(node)  # a whole section is no key
