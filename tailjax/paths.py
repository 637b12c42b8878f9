"""Paths of run directories and checkpoints, local or on cloud storage (gs://, s3://).

On a TPU pod the workers share no disk, so a run's directory is a `gs://` URI. `os.path` and
`open` would treat that as a local relative path and write checkpoints to each worker's own disk,
where a preemption loses them; every file a run reads or writes under its directory therefore
goes through `etils.epath` (which orbax uses too). gs:// needs gcsfs installed (BUILD.md).
"""

from __future__ import annotations

import os

from etils import epath


def is_uri(path) -> bool:
    return "://" in str(path)


def resolve(path) -> epath.Path:
    """`path` as an epath.Path: a local path made absolute (orbax requires it), a URI kept."""
    return epath.Path(str(path) if is_uri(path) else os.path.abspath(str(path)))
