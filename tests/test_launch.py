"""launch/tpu_pod.sh and launch/slurm_gpu.sh: lint, the exact commands they run, and a real
2-process run through slurm_gpu.sh --srun with a stand-in srun that starts the tasks locally."""

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TPU = os.path.join(ROOT, "launch", "tpu_pod.sh")
SLURM = os.path.join(ROOT, "launch", "slurm_gpu.sh")
COMMON = os.path.join(ROOT, "launch", "common.sh")


def launch(script, *args, env=None):
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def commands(stdout: str) -> list[list[str]]:
    """The commands a launcher printed ('+ ' lines), split as the shell would split them."""
    return [shlex.split(line[2:]) for line in stdout.splitlines() if line.startswith("+ ")]


def option(argv: list[str], name: str) -> str:
    """The value of `--name VALUE` or `--name=VALUE` in argv."""
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1:]
    raise AssertionError(f"{name} not in {argv}")


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (apt-get install shellcheck)")
@pytest.mark.parametrize("script", [TPU, SLURM, COMMON])
def test_launchers_pass_shellcheck(script):
    # -x follows the shared helpers each launcher sources (launch/common.sh, from the repo root)
    r = subprocess.run(["shellcheck", "-x", script], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout


# --- TPU pod ----------------------------------------------------------------------------------

TRICKY = "data.files=[/tmp/tailjax-data/it's a.jsonl]"  # a quote and a space survive ssh


def test_tpu_dry_run_prints_install_data_and_train_on_all_workers():
    r = launch(TPU, "--tpu", "pod-1", "--zone", "us-central2-b", "--project", "proj",
               "--install", "--pip", "gcsfs", "--pip", "tqdm>=4.66", "--run-dir",
               "gs://bucket/run1", "--data", "gs://bucket/data", "--dry-run", "train",
               "--config", "configs/qwen2.5-7b-tail.yaml", "--set", TRICKY)
    assert r.returncode == 0, r.stderr
    archive, scp, install, data, train = commands(r.stdout)
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert archive[:4] == ["git", "-C", ROOT, "archive"] and archive[-1] == "HEAD"
    tarball = option(archive, "-o")
    assert tarball.endswith(f"tailjax-{head}.tar.gz")
    where = ["--zone=us-central2-b", "--project=proj", "--worker=all"]
    assert scp == ["gcloud", "compute", "tpus", "tpu-vm", "scp", tarball,
                   "pod-1:tailjax.tar.gz", *where]
    for ssh in (install, data, train):
        assert ssh[:8] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "pod-1", *where[:2]]
        assert "--worker=all" in ssh
    steps = option(install, "--command")
    assert "tar -xzf ~/tailjax.tar.gz -C ~/tailjax" in steps
    assert "pip install --upgrade 'jax[tpu]' gcsfs 'tqdm>=4.66'" in steps
    assert "pip install -e ~/tailjax" in steps
    assert option(data, "--command") == (
        "mkdir -p /tmp/tailjax-data && gcloud storage rsync --recursive gs://bucket/data "
        "/tmp/tailjax-data")
    remote = shlex.split(option(train, "--command"))
    assert remote == ["cd", "~/tailjax", "&&", "TAILJAX_DISTRIBUTED=tpu", "python3", "-m",
                      "tailjax.distributed", "run", "tailjax.train",
                      "--config", "configs/qwen2.5-7b-tail.yaml", "--set", TRICKY,
                      "--set", "train.out_dir=gs://bucket/run1"]


def test_tpu_dry_run_detached_check_and_eval():
    r = launch(TPU, "--tpu", "p", "--zone", "z", "--dry-run", "--detach", "check")
    assert r.returncode == 0, r.stderr
    (ssh,) = commands(r.stdout)
    detached = shlex.split(option(ssh, "--command"))
    assert detached[:3] == ["nohup", "bash", "-c"]
    assert detached[3] == (
        "cd ~/tailjax && TAILJAX_DISTRIBUTED=tpu python3 -m tailjax.distributed check")
    assert detached[4:] == [">", "~/tailjax-check.log", "2>&1", "<", "/dev/null", "&"]

    r = launch(TPU, "--tpu", "p", "--zone", "z", "--dry-run", "eval", "--config", "c.yaml",
               "--checkpoint", "gs://b/run1/checkpoints", "--splits", "S,M,L")
    (ssh,) = commands(r.stdout)
    assert shlex.split(option(ssh, "--command"))[4:] == [
        "python3", "-m", "tailjax.distributed", "run", "tailjax.eval", "--config", "c.yaml",
        "--checkpoint", "gs://b/run1/checkpoints", "--splits", "S,M,L"]


