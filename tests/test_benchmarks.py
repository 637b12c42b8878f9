"""benchmarks/train_step.py and decode_speed.py run a tiny shape on the CPU and write their
records, decode_compile.py reports a compiled decode; benchmarks/device_check.sh parses and
drives its stages (a stand-in python, no device)."""

import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import train_step  # noqa: E402


def test_train_step_on_a_tiny_shape_reports_speed_and_memory(tmp_path, capsys):
    out = tmp_path / "r" / "train_step.jsonl"
    assert train_step.main(["--preset", "tiny", "--seq", "64", "--steps", "1", "--warmup", "0",
                            "--loss-chunk", "16", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["rows"] == 8 and record["seq"] == 64 and record["steps"] == 1  # 8 devices
    assert record["tokens_per_s"] > 0 and record["compiled_temp_bytes"] > 0
    assert record["mfu"] is None and record["peak_bytes_in_use"] is None  # a CPU has neither
    assert "MFU n/a" in capsys.readouterr().out


def test_packed_rows_restart_positions_per_sample():
    batch = train_step.packed_rows(2, 64, 100, mean=10)
    for row in range(2):
        seg, pos = batch["segment_ids"][row], batch["positions"][row]
        starts = np.flatnonzero(np.diff(seg, prepend=0) > 0)  # where each sample begins
        assert len(starts) == seg.max() > 1 and (pos[starts] == 0).all()
        assert (batch["loss_mask"][row] == (seg > 0)).all()


def test_device_check_runs_its_stages_and_fails_when_one_fails(tmp_path):
    script = os.path.join(ROOT, "benchmarks", "device_check.sh")
    assert subprocess.run(["bash", "-n", script]).returncode == 0
    fake = tmp_path / "python"
    fake.write_text('#!/bin/bash\necho "fake python $*"\n[ "$3" = "1.5b" ] && exit 3\nexit 0\n')
    fake.chmod(0o755)
    result = subprocess.run([script, str(tmp_path / "out")], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": str(fake)}, timeout=60)
    assert result.returncode == 1
    log = (tmp_path / "out" / "device_check.txt").read_text()
    assert "-m pytest" in log and "tests/test_model.py" in log
    assert "--preset 0.5b --seq 4096" in log and "== train step 1.5b: exit 3" in log
    assert "decode_speed.py --shape 0.5b --batch 64 --new 8192" in log
    assert "== decode 0.5b batch 1: exit 0" in log


def test_decode_speed_on_a_tiny_shape_writes_its_record(tmp_path, capsys):
    import decode_speed

    out = tmp_path / "decode_speed.jsonl"
    assert decode_speed.main(["--shape", "tiny", "--batch", "2", "--prompt", "8", "--new", "16",
                              "--dtype", "float32", "--repeats", "1", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert (record["batch"], record["new"]) == (2, 16) and record["tokens_per_s"] > 0
    assert record["roofline_fraction"] is None  # a CPU has no bandwidth in metrics.PEAK_TBPS
    assert "tokens/s" in capsys.readouterr().out


def test_decode_compile_reports_size_time_and_memory(capsys):
    import decode_compile

    assert decode_compile.main(["--shape", "tiny", "--batch", "2", "--prompt", "8", "--new",
                                "600", "--dtype", "float32", "--devices", "8"]) == 0
    out = capsys.readouterr().out
    assert "lowered" in out and "compile" in out and "temporaries" in out
