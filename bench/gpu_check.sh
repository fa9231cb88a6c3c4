#!/usr/bin/env bash
# The GPU path, checked in one command on a machine with a CUDA GPU (about 3 minutes on one
# H100/H200; at most 8):
#   - the CUDA-marked tests (pytest -m cuda);
#   - one fine-tuning run (a few steps, the official recipe with Mixup/CutMix, then the
#     multi-view test) of lgi_former_base and one pre-training run of mae_dfer_base, each in
#     bf16 and in fp16, through the `maedfer` commands, and fine-tuning with repeated augmentation;
#   - `maedfer evaluate` and `maedfer predict --device cuda --annotate` on a real face video
#     (precision auto: timed on the GPU, then the model converted);
#   - `torchrun --nproc_per_node=2` fine-tuning where two GPUs exist.
# Prints a pass/fail table; each check's log is in WORKDIR/<check>.log. Exit status 1 if a
# check failed.
#
#   bash bench/gpu_check.sh [WORKDIR]          # from the repository root, maedfer installed
set -u
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
py="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
rows=()
failed=0

check() {  # check NAME LIMIT_SECONDS COMMAND...
  local name=$1 limit=$2 start status
  shift 2
  start=$(date +%s)
  if timeout "$limit" "$@" >"$work/$name.log" 2>&1; then status=pass; else status=FAIL; failed=1; fi
  rows+=("$(printf '%-28s %-5s %5ss' "$name" "$status" "$(( $(date +%s) - start ))")")
  echo "${rows[-1]}"
}

data="$work/data"
tiny_run=(--set "dataset=synth" --set "train=$data/train.csv" --set "test=$data/test.csv" --set epochs=1
          --set warmup_epochs=0 --set batch_size=4 --set workers=2 --set test_clips=1 --set test_crops=1)

check cuda-visible 60 "$py" -c "import torch; assert torch.cuda.is_available(); print(torch.cuda.get_device_name())"
check cuda-tests 300 "$py" -m pytest -q -m cuda tests
check synthetic-data 120 "$py" -m maedfer synth --out "$data" --clips-per-class 2 --pool 8 --frames 16 \
  --pool-frames 24 --size 64 --identities 2 --workers 4 --overwrite
for precision in bf16 fp16; do
  check "finetune-base-$precision" 300 "$py" -m maedfer finetune --preset dfew "${tiny_run[@]}" \
    --set "precision=$precision" --set "output_dir=$work/ft-$precision" --overwrite
  check "pretrain-base-$precision" 300 "$py" -m maedfer pretrain --preset voxceleb2 --set "data=$data/pretrain.csv" \
    --set voxceleb_crop=False --set epochs=1 --set warmup_epochs=0 --set batch_size=4 --set workers=2 \
    --set "precision=$precision" --set "output_dir=$work/pt-$precision" --overwrite
done
check finetune-repeated-aug 300 "$py" -m maedfer finetune --preset dfew "${tiny_run[@]}" --set precision=bf16 \
  --set repeated_aug=2 --set "output_dir=$work/ft-repeated" --overwrite
check evaluate-cuda 300 "$py" -m maedfer evaluate "$work/ft-bf16/checkpoint-last.pth" --test "$data/test.csv" \
  --out "$work/eval" --overwrite
check face-video 60 "$py" - "$work/face.mp4" <<'EOF'
import sys
import numpy as np
import skimage.data
from maedfer.data.writers import write_video

face = np.ascontiguousarray(skimage.data.astronaut()[10:290, 80:360])
frames = np.full((48, 360, 640, 3), 40, np.uint8)
for i in range(48):
    frames[i, 40:320, 40 + 4 * i:320 + 4 * i] = face
write_video(sys.argv[1], frames)
EOF
check predict-cuda 300 "$py" -m maedfer predict "$work/face.mp4" --checkpoint "$work/ft-bf16/checkpoint-last.pth" \
  --device cuda --annotate --out "$work/predictions" --overwrite
gpus=$("$py" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
if [ "${gpus:-0}" -ge 2 ]; then
  check torchrun-2-gpus 300 "$py" -m torch.distributed.run --nproc_per_node=2 -m maedfer finetune --preset dfew \
    "${tiny_run[@]}" --set precision=bf16 --set "output_dir=$work/ft-ddp" --overwrite
else
  rows+=("$(printf '%-28s %-5s %s' torchrun-2-gpus skip "($gpus GPU)")")
  echo "${rows[-1]}"
fi

echo
echo "GPU check on $("$py" -c 'import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA GPU")' 2>/dev/null), torch $("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null)"
printf '%-28s %-5s %s\n' check result time
printf '%s\n' "${rows[@]}"
echo "logs: $work"
exit $failed
