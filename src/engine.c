/* engine.c: executes a plan (see engine.h). One worker per device holds that device's slice of the
 * weights, its KV cache and its activation buffers, and runs the forward pass of its stage:
 *
 *   x = token_embd[ids]                      (stage 0; later stages receive x from the previous)
 *   for each layer of the stage:
 *     x = x + Wo . attention(rope(Wq . rmsnorm(x)), rope(Wk . rmsnorm(x)), Wv . rmsnorm(x))
 *     x = x + Wdown . (silu(Wgate . rmsnorm(x)) * (Wup . rmsnorm(x)))
 *   logits = Woutput . rmsnorm(x)            (last stage; gathered at rank 0)
 *
 * where with tensor parallelism each device computes its heads' and columns' share of the Wo and
 * Wdown products and an all-reduce sums the shares before they are added to the residual. Every
 * device of a group keeps an identical copy of x. Prefill with several stages is cut into
 * micro-batches that flow through the stages one after another, so the stages overlap. */
#include "yoke/engine.h"
#include "yoke/quant.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    yk_dmat wq, wk, wv, wo, gate, up, down;
    float *attn_norm, *ffn_norm;  /* (n_embd) */
    float *bq, *bk, *bv;          /* (nq * hd), (nkv * hd) x2, or NULL */
    void *kcache, *vcache;        /* (nkv, n_ctx, hd) of kv_type */
} layer_slice;

typedef struct {
    yk_engine *e;
    int rank;
    const yk_plan_dev *pd;
    yk_device *dev;
    yk_comm *comm;
    layer_slice *layers;          /* pd->layer1 - pd->layer0 */
    float *output_norm;           /* (n_embd), last stage */
    yk_dmat output;               /* (nvoc, n_embd), last stage */
    float *freq_factors;          /* (rope_dim / 2) or NULL */
    yk_rope rope;
    int32_t *kv_of_q;             /* (nq) device memory: local KV head of each local query head */
    uint32_t nq, nkv, nff, nvoc;  /* local query heads, KV heads, FFN columns, vocabulary rows */
    /* activations, device memory, for up to n_batch tokens */
    float *x;                     /* (nb, n_embd) residual stream */
    float *xb;                    /* (nb, n_embd) normed input / partial output */
    float *q, *att;               /* (nb, nq * hd) */
    float *k, *v;                 /* (nb, nkv * hd) */
    float *hb, *hb2;              /* (nb, nff) */
    float *logits;                /* (LOGIT_CHUNK, nvoc) */
    float *host_x;                /* (nb, n_embd) host staging: embedding lookup, stage hand-over, all-reduce */
    float *host_logits;           /* (LOGIT_CHUNK, nvoc) host staging for logits sent to rank 0 */
    double busy_s;                /* inside forward passes */
    double comm_s;                /* of which in comm calls */
    uint64_t weight_bytes, kv_bytes;
    pthread_t thread;
    bool has_thread;
    yk_status st;
    yk_err err;
} worker;

struct yk_engine {
    const yk_model *m;
    yk_plan plan;                 /* private copy */
    uint32_t n_ctx, n_batch, micro;
    yk_type kv_type;              /* KV cache element type */
    bool mpi;
    int n_local;
    worker *w;                    /* n_local workers: all ranks in-process, or this rank under MPI */
    yk_comm **comms;              /* in-process communicators (n_local) */
    float *gather;                /* rank 0: (LOGIT_CHUNK, max nvoc) staging for received logits */
};

enum { OP_FORWARD = 1, OP_STATS, OP_RESET, OP_STOP };

/* Output rows computed (and sent to rank 0) at a time. */
#define LOGIT_CHUNK 32u

typedef struct {
    int32_t op;
    uint32_t n, pos0;
    int32_t mode;
} command;

static const yk_hparams *hparams(const worker *w) { return &w->e->m->hp; }

static uint64_t mat_bytes(const yk_dmat *m) { return yk_row_bytes(m->type, m->cols) * (uint64_t)m->rows; }

