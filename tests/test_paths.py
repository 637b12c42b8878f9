"""Run directories on cloud storage: every file a run writes outside orbax goes through epath.

Cloud Storage cannot be reached here, so an in-memory fsspec filesystem answers for `gs://`
(epath's gcsfs route). The check is that a gs:// run directory reaches that filesystem, and that
nothing lands in a local directory named "gs:" (which `os.makedirs("gs://...")` would create,
losing the files on a preempted TPU worker). Orbax's own gs:// writes go through tensorstore's
GCS driver and are covered by orbax, not here.
"""

import json
import sys

import fsspec  # noqa: F401  (loads fsspec.registry)
import pytest
from etils import epath
from fsspec.implementations.memory import MemoryFileSystem

from tailjax.data import records
from tailjax.eval import _judge, _tally
from tailjax.results import write_results
from tailjax.model.loading import checkpoint_tokenizer, write_model_config
from tailjax.model.qwen2_config import preset
from tailjax.paths import resolve
from tailjax.metrics import LOG_FILE, Log, plot_loss, read_log


class _MemoryGCS(MemoryFileSystem):
    protocol = ("gs", "gcs")

    def __init__(self, *args, finalize_on_close=None, **kwargs):  # epath passes this to gcsfs
        super().__init__(*args, **kwargs)


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    """gs://bucket backed by memory; the working directory is an empty tmp_path."""
    registry = sys.modules["fsspec.registry"]._registry  # fsspec.registry is a read-only view
    for name in _MemoryGCS.protocol:
        monkeypatch.setitem(registry, name, _MemoryGCS)
    monkeypatch.chdir(tmp_path)
    _MemoryGCS.store.clear()
    yield "gs://bucket/run"
    _MemoryGCS.store.clear()
    assert not (tmp_path / "gs:").exists(), "a gs:// path was written to the local disk"


def test_resolve_keeps_uris_and_makes_local_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert str(resolve("gs://b/run/checkpoints")) == "gs://b/run/checkpoints"
    assert str(resolve("runs/demo")) == str(tmp_path / "runs" / "demo")


def test_training_log_on_gs_survives_a_resume(bucket):
    log = Log(bucket, resume_step=0)
    for step in range(1, 26):
        log.write({"step": step, "loss": 1.0 / step})
    log.write({"step": 25, "val_loss": 0.5})
    log.close()
    path = epath.Path(bucket) / LOG_FILE
    assert [r["step"] for r in read_log(path)] == list(range(1, 26)) + [25]
    # A resume from step 20 keeps the records up to 20 and drops those the run will redo.
    resumed = Log(bucket, resume_step=20)
    resumed.write({"step": 21, "loss": 0.01})
    resumed.close()
    assert [r["step"] for r in read_log(path)] == list(range(1, 21)) + [21]
    plot_loss(path, epath.Path(bucket) / "loss.png")
    assert (epath.Path(bucket) / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_results_and_model_config_on_gs(bucket):
    record = records.test_set("addition", "S", 1, "tail")[0]
    sample = _judge(record, record["completion"], generated=10, truncated=False)
    results = {"variant": "tail", "n": 1, "tasks": {"addition": {"S": _tally([sample])}},
               "samples": [sample]}
    paths = write_results(results, f"{bucket}/eval")
    assert all(p.startswith("gs://bucket/run/eval/") for p in paths)
    assert json.loads(epath.Path(paths[0]).read_text())["variant"] == "tail"
    assert epath.Path(paths[2]).read_bytes()[:4] == b"\x89PNG"
    samples = next(p for p in paths if p.endswith("samples.jsonl"))
    assert len(epath.Path(samples).read_text().splitlines()) == 1

    directory = f"{bucket}/checkpoints"
    write_model_config(preset("tiny"), directory, tokenizer="char")
    saved = json.loads((epath.Path(directory) / "model_config.json").read_text())
    assert saved["hidden_size"] == preset("tiny").hidden_size and saved["tokenizer"] == "char"
    (epath.Path(directory) / "params").mkdir(parents=True)
    assert checkpoint_tokenizer(directory) == "char"
