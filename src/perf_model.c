/* perf_model.c: the model description the performance model reads (yoke/perf.h): every weight
 * tensor with its role, type, element count and exact bytes, built from a preset and a llama.cpp
 * mix name without any file.
 *
 * Mix rules: the per-tensor types llama.cpp's quantiser chooses for each mix, as documented by its
 * behaviour (written here from the published rules, not from its code): the output projection is
 * Q6_K for every quantised mix except Q8_0; Q4_K_M and Q5_K_M raise attn_v and ffn_down to Q6_K in
 * the first and last eighth of the layers and every third layer between; Q4_K_S raises attn_v of the
 * first 4 layers and ffn_down of the first eighth to Q5_K; Q3_K_M uses Q5_K for attn_v of layers 0-1
 * and Q4_K after, Q5_K for ffn_down of the first sixteenth and Q4_K in the "more bits" layers, and
 * Q4_K for attn_output; Q3_K_L uses Q5_K for attn_v, ffn_down and attn_output; Q2_K uses Q3_K for
 * ffn_down and attn_output and Q4_K (GQA >= 4) or Q3_K for attn_v; models with 8 experts keep attn_k
 * and attn_v in Q8_0; in 70B-class models (80 layers, GQA 8) an attn_v left at Q3_K/Q4_K becomes
 * Q5_K. A row length that is not a multiple of the type's block falls back (Q2_K/Q3_K -> IQ4_NL,
 * Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q4_0/Q4_1/Q5_x/Q8_0 on rows not multiple of 32 -> F16).
 * Checked against published file sizes in tests/test_perf.c (Llama-3-8B Q4_K_M 4.92 GB, Llama-2-70B
 * Q4_0 38.87 GB, Llama-3-8B F16 16.06 GB). */
#include "yoke/perf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum {
    MIX_PLAIN = 0,   /* every matrix of one type (output Q6_K when the type is quantised, not Q8_0) */
    MIX_Q2_K, MIX_Q3_K_M, MIX_Q3_K_L, MIX_Q4_K_S, MIX_Q4_K_M, MIX_Q5_K_S, MIX_Q5_K_M,
} mix_kind;

typedef struct {
    const char *name;
    mix_kind kind;
    yk_type base;
} mix_def;

static const mix_def mixes[] = {
    {"F32", MIX_PLAIN, YK_TYPE_F32},       {"F16", MIX_PLAIN, YK_TYPE_F16},
    {"BF16", MIX_PLAIN, YK_TYPE_BF16},     {"Q8_0", MIX_PLAIN, YK_TYPE_Q8_0},
    {"Q6_K", MIX_PLAIN, YK_TYPE_Q6_K},     {"Q5_K_M", MIX_Q5_K_M, YK_TYPE_Q5_K},
    {"Q5_K_S", MIX_Q5_K_S, YK_TYPE_Q5_K},  {"Q5_1", MIX_PLAIN, YK_TYPE_Q5_1},
    {"Q5_0", MIX_PLAIN, YK_TYPE_Q5_0},     {"Q4_K_M", MIX_Q4_K_M, YK_TYPE_Q4_K},
    {"Q4_K_S", MIX_Q4_K_S, YK_TYPE_Q4_K},  {"Q4_1", MIX_PLAIN, YK_TYPE_Q4_1},
    {"Q4_0", MIX_PLAIN, YK_TYPE_Q4_0},     {"IQ4_NL", MIX_PLAIN, YK_TYPE_IQ4_NL},
    {"IQ4_XS", MIX_PLAIN, YK_TYPE_IQ4_XS}, {"Q3_K_L", MIX_Q3_K_L, YK_TYPE_Q3_K},
    {"Q3_K_M", MIX_Q3_K_M, YK_TYPE_Q3_K},  {"Q2_K", MIX_Q2_K, YK_TYPE_Q2_K},
};

const char *yk_perf_mix_names(void)
{
    return "F32, F16, BF16, Q8_0, Q6_K, Q5_K_M, Q5_K_S, Q5_1, Q5_0, Q4_K_M, Q4_K_S, Q4_1, Q4_0, IQ4_NL, "
           "IQ4_XS, Q3_K_L, Q3_K_M, Q2_K";
}

static bool is_float(yk_type t)
{
    return t == YK_TYPE_F32 || t == YK_TYPE_F16 || t == YK_TYPE_BF16;
}

/* The "more bits" layers of the K mixes: first and last eighth, and every third layer between. */
static bool more_bits(uint32_t i, uint32_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i >= n / 8 && (i - n / 8) % 3 == 2);
}

/* Type of a row of length ne0 whose preferred type t has a block that does not divide ne0. */
static yk_type fallback(yk_type t, int64_t ne0)
{
    const yk_type_layout *l = yk_type_layout_of(t);
    if (l && ne0 % l->block == 0) return t;
    switch (t) {
    case YK_TYPE_Q2_K: case YK_TYPE_Q3_K: case YK_TYPE_IQ4_XS: t = YK_TYPE_IQ4_NL; break;
    case YK_TYPE_Q4_K: t = YK_TYPE_Q5_0; break;
    case YK_TYPE_Q5_K: t = YK_TYPE_Q5_1; break;
    case YK_TYPE_Q6_K: t = YK_TYPE_Q8_0; break;
    default: t = YK_TYPE_F16; break;
    }
    l = yk_type_layout_of(t);
    return ne0 % l->block == 0 ? t : YK_TYPE_F16;
}

