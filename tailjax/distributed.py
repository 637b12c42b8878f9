"""Multi-host JAX: start `jax.distributed` (each process's data share: `tailjax.host`).

One process runs per host (per TPU VM worker, per Slurm task); together they drive one global
mesh. Every entry point that may run on several hosts calls `initialize()` first, before any
other JAX call. Where the settings come from, in order:

  1. explicit arguments (the `--coordinator / --num-processes / --process-id` flags that
     `add_arguments` adds), else the TAILJAX_COORDINATOR / TAILJAX_NUM_PROCESSES /
     TAILJAX_PROCESS_ID environment variables;
  2. Slurm (`srun`): SLURM_PROCID, SLURM_NTASKS, and the first node of the step as coordinator;
  3. a Cloud TPU VM pod, when asked for with method "tpu" (TAILJAX_DISTRIBUTED=tpu, as
     launch/tpu_pod.sh sets): jax reads worker 0's address from the TPU VM metadata itself.

Nothing found means one process, and `initialize` does nothing. `python -m tailjax.distributed
check` is a smoke test of a cluster; `python -m tailjax.distributed run tailjax.train ...`
initializes and then runs any tailjax entry point as if started with `python -m`.

If the processes cannot all reach the coordinator within the timeout, every process prints one
`error:` line naming the coordinator address and exits with status 1, instead of hanging (or
aborting with jax's own DEADLINE_EXCEEDED crash dump much later).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import runpy
import sys
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

METHODS = ("auto", "off", "explicit", "slurm", "tpu")
ENV_METHOD = "TAILJAX_DISTRIBUTED"
ENV_COORDINATOR = "TAILJAX_COORDINATOR"
ENV_NUM_PROCESSES = "TAILJAX_NUM_PROCESSES"
ENV_PROCESS_ID = "TAILJAX_PROCESS_ID"
ENV_TIMEOUT = "TAILJAX_DISTRIBUTED_TIMEOUT"
ENV_PORT = "TAILJAX_COORDINATOR_PORT"
DEFAULT_TIMEOUT_S = 300.0
TIMEOUT_EXIT_CODE = 1
# jax's own limit is set past ours so that our watchdog, with its clear message, fires first.
_JAX_TIMEOUT_MARGIN_S = 60


@dataclass(frozen=True)
class Cluster:
    """How this process joins the cluster. method "single" means no jax.distributed at all."""

    method: str
    coordinator: str | None = None
    num_processes: int = 1
    process_id: int = 0
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def coordinator_text(self) -> str:
        if self.coordinator:
            return self.coordinator
        return "TPU worker 0 (address from the TPU VM metadata)"


def resolve(
    method: str | None = None,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Cluster:
    """Works out how to join the cluster from arguments, then the environment. Pure: no JAX."""
    env = os.environ if env is None else env
    method = method or env.get(ENV_METHOD) or "auto"
    if method not in METHODS:
        raise ValueError(
            f"unknown distributed method {method!r}; choose one of {', '.join(METHODS)} "
            f"(--distributed or {ENV_METHOD})"
        )
    timeout_s = _timeout(timeout_s, env)
    if method == "off":
        return Cluster("single", timeout_s=timeout_s)

    coordinator = coordinator or env.get(ENV_COORDINATOR) or None
    if num_processes is None:
        num_processes = _env_int(env, ENV_NUM_PROCESSES)
    if process_id is None:
        process_id = _env_int(env, ENV_PROCESS_ID)
    given = {"coordinator": coordinator, "num-processes": num_processes, "process-id": process_id}

    if method == "explicit" or (method == "auto" and any(v is not None for v in given.values())):
        missing = [k for k, v in given.items() if v is None]
        if missing:
            raise ValueError(
                f"multi-process run needs --coordinator, --num-processes and --process-id "
                f"together; missing {', '.join('--' + m for m in missing)} (or the "
                f"{ENV_COORDINATOR} / {ENV_NUM_PROCESSES} / {ENV_PROCESS_ID} variables)"
            )
        return _checked(Cluster("explicit", coordinator, num_processes, process_id, timeout_s))

    if method == "slurm" or (method == "auto" and _in_slurm_step(env)):
        if not _in_slurm_step(env):
            raise ValueError(
                "distributed method 'slurm' needs the variables srun sets (SLURM_JOB_ID, "
                "SLURM_PROCID, SLURM_NTASKS, SLURM_STEP_NODELIST); start the command with srun"
            )
        count = int(env["SLURM_NTASKS"])
        if count == 1 and method == "auto":
            return Cluster("single", timeout_s=timeout_s)
        host = coordinator or first_slurm_host(
            env.get("SLURM_STEP_NODELIST") or env["SLURM_JOB_NODELIST"]
        )
        if ":" not in host:
            host = f"{host}:{_slurm_port(env)}"
        return _checked(Cluster("slurm", host, count, int(env["SLURM_PROCID"]), timeout_s))

    if method == "tpu":
        # jax finds the coordinator, process count and id in the TPU VM metadata itself.
        return Cluster("tpu", coordinator, 0, 0, timeout_s)
    return Cluster("single", timeout_s=timeout_s)


def initialize(
    method: str | None = None,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: float | None = None,
) -> Cluster:
    """Joins this process to the cluster (see the module docstring); call before any JAX work.

    Returns the `Cluster` it joined. Safe to call twice (the second call only reports). Raises
    ValueError for inconsistent settings; exits the process with status 1 and one `error:` line
    when the coordinator cannot be reached within the timeout.
    """
    cluster = resolve(method, coordinator, num_processes, process_id, timeout_s)
    import jax  # after the settings are checked, so bad flags fail fast

    if jax.distributed.is_initialized():
        return Cluster(
            "already", cluster.coordinator, jax.process_count(), jax.process_index(),
            cluster.timeout_s,
        )
    if cluster.method == "single":
        return cluster

    kwargs: dict[str, Any] = {
        "initialization_timeout": int(cluster.timeout_s) + _JAX_TIMEOUT_MARGIN_S
    }
    if cluster.method != "tpu":
        # Settings are complete; skip jax's own cluster detection, which on Slurm GPU nodes would
        # hide all but one GPU from each process.
        kwargs.update(
            coordinator_address=cluster.coordinator,
            num_processes=cluster.num_processes,
            process_id=cluster.process_id,
            cluster_detection_method="deactivate",
        )
    joined = threading.Event()
    watchdog = threading.Thread(
        target=_exit_unless_joined, args=(joined, cluster), name="tailjax-distributed-watchdog",
        daemon=True,
    )
    watchdog.start()
    try:
        jax.distributed.initialize(**kwargs)
    except RuntimeError as e:
        joined.set()
        if "before" in str(e) or "already" in str(e):
            raise ValueError(
                "tailjax.distributed.initialize() must run before any other JAX call in the "
                f"process; move it to the top of main ({e})"
            ) from None
        raise RuntimeError(
            f"jax.distributed could not start with the coordinator at "
            f"{cluster.coordinator_text}: {e}"
        ) from None
    joined.set()
    if cluster.method == "tpu":
        cluster = Cluster("tpu", None, jax.process_count(), jax.process_index(), cluster.timeout_s)
    _remember(cluster)
    return cluster


def _remember(cluster: Cluster) -> None:
    # Later initialize() calls in this process (e.g. train's main under `run`) and the processes
    # it starts then see the same cluster.
    os.environ[ENV_METHOD] = "tpu" if cluster.method == "tpu" else "explicit"
    if cluster.method != "tpu":
        os.environ[ENV_COORDINATOR] = str(cluster.coordinator)
        os.environ[ENV_NUM_PROCESSES] = str(cluster.num_processes)
        os.environ[ENV_PROCESS_ID] = str(cluster.process_id)


def _exit_unless_joined(joined: threading.Event, cluster: Cluster) -> None:
    # jax blocks in C++ with the GIL released, so this thread still runs; jax's own failure
    # would come later as an abort with a stack dump that never names the address.
    if joined.wait(cluster.timeout_s):
        return
    who = (
        f"process {cluster.process_id} of {cluster.num_processes}"
        if cluster.method != "tpu" else "this TPU worker"
    )
    sys.stderr.write(
        f"error: {who} could not join the jax.distributed coordinator at "
        f"{cluster.coordinator_text} within {cluster.timeout_s:g}s; check that process 0 is "
        f"running there, that the port is reachable from this host, and that every process got "
        f"the same coordinator and process count (raise the limit with --distributed-timeout "
        f"or {ENV_TIMEOUT})\n"
    )
    sys.stderr.flush()
    os._exit(TIMEOUT_EXIT_CODE)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the --distributed / --coordinator / --num-processes / --process-id / timeout flags."""
    g = parser.add_argument_group("multi-host (jax.distributed)")
    g.add_argument("--distributed", choices=METHODS, default=None,
                   help=f"how to find the other processes (default: ${ENV_METHOD} or auto)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help=f"address of process 0's coordinator (default: ${ENV_COORDINATOR})")
    g.add_argument("--num-processes", type=int, default=None,
                   help=f"number of processes in the run (default: ${ENV_NUM_PROCESSES})")
    g.add_argument("--process-id", type=int, default=None,
                   help=f"this process's index, 0..n-1 (default: ${ENV_PROCESS_ID})")
    g.add_argument("--distributed-timeout", type=float, default=None, metavar="SECONDS",
                   help=f"give up joining after this long (default: ${ENV_TIMEOUT} or "
                        f"{DEFAULT_TIMEOUT_S:g})")


def initialize_from_args(args: argparse.Namespace) -> Cluster:
    return initialize(args.distributed, args.coordinator, args.num_processes, args.process_id,
                      args.distributed_timeout)


def is_main_process() -> bool:
    """True on the process that logs, prints progress and writes single-copy files."""
    import jax

    return jax.process_index() == 0


def print_main(*args: Any, **kwargs: Any) -> None:
    """print(), on process 0 only."""
    if is_main_process():
        print(*args, **kwargs)


def _checked(cluster: Cluster) -> Cluster:
    host, sep, port = (cluster.coordinator or "").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"coordinator {cluster.coordinator!r} is not HOST:PORT; give process 0's address "
            f"and a free port, e.g. 10.0.0.1:8476"
        )
    if cluster.num_processes < 1:
        raise ValueError(f"--num-processes must be at least 1, got {cluster.num_processes}")
    if not 0 <= cluster.process_id < cluster.num_processes:
        raise ValueError(
            f"--process-id {cluster.process_id} is outside 0..{cluster.num_processes - 1}; "
            f"number the processes 0 to --num-processes minus one"
        )
    if cluster.num_processes == 1:
        return Cluster("single", timeout_s=cluster.timeout_s)
    return cluster


