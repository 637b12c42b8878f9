"""tailjax.distributed: settings from flags / env / Slurm, and real multi-process runs on loopback.

The multi-process tests start 2 processes on 127.0.0.1, each with 4 CPU devices, so together they
form one global mesh of 8, the way two TPU VM workers or two GPU nodes would.
"""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from tailjax import distributed, host
from tailjax.distributed import Cluster, first_slurm_host, resolve

TESTS = os.path.dirname(os.path.abspath(__file__))
RUN_LIMIT_S = 240  # a hang guard only; the processes finish in seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(devices: int = 4) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAILJAX_", "SLURM_")) and k != "XLA_FLAGS"}
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=TESTS + os.pathsep + env.get("PYTHONPATH", ""),
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    return env


def run_processes(argv_for, n: int, cwd, module: str = "tailjax.distributed",
                  env: dict | None = None) -> list[subprocess.CompletedProcess]:
    """Starts n processes of `python -m MODULE ...` at once and waits for all."""
    procs = [subprocess.Popen([sys.executable, "-m", module, *argv_for(i)],
                              env={**process_env(), **(env or {})}, cwd=cwd, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(n)]
    done = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=RUN_LIMIT_S)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return done


# --- where the settings come from -------------------------------------------------------------

def test_explicit_flags_win_over_env():
    env = {"TAILJAX_COORDINATOR": "10.0.0.9:1", "TAILJAX_NUM_PROCESSES": "4",
           "TAILJAX_PROCESS_ID": "3"}
    c = resolve(coordinator="10.0.0.1:8476", num_processes=2, process_id=1, env=env)
    assert c == Cluster("explicit", "10.0.0.1:8476", 2, 1, distributed.DEFAULT_TIMEOUT_S)


def test_env_variables_alone_start_a_cluster():
    env = {"TAILJAX_COORDINATOR": "host0:9000", "TAILJAX_NUM_PROCESSES": "8",
           "TAILJAX_PROCESS_ID": "5", "TAILJAX_DISTRIBUTED_TIMEOUT": "12.5"}
    assert resolve(env=env) == Cluster("explicit", "host0:9000", 8, 5, 12.5)


def test_nothing_set_is_one_process():
    assert resolve(env={}).method == "single"
    assert resolve(coordinator="h:1", num_processes=1, process_id=0, env={}).method == "single"
    env = {"TAILJAX_COORDINATOR": "h:1", "TAILJAX_NUM_PROCESSES": "2", "TAILJAX_PROCESS_ID": "0"}
    assert resolve("off", env=env).method == "single"


@pytest.mark.parametrize("kwargs, message", [
    (dict(coordinator="h:1", num_processes=2), "missing --process-id"),
    (dict(num_processes=2, process_id=0), "missing --coordinator"),
    (dict(coordinator="h", num_processes=2, process_id=0), "is not HOST:PORT"),
    (dict(coordinator="h:99999", num_processes=2, process_id=0), "is not HOST:PORT"),
    (dict(coordinator="h:1", num_processes=2, process_id=2), "outside 0..1"),
    (dict(coordinator="h:1", num_processes=0, process_id=0), "at least 1"),
    (dict(method="mpi"), "unknown distributed method"),
    (dict(method="slurm"), "start the command with srun"),
    (dict(timeout_s=0), "must be positive"),
])
def test_bad_settings_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resolve(env={}, **kwargs)


def test_bad_env_values_name_the_variable():
    with pytest.raises(ValueError, match="TAILJAX_PROCESS_ID='one' is not an integer"):
        resolve(env={"TAILJAX_PROCESS_ID": "one"})
    with pytest.raises(ValueError, match="TAILJAX_DISTRIBUTED_TIMEOUT='soon'"):
        resolve(env={"TAILJAX_DISTRIBUTED_TIMEOUT": "soon"})


SRUN_ENV = {"SLURM_JOB_ID": "4242", "SLURM_PROCID": "3", "SLURM_NTASKS": "4",
            "SLURM_LOCALID": "0", "SLURM_STEP_NODELIST": "gpu[07-09,12]"}


def test_slurm_step_gives_first_node_and_job_port():
    c = resolve(env=SRUN_ENV)
    # jax's rule: a port in the top 4096 derived from the job id
    assert c == Cluster("slurm", f"gpu07:{4242 % 4096 + 61440}", 4, 3, 300.0)
    c = resolve(env={**SRUN_ENV, "TAILJAX_COORDINATOR_PORT": "8476"})
    assert c.coordinator == "gpu07:8476"


def test_slurm_single_task_and_batch_script_are_one_process():
    assert resolve(env={**SRUN_ENV, "SLURM_NTASKS": "1", "SLURM_PROCID": "0"}).method == "single"
    batch_script = {k: v for k, v in SRUN_ENV.items() if k != "SLURM_PROCID"}  # not under srun
    assert resolve(env=batch_script).method == "single"


