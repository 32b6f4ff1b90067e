/* comm_local.c: the in-process communicator. Devices are threads of one process sharing a world.
 *
 * All-reduce: each member publishes its buffer, waits at the group's barrier, sums all members'
 * buffers in rank order into a private buffer, waits again (nobody overwrites a buffer still being
 * read), then copies the sum back. Every member computes the same sum the same way: identical bits.
 * Send is buffered (the message is copied into the receiver's mailbox), so pipeline stages can run
 * ahead of each other; recv blocks until the message arrives. Barriers spin briefly and then sleep
 * on a futex, so waiting costs no core. A rank that aborts wakes everyone with an error. */
#include "yoke/comm.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
    _Atomic int count;
    _Atomic int gen;
    int n;
} barrier_t;

typedef struct msg {
    struct msg *next;
    size_t bytes;
    unsigned char data[];
} msg;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    msg *head, *tail;
} mailbox;

typedef struct {
    int n;
    _Atomic int refs;
    _Atomic int aborted;      /* rank + 1 of the first rank that aborted, 0 if none */
    char why[256];
    barrier_t *group_barrier; /* indexed by (g0, gn): n * (n + 1) entries, made on first use */
    pthread_mutex_t mu;
    void **slot;              /* per rank: published buffer */
    mailbox *box;             /* n * n: box[src * n + dst] */
} world_t;

typedef struct {
    world_t *w;
    float *tmp;
    size_t tmp_len;
} local_ctx;