def _timeout(timeout_s: float | None, env: Mapping[str, str]) -> float:
    if timeout_s is None:
        text = env.get(ENV_TIMEOUT)
        try:
            timeout_s = float(text) if text else DEFAULT_TIMEOUT_S
        except ValueError:
            raise ValueError(f"{ENV_TIMEOUT}={text!r} is not a number of seconds") from None
    if not timeout_s > 0:
        raise ValueError(f"distributed timeout must be positive seconds, got {timeout_s}")
    return float(timeout_s)


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an integer") from None


def _in_slurm_step(env: Mapping[str, str]) -> bool:
    return all(k in env for k in ("SLURM_JOB_ID", "SLURM_PROCID", "SLURM_NTASKS")) and bool(
        env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
    )


def _slurm_port(env: Mapping[str, str]) -> int:
    if env.get(ENV_PORT):
        return int(env[ENV_PORT])
    # Same rule as jax: a port in the top 4096 derived from the job id, so concurrent jobs
    # sharing a first node do not collide.
    return int(env["SLURM_JOB_ID"]) % 4096 + 65536 - 4096


def first_slurm_host(nodelist: str) -> str:
    """The first host of a Slurm node list: 'gpu[07-09,12],cpu1' -> 'gpu07'."""
    m = re.match(r"([^,\[]+)(?:\[([^,\-\]]+))?", nodelist.strip())
    if not m:
        raise ValueError(f"cannot read the Slurm node list {nodelist!r}")
    return m.group(1) + (m.group(2) or "")


