/* mkmodel.c: writes a random-weight GGUF model of a given shape (see yoke/mkmodel.h).
 *
 * Design: the tensor list (names, shapes, types, distributions) is built first from the
 * hyper-parameters; metadata and tensor infos go to the streaming writer; then each tensor is
 * generated and written one row at a time (row of floats -> yk_quantize_row -> writer), so memory
 * is a few rows whatever the model size. Random values come from a counter-based generator
 * (splitmix64 of seed, tensor index and a counter), each 64-bit draw giving two normal values
 * through an inverse-CDF table of 65537 quantiles with linear interpolation between neighbours.
 * Chunks of rows are generated and converted by a thread pool (o->threads), then written in order;
 * every row's values depend only on (seed, tensor, row), so the bytes never depend on the thread
 * count. Expected workload: a 1.5B-parameter Q8_0 file in seconds. */
#include "yoke/mkmodel.h"
#include "yoke/pool.h"
#include "yoke/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- normal values ---- */

#define NQ 65537 /* quantiles: NQ - 1 = 65536 cells, addressed by 16 random bits */

/* q[i] = inverse normal CDF at (i + 1) / (NQ + 1), by Newton's method on 0.5 erfc(-x / sqrt 2). */
static void normal_quantiles(float *q)
{
    const int mid = NQ / 2; /* p = 1/2 */
    double x = 0;
    q[mid] = 0;
    for (int i = mid + 1; i < NQ; i++) {
        double p = (double)(i + 1) / (NQ + 1);
        /* Phi is concave for x > 0, so Newton from the previous (smaller) root climbs monotonically. */
        for (int it = 0; it < 100; it++) {
            double f = 0.5 * erfc(-x / M_SQRT2) - p, d = exp(-0.5 * x * x) / sqrt(2 * M_PI);
            double dx = f / d;
            x -= dx;
            if (fabs(dx) < 1e-12) break;
        }
        q[i] = (float)x;
        q[NQ - 1 - i] = (float)-x;
    }
}

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* One value ~ N(0, 1) from 32 random bits: 16 pick the cell, 16 the place inside it. */
static inline float normal_of(const float *q, uint32_t bits)
{
    uint32_t cell = bits & 0xffff;
    float f = (float)(bits >> 16) * (1.0f / 65536.0f);
    return q[cell] + f * (q[cell + 1] - q[cell]);
}

/* ---- tensors ---- */

typedef enum { DIST_MATRIX, DIST_NORM, DIST_BIAS, DIST_ROPE } dist_kind;

typedef struct {
    char name[64];
    yk_type type;
    uint32_t n_dims;
    int64_t ne[2];
    dist_kind dist;
} tensor_spec;

typedef struct {
    tensor_spec *t;
    size_t n, cap;
} spec_list;

static bool add_spec(spec_list *l, const char *name, yk_type type, uint32_t n_dims, int64_t ne0, int64_t ne1, dist_kind d)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        tensor_spec *t = realloc(l->t, cap * sizeof *t);
        if (!t) return false;
        l->t = t;
        l->cap = cap;
    }
    tensor_spec *s = &l->t[l->n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->type = d == DIST_MATRIX ? type : YK_TYPE_F32;
    s->n_dims = n_dims;
    s->ne[0] = ne0;
    s->ne[1] = ne1;
    s->dist = d;
    return true;
}

/* Tensors in file order (as the golden README lists them). */
static bool build_specs(spec_list *l, const yk_hparams *hp, yk_type type)
{
    int64_t d = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim, kv = (int64_t)hp->n_head_kv * hp->head_dim;
    bool ok = true;
    if (hp->rope_scale_factor != 0) ok &= add_spec(l, "rope_freqs.weight", type, 1, hp->rope_dim / 2, 1, DIST_ROPE);
    ok &= add_spec(l, "token_embd.weight", type, 2, d, hp->n_vocab, DIST_MATRIX);
    ok &= add_spec(l, "output_norm.weight", type, 1, d, 1, DIST_NORM);
    if (!hp->tied_output) ok &= add_spec(l, "output.weight", type, 2, d, hp->n_vocab, DIST_MATRIX);
    for (uint32_t i = 0; ok && i < hp->n_layer; i++) {
        char n[64];
#define T(suffix, nd, a, b, dist) (snprintf(n, sizeof n, "blk.%u." suffix, i), ok &= add_spec(l, n, type, nd, a, b, dist))
        T("attn_norm.weight", 1, d, 1, DIST_NORM);
        T("attn_q.weight", 2, d, q, DIST_MATRIX);
        T("attn_k.weight", 2, d, kv, DIST_MATRIX);
        T("attn_v.weight", 2, d, kv, DIST_MATRIX);
        if (hp->qkv_bias) {
            T("attn_q.bias", 1, q, 1, DIST_BIAS);
            T("attn_k.bias", 1, kv, 1, DIST_BIAS);
            T("attn_v.bias", 1, kv, 1, DIST_BIAS);
        }
        T("attn_output.weight", 2, q, d, DIST_MATRIX);
        T("ffn_norm.weight", 1, d, 1, DIST_NORM);
        T("ffn_gate.weight", 2, d, hp->n_ff, DIST_MATRIX);
        T("ffn_up.weight", 2, d, hp->n_ff, DIST_MATRIX);
        T("ffn_down.weight", 2, hp->n_ff, d, DIST_MATRIX);
#undef T
    }
    return ok;
}