typedef enum { T_EMBD, T_OUTPUT, T_Q, T_K, T_V, T_O, T_GATE, T_UP, T_DOWN } tensor_kind;

static yk_type mix_type(const mix_def *mx, const yk_hparams *hp, tensor_kind k, uint32_t layer)
{
    uint32_t n = hp->n_layer;
    yk_type base = mx->base;
    bool quant = !is_float(base);
    uint32_t gqa = hp->n_head_kv ? hp->n_head / hp->n_head_kv : 1;
    yk_type t = base;
    switch (k) {
    case T_EMBD: /* a tied embedding is the output projection too and gets its type */
        if (!hp->tied_output) return base;
        /* fall through */
    case T_OUTPUT: return quant && base != YK_TYPE_Q8_0 ? YK_TYPE_Q6_K : base;
    case T_K:
        if (quant && hp->n_expert == 8) return YK_TYPE_Q8_0;
        return base;
    case T_V:
        if (quant && hp->n_expert == 8) return YK_TYPE_Q8_0;
        switch (mx->kind) {
        case MIX_Q2_K: t = gqa >= 4 ? YK_TYPE_Q4_K : YK_TYPE_Q3_K; break;
        case MIX_Q3_K_M: t = layer < 2 ? YK_TYPE_Q5_K : YK_TYPE_Q4_K; break;
        case MIX_Q3_K_L: t = YK_TYPE_Q5_K; break;
        case MIX_Q4_K_S: t = layer < 4 ? YK_TYPE_Q5_K : base; break;
        case MIX_Q4_K_M: case MIX_Q5_K_M: t = more_bits(layer, n) ? YK_TYPE_Q6_K : base; break;
        default: break;
        }
        if (n == 80 && gqa >= 8 && (t == YK_TYPE_Q3_K || t == YK_TYPE_Q4_K)) t = YK_TYPE_Q5_K;
        return t;
    case T_DOWN:
        switch (mx->kind) {
        case MIX_Q2_K: return YK_TYPE_Q3_K;
        case MIX_Q3_K_M:
            return layer < n / 16 ? YK_TYPE_Q5_K : more_bits(layer, n) ? YK_TYPE_Q4_K : YK_TYPE_Q3_K;
        case MIX_Q3_K_L: return YK_TYPE_Q5_K;
        case MIX_Q4_K_S: return layer < n / 8 ? YK_TYPE_Q5_K : base;
        case MIX_Q4_K_M: case MIX_Q5_K_M: return more_bits(layer, n) ? YK_TYPE_Q6_K : base;
        default: return base;
        }
    case T_O:
        switch (mx->kind) {
        case MIX_Q2_K: return YK_TYPE_Q3_K;
        case MIX_Q3_K_M: return YK_TYPE_Q4_K;
        case MIX_Q3_K_L: return YK_TYPE_Q5_K;
        default: return base;
        }
    default: return base;
    }
}

/* Appends a tensor of ne0 x ne1 x ne2 elements; returns false when out of memory. */
static bool add_tensor(yk_perf_model *m, size_t *cap, int32_t layer, yk_perf_role role, yk_type type,
                       int64_t ne0, int64_t ne1, int64_t ne2)
{
    if (m->n_tensors == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        yk_perf_tensor *p = realloc(m->tensors, nc * sizeof *p);
        if (!p) return false;
        m->tensors = p;
        *cap = nc;
    }
    type = fallback(type, ne0);
    yk_perf_tensor *t = &m->tensors[m->n_tensors++];
    t->layer = layer;
    t->role = role;
    t->type = type;
    t->n_params = (uint64_t)ne0 * (uint64_t)ne1 * (uint64_t)ne2;
    t->bytes = (uint64_t)yk_row_bytes(type, ne0) * (uint64_t)ne1 * (uint64_t)ne2;
    m->weight_bytes += t->bytes;
    m->n_params += t->n_params;
    return true;
}

void yk_perf_model_free(yk_perf_model *m)
{
    free(m->tensors);
    memset(m, 0, sizeof *m);
}

