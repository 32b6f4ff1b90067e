/* yoke/bench.h: the arithmetic of benchmarks, kept apart from the timing so it can be tested on
 * synthetic numbers: summaries of repeated measurements, throughput and bandwidth figures, and the
 * machine's own read bandwidth measured by a plain streaming read. */
#ifndef YOKE_BENCH_H
#define YOKE_BENCH_H

#include "yoke/pool.h"

typedef struct {
    double median, min, max;
    int n;
} yk_summary;

/* Median (mean of the middle two for even n), min and max of v[0..n); v is not modified. */
yk_summary yk_summarize(const double *v, int n);

/* tok/s for n tokens in seconds (0 when seconds <= 0). */
static inline double yk_tok_per_s(double tokens, double seconds) { return seconds > 0 ? tokens / seconds : 0; }
/* GB/s (1e9 bytes) of bytes_per_token moved at tok_s. */
static inline double yk_gb_per_s(double bytes_per_token, double tok_s) { return bytes_per_token * tok_s / 1e9; }

/* Read bandwidth of this machine in GB/s: n_threads threads stream through a buffer of bytes
 * (written first so the pages exist), best of reps passes. 0 on allocation failure. */
double yk_read_bandwidth(yk_pool *pool, size_t bytes, int reps);

/* This machine's CPU model name (from /proc/cpuinfo), or "unknown CPU". */
void yk_cpu_name(char *buf, size_t n);

#endif