/* Uploads a slice of a host vector into new device memory. */
static yk_status upload_vec(worker *w, float **dst, const yk_tensor *t, int64_t i0, int64_t i1, yk_err *err)
{
    if (!t->data) {
        *dst = NULL;
        return YK_OK;
    }
    size_t bytes = (size_t)(i1 - i0) * sizeof(float);
    *dst = yk_dev_alloc(w->dev, bytes);
    if (!*dst) return yk_err_set(err, YK_E_NOMEM, "%s: out of memory for %s", w->dev->name, t->name);
    yk_dev_write(w->dev, *dst, (const float *)t->data + i0, bytes);
    w->weight_bytes += bytes;
    return YK_OK;
}

static yk_status upload_mat(worker *w, yk_dmat *dst, const yk_tensor *t, int64_t r0, int64_t r1, int64_t c0, int64_t c1, yk_err *err)
{
    int64_t blk = yk_type_layout_of(t->type)->block;
    if (c0 % blk || c1 % blk) {
        /* A column cut inside a quantisation block (see plan.h): this device's columns in F32. */
        int64_t n = c1 - c0;
        float *rows = malloc((size_t)(r1 - r0) * n * sizeof(float)), *tmp = malloc((size_t)t->ne0 * sizeof(float));
        yk_status st = YK_OK;
        if (!rows || !tmp) st = yk_err_set(err, YK_E_NOMEM, "%s: out of memory for %s", w->dev->name, t->name);
        for (int64_t r = r0; !st && r < r1; r++) {
            yk_dequantize_row(t->type, t->data + (size_t)r * t->row_bytes, tmp, t->ne0);
            memcpy(rows + (size_t)(r - r0) * n, tmp + c0, (size_t)n * sizeof(float));
        }
        if (!st) st = yk_dev_upload_copy(w->dev, dst, YK_TYPE_F32, rows, (size_t)n * sizeof(float), 0, r1 - r0, 0, n, err);
        free(rows);
        free(tmp);
        if (!st) w->weight_bytes += mat_bytes(dst);
        return st;
    }
    yk_status st = yk_dev_upload(w->dev, dst, t->type, t->data, t->row_bytes, r0, r1, c0, c1, err);
    if (!st) w->weight_bytes += mat_bytes(dst);
    return st;
}

static void *dev_buf(worker *w, size_t floats, bool *ok)
{
    void *p = yk_dev_alloc(w->dev, (floats ? floats : 1) * sizeof(float));
    if (!p) *ok = false;
    return p;
}