yk_status yk_perf_model_preset(yk_perf_model *m, const char *spec, yk_err *err)
{
    memset(m, 0, sizeof *m);
    const char *colon = strchr(spec, ':');
    if (!colon)
        return yk_err_set(err, YK_E_INVALID, "--model: '%s' has no type: write NAME:TYPE, e.g. llama3-70b:Q4_K_M", spec);
    char name[64];
    size_t nl = (size_t)(colon - spec);
    if (nl == 0 || nl >= sizeof name) return yk_err_set(err, YK_E_INVALID, "--model: bad preset name in '%s'", spec);
    memcpy(name, spec, nl);
    name[nl] = 0;
    const yk_preset *p = yk_preset_find(name);
    if (!p) {
        char list[512] = "";
        size_t off = 0;
        for (const yk_preset *q = yk_presets; q->name && off < sizeof list; q++) {
            int w = snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", q->name);
            if (w > 0) off += (size_t)w;
        }
        return yk_err_set(err, YK_E_INVALID, "--model: unknown preset '%s' (known: %s; or give a .gguf path)", name, list);
    }
    const mix_def *mx = NULL;
    for (size_t i = 0; i < sizeof mixes / sizeof *mixes; i++)
        if (!strcasecmp(mixes[i].name, colon + 1)) mx = &mixes[i];
    if (!mx)
        return yk_err_set(err, YK_E_INVALID, "--model: unknown type '%s' in '%s' (known: %s)", colon + 1, spec, yk_perf_mix_names());
    const yk_hparams *hp = &p->hp;
    m->hp = *hp;
    snprintf(m->name, sizeof m->name, "%s:%s", p->name, mx->name);
    snprintf(m->type_name, sizeof m->type_name, "%s", mx->name);
    int64_t d = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim, kv = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t ff = hp->n_ff, V = hp->n_vocab, E = hp->n_expert;
    size_t cap = 0;
    bool ok = add_tensor(m, &cap, -1, YK_ROLE_TOKEN_EMBD, mix_type(mx, hp, T_EMBD, 0), d, V, 1);
    for (uint32_t l = 0; ok && l < hp->n_layer; l++) {
        int32_t L = (int32_t)l;
        ok = add_tensor(m, &cap, L, YK_ROLE_NORM, YK_TYPE_F32, d, 1, 1) &&
             add_tensor(m, &cap, L, YK_ROLE_ATTN_Q, mix_type(mx, hp, T_Q, l), d, q, 1) &&
             add_tensor(m, &cap, L, YK_ROLE_ATTN_K, mix_type(mx, hp, T_K, l), d, kv, 1) &&
             add_tensor(m, &cap, L, YK_ROLE_ATTN_V, mix_type(mx, hp, T_V, l), d, kv, 1) &&
             add_tensor(m, &cap, L, YK_ROLE_ATTN_O, mix_type(mx, hp, T_O, l), q, d, 1) &&
             add_tensor(m, &cap, L, YK_ROLE_NORM, YK_TYPE_F32, d, 1, 1);
        if (ok && hp->qkv_bias)
            ok = add_tensor(m, &cap, L, YK_ROLE_NORM, YK_TYPE_F32, q, 1, 1) &&
                 add_tensor(m, &cap, L, YK_ROLE_NORM, YK_TYPE_F32, kv, 1, 1) &&
                 add_tensor(m, &cap, L, YK_ROLE_NORM, YK_TYPE_F32, kv, 1, 1);
        if (ok && E > 0)
            ok = add_tensor(m, &cap, L, YK_ROLE_ROUTER, YK_TYPE_F32, d, E, 1) &&
                 add_tensor(m, &cap, L, YK_ROLE_EXPERT, mix_type(mx, hp, T_GATE, l), d, ff, E) &&
                 add_tensor(m, &cap, L, YK_ROLE_EXPERT, mix_type(mx, hp, T_UP, l), d, ff, E) &&
                 add_tensor(m, &cap, L, YK_ROLE_EXPERT, mix_type(mx, hp, T_DOWN, l), ff, d, E);
        else if (ok)
            ok = add_tensor(m, &cap, L, YK_ROLE_FFN, mix_type(mx, hp, T_GATE, l), d, ff, 1) &&
                 add_tensor(m, &cap, L, YK_ROLE_FFN, mix_type(mx, hp, T_UP, l), d, ff, 1) &&
                 add_tensor(m, &cap, L, YK_ROLE_FFN, mix_type(mx, hp, T_DOWN, l), ff, d, 1);
    }
    if (ok) ok = add_tensor(m, &cap, -1, YK_ROLE_OUTPUT_NORM, YK_TYPE_F32, d, 1, 1);
    if (ok && !hp->tied_output) ok = add_tensor(m, &cap, -1, YK_ROLE_OUTPUT, mix_type(mx, hp, T_OUTPUT, 0), d, V, 1);
    if (ok && hp->rope_scale_factor != 0) ok = add_tensor(m, &cap, -1, YK_ROLE_OUTPUT_NORM, YK_TYPE_F32, hp->rope_dim / 2, 1, 1);
    if (!ok) {
        yk_perf_model_free(m);
        return yk_err_set(err, YK_E_NOMEM, "--model: out of memory describing %s", spec);
    }
    return YK_OK;
}

void yk_perf_model_scale_bytes(yk_perf_model *m, uint64_t total)
{
    if (!m->weight_bytes || !total) return;
    double s = (double)total / (double)m->weight_bytes;
    uint64_t sum = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        m->tensors[i].bytes = (uint64_t)llround((double)m->tensors[i].bytes * s);
        sum += m->tensors[i].bytes;
    }
    m->weight_bytes = sum;
}
