/* test_pool.c: the persistent thread pool: every thread runs each job exactly once with the right
 * (ith, nth), jobs in quick succession and after the workers went to sleep, inline pools, and the
 * range splitter. */
#include "test.h"

#include <stdatomic.h>
#include <time.h>

typedef struct {
    _Atomic int ran[8];
    _Atomic int bad_nth;
    int nth_expected;
    _Atomic long total;
} job_state;

static void job(void *p, int ith, int nth)
{
    job_state *s = p;
    if (nth != s->nth_expected || ith < 0 || ith >= nth) atomic_fetch_add(&s->bad_nth, 1);
    else atomic_fetch_add(&s->ran[ith], 1);
    atomic_fetch_add(&s->total, 1);
}

/* Each thread sums its own part of an array: checks that writes made by workers are visible. */
typedef struct {
    const int *a;
    int64_t n;
    long part[8];
} sum_state;

static void sum_job(void *p, int ith, int nth)
{
    sum_state *s = p;
    int64_t lo, hi;
    yk_split_range(s->n, 1, ith, nth, &lo, &hi);
    long acc = 0;
    for (int64_t i = lo; i < hi; i++) acc += s->a[i];
    s->part[ith] = acc;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void)
{
    for (int n = 1; n <= 4; n++) {
        yk_pool *pool = yk_pool_create(n);
        CHECK(pool != NULL, "create %d", n);
        if (!pool) continue;
        CHECK(yk_pool_size(pool) == n, "size %d", yk_pool_size(pool));
        job_state s = {.nth_expected = n};
        const int jobs = 2000;
        double t0 = yk_now();
        for (int j = 0; j < jobs; j++) yk_pool_run(pool, job, &s);
        double dt = yk_now() - t0;
        CHECK(atomic_load(&s.bad_nth) == 0, "ith/nth in range");
        for (int i = 0; i < n; i++) CHECK(atomic_load(&s.ran[i]) == jobs, "thread %d ran %d of %d jobs", i, atomic_load(&s.ran[i]), jobs);
        printf("  %d threads: %.2f us per empty job\n", n, 1e6 * dt / jobs);

        /* Jobs after a pause long enough for the workers to fall asleep on the futex. */
        for (int rep = 0; rep < 3; rep++) {
            sleep_ms(30);
            yk_pool_run(pool, job, &s);
        }
        CHECK(atomic_load(&s.total) == (long)(jobs + 3) * n, "jobs after sleeping: %ld", atomic_load(&s.total));

        /* Work results from every thread are visible to the caller. */
        int a[1000];
        long want = 0;
        for (int i = 0; i < 1000; i++) want += a[i] = i * 7 % 13;
        sum_state ss = {a, 1000, {0}};
        yk_pool_run(pool, sum_job, &ss);
        long got = 0;
        for (int i = 0; i < n; i++) got += ss.part[i];
        CHECK(got == want, "sum %ld want %ld", got, want);
        yk_pool_destroy(pool);
    }

    /* A NULL pool runs the job inline as thread 0 of 1. */
    job_state s1 = {.nth_expected = 1};
    yk_pool_run(NULL, job, &s1);
    CHECK(atomic_load(&s1.ran[0]) == 1 && atomic_load(&s1.bad_nth) == 0, "NULL pool inline");
    CHECK(yk_pool_size(NULL) == 1, "NULL pool size");
    CHECK(yk_pool_create(0) == NULL, "zero threads refused");
    yk_pool_destroy(NULL);

    /* yk_split_range: parts cover [0, n) in order, aligned, without overlap. */
    int64_t ns[] = {0, 1, 15, 16, 17, 100, 4096, 14336};
    int64_t aligns[] = {1, 16, 32};
    for (size_t a = 0; a < 3; a++)
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            for (int nth = 1; nth <= 5; nth++) {
                int64_t prev = 0;
                bool ok = true;
                for (int ith = 0; ith < nth; ith++) {
                    int64_t lo, hi;
                    yk_split_range(ns[i], aligns[a], ith, nth, &lo, &hi);
                    if (lo != prev || hi < lo || (lo % aligns[a] && lo != ns[i])) ok = false;
                    prev = hi;
                }
                CHECK(ok && prev == ns[i], "split n=%lld align=%lld nth=%d", (long long)ns[i], (long long)aligns[a], nth);
            }
    return tu_done("test_pool");
}