/* Gives worker w its slice of every tensor, its KV cache and its buffers. */
static yk_status worker_init(worker *w, yk_err *err)
{
    const yk_model *m = w->e->m;
    const yk_hparams *hp = &m->hp;
    const yk_plan_dev *pd = w->pd;
    uint32_t hd = hp->head_dim, d = hp->n_embd, nb = w->e->n_batch, ctx = w->e->n_ctx;
    w->nq = pd->head1 - pd->head0;
    w->nkv = pd->kv1 - pd->kv0;
    w->nff = pd->ff1 - pd->ff0;
    w->nvoc = pd->vocab1 - pd->vocab0;
    uint32_t group = hp->n_head / hp->n_head_kv;
    size_t map_bytes = (w->nq ? w->nq : 1) * sizeof *w->kv_of_q;
    int32_t *kv_of_q = malloc(map_bytes);
    w->kv_of_q = yk_dev_alloc(w->dev, map_bytes);
    w->layers = calloc(pd->layer1 - pd->layer0, sizeof *w->layers);
    if (!kv_of_q || !w->kv_of_q || !w->layers) {
        free(kv_of_q);
        return yk_err_set(err, YK_E_NOMEM, "%s: out of memory", w->dev->name);
    }
    for (uint32_t h = 0; h < w->nq; h++) kv_of_q[h] = (int32_t)((pd->head0 + h) / group - pd->kv0);
    yk_dev_write(w->dev, w->kv_of_q, kv_of_q, w->nq * sizeof *kv_of_q);
    free(kv_of_q);

    yk_status st;
    for (uint32_t l = pd->layer0; l < pd->layer1; l++) {
        const yk_layer_weights *lw = &m->layers[l];
        layer_slice *L = &w->layers[l - pd->layer0];
        int64_t q0 = (int64_t)pd->head0 * hd, q1 = (int64_t)pd->head1 * hd;
        int64_t k0 = (int64_t)pd->kv0 * hd, k1 = (int64_t)pd->kv1 * hd;
        if ((st = upload_vec(w, &L->attn_norm, &lw->attn_norm, 0, d, err)) ||
            (st = upload_vec(w, &L->ffn_norm, &lw->ffn_norm, 0, d, err)) ||
            (st = upload_mat(w, &L->wq, &lw->wq, q0, q1, 0, d, err)) ||
            (st = upload_mat(w, &L->wk, &lw->wk, k0, k1, 0, d, err)) ||
            (st = upload_mat(w, &L->wv, &lw->wv, k0, k1, 0, d, err)) ||
            (st = upload_vec(w, &L->bq, &lw->bq, q0, q1, err)) ||
            (st = upload_vec(w, &L->bk, &lw->bk, k0, k1, err)) ||
            (st = upload_vec(w, &L->bv, &lw->bv, k0, k1, err)) ||
            (st = upload_mat(w, &L->wo, &lw->wo, 0, d, q0, q1, err)) ||
            (st = upload_mat(w, &L->gate, &lw->w_gate, pd->ff0, pd->ff1, 0, d, err)) ||
            (st = upload_mat(w, &L->up, &lw->w_up, pd->ff0, pd->ff1, 0, d, err)) ||
            (st = upload_mat(w, &L->down, &lw->w_down, 0, d, pd->ff0, pd->ff1, err)))
            return st;
        size_t kv = (size_t)w->nkv * ctx * hd * (w->e->kv_type == YK_TYPE_F16 ? 2 : 4);
        L->kcache = yk_dev_alloc(w->dev, kv);
        L->vcache = yk_dev_alloc(w->dev, kv);
        if (!L->kcache || !L->vcache)
            return yk_err_set(err, YK_E_NOMEM, "%s: out of memory for a KV cache of %u positions (-c to lower it)", w->dev->name, ctx);
        w->kv_bytes += 2 * kv;
    }
    if (w->nvoc) {
        if ((st = upload_vec(w, &w->output_norm, &m->output_norm, 0, d, err)) ||
            (st = upload_mat(w, &w->output, &m->output, pd->vocab0, pd->vocab1, 0, d, err)))
            return st;
    }
    if (m->rope_freqs.data && (st = upload_vec(w, &w->freq_factors, &m->rope_freqs, 0, hp->rope_dim / 2, err))) return st;
    w->rope = (yk_rope){.mode = hp->rope_mode, .head_dim = hd, .rope_dim = hp->rope_dim, .base = hp->rope_base,
                        .freq_scale = hp->rope_freq_scale > 0 ? hp->rope_freq_scale : 1.0f, .freq_factors = w->freq_factors};

    bool ok = true;
    w->x = dev_buf(w, (size_t)nb * d, &ok);
    w->xb = dev_buf(w, (size_t)nb * d, &ok);
    w->q = dev_buf(w, (size_t)nb * w->nq * hd, &ok);
    w->att = dev_buf(w, (size_t)nb * w->nq * hd, &ok);
    w->k = dev_buf(w, (size_t)nb * w->nkv * hd, &ok);
    w->v = dev_buf(w, (size_t)nb * w->nkv * hd, &ok);
    w->hb = dev_buf(w, (size_t)nb * w->nff, &ok);
    w->hb2 = dev_buf(w, (size_t)nb * w->nff, &ok);
    w->logits = dev_buf(w, (size_t)(nb < LOGIT_CHUNK ? nb : LOGIT_CHUNK) * w->nvoc, &ok);
    w->host_x = malloc((size_t)nb * d * sizeof(float));
    w->host_logits = malloc(((size_t)(nb < LOGIT_CHUNK ? nb : LOGIT_CHUNK) * w->nvoc + 1) * sizeof(float));
    if (!ok || !w->host_x || !w->host_logits)
        return yk_err_set(err, YK_E_NOMEM, "%s: out of memory for activation buffers", w->dev->name);
    /* the uploads are queued: a device that failed to take them says so here */
    return yk_dev_sync(w->dev, err);
}

