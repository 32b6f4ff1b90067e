/* yoke/pool.h: a persistent thread pool. Threads are created once and wait between jobs; a job
 * runs one function on every thread (the caller is thread 0) and returns when all are done. */
#ifndef YOKE_POOL_H
#define YOKE_POOL_H

#include "yoke/base.h"

typedef struct yk_pool yk_pool;
typedef void (*yk_task_fn)(void *ctx, int ith, int nth);

/* n_threads counts the caller; 1 makes a pool that runs jobs inline. NULL on failure. */
yk_pool *yk_pool_create(int n_threads);
void yk_pool_destroy(yk_pool *pool);
int yk_pool_size(const yk_pool *pool);
/* Runs fn(ctx, ith, nth) for ith in [0, nth) on the pool's threads; pool may be NULL (runs inline). */
void yk_pool_run(yk_pool *pool, yk_task_fn fn, void *ctx);

/* Splits [0, n) into nth parts aligned to align (the last part takes the remainder); part ith. */
static inline void yk_split_range(int64_t n, int64_t align, int ith, int nth, int64_t *lo, int64_t *hi)
{
    int64_t blocks = (n + align - 1) / align;
    int64_t b0 = blocks * ith / nth, b1 = blocks * (ith + 1) / nth;
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}

#endif
