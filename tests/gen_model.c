/* gen_model.c: see gen_model.h. The reference forward follows the formulas of the golden README
 * ("What the reference engine computes") in float64, one plain loop per step. */
#include "gen_model.h"
#include "test.h"

#include <math.h>

static bool put_u32(yk_gguf_writer *w, const char *arch, const char *key, uint32_t v, yk_err *err)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return yk_gguf_writer_add_kv(w, k, YK_GGUF_U32, &v, err) == YK_OK;
}

static bool put_f32(yk_gguf_writer *w, const char *arch, const char *key, float v, yk_err *err)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return yk_gguf_writer_add_kv(w, k, YK_GGUF_F32, &v, err) == YK_OK;
}

bool gen_model_write(const char *path, const gen_shape *s)
{
    yk_err err = {0};
    yk_gguf_writer *w;
    if (yk_gguf_writer_open(&w, path, &err)) {
        printf("gen_model: %s\n", err.msg);
        return false;
    }
    const char *a = s->arch;
    bool qwen = !strcmp(a, "qwen2");
    bool ok = yk_gguf_writer_add_str(w, "general.architecture", a, &err) == YK_OK && put_u32(w, a, "block_count", s->n_layer, &err) &&
              put_u32(w, a, "embedding_length", s->n_embd, &err) && put_u32(w, a, "feed_forward_length", s->n_ff, &err) &&
              put_u32(w, a, "attention.head_count", s->n_head, &err) && put_u32(w, a, "attention.head_count_kv", s->n_head_kv, &err) &&
              put_u32(w, a, "context_length", s->n_ctx, &err) && put_f32(w, a, "attention.layer_norm_rms_epsilon", 1e-5f, &err) &&
              put_f32(w, a, "rope.freq_base", s->rope_base, &err);
    if (ok && s->head_dim != s->n_embd / s->n_head) ok = put_u32(w, a, "attention.key_length", s->head_dim, &err);
    if (ok && s->rope_linear > 0) {
        char k[128];
        snprintf(k, sizeof k, "%s.rope.scaling.type", a);
        ok = yk_gguf_writer_add_str(w, k, "linear", &err) == YK_OK && put_f32(w, a, "rope.scaling.factor", s->rope_linear, &err);
    }
    /* tensors, in the order the golden models use */
    struct { char name[64]; int64_t ne0, ne1; int kind; } t[512];
    int nt = 0;
    int64_t d = s->n_embd, q = (int64_t)s->n_head * s->head_dim, kv = (int64_t)s->n_head_kv * s->head_dim;
#define ADD(nm, a0, a1, k) do { snprintf(t[nt].name, 64, "%s", nm); t[nt].ne0 = a0; t[nt].ne1 = a1; t[nt].kind = k; nt++; } while (0)
    ADD("token_embd.weight", d, s->n_vocab, 0);
    ADD("output_norm.weight", d, 1, 1);
    if (!s->tied) ADD("output.weight", d, s->n_vocab, 0);
    for (uint32_t l = 0; l < s->n_layer && nt < 500; l++) {
        char n[64];
#define L(sfx, a0, a1, k) snprintf(n, 64, "blk.%u.%s", l, sfx); ADD(n, a0, a1, k)
        L("attn_norm.weight", d, 1, 1);
        L("attn_q.weight", d, q, 0);
        L("attn_k.weight", d, kv, 0);
        L("attn_v.weight", d, kv, 0);
        if (qwen) {
            L("attn_q.bias", q, 1, 2);
            L("attn_k.bias", kv, 1, 2);
            L("attn_v.bias", kv, 1, 2);
        }
        L("attn_output.weight", q, d, 0);
        L("ffn_norm.weight", d, 1, 1);
        L("ffn_gate.weight", d, s->n_ff, 0);
        L("ffn_up.weight", d, s->n_ff, 0);
        L("ffn_down.weight", s->n_ff, d, 0);
#undef L
    }
#undef ADD
    for (int i = 0; ok && i < nt; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        ok = yk_gguf_writer_add_tensor(w, t[i].name, YK_TYPE_F32, t[i].ne1 == 1 ? 1 : 2, ne, &err) == YK_OK;
    }
    ok = ok && yk_gguf_writer_begin_data(w, &err) == YK_OK;
    tu_rng rng = {s->seed};
    for (int i = 0; ok && i < nt; i++) {
        int64_t n = t[i].ne0 * t[i].ne1;
        float *buf = malloc((size_t)n * sizeof(float));
        /* matrices scaled by 1/sqrt(fan-in) so every layer's output stays O(1) */
        double sd = t[i].kind == 0 ? 1.0 / sqrt((double)t[i].ne0) : 0.1;
        if (t[i].kind == 0 && !strcmp(t[i].name, "token_embd.weight")) sd = 1.0;
        for (int64_t j = 0; j < n; j++) buf[j] = (float)((t[i].kind == 1 ? 1.0 : 0.0) + sd * tu_normal(&rng));
        ok = yk_gguf_writer_write(w, buf, (uint64_t)n * sizeof(float), &err) == YK_OK;
        free(buf);
    }
    yk_status st = yk_gguf_writer_close(w, ok ? &err : NULL);
    if (!ok || st) printf("gen_model: %s\n", err.msg);
    return ok && !st;
}

/* y (rows) = W x in float64, W dequantised row by row */
static void matvec(const yk_tensor *W, const double *x, double *y, float *row)
{
    for (int64_t r = 0; r < W->ne1; r++) {
        yk_dequantize_row(W->type, W->data + (size_t)r * W->row_bytes, row, W->ne0);
        double s = 0;
        for (int64_t i = 0; i < W->ne0; i++) s += (double)row[i] * x[i];
        y[r] = s;
    }
}

