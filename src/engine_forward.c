/* engine_forward.c: one device's forward pass. One worker per device holds that device's slice of the
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
#include "engine_impl.h"
#include "yoke/quant.h"

#include <string.h>

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

/* One layer for the nt tokens of the micro-batch (positions and slots in w->pos, w->seq) on this
 * device's slice. */
static yk_status layer_forward(worker *w, layer_slice *L, uint32_t nt, yk_err *err)
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
    yk_dev_rope(dev, w->q, nt, w->nq, w->pos, &w->rope);
    yk_dev_rope(dev, w->k, nt, w->nkv, w->pos, &w->rope);
    /* att = softmax(q K^T / sqrt(hd)) V, causal, over each token's slot with this step's k, v added */
    yk_attn_args a = {.out = w->att, .q = w->q, .k = w->k, .v = w->v, .kcache = L->kcache, .vcache = L->vcache,
                      .kv_of_q = w->kv_of_q, .pos = w->pos, .seq = w->seq, .n_q = w->nq, .n_kv = w->nkv, .head_dim = hd,
                      .ctx = w->e->n_ctx, .n_seq = w->e->n_seq, .nt = nt, .kv_type = w->e->kv_type};
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

/* Tokens of the micro-batch [t0, t0 + nt) whose logits are wanted, into rows; their count. */
static uint32_t wanted_rows(const yk_batch *b, uint32_t t0, uint32_t nt, uint32_t *rows)
{
    uint32_t n = 0;
    for (uint32_t t = t0; t < t0 + nt; t++)
        if (b->want[t]) rows[n++] = t - t0;
    return n;
}

/* Rank of the first device of the last stage, and the number of devices holding logits. */
static int last_stage_first(const yk_plan *p) { return (p->pp - 1) * p->tp; }

/* Last stage: logits = Woutput[my rows] . (rmsnorm(x) * output_norm) for the micro-batch's wanted
 * tokens (rows, n of them), LOGIT_CHUNK at a time (a 128k vocabulary makes 0.5 MB of logits per
 * token). Rank 0 reads its rows into place at dst; the others send theirs to rank 0. */
static yk_status output_rows(worker *w, const uint32_t *rows, uint32_t n, float *dst, yk_err *err)
{
    const yk_model *m = w->e->m;
    uint32_t d = m->hp.n_embd, V = m->hp.n_vocab;
    yk_status st;
    for (uint32_t r0 = 0; r0 < n; r0 += LOGIT_CHUNK) {
        uint32_t rc = n - r0 < LOGIT_CHUNK ? n - r0 : LOGIT_CHUNK;
        /* xb[r] = rmsnorm(x[rows[r]]), one call per run of consecutive tokens */
        for (uint32_t r = 0, run; r < rc; r += run) {
            for (run = 1; r + run < rc && rows[r0 + r + run] == rows[r0 + r] + run; run++) {}
            yk_dev_rmsnorm(w->dev, w->xb + (size_t)r * d, w->x + (size_t)rows[r0 + r] * d, w->output_norm, d, run, m->hp.rms_eps);
        }
        yk_dev_matmul(w->dev, &w->output, w->xb, rc, w->logits);
        if (w->rank == 0)
            for (uint32_t r = 0; r < rc; r++)
                yk_dev_read(w->dev, dst + (size_t)(r0 + r) * V + w->pd->vocab0, w->logits + (size_t)r * w->nvoc, w->nvoc * sizeof(float));
        else
            yk_dev_read(w->dev, w->host_logits, w->logits, (size_t)rc * w->nvoc * sizeof(float));
        if ((st = yk_dev_sync(w->dev, err))) return st;
        if (w->rank != 0 && (st = yk_comm_send(w->comm, 0, w->host_logits, (size_t)rc * w->nvoc * sizeof(float), err))) return st;
    }
    return YK_OK;
}

/* Rank 0: the other last-stage devices' columns of n rows at dst, in the order output_rows sent them. */
static yk_status gather_rows(worker *w, uint32_t n, float *dst, yk_err *err)
{
    yk_engine *e = w->e;
    const yk_plan *p = &e->plan;
    uint32_t V = e->m->hp.n_vocab;
    yk_status st;
    for (uint32_t r0 = 0; r0 < n; r0 += LOGIT_CHUNK) {
        uint32_t rc = n - r0 < LOGIT_CHUNK ? n - r0 : LOGIT_CHUNK;
        for (int r = last_stage_first(p); r < p->n_dev; r++) {
            if (r == 0) continue;
            const yk_plan_dev *od = &p->dev[r];
            uint32_t nv = od->vocab1 - od->vocab0;
            if ((st = yk_comm_recv(w->comm, r, e->gather, (size_t)rc * nv * sizeof(float), err))) return st;
            for (uint32_t row = 0; row < rc; row++)
                memcpy(dst + (size_t)(r0 + row) * V + od->vocab0, e->gather + (size_t)row * nv, nv * sizeof(float));
        }
    }
    return YK_OK;
}

