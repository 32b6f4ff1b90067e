/* device_cpu.c: the CPU backend. Kernels run at once on the device's own persistent thread pool,
 * splitting work so that each output element is computed the same way whatever the thread count
 * (results are bit-identical for 1, 2 or 3 threads). Weights are viewed in place (the mmap) unless
 * the device was created with copy_weights, in which case it keeps its own compact copy of its
 * slice, first touched by its own threads. */
#include "yoke/device.h"
#include "yoke/pool.h"
#include "yoke/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    yk_device dev;
    yk_pool *pool;
    bool copy_weights;
    void *scratch;          /* activation conversions for matmul */
    size_t scratch_bytes;
    float *scores;          /* attention: one row of ctx scores per thread */
    size_t scores_len;
} cpu_device;

static cpu_device *cpu(yk_device *d) { return (cpu_device *)d->ctx; }

static void *cpu_alloc(yk_device *d, size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? (n + 63) / 64 * 64 : 64)) return NULL;
    memset(p, 0, n);
    return p;
}

static void cpu_free(yk_device *d, void *p) { free(p); }

static void cpu_copy(yk_device *d, void *dst, const void *src, size_t n) { memcpy(dst, src, n); }

static yk_status cpu_upload(yk_device *d, yk_dmat *out, yk_type t, const void *host, size_t host_stride,
                            int64_t r0, int64_t r1, int64_t c0, int64_t c1, yk_err *err)
{
    if (cpu(d)->copy_weights) return yk_dev_upload_copy(d, out, t, host, host_stride, r0, r1, c0, c1, err);
    /* A view: the slice is the host matrix's rows with a pointer offset and the same stride. */
    *out = (yk_dmat){.type = t, .rows = r1 - r0, .cols = c1 - c0, .stride = host_stride,
                     .data = (const uint8_t *)host + (size_t)r0 * host_stride + yk_row_bytes(t, c0)};
    return YK_OK;
}

static void cpu_matmul(yk_device *d, const yk_dmat *w, const float *x, int64_t nt, float *y)
{
    cpu_device *c = cpu(d);
    size_t need = yk_acts_bytes(w->type, w->cols, nt);
    if (need > c->scratch_bytes) {
        free(c->scratch);
        c->scratch = cpu_alloc(d, need);
        YK_ASSERT(c->scratch != NULL);
        c->scratch_bytes = need;
    }
    yk_matmul(c->pool, w->type, w->data, w->stride, w->rows, x, w->cols, nt, y, w->rows, c->scratch);
}

static void cpu_rmsnorm(yk_device *d, float *y, const float *x, const float *w, int64_t n, int64_t nt, float eps)
{
    for (int64_t t = 0; t < nt; t++) {
        const float *xt = x + t * n;
        float *yt = y + t * n;
        double ss = 0; /* double accumulation, as the reference engine does */
        for (int64_t i = 0; i < n; i++) ss += (double)(xt[i] * xt[i]);
        float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
        for (int64_t i = 0; i < n; i++) yt[i] = (xt[i] * scale) * w[i];
    }
}

static void cpu_add(yk_device *d, float *y, const float *x, int64_t n, int64_t nt)
{
    for (int64_t i = 0; i < n * nt; i++) y[i] += x[i];
}

static void cpu_add_bias(yk_device *d, float *y, const float *b, int64_t n, int64_t nt)
{
    for (int64_t t = 0; t < nt; t++)
        for (int64_t i = 0; i < n; i++) y[t * n + i] += b[i];
}

