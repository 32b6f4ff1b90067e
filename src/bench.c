/* bench.c: benchmark arithmetic and the streaming-read bandwidth probe (see bench.h). */
#include "yoke/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

yk_summary yk_summarize(const double *v, int n)
{
    yk_summary s = {0};
    if (n <= 0) return s;
    double *c = malloc((size_t)n * sizeof *c);
    YK_ASSERT(c != NULL);
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    s.n = n;
    s.min = c[0];
    s.max = c[n - 1];
    s.median = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return s;
}

typedef struct {
    const uint64_t *buf;
    size_t words;
    uint64_t sums[64];
} read_job;

static void read_task(void *ctx, int ith, int nth)
{
    read_job *j = ctx;
    int64_t lo, hi;
    yk_split_range((int64_t)j->words, 512, ith, nth, &lo, &hi);
    /* four independent sums so the loop is bound by loads, not by one add chain */
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (int64_t i = lo; i + 4 <= hi; i += 4) {
        a += j->buf[i];
        b += j->buf[i + 1];
        c += j->buf[i + 2];
        d += j->buf[i + 3];
    }
    j->sums[ith % 64] = a + b + c + d;
}

double yk_read_bandwidth(yk_pool *pool, size_t bytes, int reps)
{
    uint64_t *buf = NULL;
    if (posix_memalign((void **)&buf, 4096, bytes)) return 0;
    memset(buf, 1, bytes);
    read_job j = {.buf = buf, .words = bytes / 8};
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = yk_now();
        yk_pool_run(pool, read_task, &j);
        double t = yk_now() - t0;
        if (t < best) best = t;
    }
    /* keep the sums alive so the reads are not optimised away */
    volatile uint64_t sink = 0;
    for (int i = 0; i < 64; i++) sink += j.sums[i];
    (void)sink;
    free(buf);
    return (double)bytes / best / 1e9;
}

void yk_cpu_name(char *buf, size_t n)
{
    snprintf(buf, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) {
                p += 1 + strspn(p + 1, " \t");
                p[strcspn(p, "\n")] = 0;
                snprintf(buf, n, "%s", p);
            }
            break;
        }
    fclose(f);
}
