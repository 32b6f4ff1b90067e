/* pool.c: a persistent thread pool for the matrix kernels.
 *
 * Design. The engine runs several matrix products per layer per token, so thousands of jobs per
 * second go through one pool, each lasting tens of microseconds to milliseconds. Threads are
 * created once. A job is published by bumping a generation counter; workers that finished the
 * previous job spin on that counter for a short while (YK_POOL_SPIN_S, tens of microseconds;
 * after the first microseconds they yield the core while spinning, which matters when there are
 * more threads than cores), then sleep on it with a futex, so an idle pool costs no CPU. The
 * caller is thread 0: it runs its share of the job and then waits (spin, then futex) until the
 * last worker has decremented the pending count. The futex wake is only issued when a thread
 * actually sleeps, so a job handed to spinning workers costs no system call. Measured here: about
 * 0.5 us per empty job with 2 threads on 2 cores.
 *
 * Contract. yk_pool_run is called by one thread at a time per pool (the pool's owner); it returns
 * after fn has returned on every thread, and every write fn made is visible to the caller. */
#include "yoke/pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How long a waiting thread spins before it sleeps, in seconds. Long enough to bridge the gap
 * between two matrix products of a layer, short enough not to steal a shared core for long. */
#define YK_POOL_SPIN_S 50e-6

struct yk_pool {
    int n;                       /* threads including the caller */
    pthread_t *threads;          /* n - 1 workers */
    yk_task_fn fn;               /* current job, published by gen */
    void *ctx;
    bool stop;                   /* set with the last generation: workers exit */
    _Atomic uint32_t gen;        /* job generation: the workers' futex word */
    _Atomic uint32_t pending;    /* workers still running the current job: the caller's futex word */
    _Atomic int sleepers;        /* workers asleep (or about to sleep) on gen */
    _Atomic int caller_sleeps;   /* the caller is asleep (or about to sleep) on pending */
};

typedef struct {
    yk_pool *pool;
    int ith;
} worker_arg;

static void futex_wait(_Atomic uint32_t *addr, uint32_t expected)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits until *addr != old; returns the new value. */
static uint32_t wait_change(_Atomic uint32_t *addr, uint32_t old, _Atomic int *sleep_count)
{
    double t_end = 0;
    for (int i = 0;; i++) {
        uint32_t v = atomic_load_explicit(addr, memory_order_acquire);
        if (v != old) return v;
        cpu_relax();
        if ((i & 15) == 15) {
            double now = yk_now();
            if (t_end == 0) t_end = now + YK_POOL_SPIN_S;
            else if (now > t_end) break;
            /* past the first few microseconds, let a thread that shares this core run (more
             * threads than cores: the one we wait for may be queued behind us) */
            if (i > 256) sched_yield();
        }
    }
    for (;;) {
        atomic_fetch_add(sleep_count, 1);
        uint32_t v = atomic_load(addr);
        if (v == old) futex_wait(addr, old);
        atomic_fetch_sub(sleep_count, 1);
        v = atomic_load_explicit(addr, memory_order_acquire);
        if (v != old) return v;
    }
}

static void *worker_main(void *p)
{
    worker_arg *a = p;
    yk_pool *pool = a->pool;
    int ith = a->ith;
    free(a);
    uint32_t seen = 0;
    for (;;) {
        seen = wait_change(&pool->gen, seen, &pool->sleepers);
        if (pool->stop) return NULL;
        pool->fn(pool->ctx, ith, pool->n);
        /* seq_cst: the decrement is ordered before the read of caller_sleeps (Dekker pairing with
         * the caller's increment of caller_sleeps before its read of pending). */
        if (atomic_fetch_sub(&pool->pending, 1) == 1 &&
            atomic_load(&pool->caller_sleeps) > 0)
            futex_wake(&pool->pending, 1);
    }
}

static void publish(yk_pool *pool)
{
    atomic_store_explicit(&pool->pending, (uint32_t)(pool->n - 1), memory_order_relaxed);
    atomic_fetch_add(&pool->gen, 1); /* seq_cst: orders fn/ctx/pending before, sleepers after */
    if (atomic_load(&pool->sleepers) > 0) futex_wake(&pool->gen, INT_MAX);
}

yk_pool *yk_pool_create(int n_threads)
{
    if (n_threads < 1) return NULL;
    yk_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n = 1;
    if (n_threads == 1) return pool;
    pool->threads = calloc((size_t)n_threads - 1, sizeof *pool->threads);
    if (!pool->threads) {
        free(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (a) *a = (worker_arg){pool, i};
        if (!a || pthread_create(&pool->threads[i - 1], NULL, worker_main, a) != 0) {
            free(a);
            yk_pool_destroy(pool); /* stops the pool->n - 1 workers started so far */
            return NULL;
        }
        pool->n = i + 1;
    }
    return pool;
}

void yk_pool_destroy(yk_pool *pool)
{
    if (!pool) return;
    if (pool->n > 1) {
        pool->stop = true;
        publish(pool);
        for (int i = 0; i < pool->n - 1; i++) pthread_join(pool->threads[i], NULL);
    }
    free(pool->threads);
    free(pool);
}

int yk_pool_size(const yk_pool *pool)
{
    return pool ? pool->n : 1;
}

void yk_pool_run(yk_pool *pool, yk_task_fn fn, void *ctx)
{
    if (!pool || pool->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    publish(pool);
    fn(ctx, 0, pool->n);
    uint32_t left = atomic_load_explicit(&pool->pending, memory_order_acquire);
    while (left != 0) left = wait_change(&pool->pending, left, &pool->caller_sleeps);
}
