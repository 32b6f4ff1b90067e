/* engine_load.c: gives each device its slice of the model (the plan's heads, FFN columns, layers
 * and vocabulary rows), its KV cache and its activation buffers, and creates engines in-process or
 * as one rank of an MPI job. */
#include "engine_impl.h"
#include "yoke/quant.h"

#include <stdlib.h>
#include <string.h>

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
        size_t kv = (size_t)w->e->n_seq * w->nkv * ctx * hd * (w->e->kv_type == YK_TYPE_F16 ? 2 : 4);
        L->kcache = yk_dev_alloc(w->dev, kv);
        L->vcache = yk_dev_alloc(w->dev, kv);
        if (!L->kcache || !L->vcache)
            return yk_err_set(err, YK_E_NOMEM, "%s: out of memory for a KV cache of %u sequences of %u positions (-c or --parallel to lower it)",
                              w->dev->name, w->e->n_seq, ctx);
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
    w->pos = dev_buf(w, nb, &ok); /* int32, the size of a float */
    w->seq = dev_buf(w, nb, &ok);
    w->host_batch = malloc((size_t)nb * BATCH_BYTES);
    w->host_rows = malloc((size_t)nb * sizeof *w->host_rows);
    w->host_x = malloc((size_t)nb * d * sizeof(float));
    w->host_logits = malloc(((size_t)(nb < LOGIT_CHUNK ? nb : LOGIT_CHUNK) * w->nvoc + 1) * sizeof(float));
    if (!ok || !w->host_x || !w->host_logits || !w->host_batch || !w->host_rows)
        return yk_err_set(err, YK_E_NOMEM, "%s: out of memory for activation buffers", w->dev->name);
    /* the uploads are queued: a device that failed to take them says so here */
    return yk_dev_sync(w->dev, err);
}

void yk_eng_worker_release(worker *w)
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
    void *bufs[] = {w->output_norm, w->freq_factors, w->x, w->xb, w->q, w->att, w->k, w->v, w->hb, w->hb2, w->logits, w->kv_of_q,
                    w->pos, w->seq};
    for (size_t j = 0; j < sizeof bufs / sizeof *bufs; j++) yk_dev_free(w->dev, bufs[j]);
    free(w->host_x);
    free(w->host_logits);
    free(w->host_batch);
    free(w->host_rows);
    w->dev = NULL; /* the caller's: destroyed by whoever made it */
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
    e->n_seq = o && o->n_seq ? o->n_seq : 1;
    if (e->n_seq > 4096) return yk_err_set(err, YK_E_INVALID, "--parallel %u: too many sequences (at most 4096)", e->n_seq);
    e->seq_len = calloc(e->n_seq, sizeof *e->seq_len);
    if (!e->seq_len) return yk_err_set(err, YK_E_NOMEM, "engine: out of memory");
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
        if (pthread_create(&e->w[r].thread, NULL, yk_eng_worker_thread, &e->w[r])) {
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
    h[1] = fnv1a(h[1], &e->n_seq, sizeof e->n_seq);
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
                          verdict[1] == 1 ? "model header hash differs" : "--tp/--pp/--split/-c/--batch/--parallel differ");
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
