/* engine.c: the rank protocol and the driver's API (see engine.h). Rank 0 drives: it broadcasts a
 * command (forward, stats, reset, stop) with its arguments, and every other rank, a thread here or
 * a process under MPI, carries it out in worker_loop. Loading is in engine_load.c, the forward pass
 * in engine_forward.c. */
#include "engine_impl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void worker_stats(const worker *w, yk_dev_stats *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", w->dev->name);
    s->busy_s = w->busy_s;
    s->comm_s = w->comm_s;
    s->comm_bytes = w->comm->bytes_sent;
    s->allreduce_bytes = w->comm->allreduce_bytes;
    s->weight_bytes = w->weight_bytes;
    s->kv_bytes = w->kv_bytes;
}

/* Fault injection for the tests: YK_FAULT_KILL=RANK:N kills device RANK with SIGKILL when it
 * starts its N-th forward pass, as a crashed or killed process would end. */
static void maybe_die(const worker *w, int n_forward)
{
    const char *f = getenv("YK_FAULT_KILL");
    int rank, n;
    if (f && sscanf(f, "%d:%d", &rank, &n) == 2 && rank == w->rank && n == n_forward) raise(SIGKILL);
}

/* The loop of every rank but 0: wait for a command from rank 0 and carry it out. */
static yk_status worker_loop(worker *w, yk_err *err)
{
    int n_forward = 0;
    int32_t *ids = malloc(w->e->n_batch * sizeof *ids);
    if (!ids) return yk_err_set(err, YK_E_NOMEM, "%s: out of memory", w->dev->name);
    yk_status st = YK_OK;
    for (;;) {
        command c;
        if ((st = yk_comm_bcast(w->comm, 0, &c, sizeof c, err))) break;
        if (c.op == OP_STOP) break;
        if (c.op == OP_FORWARD) {
            if (c.n > w->e->n_batch) {
                st = yk_err_set(err, YK_E_COMM, "%s: rank 0 sent a batch of %u tokens, more than %u", w->dev->name, c.n, w->e->n_batch);
                break;
            }
            if ((st = yk_comm_bcast(w->comm, 0, ids, c.n * sizeof *ids, err))) break;
            maybe_die(w, ++n_forward);
            if ((st = yk_eng_worker_forward(w, ids, c.n, c.pos0, c.mode, NULL, err))) break;
        } else if (c.op == OP_STATS) {
            yk_dev_stats s;
            worker_stats(w, &s);
            if ((st = yk_comm_send(w->comm, 0, &s, sizeof s, err))) break;
        } else if (c.op == OP_RESET) {
            w->busy_s = w->comm_s = 0;
            w->comm->bytes_sent = w->comm->allreduce_bytes = 0;
        }
    }
    free(ids);
    if (st) yk_comm_abort(w->comm, err->msg);
    return st;
}

void *yk_eng_worker_thread(void *arg)
{
    worker *w = arg;
    w->st = worker_loop(w, &w->err);
    return NULL;
}

yk_status yk_engine_serve(yk_engine *e, yk_err *err) { return worker_loop(&e->w[0], err); }

uint32_t yk_engine_n_ctx(const yk_engine *e) { return e->n_ctx; }

static yk_status send_command(yk_engine *e, int op, uint32_t n, uint32_t pos0, int mode, yk_err *err)
{
    command c = {.op = op, .n = n, .pos0 = pos0, .mode = mode};
    return yk_comm_bcast(e->w[0].comm, 0, &c, sizeof c, err);
}

/* Reports the first failure of another in-process device in place of the generic abort message. */
static yk_status worker_failure(yk_engine *e, yk_status st, yk_err *err)
{
    for (int r = 1; r < e->n_local; r++)
        if (e->w[r].st && e->w[r].st != YK_E_COMM) {
            *err = e->w[r].err;
            return e->w[r].st;
        }
    return st;
}

yk_status yk_engine_forward(yk_engine *e, const int32_t *ids, uint32_t n, uint32_t pos0, yk_logits_mode mode, float *logits, yk_err *err)
{
    worker *w = &e->w[0];
    YK_ASSERT(w->rank == 0);
    uint32_t V = e->m->hp.n_vocab;
    if (n == 0) return yk_err_set(err, YK_E_INVALID, "forward: no tokens");
    if ((uint64_t)pos0 + n > e->n_ctx)
        return yk_err_set(err, YK_E_RANGE, "%u tokens at position %u do not fit the context of %u (-c to raise it)", n, pos0, e->n_ctx);
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= V)
            return yk_err_set(err, YK_E_INVALID, "token id %d at index %u is outside the vocabulary of %u", ids[i], i, V);
    for (uint32_t t0 = 0; t0 < n; t0 += e->n_batch) {
        uint32_t nt = n - t0 < e->n_batch ? n - t0 : e->n_batch;
        yk_status st;
        if ((st = send_command(e, OP_FORWARD, nt, pos0 + t0, mode, err)) ||
            (st = yk_comm_bcast(w->comm, 0, (void *)(ids + t0), nt * sizeof *ids, err)) ||
            (st = yk_eng_worker_forward(w, ids + t0, nt, pos0 + t0, mode, logits + (mode == YK_LOGITS_ALL ? (size_t)t0 * V : 0), err))) {
            yk_comm_abort(w->comm, err->msg);
            return worker_failure(e, st, err);
        }
    }
    return YK_OK;
}

yk_status yk_engine_stats(yk_engine *e, yk_dev_stats *stats, yk_err *err)
{
    worker *w = &e->w[0];
    yk_status st = send_command(e, OP_STATS, 0, 0, 0, err);
    if (st) return st;
    worker_stats(w, &stats[0]);
    for (int r = 1; r < e->plan.n_dev; r++)
        if ((st = yk_comm_recv(w->comm, r, &stats[r], sizeof stats[r], err))) return st;
    return YK_OK;
}

void yk_engine_reset_stats(yk_engine *e)
{
    yk_err err;
    worker *w = &e->w[0];
    if (send_command(e, OP_RESET, 0, 0, 0, &err)) return;
    w->busy_s = w->comm_s = 0;
    w->comm->bytes_sent = w->comm->allreduce_bytes = 0;
}

void yk_engine_free(yk_engine *e)
{
    if (!e) return;
    yk_err err;
    int started = 0;
    for (int r = 1; r < e->n_local; r++) started += e->w[r].has_thread;
    if (started && started < e->n_local - 1) {
        yk_comm_abort(e->w[0].comm, "engine start-up failed"); /* some threads never started */
    } else if (e->w && e->w[0].comm && e->w[0].rank == 0 && (started || e->mpi)) {
        send_command(e, OP_STOP, 0, 0, 0, &err);
    }
    for (int r = 1; r < e->n_local; r++)
        if (e->w[r].has_thread) pthread_join(e->w[r].thread, NULL);
    for (int r = 0; e->w && r < e->n_local; r++) yk_eng_worker_release(&e->w[r]);
    if (e->comms)
        for (int r = 0; r < e->n_local; r++) yk_comm_destroy(e->comms[r]);
    free(e->comms);
    free(e->w);
    free(e->plan.dev);
    free(e->gather);
    free(e);
}