static void worker_release(worker *w)
{
    if (!w->dev) return;
    uint32_t nl = w->pd ? w->pd->layer1 - w->pd->layer0 : 0;
    for (uint32_t i = 0; w->layers && i < nl; i++) {
        layer_slice *L = &w->layers[i];
        yk_dmat *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->gate, &L->up, &L->down};
        for (size_t j = 0; j < sizeof mats / sizeof *mats; j++) yk_dev_free_mat(w->dev, mats[j]);
        void *vecs[] = {L->attn_norm, L->ffn_norm, L->bq, L->bk, L->bv, L->kcache, L->vcache};
        for (size_t j = 0; j < sizeof vecs / sizeof *vecs; j++) yk_dev_free(w->dev, vecs[j]);
    }
    free(w->layers);
    yk_dev_free_mat(w->dev, &w->output);
    void *bufs[] = {w->output_norm, w->freq_factors, w->x, w->xb, w->q, w->att, w->k, w->v, w->hb, w->hb2, w->logits, w->kv_of_q};
    for (size_t j = 0; j < sizeof bufs / sizeof *bufs; j++) yk_dev_free(w->dev, bufs[j]);
    free(w->host_x);
    free(w->host_logits);
    w->dev = NULL; /* the caller's: destroyed by whoever made it */
}

/* xb (nt, n_embd) = the sum of the group's xb. The device's queue is drained first (the comm runs
 * on the host); a device whose memory the host cannot address goes through host staging with
 * explicit reads and writes. */
static yk_status allreduce_xb(worker *w, uint32_t nt, yk_err *err)
{
    const yk_plan *p = &w->e->plan;
    int g0 = w->pd->stage * p->tp, gn = p->tp;
    size_t n = (size_t)nt * hparams(w)->n_embd;
    yk_status st;
    if (gn <= 1) return YK_OK;
    if ((st = yk_dev_sync(w->dev, err))) return st;
    if (w->dev->ops->host_memory) return yk_comm_allreduce_sum(w->comm, g0, gn, w->xb, n, err);
    yk_dev_read(w->dev, w->host_x, w->xb, n * sizeof(float));
    if ((st = yk_dev_sync(w->dev, err)) || (st = yk_comm_allreduce_sum(w->comm, g0, gn, w->host_x, n, err))) return st;
    yk_dev_write(w->dev, w->xb, w->host_x, n * sizeof(float));
    return YK_OK;
}