int yk_file_type_of(yk_type t)
{
    switch (t) {
    case YK_TYPE_F32: return 0;
    case YK_TYPE_F16: return 1;
    case YK_TYPE_Q4_0: return 2;
    case YK_TYPE_Q4_1: return 3;
    case YK_TYPE_Q8_0: return 7;
    case YK_TYPE_Q5_0: return 8;
    case YK_TYPE_Q5_1: return 9;
    case YK_TYPE_Q2_K: return 10;
    case YK_TYPE_Q3_K: return 11; /* Q3_K_S: all matrices Q3_K */
    case YK_TYPE_Q4_K: return 14; /* Q4_K_S */
    case YK_TYPE_Q5_K: return 16; /* Q5_K_S */
    case YK_TYPE_Q6_K: return 18;
    case YK_TYPE_IQ4_NL: return 25;
    case YK_TYPE_IQ4_XS: return 30;
    case YK_TYPE_BF16: return 32;
    default: return -1;
    }
}

/* ---- checks ---- */

yk_status yk_mkmodel_check(const yk_mkmodel_opts *o, yk_err *err)
{
    const yk_hparams *hp = &o->hp;
    if (hp->n_expert > 0)
        return yk_err_set(err, YK_E_UNSUPPORTED, "mixture-of-experts not supported yet (%u experts)", hp->n_expert);
    if (strcmp(hp->arch, "llama") && strcmp(hp->arch, "qwen2"))
        return yk_err_set(err, YK_E_UNSUPPORTED, "architecture '%s': only llama and qwen2", hp->arch);
    if (!yk_type_quantizable(o->type))
        return yk_err_set(err, YK_E_UNSUPPORTED, "type %s: yoke cannot write it (not quantizable)", yk_type_name(o->type));
    if (!hp->n_layer || !hp->n_embd || !hp->n_head || !hp->n_head_kv || !hp->n_ff || !hp->n_ctx_train)
        return yk_err_set(err, YK_E_INVALID, "layers, embd, heads, kv-heads, ff and ctx must all be at least 1");
    if (hp->n_head % hp->n_head_kv)
        return yk_err_set(err, YK_E_INVALID, "heads %u is not a multiple of kv-heads %u", hp->n_head, hp->n_head_kv);
    if (hp->head_dim < 2 || hp->head_dim % 2 || hp->rope_dim > hp->head_dim || hp->rope_dim % 2 || !hp->rope_dim)
        return yk_err_set(err, YK_E_INVALID, "head dimension %u (embd / heads) and rope dimension %u must be even, rope <= head",
                          hp->head_dim, hp->rope_dim);
    if (hp->n_vocab < YK_SPM_MIN_VOCAB)
        return yk_err_set(err, YK_E_INVALID, "vocab %u: at least %d (3 special and 256 byte tokens)", hp->n_vocab, YK_SPM_MIN_VOCAB);
    if (!(hp->rms_eps > 0 && hp->rms_eps < 1) || !(hp->rope_base > 1 && isfinite(hp->rope_base)))
        return yk_err_set(err, YK_E_INVALID, "rms eps %g must be in (0, 1) and rope base %g above 1", hp->rms_eps, hp->rope_base);
    /* Quantised rows hold whole blocks: every matrix row length must be a multiple of the block. */
    const yk_type_layout *l = yk_type_layout_of(o->type);
    struct { const char *what; uint64_t n; } rows[] = {
        {"embd (rows of token_embd, attn_q/k/v, ffn_gate/up, output)", hp->n_embd},
        {"heads x head dimension (rows of attn_output)", (uint64_t)hp->n_head * hp->head_dim},
        {"ff (rows of ffn_down)", hp->n_ff},
    };
    for (int i = 0; i < 3; i++)
        if (rows[i].n % (uint64_t)l->block)
            return yk_err_set(err, YK_E_INVALID, "type %s: %s = %llu is not a multiple of its block size %d", l->name,
                              rows[i].what, (unsigned long long)rows[i].n, l->block);
    return YK_OK;
}

/* ---- writing ---- */

