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

/* The batch buffer of n tokens: ids, seq, pos (4 bytes each), then want (1 byte), n of each. */
static yk_batch unpack_batch(uint8_t *buf, uint32_t n)
{
    return (yk_batch){.n = n, .ids = (const int32_t *)buf, .seq = (const uint32_t *)(buf + 4 * (size_t)n),
                      .pos = (const uint32_t *)(buf + 8 * (size_t)n), .want = buf + 12 * (size_t)n};
}

/* The loop of every rank but 0: wait for a command from rank 0 and carry it out. */
static yk_status worker_loop(worker *w, yk_err *err)
{
    int n_forward = 0;
    yk_status st = YK_OK;
    for (;;) {
        command c;
        if ((st = yk_comm_bcast(w->comm, 0, &c, sizeof c, err))) break;
        if (c.op == OP_STOP) break;
        if (c.op == OP_FORWARD) {
            if (c.n == 0 || c.n > w->e->n_batch) {
                st = yk_err_set(err, YK_E_COMM, "%s: rank 0 sent a batch of %u tokens, not 1 to %u", w->dev->name, c.n, w->e->n_batch);
                break;
            }
            if ((st = yk_comm_bcast(w->comm, 0, w->host_batch, (size_t)c.n * BATCH_BYTES, err))) break;
            maybe_die(w, ++n_forward);
            yk_batch b = unpack_batch(w->host_batch, c.n);
            if ((st = yk_eng_worker_forward(w, &b, NULL, err))) break;
        } else if (c.op == OP_SEQ_COPY) {
            if ((st = yk_eng_worker_seq_copy(w, c.a, c.b, c.n, err))) break;
        } else if (c.op == OP_STATS) {
            yk_dev_stats s;
            worker_stats(w, &s);
            if ((st = yk_comm_send(w->comm, 0, &s, sizeof s, err))) break;
        } else if (c.op == OP_RESET) {
            w->busy_s = w->comm_s = 0;
            w->comm->bytes_sent = w->comm->allreduce_bytes = 0;
        }
    }
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

static yk_status send_command(yk_engine *e, int op, uint32_t n, uint32_t a, uint32_t b, yk_err *err)
{
    command c = {.op = op, .n = n, .a = a, .b = b};
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

uint32_t yk_engine_n_seq(const yk_engine *e) { return e->n_seq; }

uint32_t yk_engine_seq_len(const yk_engine *e, uint32_t seq) { return seq < e->n_seq ? e->seq_len[seq] : 0; }

void yk_engine_seq_clear(yk_engine *e, uint32_t seq)
{
    if (seq < e->n_seq) e->seq_len[seq] = 0;
}

/* Checks tokens [t0, t0 + n) of batch b against the slots' lengths len (n_seq), updated as the
 * tokens are taken, and packs them with every array explicit into buf (NULL: only checks). */
static yk_status pack_batch(const yk_engine *e, const yk_batch *b, uint32_t t0, uint32_t n, uint32_t *len, uint8_t *buf,
                            yk_err *err)
{
    uint32_t V = e->m->hp.n_vocab;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = t0 + k, s = b->seq ? b->seq[i] : 0, p = b->pos ? b->pos[i] : (s < e->n_seq ? len[s] : 0);
        if (b->ids[i] < 0 || (uint32_t)b->ids[i] >= V)
            return yk_err_set(err, YK_E_INVALID, "token id %d at index %u is outside the vocabulary of %u", b->ids[i], i, V);
        if (s >= e->n_seq)
            return yk_err_set(err, YK_E_INVALID, "token %u: sequence %u, but the engine has %u slots (--parallel to raise it)", i, s, e->n_seq);
        if (p >= e->n_ctx)
            return yk_err_set(err, YK_E_RANGE, "token %u of sequence %u at position %u does not fit the context of %u (-c to raise it)",
                              i, s, p, e->n_ctx);
        if (p > len[s])
            return yk_err_set(err, YK_E_INVALID, "token %u of sequence %u at position %u leaves a gap: the sequence holds %u positions",
                              i, s, p, len[s]);
        len[s] = p + 1; /* a position below the length rewinds the slot */
        if (!buf) continue;
        ((int32_t *)buf)[k] = b->ids[i];
        ((uint32_t *)(buf + 4 * (size_t)n))[k] = s;
        ((uint32_t *)(buf + 8 * (size_t)n))[k] = p;
        buf[12 * (size_t)n + k] = b->want ? b->want[i] != 0 : i == b->n - 1;
    }
    return YK_OK;
}

yk_status yk_engine_decode(yk_engine *e, const yk_batch *b, float *logits, yk_err *err)
{
    worker *w = &e->w[0];
    YK_ASSERT(w->rank == 0);
    uint32_t V = e->m->hp.n_vocab;
    if (b->n == 0) return yk_err_set(err, YK_E_INVALID, "forward: no tokens");
    /* First the whole batch is checked, so that a bad token leaves every slot as it was; then each
     * part of at most n_batch tokens is packed, broadcast and run. */
    uint32_t *len = malloc(e->n_seq * sizeof *len);
    if (!len) return yk_err_set(err, YK_E_NOMEM, "engine: out of memory");
    memcpy(len, e->seq_len, e->n_seq * sizeof *len);
    yk_status st = pack_batch(e, b, 0, b->n, len, NULL, err);
    if (st) {
        free(len);
        return st;
    }
    memcpy(len, e->seq_len, e->n_seq * sizeof *len);
    size_t rows = 0;
    for (uint32_t t0 = 0; !st && t0 < b->n; t0 += e->n_batch) {
        uint32_t nt = b->n - t0 < e->n_batch ? b->n - t0 : e->n_batch;
        pack_batch(e, b, t0, nt, len, w->host_batch, err);
        yk_batch part = unpack_batch(w->host_batch, nt);
        if ((st = send_command(e, OP_FORWARD, nt, 0, 0, err)) ||
            (st = yk_comm_bcast(w->comm, 0, w->host_batch, (size_t)nt * BATCH_BYTES, err)) ||
            (st = yk_eng_worker_forward(w, &part, logits + rows * V, err))) {
            yk_comm_abort(w->comm, err->msg);
            st = worker_failure(e, st, err);
        }
        for (uint32_t k = 0; k < nt; k++) rows += part.want[k];
    }
    if (!st) memcpy(e->seq_len, len, e->n_seq * sizeof *len);
    free(len);
    return st;
}

yk_status yk_engine_forward(yk_engine *e, const int32_t *ids, uint32_t n, uint32_t pos0, yk_logits_mode mode, float *logits, yk_err *err)
{
    if (n == 0) return yk_err_set(err, YK_E_INVALID, "forward: no tokens");
    if ((uint64_t)pos0 + n > e->n_ctx)
        return yk_err_set(err, YK_E_RANGE, "%u tokens at position %u do not fit the context of %u (-c to raise it)", n, pos0, e->n_ctx);
    uint32_t *pos = malloc(n * sizeof *pos);
    uint8_t *want = malloc(n);
    if (!pos || !want) {
        free(pos);
        free(want);
        return yk_err_set(err, YK_E_NOMEM, "engine: out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        pos[i] = pos0 + i;
        want[i] = mode == YK_LOGITS_ALL || i == n - 1;
    }
    yk_batch b = {.n = n, .ids = ids, .pos = pos, .want = want};
    yk_status st = yk_engine_decode(e, &b, logits, err);
    free(pos);
    free(want);
    return st;
}

yk_status yk_engine_seq_copy(yk_engine *e, uint32_t src, uint32_t dst, uint32_t n, yk_err *err)
{
    worker *w = &e->w[0];
    if (src >= e->n_seq || dst >= e->n_seq)
        return yk_err_set(err, YK_E_INVALID, "sequence copy %u -> %u: the engine has %u slots", src, dst, e->n_seq);
    if (n > e->seq_len[src])
        return yk_err_set(err, YK_E_INVALID, "sequence copy: %u positions asked, sequence %u holds %u", n, src, e->seq_len[src]);
    if (src == dst) {
        e->seq_len[dst] = n;
        return YK_OK;
    }
    yk_status st;
    if ((st = send_command(e, OP_SEQ_COPY, n, src, dst, err)) || (st = yk_eng_worker_seq_copy(w, src, dst, n, err))) {
        yk_comm_abort(w->comm, err->msg);
        return worker_failure(e, st, err);
    }
    e->seq_len[dst] = n;
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
    free(e->seq_len);
    free(e);
}