/* One layer for nt tokens at positions pos0.. on this device's slice. */
static yk_status layer_forward(worker *w, layer_slice *L, uint32_t nt, uint32_t pos0, yk_err *err)
{
    const yk_hparams *hp = hparams(w);
    yk_device *dev = w->dev;
    uint32_t d = hp->n_embd, hd = hp->head_dim;
    yk_status st;

    /* xb = rmsnorm(x) * attn_norm */
    yk_dev_rmsnorm(dev, w->xb, w->x, L->attn_norm, d, nt, hp->rms_eps);
    /* q, k, v = Wq xb (+ bq), Wk xb (+ bk), Wv xb (+ bv): this device's heads */
    yk_dev_matmul(dev, &L->wq, w->xb, nt, w->q);
    yk_dev_matmul(dev, &L->wk, w->xb, nt, w->k);
    yk_dev_matmul(dev, &L->wv, w->xb, nt, w->v);
    if (L->bq) {
        yk_dev_add_bias(dev, w->q, L->bq, (int64_t)w->nq * hd, nt);
        yk_dev_add_bias(dev, w->k, L->bk, (int64_t)w->nkv * hd, nt);
        yk_dev_add_bias(dev, w->v, L->bv, (int64_t)w->nkv * hd, nt);
    }
    /* q, k = rope(q), rope(k) */
    yk_dev_rope(dev, w->q, nt, w->nq, pos0, &w->rope);
    yk_dev_rope(dev, w->k, nt, w->nkv, pos0, &w->rope);
    /* att = softmax(q K^T / sqrt(hd)) V, causal, over the cache with this step's k, v added */
    yk_attn_args a = {.out = w->att, .q = w->q, .k = w->k, .v = w->v, .kcache = L->kcache, .vcache = L->vcache,
                      .kv_of_q = w->kv_of_q, .n_q = w->nq, .n_kv = w->nkv, .head_dim = hd, .ctx = w->e->n_ctx,
                      .pos0 = pos0, .nt = nt, .kv_type = w->e->kv_type};
    yk_dev_attention(dev, &a);
    /* x = x + sum over the group of Wo[:, my heads] att */
    yk_dev_matmul(dev, &L->wo, w->att, nt, w->xb);
    if ((st = allreduce_xb(w, nt, err))) return st;
    yk_dev_add(dev, w->x, w->xb, d, nt);

    /* xb = rmsnorm(x) * ffn_norm */
    yk_dev_rmsnorm(dev, w->xb, w->x, L->ffn_norm, d, nt, hp->rms_eps);
    /* hb = silu(Wgate xb) * (Wup xb): this device's columns */
    yk_dev_matmul(dev, &L->gate, w->xb, nt, w->hb);
    yk_dev_matmul(dev, &L->up, w->xb, nt, w->hb2);
    yk_dev_swiglu(dev, w->hb, w->hb2, w->nff, nt);
    /* x = x + sum over the group of Wdown[:, my columns] hb */
    yk_dev_matmul(dev, &L->down, w->hb, nt, w->xb);
    if ((st = allreduce_xb(w, nt, err))) return st;
    yk_dev_add(dev, w->x, w->xb, d, nt);
    return YK_OK;
}

/* Logit rows a micro-batch [t0, t0 + nt) of an n-token pass produces: all of its tokens'
 * (YK_LOGITS_ALL), its last token's when it ends the pass, else none. *first receives the token
 * (within the micro-batch) of the first row. */
static uint32_t logit_rows(int mode, uint32_t t0, uint32_t nt, uint32_t n, uint32_t *first)
{
    *first = mode == YK_LOGITS_ALL ? 0 : nt - 1;
    if (mode == YK_LOGITS_ALL) return nt;
    return t0 + nt == n ? 1 : 0;
}

/* Rank of the first device of the last stage, and the number of devices holding logits. */
static int last_stage_first(const yk_plan *p) { return (p->pp - 1) * p->tp; }

