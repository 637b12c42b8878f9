"""Paths of run directories and checkpoints, local or on cloud storage (gs://, s3://).

On a TPU pod the workers share no disk, so a run's directory is a `gs://` URI. `os.path` and
`open` would treat that as a local relative path and write checkpoints to each worker's own disk,
where a preemption loses them; every file a run reads or writes under its directory therefore
goes through `etils.epath` (which orbax uses too). gs:// needs gcsfs installed (BUILD.md).
"""

from __future__ import annotations

import json
import os

from etils import epath


def is_uri(path) -> bool:
    return "://" in str(path)


def resolve(path) -> epath.Path:
    """`path` as an epath.Path: a local path made absolute (orbax requires it), a URI kept."""
    return epath.Path(str(path) if is_uri(path) else os.path.abspath(str(path)))


def read_jsonl(path, required: tuple[str, ...] = (), hint: str = "") -> list[dict]:
    """The JSON objects of a JSON-lines file (local or a URI), blank lines skipped.

    required: keys every object must have. A line that is not JSON, or lacks one of them, is a
    ValueError naming the file and line, followed by `hint` (what to do about it); a missing
    file is the OSError `open` raises.
    """
    out = []
    with resolve(path).open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not a JSON line ({e.msg}){hint}") from None
            missing = set(required) - set(record) if isinstance(record, dict) else set(required)
            if missing or not isinstance(record, dict):
                raise ValueError(f"{path}:{lineno} lacks {', '.join(sorted(missing))}{hint}")
            out.append(record)
    return out


def jsonl_text(records: list[dict]) -> str:
    """JSON lines: one object a line, each line ended."""
    return "".join(json.dumps(r) + "\n" for r in records)