static void cpu_rope(yk_device *d, float *x, int64_t nt, int64_t nh, const int32_t *pos_of, const yk_rope *r)
{
    uint32_t half = r->rope_dim / 2;
    for (int64_t t = 0; t < nt; t++) {
        double pos = (double)pos_of[t] * r->freq_scale;
        for (uint32_t i = 0; i < half; i++) {
            /* theta_i = pos * freq_scale * base^(-2i/rope_dim) / factor_i */
            double theta = pos * pow(r->base, -2.0 * i / r->rope_dim);
            if (r->freq_factors) theta /= r->freq_factors[i];
            float cs = (float)cos(theta), sn = (float)sin(theta);
            for (int64_t h = 0; h < nh; h++) {
                float *v = x + (t * nh + h) * r->head_dim;
                /* normal mode rotates pairs (2i, 2i+1); NeoX rotates (i, i + rope_dim/2) */
                uint32_t a = r->mode == YK_ROPE_NEOX ? i : 2 * i, b = r->mode == YK_ROPE_NEOX ? i + half : 2 * i + 1;
                float x0 = v[a], x1 = v[b];
                v[a] = x0 * cs - x1 * sn;
                v[b] = x0 * sn + x1 * cs;
            }
        }
    }
}

typedef struct {
    cpu_device *c;
    const yk_attn_args *a;
} attn_job;

/* Offset in elements of position j of KV head kvh in slot seq. */
static inline size_t kv_at(const yk_attn_args *a, uint32_t seq, uint32_t kvh, uint32_t j)
{
    return (((size_t)seq * a->n_kv + kvh) * a->ctx + j) * a->head_dim;
}

/* Row j of a KV head's cache as float32: the row itself (F32) or converted into tmp (F16). */
static inline const float *kv_row(const yk_attn_args *a, const void *cache, uint32_t seq, uint32_t kvh, uint32_t j, float *tmp)
{
    size_t at = kv_at(a, seq, kvh, j);
    if (a->kv_type == YK_TYPE_F32) return (const float *)cache + at;
    const uint16_t *h = (const uint16_t *)cache + at;
    for (uint32_t i = 0; i < a->head_dim; i++) tmp[i] = yk_f16_to_f32(h[i]);
    return tmp;
}

/* 4 floats as one value of GCC's generic vector type (an SSE register on baseline x86-64). */
typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* a . b with 8 partial sums (two vectors), combined in a fixed order, then the tail. */
static float dot8(const float *a, const float *b, uint32_t n)
{
    v4f s0 = {0}, s1 = {0};
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += load4(a + i) * load4(b + i);
        s1 += load4(a + i + 4) * load4(b + i + 4);
    }
    v4f t = s0 + s1;
    float s = (t[0] + t[2]) + (t[1] + t[3]);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* o += p * v, 4 at a time, then the tail. */
static void axpy4(float *o, float p, const float *v, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f r = load4(o + i) + p * load4(v + i);
        memcpy(o + i, &r, sizeof r);
    }
    for (; i < n; i++) o[i] += p * v[i];
}

static void attn_task(void *ctx, int ith, int nth)
{
    const attn_job *job = ctx;
    const yk_attn_args *a = job->a;
    uint32_t hd = a->head_dim;
    float *scores = job->c->scores + (size_t)ith * (a->ctx + hd);
    float *tmp = scores + a->ctx;
    float scale = 1.0f / sqrtf((float)hd);
    int64_t total = (int64_t)a->nt * a->n_q;
    for (int64_t job_i = ith; job_i < total; job_i += nth) {
        uint32_t t = (uint32_t)(job_i / a->n_q), h = (uint32_t)(job_i % a->n_q);
        uint32_t pos = (uint32_t)a->pos[t], seq = (uint32_t)a->seq[t], kvh = (uint32_t)a->kv_of_q[h];
        const float *q = a->q + ((size_t)t * a->n_q + h) * hd;
        /* scores = softmax(q . K^T / sqrt(head_dim)) over positions 0..pos (causal) */
        float mx = -INFINITY;
        for (uint32_t j = 0; j <= pos; j++) {
            const float *kj = kv_row(a, a->kcache, seq, kvh, j, tmp);
            scores[j] = dot8(q, kj, hd) * scale;
            if (scores[j] > mx) mx = scores[j];
        }
        double sum = 0;
        for (uint32_t j = 0; j <= pos; j++) {
            scores[j] = expf(scores[j] - mx);
            sum += scores[j];
        }
        float inv = (float)(1.0 / sum);
        /* out = scores . V */
        float *o = a->out + ((size_t)t * a->n_q + h) * hd;
        for (uint32_t i = 0; i < hd; i++) o[i] = 0;
        for (uint32_t j = 0; j <= pos; j++) {
            float p = scores[j] * inv;
            const float *vj = kv_row(a, a->vcache, seq, kvh, j, tmp);
            axpy4(o, p, vj, hd);
        }
    }
}