/* This device's part of a forward pass of n tokens. Rank 0 also assembles the logits. */
static yk_status worker_forward(worker *w, const int32_t *ids, uint32_t n, uint32_t pos0, int mode, float *logits, yk_err *err)
{
    yk_engine *e = w->e;
    const yk_model *m = e->m;
    const yk_plan *p = &e->plan;
    const yk_plan_dev *pd = w->pd;
    uint32_t d = m->hp.n_embd, V = m->hp.n_vocab;
    bool last = pd->stage == p->pp - 1;
    uint32_t micro = p->pp > 1 ? e->micro : n;
    yk_status st;
    double t_start = yk_now(), c_start = w->comm->seconds;

    for (uint32_t t0 = 0; t0 < n; t0 += micro) {
        uint32_t nt = n - t0 < micro ? n - t0 : micro;
        /* x = token_embd[ids] (stage 0), else the previous stage's output */
        if (pd->stage == 0) {
            for (uint32_t t = 0; t < nt; t++)
                yk_dequantize_row(m->tok_embd.type, m->tok_embd.data + (size_t)ids[t0 + t] * m->tok_embd.row_bytes,
                                  w->host_x + (size_t)t * d, d);
            yk_dev_write(w->dev, w->x, w->host_x, (size_t)nt * d * sizeof(float));
        } else {
            if ((st = yk_comm_recv(w->comm, w->rank - p->tp, w->host_x, (size_t)nt * d * sizeof(float), err))) return st;
            yk_dev_write(w->dev, w->x, w->host_x, (size_t)nt * d * sizeof(float));
        }
        for (uint32_t l = pd->layer0; l < pd->layer1; l++)
            if ((st = layer_forward(w, &w->layers[l - pd->layer0], nt, pos0 + t0, err))) return st;
        if (!last) {
            yk_dev_read(w->dev, w->host_x, w->x, (size_t)nt * d * sizeof(float));
            if ((st = yk_dev_sync(w->dev, err))) return st;
            if ((st = yk_comm_send(w->comm, w->rank + p->tp, w->host_x, (size_t)nt * d * sizeof(float), err))) return st;
            continue;
        }
        /* logits = Woutput[my rows] . (rmsnorm(x) * output_norm), for every token or the last,
         * LOGIT_CHUNK rows at a time (a 128k vocabulary makes 0.5 MB of logits per token) */
        uint32_t first, rows = logit_rows(mode, t0, nt, n, &first);
        if (!rows) continue;
        const float *xin = w->x + (size_t)first * d;
        float *dst = logits ? logits + (size_t)(mode == YK_LOGITS_ALL ? t0 : 0) * V : NULL;
        for (uint32_t r0 = 0; r0 < rows; r0 += LOGIT_CHUNK) {
            uint32_t rc = rows - r0 < LOGIT_CHUNK ? rows - r0 : LOGIT_CHUNK;
            yk_dev_rmsnorm(w->dev, w->xb, xin + (size_t)r0 * d, w->output_norm, d, rc, m->hp.rms_eps);
            yk_dev_matmul(w->dev, &w->output, w->xb, rc, w->logits);
            /* rank 0 reads its rows into place; the others stage theirs to send them */
            if (w->rank == 0)
                for (uint32_t r = 0; r < rc; r++)
                    yk_dev_read(w->dev, dst + (size_t)(r0 + r) * V + pd->vocab0, w->logits + (size_t)r * w->nvoc, w->nvoc * sizeof(float));
            else
                yk_dev_read(w->dev, w->host_logits, w->logits, (size_t)rc * w->nvoc * sizeof(float));
            if ((st = yk_dev_sync(w->dev, err))) return st;
            if (w->rank != 0 && (st = yk_comm_send(w->comm, 0, w->host_logits, (size_t)rc * w->nvoc * sizeof(float), err))) return st;
        }
    }
    /* rank 0 gathers the other last-stage devices' logits, in the order they were sent */
    if (w->rank == 0) {
        for (uint32_t t0 = 0; t0 < n; t0 += micro) {
            uint32_t nt = n - t0 < micro ? n - t0 : micro;
            uint32_t first, rows = logit_rows(mode, t0, nt, n, &first);
            if (!rows) continue;
            float *dst = logits + (size_t)(mode == YK_LOGITS_ALL ? t0 : 0) * V;
            for (uint32_t r0 = 0; r0 < rows; r0 += LOGIT_CHUNK) {
                uint32_t rc = rows - r0 < LOGIT_CHUNK ? rows - r0 : LOGIT_CHUNK;
                for (int r = last_stage_first(p); r < p->n_dev; r++) {
                    if (r == 0) continue;
                    const yk_plan_dev *od = &p->dev[r];
                    uint32_t nv = od->vocab1 - od->vocab0;
                    if ((st = yk_comm_recv(w->comm, r, e->gather, (size_t)rc * nv * sizeof(float), err))) return st;
                    for (uint32_t row = 0; row < rc; row++)
                        memcpy(dst + (size_t)(r0 + row) * V + od->vocab0, e->gather + (size_t)row * nv, nv * sizeof(float));
                }
            }
        }
    }
    w->busy_s += yk_now() - t_start;
    w->comm_s += w->comm->seconds - c_start;
    return YK_OK;
}

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
            if ((st = worker_forward(w, ids, c.n, c.pos0, c.mode, NULL, err))) break;
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

static void *worker_thread(void *arg)
{
    worker *w = arg;
    w->st = worker_loop(w, &w->err);
    return NULL;
}