def check(cluster: Cluster) -> bool:
    """Smoke test of a joined cluster: every process contributes its rows to one global array
    and a jitted sum over all devices must see every row. Prints from process 0 only."""
    import jax
    from jax.experimental import multihost_utils

    from tailjax.host import data_shard, make_global_batch
    from tailjax.model.sharding import logical_to_sharding, make_mesh

    devices = jax.devices()
    mesh = make_mesh({"data": -1})
    sharding = logical_to_sharding(("batch",), mesh, shape=(len(devices),))
    index, count = data_shard(sharding)
    rows = len(devices) // count
    local = np.arange(index * rows, (index + 1) * rows, dtype=np.float32)
    total = float(jax.jit(lambda x: x.sum())(make_global_batch(local, sharding)))
    expected = float(len(devices) * (len(devices) - 1) // 2)
    seen = multihost_utils.process_allgather(np.array([jax.process_index()]))
    print(
        f"process {jax.process_index()} of {jax.process_count()}: "
        f"{jax.local_device_count()} local of {jax.device_count()} devices "
        f"({jax.default_backend()}), data shard {index} of {count}", flush=True,
    )
    ok = total == expected and sorted(seen.ravel().tolist()) == list(range(jax.process_count()))
    print_main(
        f"{'ok' if ok else 'FAILED'}: {jax.process_count()} processes, coordinator "
        f"{cluster.coordinator_text if cluster.method != 'single' else '(none)'}, "
        f"sum over {len(devices)} devices = {total:g} (expected {expected:g})", flush=True,
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tailjax.distributed",
        description="Join a multi-host JAX run and smoke-test it, or run a tailjax entry point "
                    "inside it.",
    )
    add_arguments(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="join, run a sum over every device of every process, report")
    run = sub.add_parser("run", help="join, then run MODULE as `python -m MODULE ARGS...`")
    run.add_argument("module", help="e.g. tailjax.train")
    run.add_argument("args", nargs=argparse.REMAINDER, help="arguments for MODULE")
    args = parser.parse_args(argv)
    try:
        if args.command == "run" and importlib.util.find_spec(args.module) is None:
            raise ValueError(f"no module named {args.module!r}; give a module such as "
                             f"tailjax.train")
        cluster = initialize_from_args(args)
    except (ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.command == "check":
        return 0 if check(cluster) else 1
    sys.argv = [args.module] + args.args
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