static yk_status write_metadata(yk_gguf_writer *w, const yk_mkmodel_opts *o, const yk_spm_vocab *v, yk_err *err)
{
    const yk_hparams *hp = &o->hp;
    char name[96], key[128];
    snprintf(name, sizeof name, "yoke-random-%s", hp->arch);
    yk_status st = yk_gguf_writer_add_str(w, "general.architecture", hp->arch, err);
    if (!st) st = yk_gguf_writer_add_str(w, "general.name", o->name ? o->name : name, err);
    int ft = yk_file_type_of(o->type);
    uint32_t u = (uint32_t)ft;
    if (!st && ft >= 0) st = yk_gguf_writer_add_kv(w, "general.file_type", YK_GGUF_U32, &u, err);
    struct { const char *k; uint32_t v; } u32s[] = {
        {"context_length", hp->n_ctx_train}, {"embedding_length", hp->n_embd}, {"block_count", hp->n_layer},
        {"feed_forward_length", hp->n_ff}, {"attention.head_count", hp->n_head},
        {"attention.head_count_kv", hp->n_head_kv}, {"rope.dimension_count", hp->rope_dim}, {"vocab_size", hp->n_vocab},
        {"attention.key_length", hp->head_dim}, {"attention.value_length", hp->head_dim},
    };
    /* key/value_length only when they differ from embd / heads (llama.cpp's default). */
    size_t n_u32 = hp->head_dim * hp->n_head == hp->n_embd ? 8 : 10;
    for (size_t i = 0; !st && i < n_u32; i++) {
        snprintf(key, sizeof key, "%s.%s", hp->arch, u32s[i].k);
        st = yk_gguf_writer_add_kv(w, key, YK_GGUF_U32, &u32s[i].v, err);
    }
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", hp->arch);
    if (!st) st = yk_gguf_writer_add_kv(w, key, YK_GGUF_F32, &hp->rms_eps, err);
    snprintf(key, sizeof key, "%s.rope.freq_base", hp->arch);
    if (!st) st = yk_gguf_writer_add_kv(w, key, YK_GGUF_F32, &hp->rope_base, err);

    uint32_t bos = YK_SPM_BOS, eos = YK_SPM_EOS, unk = YK_SPM_UNK;
    bool yes = true, no = false;
    if (!st) st = yk_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", err);
    if (!st) st = yk_gguf_writer_add_arr_strs(w, "tokenizer.ggml.tokens", v->tokens, v->n, err);
    if (!st) st = yk_gguf_writer_add_arr(w, "tokenizer.ggml.scores", YK_GGUF_F32, v->scores, v->n, err);
    if (!st) st = yk_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", YK_GGUF_I32, v->types, v->n, err);
    if (!st) st = yk_gguf_writer_add_kv(w, "tokenizer.ggml.bos_token_id", YK_GGUF_U32, &bos, err);
    if (!st) st = yk_gguf_writer_add_kv(w, "tokenizer.ggml.eos_token_id", YK_GGUF_U32, &eos, err);
    if (!st) st = yk_gguf_writer_add_kv(w, "tokenizer.ggml.unknown_token_id", YK_GGUF_U32, &unk, err);
    if (!st) st = yk_gguf_writer_add_kv(w, "tokenizer.ggml.add_bos_token", YK_GGUF_BOOL, &yes, err);
    if (!st) st = yk_gguf_writer_add_kv(w, "tokenizer.ggml.add_eos_token", YK_GGUF_BOOL, &no, err);
    return st;
}

/* A chunk of rows of one tensor, generated and converted by the pool's threads. */
typedef struct {
    const tensor_spec *s;
    const float *q;     /* normal quantiles */
    uint64_t base;      /* the tensor's counter base */
    int64_t r0, nrows;  /* rows [r0, r0 + nrows) */
    float *scratch;     /* one row of floats per thread */
    uint8_t *out;       /* nrows converted rows */
    size_t row_bytes;
} chunk_job;

static void gen_rows(void *ctx, int ith, int nth)
{
    const chunk_job *j = ctx;
    const tensor_spec *s = j->s;
    int64_t n = s->ne[0], lo, hi;
    float mean = s->dist == DIST_NORM ? 1.0f : 0.0f, sd = s->dist == DIST_MATRIX ? 0.02f : 0.1f;
    float *row = j->scratch + (size_t)ith * (size_t)n;
    yk_split_range(j->nrows, 1, ith, nth, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        /* Row r uses draws [r * ceil(n/2), (r + 1) * ceil(n/2)) of the tensor's stream, so the bytes do
         * not depend on how rows are split between threads or chunks. */
        uint64_t ctr = j->base + (uint64_t)(j->r0 + r) * (uint64_t)((n + 1) / 2) * 0x9e3779b97f4a7c15ull;
        int64_t i = 0;
        for (; i + 1 < n; i += 2) {
            uint64_t z = mix64(ctr += 0x9e3779b97f4a7c15ull);
            row[i] = mean + sd * normal_of(j->q, (uint32_t)z);
            row[i + 1] = mean + sd * normal_of(j->q, (uint32_t)(z >> 32));
        }
        if (i < n) row[i] = mean + sd * normal_of(j->q, (uint32_t)mix64(ctr += 0x9e3779b97f4a7c15ull));
        yk_quantize_row(s->type, row, j->out + (size_t)r * j->row_bytes, n);
    }
}