@pytest.mark.parametrize("nodelist, first", [
    ("node001", "node001"), ("node001,host2", "node001"), ("gpu[07-09,12],cpu1", "gpu07"),
    ("a100-[3,5-6]", "a100-3"), ("n[0012]", "n0012"),
])
def test_first_slurm_host(nodelist, first):
    assert first_slurm_host(nodelist) == first


def test_tpu_method_leaves_discovery_to_jax():
    c = resolve(env={"TAILJAX_DISTRIBUTED": "tpu"})
    assert c.method == "tpu" and c.coordinator is None
    assert "TPU VM metadata" in c.coordinator_text


# --- one process, 8 devices -------------------------------------------------------------------

def test_single_process_holds_every_row():
    from tailjax.model.sharding import logical_to_sharding, make_mesh

    assert distributed.initialize("off").method == "single"  # nothing to join
    sharding = logical_to_sharding(("batch", None), make_mesh({"data": 2, "fsdp": 4}))
    assert host.data_shard(sharding) == (0, 1) == host.process_shard()
    assert host.local_batch_size(sharding, 16) == 16
    local = {"ids": np.arange(32).reshape(16, 2), "mask": np.ones((16, 2), np.int32)}
    batch = host.make_global_batch(local, sharding)
    assert batch["ids"].sharding == sharding and batch["ids"].shape == (16, 2)
    np.testing.assert_array_equal(np.asarray(batch["ids"]), local["ids"])
    assert distributed.is_main_process()


# --- two processes on loopback ----------------------------------------------------------------

def test_two_processes_share_a_mesh_and_a_checkpoint(tmp_path):
    port = free_port()
    ckpt = tmp_path / "ckpt"
    results = run_processes(
        lambda i: ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                   "--process-id", str(i), "run", "multihost_worker", str(ckpt)],
        2, tmp_path)
    seen = []
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
        line = next(x for x in r.stdout.splitlines() if x.startswith("RESULT "))
        seen.append(json.loads(line[len("RESULT "):]))
    full_sum = int(np.arange(16 * 3).sum())
    for i, s in enumerate(seen):
        assert (s["process"], s["processes"], s["devices"], s["main"]) == (i, 2, 8, i == 0)
        assert s["method"] == "already"  # `run` joined before the module called initialize()
        assert s["check"]
        assert s["shard"] == [i, 2] and s["local_rows"] == 8 and s["global_shape"] == [16, 3]
        assert s["sum"] == full_sum and s["gathered_equal"]
        assert s["tp_shard"] == [0, 1] and s["tp_sum"] == full_sum  # replicated batch
        assert s["restored_step"] == 5 and s["restored_sharding_is_target"]
        assert s["restored_w_equal"] and s["restored_mu_equal"] and s["restored_rng_equal"]
        assert s["next_record"] == 3 + i  # each process resumes its own data position
    for i, r in enumerate(results):
        assert f"process {i} of 2: 4 local of 8 devices (cpu), data shard {i} of 2" in r.stdout
    assert f"ok: 2 processes, coordinator 127.0.0.1:{port}, sum over 8 devices = 28" in (
        results[0].stdout)
    assert "ok:" not in results[1].stdout  # only process 0 reports
    # both processes wrote their shards of the one checkpoint
    assert sorted(os.listdir(ckpt / "5" / "params" / "array_metadatas")) == [
        "process_0", "process_1"]


def test_unreachable_coordinator_every_process_exits_with_the_address(tmp_path):
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never routed, so nobody can reach the coordinator.
    address = f"192.0.2.1:{free_port()}"
    results = run_processes(
        lambda i: ["--coordinator", address, "--num-processes", "2", "--process-id", str(i),
                   "--distributed-timeout", "2", "check"], 2, tmp_path)
    for i, r in enumerate(results):
        assert r.returncode == distributed.TIMEOUT_EXIT_CODE != 0, r.stderr[-3000:]
        errors = [x for x in r.stderr.splitlines() if x.startswith("error:")]
        assert len(errors) == 1, r.stderr[-3000:]
        assert f"process {i} of 2 could not join the jax.distributed coordinator at {address} " \
               f"within 2s" in errors[0]
        assert "process 0" not in r.stdout


def test_missing_peer_times_out_on_the_coordinator_too(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    (r,) = run_processes(lambda i: ["--coordinator", address, "--num-processes", "2",
                                    "--process-id", "0", "--distributed-timeout", "1", "check"],
                         1, tmp_path)
    assert r.returncode == distributed.TIMEOUT_EXIT_CODE
    assert f"process 0 of 2 could not join the jax.distributed coordinator at {address}" in r.stderr


@pytest.mark.parametrize("argv, message", [
    (["--coordinator", "127.0.0.1", "--num-processes", "2", "--process-id", "0", "check"],
     "error: coordinator '127.0.0.1' is not HOST:PORT"),
    (["--num-processes", "2", "check"], "error: multi-process run needs"),
    (["run", "tailjax.no_such_module"], "error: no module named 'tailjax.no_such_module'"),
])
def test_cli_bad_input_is_one_error_line_and_exit_2(argv, message):
    r = subprocess.run([sys.executable, "-m", "tailjax.distributed", *argv], env=process_env(),
                       capture_output=True, text=True, timeout=RUN_LIMIT_S)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip().splitlines()[0]]
    assert r.stderr.startswith(message)


