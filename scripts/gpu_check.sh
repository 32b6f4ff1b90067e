#!/bin/bash
# gpu_check.sh: on a machine with an NVIDIA GPU, builds yoke with CUDA, runs the CUDA tests (every
# device op against float64 and the CPU device; the golden models on cuda:0 and in GPU layouts) and
# a short bench, and prints a summary. Meant to finish in under 5 minutes on one GPU.
#
#   scripts/gpu_check.sh [OUTDIR]
#
# Reference data: ../shared (or $YOKE_SHARED). Where the build machine lacks PCRE2's header, a
# folder $YK_DEPS with include/pcre2.h and lib/libpcre2-8.so is used. Each step has its own time
# limit; a failing step is reported and the others still run. Exit status: 0 if every step passed.
set -u
cd "$(dirname "$0")/.."
out=${1:-build/gpu-check}
mkdir -p "$out"
jobs=$(nproc 2>/dev/null || echo 4)
status=0
summary=()
step() { # name, time limit (s), command...
    local name=$1 limit=$2
    shift 2
    local t0=$(date +%s)
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    local dt=$(($(date +%s) - t0))
    summary+=("$(printf '%-22s rc=%-3s %4ss  %s' "$name" "$rc" "$dt" "$(grep -E 'checks,|SKIP|passed|error' "$out/$name.log" | tail -1)")")
    [ $rc -eq 0 ] || status=1
    echo "== $name: rc=$rc (${dt}s)"
    tail -n 40 "$out/$name.log"
    return $rc
}

echo "== machine: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
echo "== date: $(date -u +%Y-%m-%dT%H:%MZ)"
extra_c="-Wno-error"
extra_l=""
if ! echo '#include <pcre2.h>' | ${CC:-cc} -DPCRE2_CODE_UNIT_WIDTH=8 -E -x c - >/dev/null 2>&1 && [ -n "${YK_DEPS:-}" ]; then
    extra_c="$extra_c -I$YK_DEPS/include"
    extra_l="-L$YK_DEPS/lib -Wl,-rpath,$YK_DEPS/lib"
fi
step build 400 make -j"$jobs" EXTRA_CFLAGS="$extra_c" EXTRA_LDFLAGS="$extra_l" build/release/yoke build/release/tests/test_cuda \
    build/release/tests/test_golden || { printf '%s\n' "${summary[@]}"; exit 1; }
y=build/release/yoke
step test_cuda 120 build/release/tests/test_cuda
step test_golden 240 build/release/tests/test_golden

# Whole models: yoke's own random-weight models, on the GPU beside the CPU where that is quick.
m=$out/models
mkdir -p "$m"
step mkmodel-1b-q4_0 120 $y mkmodel -o "$m/1b-q4_0.gguf" --preset llama3.2-1b --type Q4_0
step mkmodel-8b-q4_0 240 $y mkmodel -o "$m/8b-q4_0.gguf" --preset llama3-8b --type Q4_0
# the 1B model's logits on cuda:0 against the CPU (prefill of 40 tokens, 8 decode steps)
ids=$(seq -s ' ' 1 40)
step logits-1b-cpu 120 $y logits -m "$m/1b-q4_0.gguf" --tokens "$ids" -o "$out/1b-cpu.f32" -t "$jobs"
step logits-1b-cuda 120 $y logits -m "$m/1b-q4_0.gguf" --tokens "$ids" -o "$out/1b-cuda.f32" --devices cuda:0
step run-1b-cuda 120 $y run -m "$m/1b-q4_0.gguf" --tokens "1 2 3 4 5" -n 16 --temp 0 --print-ids --devices cuda:0
step run-1b-cpu 120 $y run -m "$m/1b-q4_0.gguf" --tokens "1 2 3 4 5" -n 16 --temp 0 --print-ids -t "$jobs"
step bench-1b-q4_0 120 $y bench -m "$m/1b-q4_0.gguf" --devices cuda:0 -p 512 -n 64 -r 2
step bench-8b-q4_0 240 $y bench -m "$m/8b-q4_0.gguf" --devices cuda:0 -p 512 -n 64 -r 2
if command -v python3 >/dev/null; then
    python3 - "$out/1b-cpu.f32" "$out/1b-cuda.f32" <<'EOF'
import sys, array, math
a = array.array('f'); b = array.array('f')
a.frombytes(open(sys.argv[1], 'rb').read()); b.frombytes(open(sys.argv[2], 'rb').read())
if len(a) != len(b) or not a: print("1b logits: sizes differ", len(a), len(b)); sys.exit(0)
d = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b))); n = math.sqrt(sum(y * y for y in a))
print("1b Q4_0 logits cuda vs cpu: rel L2 %.3e over %d values" % (d / n, len(a)))
EOF
fi
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
