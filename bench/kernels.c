/* bench/kernels.c: speed of the matrix kernels beside the machine's own read bandwidth.
 *
 *   build/release/bench/kernels [--threads 1,2] [--types F16,Q4_K,...] [--reps N] [--no-prefill]
 *
 * 1. Read bandwidth: a plain streaming read over 2 GiB (filled with distinct data so that no page
 *    can be shared), split over the pool's threads; median of --reps runs. Also the same read with
 *    each thread's part read as 4 interleaved streams, which is how the decode kernels read the
 *    weights (more hardware-prefetch streams in flight: faster on this machine).
 * 2. Decode: a 14336 x 4096 matrix-vector product (rows x input; an FFN up projection of an 8B
 *    model) per weight type. Copies of the matrix are cycled through so that at least 1 GiB of
 *    weights is touched between two uses of the same copy: every product reads its weights from
 *    memory, as decoding a real model does. Reported: weight bytes / time (GB/s), median of --reps
 *    products, and its fraction of the measured read bandwidth at the same thread count.
 * 3. Prefill: the same matrix times 512 tokens (one product), tok/s, median of 3.
 * Every figure is printed with the CPU model, the SIMD path and the thread count. */
#include "yoke.h"
#include "yoke/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define K_IN 4096
#define N_ROWS 14336
#define PREFILL_TOKENS 512
#define MAX_THREADS 8

static const yk_type default_types[] = {
    YK_TYPE_F32,  YK_TYPE_F16,  YK_TYPE_BF16, YK_TYPE_Q8_0, YK_TYPE_Q4_0, YK_TYPE_Q4_1, YK_TYPE_Q5_0,
    YK_TYPE_Q5_1, YK_TYPE_IQ4_NL, YK_TYPE_Q2_K, YK_TYPE_Q3_K, YK_TYPE_Q4_K, YK_TYPE_Q5_K, YK_TYPE_Q6_K,
};

static double median(const double *v, int n) { return yk_summarize(v, n).median; }

/* ---- read bandwidth ------------------------------------------------------------------------- */

typedef struct {
    const uint64_t *buf;
    size_t n;
    int streams; /* 1: one sequential stream per thread; 4: four interleaved streams per thread */
    uint64_t sink[MAX_THREADS * 8];
} read_job;

static void read_task(void *p, int ith, int nth)
{
    read_job *j = p;
    int64_t lo, hi;
    yk_split_range((int64_t)j->n, 512, ith, nth, &lo, &hi);
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    if (j->streams == 1) {
        for (int64_t i = lo; i + 4 <= hi; i += 4) {
            a0 ^= j->buf[i];
            a1 ^= j->buf[i + 1];
            a2 ^= j->buf[i + 2];
            a3 ^= j->buf[i + 3];
        }
    } else {
        /* the thread's part in 4 quarters, read 256 bytes from each in turn */
        int64_t q = (hi - lo) / 4 / 32 * 32;
        for (int64_t i = lo; i < lo + q; i += 32)
            for (int s = 0; s < 4; s++)
                for (int64_t e = 0; e < 32; e += 4) {
                    const uint64_t *b = j->buf + i + s * q + e;
                    a0 ^= b[0];
                    a1 ^= b[1];
                    a2 ^= b[2];
                    a3 ^= b[3];
                }
    }
    j->sink[ith * 8] = a0 ^ a1 ^ a2 ^ a3;
}

static double read_bandwidth(yk_pool *pool, const uint64_t *buf, size_t n, int streams, int reps)
{
    read_job j = {buf, n, streams, {0}};
    double t[64];
    for (int r = 0; r < reps; r++) {
        double t0 = yk_now();
        yk_pool_run(pool, read_task, &j);
        t[r] = yk_now() - t0;
    }
    return (double)n * 8 / median(t, reps) / 1e9;
}

/* ---- products ------------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_normal(uint64_t *s)
{
    /* sum of 4 uniforms, centred: close enough to Gaussian for weights */
    double a = 0;
    for (int i = 0; i < 4; i++) a += (double)(rng_next(s) >> 11) * 0x1p-53;
    return (float)((a - 2.0) * 1.7320508);
}