yk_status yk_eng_worker_forward(worker *w, const yk_batch *b, float *logits, yk_err *err)
{
    yk_engine *e = w->e;
    const yk_model *m = e->m;
    const yk_plan *p = &e->plan;
    const yk_plan_dev *pd = w->pd;
    uint32_t d = m->hp.n_embd, V = m->hp.n_vocab, n = b->n;
    bool last = pd->stage == p->pp - 1;
    uint32_t micro = p->pp > 1 ? e->micro : n;
    yk_status st;
    double t_start = yk_now(), c_start = w->comm->seconds;
    size_t done = 0; /* logit rows so far */

    for (uint32_t t0 = 0; t0 < n; t0 += micro) {
        uint32_t nt = n - t0 < micro ? n - t0 : micro;
        /* x = token_embd[ids] (stage 0), else the previous stage's output */
        if (pd->stage == 0) {
            for (uint32_t t = 0; t < nt; t++)
                yk_dequantize_row(m->tok_embd.type, m->tok_embd.data + (size_t)b->ids[t0 + t] * m->tok_embd.row_bytes,
                                  w->host_x + (size_t)t * d, d);
        } else if ((st = yk_comm_recv(w->comm, w->rank - p->tp, w->host_x, (size_t)nt * d * sizeof(float), err))) {
            return st;
        }
        yk_dev_write(w->dev, w->x, w->host_x, (size_t)nt * d * sizeof(float));
        yk_dev_write(w->dev, w->pos, b->pos + t0, nt * sizeof *w->pos);
        yk_dev_write(w->dev, w->seq, b->seq + t0, nt * sizeof *w->seq);
        for (uint32_t l = pd->layer0; l < pd->layer1; l++)
            if ((st = layer_forward(w, &w->layers[l - pd->layer0], nt, err))) return st;
        if (!last) {
            yk_dev_read(w->dev, w->host_x, w->x, (size_t)nt * d * sizeof(float));
            if ((st = yk_dev_sync(w->dev, err))) return st;
            if ((st = yk_comm_send(w->comm, w->rank + p->tp, w->host_x, (size_t)nt * d * sizeof(float), err))) return st;
            continue;
        }
        uint32_t rows = wanted_rows(b, t0, nt, w->host_rows);
        if (rows && (st = output_rows(w, w->host_rows, rows, logits ? logits + done * V : NULL, err))) return st;
        done += rows;
    }
    /* rank 0 gathers the other last-stage devices' logits, micro-batch by micro-batch as sent */
    if (w->rank == 0) {
        done = 0;
        for (uint32_t t0 = 0; t0 < n; t0 += micro) {
            uint32_t nt = n - t0 < micro ? n - t0 : micro;
            uint32_t rows = wanted_rows(b, t0, nt, w->host_rows);
            if (rows && (st = gather_rows(w, rows, logits + done * V, err))) return st;
            done += rows;
        }
    }
    w->busy_s += yk_now() - t_start;
    w->comm_s += w->comm->seconds - c_start;
    return YK_OK;
}

yk_status yk_eng_worker_seq_copy(worker *w, uint32_t src, uint32_t dst, uint32_t n, yk_err *err)
{
    const yk_engine *e = w->e;
    size_t row = (size_t)hparams(w)->head_dim * (e->kv_type == YK_TYPE_F16 ? 2 : 4);
    size_t head = row * e->n_ctx, slot = head * w->nkv;
    for (uint32_t l = 0; l < w->pd->layer1 - w->pd->layer0; l++) {
        uint8_t *kc = w->layers[l].kcache, *vc = w->layers[l].vcache;
        for (uint32_t h = 0; h < w->nkv; h++) {
            yk_dev_copy(w->dev, kc + dst * slot + h * head, kc + src * slot + h * head, n * row);
            yk_dev_copy(w->dev, vc + dst * slot + h * head, vc + src * slot + h * head, n * row);
        }
    }
    return yk_dev_sync(w->dev, err);
}