static yk_status engine_alloc(yk_engine **out, const yk_model *m, const yk_plan *p, const yk_engine_opts *o, int n_local, yk_err *err)
{
    const yk_hparams *hp = &m->hp;
    yk_engine *e = calloc(1, sizeof *e);
    if (!e) return yk_err_set(err, YK_E_NOMEM, "engine: out of memory");
    *out = e;
    e->m = m;
    e->plan = *p;
    e->plan.dev = malloc((size_t)p->n_dev * sizeof *p->dev);
    e->w = calloc((size_t)n_local, sizeof *e->w);
    if (!e->plan.dev || !e->w) return yk_err_set(err, YK_E_NOMEM, "engine: out of memory");
    memcpy(e->plan.dev, p->dev, (size_t)p->n_dev * sizeof *p->dev);
    e->n_local = n_local;
    e->n_ctx = o && o->n_ctx ? o->n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    e->n_batch = o && o->n_batch ? o->n_batch : 512;
    if (e->n_batch > e->n_ctx) e->n_batch = e->n_ctx;
    if (e->n_ctx > (1u << 24)) return yk_err_set(err, YK_E_INVALID, "-c %u: context too large", e->n_ctx);
    e->kv_type = o && o->kv_f16 ? YK_TYPE_F16 : YK_TYPE_F32;
    /* micro-batches: about 4 per stage so the pipeline fills, at least 8 tokens each */
    e->micro = p->micro_batch ? p->micro_batch : (e->n_batch + 4 * p->pp - 1) / (4 * p->pp);
    if (e->micro < 8) e->micro = 8;
    if (e->micro > e->n_batch) e->micro = e->n_batch;
    uint32_t max_nv = 0;
    for (int r = 0; r < p->n_dev; r++)
        if (p->dev[r].vocab1 - p->dev[r].vocab0 > max_nv) max_nv = p->dev[r].vocab1 - p->dev[r].vocab0;
    e->gather = malloc((size_t)(e->n_batch < LOGIT_CHUNK ? e->n_batch : LOGIT_CHUNK) * max_nv * sizeof(float));
    if (!e->gather) return yk_err_set(err, YK_E_NOMEM, "engine: out of memory for the logits");
    return YK_OK;
}

