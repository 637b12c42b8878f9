#!/usr/bin/env bash
# Run a tailjax entry point on every worker of a Cloud TPU VM (a pod slice) as one JAX program.
#
#   launch/tpu_pod.sh --tpu NAME --zone ZONE install
#   launch/tpu_pod.sh --tpu NAME --zone ZONE check
#   launch/tpu_pod.sh --tpu NAME --zone ZONE --run-dir gs://BUCKET/run1 \
#       train --config configs/qwen2.5-7b-tail.yaml
#   launch/tpu_pod.sh --tpu NAME --zone ZONE --run-dir gs://BUCKET/study1 \
#       study --config configs/study/qwen2.5-7b-table1.yaml
#
# `install` copies this checkout (its committed HEAD, via git archive) to every worker and
# pip-installs it with jax[tpu]. Every other command runs `python -m tailjax.<command> ARGS` on
# all workers at once through `gcloud compute tpus tpu-vm ssh --worker=all`; each worker joins
# the run through tailjax.distributed (jax reads the coordinator from the TPU VM metadata).
# Checkpoints and logs belong on gs:// (no shared disk between workers): --run-dir sets train's
# train.out_dir; --data gs://... first copies inputs (data, model, tokenizer) to
# /tmp/tailjax-data/ on every worker. `study` runs the cells of a study config one after another,
# each on all workers (--run-dir sets study.out_dir: every cell's run and the report go there).
# --dry-run prints every command instead of running it.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: launch/tpu_pod.sh --tpu NAME --zone ZONE [options] COMMAND [ARGS...]

COMMAND
  install              copy this checkout to every worker and pip install it with jax[tpu]
  check                multi-host smoke test: a sum over every device of every worker
  train|eval|convert|data|study ARGS
                       python -m tailjax.COMMAND ARGS on all workers, as one multi-host run

options
  --tpu NAME           TPU VM name (required)
  --zone ZONE          its zone (required)
  --project PROJECT    Google Cloud project (default: gcloud's configured project)
  --run-dir gs://B/P   train: train.out_dir (checkpoints, logs) on Cloud Storage;
                       study: study.out_dir (every cell's run and the report)
  --data gs://B/P      copy inputs (JSONL data, a converted checkpoint, a tokenizer) to
                       /tmp/tailjax-data/ on every worker first; name them there in the
                       config (data.files, model.init, model.tokenizer)
  --jax SPEC           pip requirement for jax on the workers (default: jax[tpu])
  --pip SPEC           one more pip requirement to install on the workers (repeatable), e.g.
                       gcsfs, which orbax needs to write checkpoint metadata to gs://
  --python PYTHON      python on the workers (default: python3)
  --install            install before running COMMAND
  --detach             run in the background on every worker (log: ~/tailjax-COMMAND.log)
  --dry-run            print every command instead of running it
  -h, --help           this help
EOF
}

# shellcheck source=launch/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

tpu="" zone="" project="" run_dir="" data="" jax_spec="jax[tpu]" python="python3" extra_pip=()
install=0 detach=0 dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tpu) tpu="${2:-}"; shift 2 || die "--tpu needs a value" ;;
    --zone) zone="${2:-}"; shift 2 || die "--zone needs a value" ;;
    --project) project="${2:-}"; shift 2 || die "--project needs a value" ;;
    --run-dir) run_dir="${2:-}"; shift 2 || die "--run-dir needs a value" ;;
    --data) data="${2:-}"; shift 2 || die "--data needs a value" ;;
    --jax) jax_spec="${2:-}"; shift 2 || die "--jax needs a value" ;;
    --pip) extra_pip+=("${2:-}"); shift 2 || die "--pip needs a value" ;;
    --python) python="${2:-}"; shift 2 || die "--python needs a value" ;;
    --install) install=1; shift ;;
    --detach) detach=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || die "no COMMAND given; choose install, check, train, eval, convert, data or study"
command="$1"; shift
case "$command" in
  install) install=1 ;;
  check|train|eval|convert|data|study) ;;
  *) die "unknown command '$command'; choose install, check, train, eval, convert, data or study" ;;
esac
[[ -n "$tpu" ]] \
  || die "--tpu NAME is required (the TPU VM name from 'gcloud compute tpus tpu-vm list')"
[[ -n "$zone" ]] || die "--zone ZONE is required (the TPU VM's zone, e.g. us-central2-b)"
if [[ -n "$run_dir" ]]; then
  [[ "$run_dir" == gs://?* ]] \
    || die "--run-dir must be a gs:// path (workers share no disk), got '$run_dir'"
  [[ "$command" == train || "$command" == study ]] \
    || die "--run-dir is for train and study; give eval/convert their gs:// paths as arguments"
fi
if [[ -n "$data" ]]; then
  [[ "$data" == gs://?* ]] || die "--data must be a gs:// path, got '$data'"
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir=/tmp/tailjax-data  # the same absolute path on every worker, for data.files
gcloud_tpu=(gcloud compute tpus tpu-vm)
where=("--zone=$zone")
[[ -z "$project" ]] || where+=("--project=$project")

# Run one shell command line on every worker at once.
on_all_workers() {
  run "${gcloud_tpu[@]}" ssh "$tpu" "${where[@]}" --worker=all --command "$1"
}

if [[ "$dry_run" -eq 0 ]]; then
  command -v gcloud >/dev/null \
    || die "gcloud is not installed; see https://cloud.google.com/sdk/docs/install"
fi

if [[ "$install" -eq 1 ]]; then
  git -C "$root" rev-parse --verify -q HEAD >/dev/null \
    || die "$root is not a git checkout with a commit"
  if [[ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]]; then
    echo "note: uncommitted changes are not copied; install sends the committed HEAD" >&2
  fi
  tarball="${TMPDIR:-/tmp}/tailjax-$(git -C "$root" rev-parse --short HEAD).tar.gz"
  run git -C "$root" archive --format=tar.gz -o "$tarball" HEAD
  run "${gcloud_tpu[@]}" scp "$tarball" "$tpu:tailjax.tar.gz" "${where[@]}" --worker=all
  py="$(quote "$python")"
  requirements="$(quote "$jax_spec" ${extra_pip[@]+"${extra_pip[@]}"})"
  unpack="rm -rf ~/tailjax && mkdir -p ~/tailjax && tar -xzf ~/tailjax.tar.gz -C ~/tailjax"
  on_all_workers "set -e; $unpack && $py -m pip install --upgrade $requirements && $py -m pip install -e ~/tailjax"
  [[ "$command" != install ]] || exit 0
fi

if [[ -n "$data" ]]; then
  on_all_workers "mkdir -p $data_dir && gcloud storage rsync --recursive $(quote "$data") $data_dir"
fi

# The command every worker runs: join the pod (TPU metadata), then the entry point.
if [[ "$command" == check ]]; then
  entry=(-m tailjax.distributed check)
else
  entry=(-m tailjax.distributed run "tailjax.$command" "$@")
  if [[ -n "$run_dir" ]]; then
    out_key=train.out_dir
    [[ "$command" != study ]] || out_key=study.out_dir
    entry+=(--set "$out_key=$run_dir")
  fi
fi
remote="cd ~/tailjax && TAILJAX_DISTRIBUTED=tpu $(quote "$python" "${entry[@]}")"
if [[ "$detach" -eq 1 ]]; then
  remote="nohup bash -c $(quote "$remote") > ~/tailjax-$command.log 2>&1 < /dev/null &"
fi
on_all_workers "$remote"
