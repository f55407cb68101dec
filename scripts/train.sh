#!/usr/bin/env bash
# Regenerate the training data and retrain both models into models/.
#   1. generate the synthetic data set (Kaggle layout) with a fixed seed
#   2. export tensors with the Go preprocessing (the serving code path): 64x64 for
#      the champion, 128x128 for the challenger
#   3. train with PyTorch (Debian python3-torch), export ONNX with metadata, write
#      model cards and the parity fixtures
# Environment: TRAIN_DATA (default data/train-set), SEED, TRAIN_N/VAL_N/TEST_N
# (images per class), EPOCHS_CHAMPION/EPOCHS_CHALLENGER, MODELS (default models).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
data="${TRAIN_DATA:-data/train-set}"
models="${MODELS:-models}"
seed="${SEED:-20261128}"
py=/usr/bin/python3
mkdir -p bin
go build -o bin/hap ./cmd/hap

start=$(date +%s)
echo "== generate data ($data)"
bin/hap generate -out "$data" -seed "$seed" \
  -train-normal "${TRAIN_N:-1500}" -train-pneumonia "${TRAIN_N:-1500}" \
  -val-normal "${VAL_N:-250}" -val-pneumonia "${VAL_N:-250}" \
  -test-normal "${TEST_N:-1000}" -test-pneumonia "${TEST_N:-1000}"
gen=$(date +%s)

echo "== export tensors"
for size in 64 128; do
  bin/hap tensors -data "$data" -out "$data/tensors/$size" -size "$size" -mean 0.5 -std 0.25
done
tens=$(date +%s)

echo "== train champion and challenger (in parallel, one core each)"
$py training/train.py --arch simplecnn --tensors "$data/tensors/64" --out "$models" --threads 1 \
  --name pneumonia-simplecnn --version 1.0.0 --manifest "$data/chest_xray/manifest.json" --epochs "${EPOCHS_CHAMPION:-15}" \
  > "$data/train-champion.log" 2>&1 &
champ=$!
$py training/train.py --arch resnet --tensors "$data/tensors/128" --out "$models" --threads 1 \
  --name pneumonia-resnet --version 2.0.0 --manifest "$data/chest_xray/manifest.json" --epochs "${EPOCHS_CHALLENGER:-12}" \
  > "$data/train-challenger.log" 2>&1 &
chall=$!
status=0
wait "$champ" || status=$?
wait "$chall" || status=$?
cat "$data/train-champion.log" "$data/train-challenger.log"
[ "$status" = 0 ] || { echo "train: training failed (logs above)" >&2; exit "$status"; }
end=$(date +%s)
echo "== done: generate $((gen - start))s, tensors $((tens - gen))s, training $((end - tens))s, total $((end - start))s"