yk_status yk_engine_create_local(yk_engine **out, const yk_model *m, const yk_plan *p, yk_device *const *devs,
                                 const yk_engine_opts *o, yk_err *err)
{
    *out = NULL;
    yk_engine *e = NULL;
    yk_status st = engine_alloc(&e, m, p, o, p->n_dev, err);
    if (st) goto fail;
    e->comms = calloc((size_t)p->n_dev, sizeof *e->comms);
    if (!e->comms) {
        st = yk_err_set(err, YK_E_NOMEM, "engine: out of memory");
        goto fail;
    }
    if ((st = yk_comm_local_create(p->n_dev, e->comms, err))) goto fail;
    for (int r = 0; r < p->n_dev; r++) {
        worker *w = &e->w[r];
        w->e = e;
        w->rank = r;
        w->pd = &e->plan.dev[r];
        w->comm = e->comms[r];
        w->comm->quant = o ? o->comm_quant : YK_COMM_F32;
        w->dev = devs[r];
        if ((st = worker_init(w, err))) goto fail;
    }
    for (int r = 1; r < p->n_dev; r++) {
        if (pthread_create(&e->w[r].thread, NULL, worker_thread, &e->w[r])) {
            st = yk_err_set(err, YK_E_NOMEM, "engine: cannot start the thread of device %d", r);
            goto fail;
        }
        e->w[r].has_thread = true;
    }
    *out = e;
    return YK_OK;
fail:
    yk_engine_free(e);
    return st;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Every rank must run the same model and plan: each sends a hash of the model file's header
 * (metadata and tensor table) with 64 samples of its tensor data (files of the same shape but other
 * weights differ there; the whole data is not read), and a hash of the plan, to rank 0, which
 * answers with the first rank that differs. */
static yk_status check_agreement(yk_engine *e, yk_comm *c, const yk_engine_opts *o, yk_err *err)
{
    const yk_gguf *g = &e->m->gguf;
    uint64_t h[2] = {fnv1a(0xcbf29ce484222325ull, g->map, g->data_offset), 0xcbf29ce484222325ull};
    uint64_t data = g->size - g->data_offset;
    for (int i = 0; i < 64 && data >= 256; i++) h[0] = fnv1a(h[0], g->map + g->data_offset + (data - 256) / 63 * i, 256);
    h[1] = fnv1a(h[1], &e->plan.tp, sizeof e->plan.tp);
    h[1] = fnv1a(h[1], &e->plan.pp, sizeof e->plan.pp);
    h[1] = fnv1a(h[1], e->plan.dev, (size_t)e->plan.n_dev * sizeof *e->plan.dev);
    h[1] = fnv1a(h[1], &e->n_ctx, sizeof e->n_ctx);
    h[1] = fnv1a(h[1], &e->n_batch, sizeof e->n_batch);
    h[1] = fnv1a(h[1], &e->micro, sizeof e->micro);
    int32_t q = o && o->comm_quant ? 1 : 0;
    h[1] = fnv1a(h[1], &q, sizeof q);
    h[1] = fnv1a(h[1], &e->kv_type, sizeof e->kv_type);
    int32_t verdict[2] = {-1, 0}; /* first rank that differs, and what: 1 model, 2 plan */
    yk_status st;
    if (c->rank == 0) {
        for (int r = 1; r < c->size; r++) {
            uint64_t other[2];
            if ((st = yk_comm_recv(c, r, other, sizeof other, err))) return st;
            if (verdict[0] < 0 && (other[0] != h[0] || other[1] != h[1])) {
                verdict[0] = r;
                verdict[1] = other[0] != h[0] ? 1 : 2;
            }
        }
    } else if ((st = yk_comm_send(c, 0, h, sizeof h, err))) {
        return st;
    }
    if ((st = yk_comm_bcast(c, 0, verdict, sizeof verdict, err))) return st;
    if (verdict[0] >= 0)
        return yk_err_set(err, YK_E_COMM, "rank %d was started with a different %s than rank 0 (%s); every rank needs the same "
                          "model file and the same flags", verdict[0], verdict[1] == 1 ? "model file" : "plan",
                          verdict[1] == 1 ? "model header hash differs" : "--tp/--pp/--split/-c/--batch differ");
    return YK_OK;
}

yk_status yk_engine_create_mpi(yk_engine **out, const yk_model *m, const yk_plan *p, yk_comm *comm, yk_device *dev,
                               const yk_engine_opts *o, yk_err *err)
{
    *out = NULL;
    if (comm->size != p->n_dev)
        return yk_err_set(err, YK_E_INVALID, "the plan has %d devices but the MPI job has %d ranks (mpirun -np %d)", p->n_dev, comm->size, p->n_dev);
    yk_engine *e = NULL;
    yk_status st = engine_alloc(&e, m, p, o, 1, err);
    if (st) goto fail;
    e->mpi = true;
    if ((st = check_agreement(e, comm, o, err))) goto fail;
    worker *w = &e->w[0];
    w->e = e;
    w->rank = comm->rank;
    w->pd = &e->plan.dev[comm->rank];
    w->comm = comm;
    comm->quant = o ? o->comm_quant : YK_COMM_F32;
    w->dev = dev;
    if ((st = worker_init(w, err))) goto fail;
    *out = e;
    return YK_OK;
fail:
    if (e) {
        e->w[0].comm = NULL;
        yk_engine_free(e);
    }
    return st;
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
            (st = worker_forward(w, ids + t0, nt, pos0 + t0, mode, logits + (mode == YK_LOGITS_ALL ? (size_t)t0 * V : 0), err))) {
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
    for (int r = 0; e->w && r < e->n_local; r++) worker_release(&e->w[r]);
    if (e->comms)
        for (int r = 0; r < e->n_local; r++) yk_comm_destroy(e->comms[r]);
    free(e->comms);
    free(e->w);
    free(e->plan.dev);
    free(e->gather);
    free(e);
}
