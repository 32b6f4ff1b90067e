#!/bin/sh
# The main job on built-in defaults (make demo):
#   1. yoke plan: will a 70B model fit two RTX 4090s, how to split it, how fast, at what cost;
#   2. yoke mkmodel: a small random-weight Llama-shaped model (Q8_0, ~170 MB), made here;
#   3. yoke bench: that model on one CPU device, then split across two CPU devices (tensor
#      parallel, pipeline parallel), each measurement beside the planner's prediction for it;
#   4. yoke run: a few tokens from it split across two devices, with the per-device times.
set -e
YOKE=${1:-build/release/yoke}
OUT=${DEMO_DIR:-build/demo}
mkdir -p "$OUT"
MODEL="$OUT/demo-llama-q8_0.gguf"

echo "== 1. yoke plan (built-in default rig)"
"$YOKE" plan

echo
echo "== 2. yoke mkmodel: a random-weight model to run here"
[ -f "$MODEL" ] || "$YOKE" mkmodel -o "$MODEL" --layers 8 --embd 1024 --heads 16 --kv-heads 4 --ff 2816 --vocab 32000 --type Q8_0 --seed 1
"$YOKE" info "$MODEL" | head -12

echo
echo "== 3. yoke bench: one device, then two devices (measured beside predicted)"
"$YOKE" bench -m "$MODEL" -p 64 -n 32 -r 3 --tp 1,2
"$YOKE" bench -m "$MODEL" -p 64 -n 32 -r 3 --pp 2

echo
echo "== 4. yoke run across two CPU devices (random weights: the text is noise)"
"$YOKE" run -m "$MODEL" -p "Once upon a time" -n 24 --devices cpu:2 --seed 1 --show-plan
echo