/* Generates tensor k in chunks of rows and streams it. */
static yk_status write_tensor(yk_gguf_writer *w, yk_pool *pool, const yk_mkmodel_opts *o, const tensor_spec *s,
                              uint64_t k, const float *q, float *scratch, uint8_t *out, size_t out_bytes, yk_err *err)
{
    int64_t n = s->ne[0];
    if (s->dist == DIST_ROPE) {
        yk_llama3_rope_factors(&o->hp, scratch);
        return yk_gguf_writer_write(w, scratch, (uint64_t)n * sizeof(float), err);
    }
    chunk_job j = {.s = s, .q = q, .base = mix64(o->seed ^ mix64(k + 1)), .scratch = scratch, .out = out,
                   .row_bytes = yk_row_bytes(s->type, n)};
    int64_t per_chunk = (int64_t)(out_bytes / j.row_bytes);
    for (j.r0 = 0; j.r0 < s->ne[1]; j.r0 += j.nrows) {
        j.nrows = s->ne[1] - j.r0 < per_chunk ? s->ne[1] - j.r0 : per_chunk;
        yk_pool_run(pool, gen_rows, &j);
        yk_status st = yk_gguf_writer_write(w, out, (uint64_t)j.nrows * j.row_bytes, err);
        if (st) return st;
    }
    return YK_OK;
}

yk_status yk_mkmodel_write_to(yk_gguf_writer *w, const yk_mkmodel_opts *o, yk_err *err)
{
    yk_status st = yk_mkmodel_check(o, err);
    if (st) return st;
    spec_list specs = {0};
    yk_spm_vocab vocab = {0};
    float *q = NULL, *scratch = NULL;
    uint8_t *out = NULL;
    yk_pool *pool = NULL;
    if (!build_specs(&specs, &o->hp, o->type)) {
        st = yk_err_set(err, YK_E_NOMEM, "mkmodel: no memory for the tensor list");
        goto done;
    }
    if ((st = yk_spm_vocab_builtin(&vocab, o->hp.n_vocab, err))) goto done;
    int64_t max_row = 0;
    for (size_t i = 0; i < specs.n; i++) max_row = specs.t[i].ne[0] > max_row ? specs.t[i].ne[0] : max_row;
    int nth = o->threads > 1 ? o->threads : 1;
    pool = nth > 1 ? yk_pool_create(nth) : NULL; /* NULL runs the jobs inline */
    nth = pool ? yk_pool_size(pool) : 1;
    /* Chunks of about 4 MB of output (at least one row; no type takes more than 4 bytes a value). */
    size_t out_bytes = 4u << 20;
    if (out_bytes < (size_t)max_row * 4) out_bytes = (size_t)max_row * 4;
    q = malloc(NQ * sizeof *q);
    scratch = malloc((size_t)nth * (size_t)max_row * sizeof *scratch);
    out = malloc(out_bytes);
    if (!q || !scratch || !out) {
        st = yk_err_set(err, YK_E_NOMEM, "mkmodel: no memory for rows of %lld values", (long long)max_row);
        goto done;
    }
    normal_quantiles(q);

    st = write_metadata(w, o, &vocab, err);
    for (size_t i = 0; !st && i < specs.n; i++)
        st = yk_gguf_writer_add_tensor(w, specs.t[i].name, specs.t[i].type, specs.t[i].n_dims, specs.t[i].ne, err);
    if (!st) st = yk_gguf_writer_begin_data(w, err);
    for (size_t i = 0; !st && i < specs.n; i++)
        st = write_tensor(w, pool, o, &specs.t[i], i, q, scratch, out, out_bytes, err);
done:
    free(specs.t);
    yk_spm_vocab_free(&vocab);
    free(q);
    free(scratch);
    free(out);
    yk_pool_destroy(pool);
    return st;
}

yk_status yk_mkmodel_write(const char *path, const yk_mkmodel_opts *o, yk_err *err)
{
    yk_status st = yk_mkmodel_check(o, err); /* before anything is created */
    yk_gguf_writer *w;
    if (st || (st = yk_gguf_writer_open(&w, path, err))) return st;
    if ((st = yk_mkmodel_write_to(w, o, err))) {
        yk_gguf_writer_discard(w); /* path keeps its old bytes */
        return st;
    }
    return yk_gguf_writer_close(w, err);
}