def test_initialize_after_jax_started_is_a_clear_error(monkeypatch):
    jax.devices()  # the backend is up in this test process
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    with pytest.raises(ValueError, match="must run before any other JAX call"):
        distributed.initialize(coordinator="127.0.0.1:1", num_processes=2, process_id=0,
                               timeout_s=5)


# --- training on two hosts equals training on one ---------------------------------------------

TRAIN_CONFIG = """
model:
  preset: tiny
  overrides: {hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
              num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8}
  dtype: float32
data:
  tasks: {compare: 1.0}
  source: jsonl
  files: [RECORDS]
  max_length: 48
  # Unpacked rows: process p keeps records p, p+2, ..., so a global batch holds the same records
  # as on one process (in another row order). Packing per process would change the rows.
  pack: false
train:
  batch_size: 8
  lr: 0.01
  final_lr: 0.01     # constant lr: a run stopped at step 2 and resumed follows the same schedule
  warmup_steps: 0
checkpoint:
  every: 2
eval:
  at_end: false
mesh:
  shape: {data: 2, fsdp: 4}   # fsdp over both hosts: each process holds half of every weight
"""


def write_short_records(path, n: int = 64):
    """Short records in the record format (the test is about hosts, not traces: short rows keep
    the compiled step small)."""
    rng = np.random.default_rng(0)
    with open(path, "w") as f:
        for i in range(n):
            a, b = (int(x) for x in rng.integers(0, 1000, 2))
            f.write(json.dumps({
                "task": "compare", "split": "S", "length": 3, "instance": {"a": a, "b": b, "i": i},
                "prompt": f"Which is larger, {a} or {b}?", "completion": f"\\boxed{{{max(a, b)}}}",
                "answer": str(max(a, b))}) + "\n")


def losses_in(out_dir) -> list[float]:
    with open(os.path.join(out_dir, "train_log.jsonl")) as f:
        return [r["loss"] for r in map(json.loads, f) if "loss" in r]


def test_two_process_training_resumes_and_matches_one_process(tmp_path):
    from tailjax.config import load_config
    from tailjax.train import train

    records = tmp_path / "records.jsonl"
    write_short_records(records)
    config = tmp_path / "tiny.yaml"
    config.write_text(TRAIN_CONFIG.replace("RECORDS", str(records)))
    # The reference: this pytest process, one process with 8 devices.
    evaluate = ["eval.at_end=true", "eval.splits=[S]", "eval.n=4", "eval.batch_size=8",
                "eval.max_new_tokens=12"]
    reference = train(load_config(str(config), [f"train.out_dir={tmp_path / 'one'}",
                                                "train.steps=4"] + evaluate), progress=False)
    assert reference.status == "done" and len(reference.losses) == 4

    port = free_port()
    multi = tmp_path / "two"
    # A shared persistent compilation cache lets the resumed run skip most compiling.
    cache = {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax-cache"),
             "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}

    def run(steps, extra=()):
        return run_processes(
            lambda i: ["--config", str(config), "--set", f"train.out_dir={multi}",
                       "--set", f"train.steps={steps}", "--no-progress",
                       *[a for kv in extra for a in ("--set", kv)],
                       "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                       "--process-id", str(i)], 2, tmp_path, module="tailjax.train", env=cache)

    for r in run(2):  # stops after step 2, its checkpoint written by both processes
        assert r.returncode == 0, r.stderr[-3000:]
    first = losses_in(multi)
    ckpt = multi / "checkpoints" / "2" / "params" / "array_metadatas"
    assert sorted(os.listdir(ckpt)) == ["process_0", "process_1"]

    # Restores step 2 (weights, optimizer, each process's data position), trains to step 4,
    # then evaluates with the decoder's rows sharded over both processes.
    results = run(4, evaluate)
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    assert f"resumed from step 2 of {multi / 'checkpoints'}" in results[0].stderr
    assert "resumed" not in results[1].stderr  # only process 0 logs
    resumed = losses_in(multi)

    assert len(first) == 2 and len(resumed) == 4 and resumed[:2] == first
    # Same records per global batch, summed in another order: equal to float32 rounding.
    np.testing.assert_allclose(resumed, reference.losses, rtol=1e-6)  # measured: 1e-7
    assert resumed[3] < resumed[0]  # and it learns

    # Evaluation: both processes decode their rows, process 0 alone prints and writes the
    # results, which cover the same test items as the one-process run.
    assert "| compare |" in results[0].stdout and "| compare |" not in results[1].stdout
    with open(multi / "eval" / "results.json") as f:
        summary = json.load(f)
    assert summary["tasks"]["compare"]["S"]["n"] == 4
    with open(multi / "eval" / "samples.jsonl") as f:
        prompts = [json.loads(line)["prompt"] for line in f]
    assert prompts == [s["prompt"] for s in reference.eval["samples"]]