static void cpu_attention(yk_device *d, const yk_attn_args *a)
{
    cpu_device *c = cpu(d);
    uint32_t hd = a->head_dim;
    YK_ASSERT(a->kv_type == YK_TYPE_F32 || a->kv_type == YK_TYPE_F16);
    /* store the new keys and values in their slots: (nt, n_kv, hd) -> (n_seq, n_kv, ctx, hd) */
    for (uint32_t t = 0; t < a->nt; t++) {
        YK_ASSERT((uint32_t)a->pos[t] < a->ctx && (uint32_t)a->seq[t] < a->n_seq);
        for (uint32_t h = 0; h < a->n_kv; h++) {
            size_t dst = kv_at(a, (uint32_t)a->seq[t], h, (uint32_t)a->pos[t]), src = ((size_t)t * a->n_kv + h) * hd;
            if (a->kv_type == YK_TYPE_F32) {
                memcpy((float *)a->kcache + dst, a->k + src, hd * sizeof(float));
                memcpy((float *)a->vcache + dst, a->v + src, hd * sizeof(float));
            } else {
                for (uint32_t i = 0; i < hd; i++) {
                    ((uint16_t *)a->kcache)[dst + i] = yk_f32_to_f16(a->k[src + i]);
                    ((uint16_t *)a->vcache)[dst + i] = yk_f32_to_f16(a->v[src + i]);
                }
            }
        }
    }
    size_t need = (size_t)d->n_threads * (a->ctx + hd);
    if (need > c->scores_len) {
        free(c->scores);
        c->scores = cpu_alloc(d, need * sizeof(float));
        YK_ASSERT(c->scores != NULL);
        c->scores_len = need;
    }
    attn_job job = {c, a};
    yk_pool_run(c->pool, attn_task, &job);
}

static void cpu_swiglu(yk_device *d, float *g, const float *u, int64_t n, int64_t nt)
{
    for (int64_t i = 0; i < n * nt; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static yk_status cpu_sync(yk_device *d, yk_err *err) { return YK_OK; }

static void cpu_destroy(yk_device *d)
{
    cpu_device *c = cpu(d);
    yk_pool_destroy(c->pool);
    free(c->scratch);
    free(c->scores);
    free(c);
}

static const yk_device_ops cpu_ops = {
    .kind = "cpu",
    .host_memory = true,
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .write = cpu_copy,
    .read = cpu_copy,
    .copy = cpu_copy,
    .matmul = cpu_matmul,
    .rmsnorm = cpu_rmsnorm,
    .add = cpu_add,
    .add_bias = cpu_add_bias,
    .rope = cpu_rope,
    .attention = cpu_attention,
    .swiglu = cpu_swiglu,
    .sync = cpu_sync,
};

yk_device *yk_cpu_device_create(int index, int n_threads, bool copy_weights, yk_err *err)
{
    cpu_device *c = calloc(1, sizeof *c);
    if (!c) {
        yk_err_set(err, YK_E_NOMEM, "cpu%d: out of memory", index);
        return NULL;
    }
    c->pool = yk_pool_create(n_threads);
    if (!c->pool) {
        free(c);
        yk_err_set(err, YK_E_NOMEM, "cpu%d: cannot start %d threads", index, n_threads);
        return NULL;
    }
    c->copy_weights = copy_weights;
    c->dev.ops = &cpu_ops;
    c->dev.ctx = c;
    c->dev.n_threads = n_threads;
    snprintf(c->dev.name, sizeof c->dev.name, "cpu%d", index);
    return &c->dev;
}