/* One matrix of type t: 64 distinct quantised rows, repeated. */
static uint8_t *make_matrix(yk_type t, size_t *row_bytes)
{
    size_t rb = yk_row_bytes(t, K_IN);
    uint8_t *w = malloc(rb * N_ROWS);
    float *x = malloc(K_IN * sizeof *x);
    if (!w || !x) {
        free(w), free(x);
        return NULL;
    }
    uint64_t s = 12345 + (uint64_t)t;
    for (int r = 0; r < 64; r++) {
        for (int i = 0; i < K_IN; i++) x[i] = 0.02f * rng_normal(&s);
        yk_quantize_row(t, x, w + r * rb, K_IN);
    }
    for (int r = 64; r < N_ROWS; r++) memcpy(w + r * rb, w + (r % 64) * rb, rb);
    free(x);
    *row_bytes = rb;
    return w;
}

int main(int argc, char **argv)
{
    int threads[MAX_THREADS] = {1, 2}, n_threads = 2, reps = 9;
    yk_type types[YK_TYPE_COUNT];
    int n_types = (int)(sizeof default_types / sizeof *default_types);
    memcpy(types, default_types, sizeof default_types);
    bool prefill = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_threads = 0;
            for (char *tok = strtok(argv[++i], ","); tok && n_threads < MAX_THREADS; tok = strtok(NULL, ",")) {
                int v = atoi(tok);
                if (v < 1 || v > MAX_THREADS) {
                    fprintf(stderr, "kernels: --threads: '%s' is not in [1, %d]\n", tok, MAX_THREADS);
                    return 1;
                }
                threads[n_threads++] = v;
            }
        } else if (!strcmp(argv[i], "--types") && i + 1 < argc) {
            n_types = 0;
            for (char *tok = strtok(argv[++i], ","); tok; tok = strtok(NULL, ",")) {
                int t = yk_type_from_name(tok);
                if (t < 0 || !yk_type_supported((yk_type)t) || !yk_type_quantizable((yk_type)t) || n_types >= YK_TYPE_COUNT) {
                    fprintf(stderr, "kernels: --types: '%s' is not a type yoke computes with\n", tok);
                    return 1;
                }
                types[n_types++] = (yk_type)t;
            }
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 64) {
                fprintf(stderr, "kernels: --reps must be in [1, 64]\n");
                return 1;
            }
        } else if (!strcmp(argv[i], "--no-prefill")) {
            prefill = false;
        } else {
            fprintf(stderr, "usage: kernels [--threads 1,2] [--types F16,Q4_K,...] [--reps N] [--no-prefill]\n");
            return 1;
        }
    }

    char cpu[256], date[64];
    yk_cpu_name(cpu, sizeof cpu);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&now));
    printf("bench/kernels  %s  CPU: %s (%ld online)  SIMD: %s\n", date, cpu, sysconf(_SC_NPROCESSORS_ONLN), yk_simd_path());

    yk_pool *pools[MAX_THREADS];
    for (int i = 0; i < n_threads; i++) {
        pools[i] = yk_pool_create(threads[i]);
        if (!pools[i]) {
            fprintf(stderr, "kernels: cannot create a pool of %d threads\n", threads[i]);
            return 1;
        }
    }

    /* 1. read bandwidth */
    size_t n64 = ((size_t)2 << 30) / 8;
    uint64_t *buf = malloc(n64 * 8);
    if (!buf) {
        fprintf(stderr, "kernels: cannot allocate 2 GiB\n");
        return 1;
    }
    uint64_t s = 1;
    for (size_t i = 0; i < n64; i++) buf[i] = i * 0x9e3779b97f4a7c15ull ^ (s += i);
    double bw[MAX_THREADS], bw4[MAX_THREADS];
    printf("read bandwidth over 2 GiB, median of %d: plain streaming read", reps);
    for (int i = 0; i < n_threads; i++) {
        bw[i] = read_bandwidth(pools[i], buf, n64, 1, reps);
        printf("  %dt %.1f GB/s", threads[i], bw[i]);
    }
    printf("; 4 streams per thread (as the kernels read)");
    for (int i = 0; i < n_threads; i++) {
        bw4[i] = read_bandwidth(pools[i], buf, n64, 4, reps);
        printf("  %dt %.1f GB/s", threads[i], bw4[i]);
    }
    printf("\n");
    free(buf);

    /* 2 and 3. products */
    printf("matvec %dx%d (weights cycled over >= 1 GiB), median of %d; prefill %d tokens, median of 3\n", N_ROWS, K_IN,
           reps, PREFILL_TOKENS);
    printf("%%bw: of the plain read, %%bw4: of the 4-stream read, at the same thread count\n");
    printf("%-7s %9s", "type", "MB");
    for (int i = 0; i < n_threads; i++) printf("  %2dt GB/s  %%bw %%bw4", threads[i]);
    if (prefill)
        for (int i = 0; i < n_threads; i++) printf("  %2dt tok/s", threads[i]);
    printf("\n");
    float *x = malloc((size_t)K_IN * PREFILL_TOKENS * sizeof *x), *y = malloc((size_t)N_ROWS * PREFILL_TOKENS * sizeof *y);
    uint64_t xs = 777;
    for (size_t i = 0; i < (size_t)K_IN * PREFILL_TOKENS; i++) x[i] = rng_normal(&xs);
    for (int ti = 0; ti < n_types; ti++) {
        yk_type t = types[ti];
        size_t rb;
        uint8_t *w = make_matrix(t, &rb);
        size_t mbytes = rb * N_ROWS;
        int copies = (int)((((size_t)1 << 30) + mbytes - 1) / mbytes) + 1;
        uint8_t **cp = calloc((size_t)copies, sizeof *cp);
        void *scratch = malloc(yk_acts_bytes(t, K_IN, PREFILL_TOKENS));
        bool ok = w && cp && scratch && x && y;
        for (int c = 0; ok && c < copies; c++) {
            cp[c] = malloc(mbytes);
            ok = cp[c] != NULL;
            if (ok) memcpy(cp[c], w, mbytes);
        }
        if (!ok) {
            fprintf(stderr, "kernels: out of memory for %s\n", yk_type_name(t));
            return 1;
        }
        printf("%-7s %9.1f", yk_type_name(t), mbytes / 1e6);
        for (int i = 0; i < n_threads; i++) {
            double tm[64];
            for (int c = 0; c < copies; c++) yk_matmul(pools[i], t, cp[c], rb, N_ROWS, x, K_IN, 1, y, N_ROWS, scratch);
            for (int r = 0; r < reps; r++) {
                double t0 = yk_now();
                yk_matmul(pools[i], t, cp[r % copies], rb, N_ROWS, x, K_IN, 1, y, N_ROWS, scratch);
                tm[r] = yk_now() - t0;
            }
            double gbs = (double)mbytes / median(tm, reps) / 1e9;
            printf("  %9.1f %4.0f %4.0f", gbs, 100 * gbs / bw[i], 100 * gbs / bw4[i]);
        }
        if (prefill)
            for (int i = 0; i < n_threads; i++) {
                double tm[3];
                for (int r = 0; r < 3; r++) {
                    double t0 = yk_now();
                    yk_matmul(pools[i], t, w, rb, N_ROWS, x, K_IN, PREFILL_TOKENS, y, N_ROWS, scratch);
                    tm[r] = yk_now() - t0;
                }
                printf("  %10.1f", PREFILL_TOKENS / median(tm, 3));
            }
        printf("\n");
        fflush(stdout);
        for (int c = 0; c < copies; c++) free(cp[c]);
        free(cp), free(w), free(scratch);
    }
    free(x), free(y);
    for (int i = 0; i < n_threads; i++) yk_pool_destroy(pools[i]);
    return 0;
}