static void futex_wait(_Atomic int *addr, int val)
{
    syscall(SYS_futex, (int *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic int *addr)
{
    syscall(SYS_futex, (int *)addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static yk_status aborted_err(world_t *w, yk_err *err)
{
    return yk_err_set(err, YK_E_COMM, "device %d failed: %s", atomic_load(&w->aborted) - 1, w->why);
}

static yk_status barrier_wait(world_t *w, barrier_t *b, yk_err *err)
{
    int gen = atomic_load(&b->gen);
    if (atomic_fetch_add(&b->count, 1) == b->n - 1) {
        atomic_store(&b->count, 0);
        atomic_fetch_add(&b->gen, 1);
        futex_wake_all(&b->gen);
    } else {
        for (int spin = 0; atomic_load(&b->gen) == gen; spin++) {
            if (atomic_load(&w->aborted)) return aborted_err(w, err);
            if (spin < 4000) __builtin_ia32_pause();
            else futex_wait(&b->gen, gen);
        }
    }
    return atomic_load(&w->aborted) ? aborted_err(w, err) : YK_OK;
}

static barrier_t *group_barrier(world_t *w, int g0, int gn)
{
    barrier_t *b = &w->group_barrier[g0 * (w->n + 1) + gn];
    YK_ASSERT(b->n == gn);
    return b;
}

static yk_status local_allreduce(yk_comm *c, int g0, int gn, float *buf, size_t n, yk_err *err)
{
    local_ctx *lc = c->ctx;
    world_t *w = lc->w;
    if (n > lc->tmp_len) {
        free(lc->tmp);
        lc->tmp = malloc(n * sizeof(float));
        if (!lc->tmp) return yk_err_set(err, YK_E_NOMEM, "all-reduce: out of memory for %zu floats", n);
        lc->tmp_len = n;
    }
    barrier_t *b = group_barrier(w, g0, gn);
    w->slot[c->rank] = buf;
    yk_status st = barrier_wait(w, b, err);
    if (st) return st;
    const float *first = w->slot[g0];
    for (size_t i = 0; i < n; i++) lc->tmp[i] = first[i];
    for (int r = g0 + 1; r < g0 + gn; r++) {
        const float *src = w->slot[r];
        for (size_t i = 0; i < n; i++) lc->tmp[i] += src[i];
    }
    if ((st = barrier_wait(w, b, err))) return st;
    memcpy(buf, lc->tmp, n * sizeof(float));
    return YK_OK;
}

static yk_status local_allgather(yk_comm *c, int g0, int gn, const void *buf, size_t bytes, void *out, yk_err *err)
{
    world_t *w = ((local_ctx *)c->ctx)->w;
    barrier_t *b = group_barrier(w, g0, gn);
    w->slot[c->rank] = (void *)buf;
    yk_status st = barrier_wait(w, b, err);
    if (st) return st;
    for (int r = g0; r < g0 + gn; r++) memcpy((uint8_t *)out + (size_t)(r - g0) * bytes, w->slot[r], bytes);
    return barrier_wait(w, b, err);
}

static yk_status local_send(yk_comm *c, int peer, const void *buf, size_t bytes, yk_err *err)
{
    world_t *w = ((local_ctx *)c->ctx)->w;
    if (peer < 0 || peer >= w->n) return yk_err_set(err, YK_E_INVALID, "send: no device %d", peer);
    msg *m = malloc(sizeof *m + bytes);
    if (!m) return yk_err_set(err, YK_E_NOMEM, "send: out of memory for %zu bytes", bytes);
    m->next = NULL;
    m->bytes = bytes;
    memcpy(m->data, buf, bytes);
    mailbox *box = &w->box[c->rank * w->n + peer];
    pthread_mutex_lock(&box->mu);
    if (box->tail) box->tail->next = m;
    else box->head = m;
    box->tail = m;
    pthread_cond_signal(&box->cv);
    pthread_mutex_unlock(&box->mu);
    return YK_OK;
}

static yk_status local_recv(yk_comm *c, int peer, void *buf, size_t bytes, yk_err *err)
{
    world_t *w = ((local_ctx *)c->ctx)->w;
    if (peer < 0 || peer >= w->n) return yk_err_set(err, YK_E_INVALID, "recv: no device %d", peer);
    mailbox *box = &w->box[peer * w->n + c->rank];
    pthread_mutex_lock(&box->mu);
    while (!box->head && !atomic_load(&w->aborted)) pthread_cond_wait(&box->cv, &box->mu);
    msg *m = box->head;
    if (m) {
        box->head = m->next;
        if (!box->head) box->tail = NULL;
    }
    pthread_mutex_unlock(&box->mu);
    if (!m) return aborted_err(w, err);
    yk_status st = YK_OK;
    if (m->bytes != bytes)
        st = yk_err_set(err, YK_E_COMM, "recv from device %d: expected %zu bytes, got %zu", peer, bytes, m->bytes);
    else memcpy(buf, m->data, bytes);
    free(m);
    return st;
}

static yk_status local_bcast(yk_comm *c, int root, void *buf, size_t bytes, yk_err *err)
{
    world_t *w = ((local_ctx *)c->ctx)->w;
    barrier_t *b = group_barrier(w, 0, w->n);
    if (c->rank == root) w->slot[root] = buf;
    yk_status st = barrier_wait(w, b, err);
    if (st) return st;
    if (c->rank != root) memcpy(buf, w->slot[root], bytes);
    return barrier_wait(w, b, err);
}

static yk_status local_barrier(yk_comm *c, yk_err *err)
{
    world_t *w = ((local_ctx *)c->ctx)->w;
    return barrier_wait(w, group_barrier(w, 0, w->n), err);
}

static void local_abort(yk_comm *c, const char *why)
{
    world_t *w = ((local_ctx *)c->ctx)->w;
    int expected = 0;
    if (atomic_compare_exchange_strong(&w->aborted, &expected, c->rank + 1))
        snprintf(w->why, sizeof w->why, "%s", why);
    /* wake every sleeper: barriers and mailboxes */
    for (int i = 0; i < w->n * (w->n + 1); i++) {
        atomic_fetch_add(&w->group_barrier[i].gen, 1); /* a sleeper sees a new generation */
        futex_wake_all(&w->group_barrier[i].gen);
    }
    for (int i = 0; i < w->n * w->n; i++) {
        pthread_mutex_lock(&w->box[i].mu);
        pthread_cond_broadcast(&w->box[i].cv);
        pthread_mutex_unlock(&w->box[i].mu);
    }
}

static void world_release(world_t *w)
{
    if (atomic_fetch_sub(&w->refs, 1) != 1) return;
    for (int i = 0; i < w->n * w->n; i++) {
        for (msg *m = w->box[i].head, *next; m; m = next) {
            next = m->next;
            free(m);
        }
        pthread_mutex_destroy(&w->box[i].mu);
        pthread_cond_destroy(&w->box[i].cv);
    }
    free(w->box);
    free(w->slot);
    free(w->group_barrier);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static void local_destroy(yk_comm *c)
{
    local_ctx *lc = c->ctx;
    world_release(lc->w);
    free(lc->tmp);
    free(lc);
    free(c);
}

static const yk_comm_ops local_ops = {
    .kind = "local",
    .allreduce_sum = local_allreduce,
    .send = local_send,
    .recv = local_recv,
    .bcast = local_bcast,
    .barrier = local_barrier,
    .allgather = local_allgather,
    .abort = local_abort,
    .destroy = local_destroy,
};

yk_status yk_comm_local_create(int n, yk_comm **comms, yk_err *err)
{
    if (n < 1 || n > 1024) return yk_err_set(err, YK_E_INVALID, "local comm: %d devices", n);
    world_t *w = calloc(1, sizeof *w);
    if (!w) return yk_err_set(err, YK_E_NOMEM, "local comm: out of memory");
    w->n = n;
    w->group_barrier = calloc((size_t)n * (n + 1), sizeof *w->group_barrier);
    w->slot = calloc((size_t)n, sizeof *w->slot);
    w->box = calloc((size_t)n * n, sizeof *w->box);
    pthread_mutex_init(&w->mu, NULL);
    if (!w->group_barrier || !w->slot || !w->box) {
        free(w->group_barrier);
        free(w->slot);
        free(w->box);
        free(w);
        return yk_err_set(err, YK_E_NOMEM, "local comm: out of memory");
    }
    for (int g0 = 0; g0 < n; g0++)
        for (int gn = 1; g0 + gn <= n; gn++) w->group_barrier[g0 * (n + 1) + gn].n = gn;
    for (int i = 0; i < n * n; i++) {
        pthread_mutex_init(&w->box[i].mu, NULL);
        pthread_cond_init(&w->box[i].cv, NULL);
    }
    for (int r = 0; r < n; r++) {
        yk_comm *c = calloc(1, sizeof *c);
        local_ctx *lc = calloc(1, sizeof *lc);
        if (!c || !lc) {
            free(c);
            free(lc);
            for (int q = 0; q < r; q++) local_destroy(comms[q]);
            if (r == 0) world_release(w);
            return yk_err_set(err, YK_E_NOMEM, "local comm: out of memory");
        }
        lc->w = w;
        atomic_fetch_add(&w->refs, 1);
        *c = (yk_comm){.ops = &local_ops, .ctx = lc, .rank = r, .size = n};
        comms[r] = c;
    }
    return YK_OK;
}
