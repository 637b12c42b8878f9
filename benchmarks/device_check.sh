#!/usr/bin/env bash
# One short check (10 minutes at most: 240 + 2 x 120 + 120 s of time limits) for when a GPU
# or TPU is lent:
#   1. the model's parity tests on the device: tests/test_model.py, test_kernels.py,
#      test_loss.py and test_attention.py where it exists (JAX on the accelerator, not the
#      CPU that tests/conftest.py picks by default);
#   2. one training step of the Qwen2.5-0.5B and 1.5B shapes (random weights) on 8 packed rows
#      of 4096 tokens in bf16, remat full, the loss in chunks of 512: tokens/s, MFU and peak
#      device memory (benchmarks/train_step.py does the work);
#   3. decoding the Qwen2.5-0.5B shape in bf16 (random weights, 64-token prompts, no end
#      token): batch 1 and batch 64 x 8192 new tokens, compile seconds, tokens/s and the
#      fraction of the memory-bandwidth roofline (benchmarks/decode_speed.py).
#
#   benchmarks/device_check.sh [OUT_DIR]     (default: $OUT, else ./device_check)
#
# Writes OUT_DIR/device_check.txt (everything printed), OUT_DIR/pytest.xml (per-test results),
# OUT_DIR/train_step.jsonl (one JSON record per shape) and OUT_DIR/decode_speed.jsonl (one per
# batch). Each stage has its own time limit,
# and a stage that fails or runs out of time does not stop the next. Exit status: 0 when every
# stage passed. JAX_PLATFORMS, when set, picks the backend; unset, JAX takes the accelerator.
set -u
cd "$(dirname "$0")/.." || exit 2
out="${1:-${OUT:-device_check}}"
mkdir -p "$out"
log="$out/device_check.txt"
export JAX_PLATFORMS="${JAX_PLATFORMS-}"   # empty: JAX's own choice (conftest would say cpu)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python="${PYTHON:-python}"
status=0

stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, log the outcome
  local name=$1 limit=$2 start rc
  shift 2
  echo "== $name (limit ${limit}s): $*"
  start=$(date +%s)
  timeout "$limit" "$@"
  rc=$?
  echo "== $name: exit $rc after $(( $(date +%s) - start ))s"
  [ "$rc" -eq 0 ] || status=1
}

exec > >(tee "$log") 2>&1
echo "device_check $(date -u +%Y-%m-%dT%H:%M:%SZ) at $(git rev-parse --short HEAD 2>/dev/null)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
    --format=csv
"$python" -c "import jax; print('jax', jax.__version__, jax.devices())"

tests=(tests/test_model.py tests/test_kernels.py tests/test_loss.py)
[ -f tests/test_attention.py ] && tests+=(tests/test_attention.py)
stage parity 240 "$python" -m pytest -q -p no:cacheprovider --junitxml="$out/pytest.xml" \
    "${tests[@]}"

for preset in 0.5b 1.5b; do
  stage "train step $preset" 120 "$python" benchmarks/train_step.py --preset "$preset" \
      --seq 4096 --batch 8 --dtype bfloat16 --remat full --loss-chunk 512 --steps 5 \
      --out "$out/train_step.jsonl"
done
for batch in 1 64; do
  stage "decode 0.5b batch $batch" 60 "$python" benchmarks/decode_speed.py --shape 0.5b \
      --batch "$batch" --new 8192 --dtype bfloat16 --repeats 1 --out "$out/decode_speed.jsonl"
done
echo "device_check done: status $status"
exit "$status"