static void rmsnorm(const double *x, const yk_tensor *w, double *y, int64_t n, double eps)
{
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    double sc = 1.0 / sqrt(ss / n + eps);
    const float *wf = (const float *)w->data;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * sc * wf[i];
}

static void rope(double *v, int nh, const yk_hparams *hp, int pos, const float *ff)
{
    int half = (int)hp->rope_dim / 2;
    for (int h = 0; h < nh; h++)
        for (int i = 0; i < half; i++) {
            double scale = hp->rope_freq_scale > 0 ? hp->rope_freq_scale : 1.0;
            double th = pos * scale * pow(hp->rope_base, -2.0 * i / hp->rope_dim) / (ff ? ff[i] : 1.0);
            double *x = v + (size_t)h * hp->head_dim;
            int a = hp->rope_mode == YK_ROPE_NEOX ? i : 2 * i, b = hp->rope_mode == YK_ROPE_NEOX ? i + half : 2 * i + 1;
            double x0 = x[a], x1 = x[b];
            x[a] = x0 * cos(th) - x1 * sin(th);
            x[b] = x0 * sin(th) + x1 * cos(th);
        }
}

void ref_forward(const yk_model *m, const int32_t *ids, int n, double *logits)
{
    const yk_hparams *hp = &m->hp;
    int64_t d = hp->n_embd, hd = hp->head_dim, nq = hp->n_head * hd, nkv = hp->n_head_kv * hd, ff = hp->n_ff;
    int64_t maxw = d > ff ? d : ff;
    if ((int64_t)hp->n_vocab > maxw) maxw = hp->n_vocab;
    float *row = malloc((size_t)maxw * sizeof(float));
    double *x = calloc((size_t)n * d, sizeof(double)), *h = malloc((size_t)(d > nq ? d : nq) * sizeof(double));
    double *q = malloc((size_t)n * nq * sizeof(double)), *k = malloc((size_t)n * nkv * sizeof(double));
    double *v = malloc((size_t)n * nkv * sizeof(double)), *att = malloc((size_t)nq * sizeof(double));
    double *g = malloc((size_t)ff * sizeof(double)), *u = malloc((size_t)ff * sizeof(double)), *o = malloc((size_t)d * sizeof(double));
    double *sc = malloc((size_t)n * sizeof(double));
    const float *rf = m->rope_freqs.data ? (const float *)m->rope_freqs.data : NULL;
    /* x = token_embd[ids] */
    for (int t = 0; t < n; t++) {
        yk_dequantize_row(m->tok_embd.type, m->tok_embd.data + (size_t)ids[t] * m->tok_embd.row_bytes, row, d);
        for (int64_t i = 0; i < d; i++) x[t * d + i] = row[i];
    }
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const yk_layer_weights *w = &m->layers[l];
        /* q, k, v for every position, then causal attention */
        for (int t = 0; t < n; t++) {
            rmsnorm(x + t * d, &w->attn_norm, h, d, hp->rms_eps);
            matvec(&w->wq, h, q + t * nq, row);
            matvec(&w->wk, h, k + t * nkv, row);
            matvec(&w->wv, h, v + t * nkv, row);
            if (w->bq.data) {
                for (int64_t i = 0; i < nq; i++) q[t * nq + i] += ((const float *)w->bq.data)[i];
                for (int64_t i = 0; i < nkv; i++) k[t * nkv + i] += ((const float *)w->bk.data)[i];
                for (int64_t i = 0; i < nkv; i++) v[t * nkv + i] += ((const float *)w->bv.data)[i];
            }
            rope(q + t * nq, hp->n_head, hp, t, rf);
            rope(k + t * nkv, hp->n_head_kv, hp, t, rf);
        }
        for (int t = 0; t < n; t++) {
            for (uint32_t hh = 0; hh < hp->n_head; hh++) {
                uint32_t kvh = hh / (hp->n_head / hp->n_head_kv);
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    double s = 0;
                    for (int64_t i = 0; i < hd; i++) s += q[t * nq + hh * hd + i] * k[j * nkv + kvh * hd + i];
                    sc[j] = s / sqrt((double)hd);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j <= t; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int64_t i = 0; i < hd; i++) {
                    double a = 0;
                    for (int j = 0; j <= t; j++) a += sc[j] / sum * v[j * nkv + kvh * hd + i];
                    att[hh * hd + i] = a;
                }
            }
            /* x += Wo att */
            matvec(&w->wo, att, o, row);
            for (int64_t i = 0; i < d; i++) x[t * d + i] += o[i];
            /* x += Wdown (silu(Wgate h) * Wup h) */
            rmsnorm(x + t * d, &w->ffn_norm, h, d, hp->rms_eps);
            matvec(&w->w_gate, h, g, row);
            matvec(&w->w_up, h, u, row);
            for (int64_t i = 0; i < ff; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
            matvec(&w->w_down, g, o, row);
            for (int64_t i = 0; i < d; i++) x[t * d + i] += o[i];
        }
    }
    for (int t = 0; t < n; t++) {
        rmsnorm(x + t * d, &m->output_norm, h, d, hp->rms_eps);
        matvec(&m->output, h, logits + (size_t)t * hp->n_vocab, row);
    }
    free(row); free(x); free(h); free(q); free(k); free(v); free(att); free(g); free(u); free(o); free(sc);
}
