#!/bin/sh
# bench/split.sh: the measurements of docs/PERF.md "Splitting across CPU devices" (issue 5).
# A generated Llama-3.2-1B-shaped model (1.24 B parameters, 128k vocabulary), one device with two
# threads against two devices with one thread each, tensor and pipeline parallel, in-process and
# under MPI: prefill and decode tok/s and the traffic per token.
#   usage: bench/split.sh [TYPE] (default Q8_0); set YOKE, DIR to override paths
set -e
TYPE=${1:-Q8_0}
YOKE=${YOKE:-build/release/yoke}
DIR=${DIR:-/tmp}
MODEL=$DIR/llama3.2-1b-$TYPE.gguf
[ -f "$MODEL" ] || "$YOKE" mkmodel --preset llama3.2-1b --type "$TYPE" -o "$MODEL"
BW=$("$YOKE" bench -m "$MODEL" -p 1 -n 1 -r 1 -t 2 --json | sed -n 's/.*"read_bw_gb_s": \([0-9.]*\).*/\1/p' | head -1)
echo "model $MODEL, read bandwidth $BW GB/s"
echo "-- in-process: 1 device x 2 threads, TP 2 and PP 2 with 1 thread per device"
"$YOKE" bench -m "$MODEL" -p 64 -n 32 -r 5 -t 2 --tp 1,2 --bw "$BW"
"$YOKE" bench -m "$MODEL" -p 64 -n 32 -r 5 -t 2 --pp 2 --bw "$BW"
echo "-- MPI: 2 ranks x 1 thread"
for L in "--tp 2" "--pp 2"; do
    mpirun --oversubscribe --allow-run-as-root --mca mpi_yield_when_idle 1 -np 2 "$YOKE" bench -m "$MODEL" -p 64 -n 32 -r 5 -t 1 $L --bw "$BW"
done
