#!/bin/sh
# The main job on built-in defaults: plan a default rig, make a small model, run it split across
# two CPU devices with the prediction beside the measurement. Grows with the project.
set -e
YOKE=${1:-build/release/yoke}
echo "== yoke: built, SIMD path and commands"
"$YOKE" --help