def test_tpu_real_run_executes_what_dry_run_prints(tmp_path):
    """With a stand-in gcloud that records its arguments: the run makes the same calls the dry
    run printed, and the archive it sends is this checkout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    (bin_dir / "gcloud").write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    (bin_dir / "gcloud").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
    args = ["--tpu", "pod-1", "--zone", "z", "--install", "--run-dir", "gs://b/r", "train",
            "--config", "configs/x.yaml", "--set", TRICKY]
    dry = launch(TPU, "--dry-run", *args, env=env)
    real = launch(TPU, *args, env=env)
    assert dry.returncode == 0 and real.returncode == 0, real.stderr
    assert real.stdout == dry.stdout
    printed = commands(dry.stdout)
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    assert recorded == [c[1:] for c in printed if c[0] == "gcloud"]
    with tarfile.open(option(printed[0], "-o")) as tar:
        names = tar.getnames()
    assert "tailjax/distributed.py" in names and "launch/tpu_pod.sh" in names


@pytest.mark.parametrize("args, message", [
    (["--zone", "z", "check"], "error: --tpu NAME is required"),
    (["--tpu", "p", "check"], "error: --zone ZONE is required"),
    (["--tpu", "p", "--zone", "z"], "error: no COMMAND given"),
    (["--tpu", "p", "--zone", "z", "deploy"], "error: unknown command 'deploy'"),
    (["--tpu", "p", "--zone", "z", "--run-dir", "/tmp/run", "train"],
     "error: --run-dir must be a gs:// path"),
    (["--tpu", "p", "--zone", "z", "--run-dir", "gs://b/r", "eval"],
     "error: --run-dir is for train"),
    (["--tpu", "p", "--zone", "z", "--data", "data/", "train"],
     "error: --data must be a gs:// path"),
    (["--tpu", "p", "--zone", "z", "--frobnicate", "check"], "error: unknown option --frobnicate"),
    (["--tpu"], "error: --tpu needs a value"),
])
def test_tpu_bad_input_is_one_error_line_and_exit_2(args, message):
    r = launch(TPU, "--dry-run", *args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(message) and len(r.stderr.splitlines()) == 1, r.stderr


# --- Slurm ------------------------------------------------------------------------------------

def test_slurm_dry_run_prints_one_sbatch_with_one_process_per_node():
    r = launch(SLURM, "--dry-run", "--nodes", "4", "--gpus-per-node", "8", "--partition", "gpu",
               "--account", "acct", "--time", "2:00:00", "--python", "/shared/venv/bin/python",
               "train", "--config", "configs/qwen2.5-7b-tail.yaml", "--set", TRICKY)
    assert r.returncode == 0, r.stderr
    (sbatch,) = commands(r.stdout)
    assert sbatch[0] == "sbatch"
    for flag, value in [("--nodes", "4"), ("--ntasks-per-node", "1"), ("--gpus-per-node", "8"),
                        ("--partition", "gpu"), ("--account", "acct"), ("--time", "2:00:00"),
                        ("--job-name", "tailjax-train"), ("--chdir", ROOT),
                        ("--export", "ALL,TAILJAX_DISTRIBUTED=slurm"),
                        ("--output", os.path.join(ROOT, "tailjax-%x-%j.out"))]:
        assert option(sbatch, flag) == value
    assert shlex.split(option(sbatch, "--wrap")) == [
        "srun", "--nodes=4", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
        "/shared/venv/bin/python", "-m", "tailjax.distributed", "run", "tailjax.train",
        "--config", "configs/qwen2.5-7b-tail.yaml", "--set", TRICKY]


@pytest.mark.parametrize("args, message", [
    (["check"], "error: --nodes must be a positive number"),
    (["--nodes", "0", "check"], "error: --nodes must be a positive number"),
    (["--nodes", "2", "--gpus-per-node", "x", "check"], "error: --gpus-per-node must be"),
    (["--nodes", "2", "--port", "70000", "check"], "error: --port must be a port number"),
    (["--nodes", "2", "serve"], "error: unknown command 'serve'"),
    (["--nodes", "2"], "error: no COMMAND given"),
])
def test_slurm_bad_input_is_one_error_line_and_exit_2(args, message):
    r = launch(SLURM, "--dry-run", *args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(message) and len(r.stderr.splitlines()) == 1, r.stderr


FAKE_SRUN = r"""#!/usr/bin/env bash
# Stand-in srun: starts --nodes=N tasks of the command on this machine with the variables srun
# sets, each task's output in $FAKE_SRUN_LOG.<task>.
set -euo pipefail
n=1
while [[ "$1" == -* ]]; do
  case "$1" in
    --nodes=*) n="${1#--nodes=}" ;;
    --chdir=*) cd "${1#--chdir=}" ;;
    --export=*) IFS=, read -ra pairs <<< "${1#--export=}"
                for pair in "${pairs[@]}"; do [[ "$pair" == ALL ]] || export "${pair?}"; done ;;
  esac
  shift
done
pids=()
for ((i = 0; i < n; i++)); do
  SLURM_JOB_ID=4242 SLURM_PROCID=$i SLURM_NTASKS=$n SLURM_LOCALID=0 \
    SLURM_STEP_NODELIST=127.0.0.1 "$@" > "$FAKE_SRUN_LOG.$i" 2>&1 &
  pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
exit "$rc"
"""


def test_slurm_srun_runs_a_real_two_node_check(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "srun").chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "task"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAILJAX_", "SLURM_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_SRUN_LOG=str(log),
               JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=4")
    r = subprocess.run([SLURM, "--srun", "--nodes", "2", "--port", str(port),
                        "--python", sys.executable, "check"],
                       capture_output=True, text=True, timeout=240, env=env)
    outputs = [(tmp_path / f"task.{i}").read_text() for i in range(2)]
    assert r.returncode == 0, outputs
    for i, out in enumerate(outputs):
        assert f"process {i} of 2: 4 local of 8 devices (cpu), data shard {i} of 2" in out, out
    # the coordinator came from the Slurm node list and the exported port
    assert f"ok: 2 processes, coordinator 127.0.0.1:{port}, sum over 8 devices = 28" in outputs[0]
