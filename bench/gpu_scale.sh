#!/usr/bin/env bash
# The pre-training data path at scale, checked on one GPU machine in one command (about 4
# minutes on one H200 with 16 cores):
#   - the CUDA test of the device-side augmentation (against the CPU loader's);
#   - bench/loader.py: the per-stage profile, decoders and loader rates on this machine's
#     cores, mae_dfer_base's model-only rate at batch 128 in bf16, and end-to-end
#     pre-training (packed files, 15 workers, augmentation on the GPU) against it;
# The evidence run is its own command (python bench/evidence.py --scale gpu, sized for 8
# minutes): together they would not fit one 10-minute device call.
# Results (markdown and JSON) go to OUT; logs beside them.
#
#   bash bench/gpu_scale.sh OUT        # from the repository root, maedfer importable
set -u
cd "$(dirname "$0")/.."
out="${1:?usage: bash bench/gpu_scale.sh OUT}"
mkdir -p "$out"
py="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
work="$(mktemp -d)"
cores=$(nproc)
status=0
timeout 60 "$py" -m pytest -q -m cuda tests/test_fast_pretrain_data.py 2>&1 | tail -3 | tee "$out/cuda-test.log"
timeout 180 "$py" bench/loader.py --out "$work/loader" --videos 32 --clips 240 --workers $((cores - 1)) \
  --e2e-steps 30 >"$out/loader.log" 2>&1 || status=1
cp "$work/loader/loader.md" "$work/loader/loader.json" "$out/" 2>/dev/null
tail -40 "$out/loader.log"
exit $status
