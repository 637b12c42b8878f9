#!/usr/bin/env bash
# Run a tailjax entry point on several GPU nodes of a Slurm cluster as one JAX program.
#
#   launch/slurm_gpu.sh --nodes 4 --partition gpu train --config configs/qwen2.5-7b-tail.yaml
#   launch/slurm_gpu.sh --nodes 2 --srun check     # inside an allocation (salloc)
#   launch/slurm_gpu.sh --nodes 4 --partition gpu study --config configs/study/qwen2.5-7b-table1.yaml
#
# One process per node sees all of that node's GPUs. Every process joins the run through
# tailjax.distributed, which reads SLURM_PROCID / SLURM_NTASKS and takes the first node of the
# step as the coordinator (`study` runs a study's cells one after another in that one job, each
# on every node). The cluster's shared filesystem holds this checkout, its Python
# environment (tailjax installed with jax[cuda12] or jax[cuda13]), the data and the run directory.
# By default the job is submitted with sbatch; --srun runs it at once in the current allocation.
# --dry-run prints the command instead of running it.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: launch/slurm_gpu.sh --nodes N [options] COMMAND [ARGS...]

COMMAND
  check                multi-host smoke test: a sum over every GPU of every node
  train|eval|convert|data|study ARGS
                       python -m tailjax.COMMAND ARGS on every node, as one multi-host run

options
  --nodes N            number of nodes, one process each (required)
  --gpus-per-node G    GPUs per node (default: 8)
  --partition P        Slurm partition
  --account A          Slurm account
  --time T             time limit (default: 24:00:00)
  --job-name NAME      job name (default: tailjax-COMMAND)
  --output FILE        job log (default: tailjax-%x-%j.out in this checkout)
  --python PYTHON      python of the environment with tailjax and jax[cuda] (default: python3)
  --port PORT          coordinator port on the first node (default: derived from the job id)
  --srun               run now with srun inside an existing allocation instead of sbatch
  --dry-run            print the command instead of running it
  -h, --help           this help
EOF
}

# shellcheck source=launch/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

nodes="" gpus=8 partition="" account="" time_limit="24:00:00" job_name="" output=""
python="python3" port="" use_srun=0 dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --nodes) nodes="${2:-}"; shift 2 || die "--nodes needs a value" ;;
    --gpus-per-node) gpus="${2:-}"; shift 2 || die "--gpus-per-node needs a value" ;;
    --partition) partition="${2:-}"; shift 2 || die "--partition needs a value" ;;
    --account) account="${2:-}"; shift 2 || die "--account needs a value" ;;
    --time) time_limit="${2:-}"; shift 2 || die "--time needs a value" ;;
    --job-name) job_name="${2:-}"; shift 2 || die "--job-name needs a value" ;;
    --output) output="${2:-}"; shift 2 || die "--output needs a value" ;;
    --python) python="${2:-}"; shift 2 || die "--python needs a value" ;;
    --port) port="${2:-}"; shift 2 || die "--port needs a value" ;;
    --srun) use_srun=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || die "no COMMAND given; choose check, train, eval, convert, data or study"
command="$1"; shift
case "$command" in
  check|train|eval|convert|data|study) ;;
  *) die "unknown command '$command'; choose check, train, eval, convert, data or study" ;;
esac
[[ "$nodes" =~ ^[1-9][0-9]*$ ]] || die "--nodes must be a positive number of nodes, got '$nodes'"
[[ "$gpus" =~ ^[1-9][0-9]*$ ]] || die "--gpus-per-node must be a positive number, got '$gpus'"
if [[ -n "$port" ]]; then
  [[ "$port" =~ ^[0-9]+$ && "$port" -ge 1 && "$port" -le 65535 ]] \
    || die "--port must be a port number 1-65535, got '$port'"
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
job_name="${job_name:-tailjax-$command}"
output="${output:-$root/tailjax-%x-%j.out}"

# What every node runs: join the run (Slurm variables), then the entry point.
if [[ "$command" == check ]]; then
  entry=("$python" -m tailjax.distributed check)
else
  entry=("$python" -m tailjax.distributed run "tailjax.$command" "$@")
fi
export_vars="ALL,TAILJAX_DISTRIBUTED=slurm"
[[ -z "$port" ]] || export_vars+=",TAILJAX_COORDINATOR_PORT=$port"
step=(srun "--nodes=$nodes" --ntasks-per-node=1 --kill-on-bad-exit=1)

if [[ "$use_srun" -eq 1 ]]; then
  if [[ "$dry_run" -eq 0 ]]; then
    command -v srun >/dev/null || die "srun is not on PATH; run inside a Slurm allocation (salloc)"
  fi
  run "${step[@]}" "--gpus-per-node=$gpus" "--chdir=$root" "--export=$export_vars" "${entry[@]}"
  exit 0
fi

if [[ "$dry_run" -eq 0 ]]; then
  command -v sbatch >/dev/null || die "sbatch is not on PATH; run this on a Slurm login node"
fi
job=(sbatch "--job-name=$job_name" "--nodes=$nodes" --ntasks-per-node=1
     "--gpus-per-node=$gpus" "--time=$time_limit" "--output=$output" "--chdir=$root"
     "--export=$export_vars")
[[ -z "$partition" ]] || job+=("--partition=$partition")
[[ -z "$account" ]] || job+=("--account=$account")
run "${job[@]}" --wrap "$(quote "${step[@]}" "${entry[@]}")"
