/* quant_mix.c: which type each tensor gets under a quantisation mix (yoke quantize).
 *
 * The rules follow the published behaviour of the reference engine's quantiser (llama.cpp's
 * llama-quantize, no importance matrix), so that a "Q4_K_M" file made by yoke holds the same type
 * for every tensor as one made by the reference engine:
 * - Only matrices are quantised: names ending in "weight" with 2 or more dimensions, except norms,
 *   expert routers, position / token-type embeddings and a few small recurrent-model weights.
 * - The output matrix (or the token embedding when the output is tied to it) gets Q6_K (Q8_0 when
 *   its rows are not a multiple of 256, or under the Q8_0 mix).
 * - attn_v, ffn_down and attn_output get more bits in some mixes, in some layers: the "more bits"
 *   layers are the first and last eighth and every third layer in between.
 * - A type whose block does not divide the row length falls back to a 32-wide type (IQ4_NL for
 *   Q2_K/Q3_K, Q5_0 for Q4_K, Q5_1 for Q5_K, Q8_0 for Q6_K), then to F16.
 * Pure functions of their arguments; the per-layer counters live in the caller's yk_mix_state. */
#include "yoke/quant.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name;
    yk_type base;
    uint32_t file_type; /* the reference engine's llama_ftype value */
} mix_info;

static const mix_info mixes[YK_MIX_COUNT] = {
    [YK_MIX_F32] = {"F32", YK_TYPE_F32, 0},          [YK_MIX_F16] = {"F16", YK_TYPE_F16, 1},
    [YK_MIX_BF16] = {"BF16", YK_TYPE_BF16, 32},      [YK_MIX_Q8_0] = {"Q8_0", YK_TYPE_Q8_0, 7},
    [YK_MIX_Q4_0] = {"Q4_0", YK_TYPE_Q4_0, 2},       [YK_MIX_Q4_1] = {"Q4_1", YK_TYPE_Q4_1, 3},
    [YK_MIX_Q5_0] = {"Q5_0", YK_TYPE_Q5_0, 8},       [YK_MIX_Q5_1] = {"Q5_1", YK_TYPE_Q5_1, 9},
    [YK_MIX_IQ4_NL] = {"IQ4_NL", YK_TYPE_IQ4_NL, 25}, [YK_MIX_Q2_K] = {"Q2_K", YK_TYPE_Q2_K, 10},
    [YK_MIX_Q3_K_S] = {"Q3_K_S", YK_TYPE_Q3_K, 11},  [YK_MIX_Q3_K_M] = {"Q3_K_M", YK_TYPE_Q3_K, 12},
    [YK_MIX_Q4_K_S] = {"Q4_K_S", YK_TYPE_Q4_K, 14},  [YK_MIX_Q4_K_M] = {"Q4_K_M", YK_TYPE_Q4_K, 15},
    [YK_MIX_Q5_K_S] = {"Q5_K_S", YK_TYPE_Q5_K, 16},  [YK_MIX_Q5_K_M] = {"Q5_K_M", YK_TYPE_Q5_K, 17},
    [YK_MIX_Q6_K] = {"Q6_K", YK_TYPE_Q6_K, 18},
};

const char *yk_mix_name(yk_mix m) { return (unsigned)m < YK_MIX_COUNT ? mixes[m].name : "?"; }
uint32_t yk_mix_file_type(yk_mix m) { return (unsigned)m < YK_MIX_COUNT ? mixes[m].file_type : 0; }
yk_type yk_mix_base_type(yk_mix m) { return (unsigned)m < YK_MIX_COUNT ? mixes[m].base : YK_TYPE_F32; }

int yk_mix_from_name(const char *name)
{
    for (int m = 0; m < YK_MIX_COUNT; m++)
        if (!strcasecmp(name, mixes[m].name)) return m;
    return -1;
}

/* Block number of "blk.N...." or -1. */
static int layer_of(const char *name)
{
    int n = -1;
    if (sscanf(name, "blk.%d.", &n) != 1) return -1;
    return n;
}

int yk_mix_tensor_order(const char *a, const char *b)
{
    int la = layer_of(a), lb = layer_of(b);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static bool contains(const char *s, const char *part) { return strstr(s, part) != NULL; }

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !strcmp(s + n - m, tail);
}

/* Whether the mix may change a tensor at all (the reference quantiser's eligibility test). */
static bool quantizable(const char *name, uint32_t n_dims)
{
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight", "ssm_x.weight", "ssm_dt.weight",
        "time_mix_first.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    };
    if (!ends_with(name, "weight") || n_dims < 2) return false;
    for (size_t i = 0; i < sizeof never / sizeof *never; i++)
        if (contains(name, never[i])) return false;
    return strcmp(name, "position_embd.weight") && strcmp(name, "token_types.weight");
}

/* The first and last eighth of the layers, and every third layer in between. */
static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* The rules for one tensor, before the block-size fallback. */
static yk_type choose(yk_mix m, const yk_mix_model *md, yk_mix_state *st, const char *name, const int64_t *ne)
{
    yk_type t = mixes[m].base;
    bool moe8 = md->n_expert == 8;
    if (!strcmp(name, "output.weight") || (!md->has_output && !strcmp(name, "token_embd.weight"))) {
        if (md->falcon || ne[0] % 256) return YK_TYPE_Q8_0;
        return t == YK_TYPE_Q8_0 ? t : YK_TYPE_Q6_K;
    }
    if (!strcmp(name, "token_embd.weight")) return t;
    /* a block's layer: its number in MoE models, the running count otherwise */
    int layer_moe = layer_of(name);
    if (contains(name, "attn_v.weight")) {
        int i = st->i_attn_v++;
        if (m == YK_MIX_Q2_K) t = md->n_gqa >= 4 ? YK_TYPE_Q4_K : YK_TYPE_Q3_K;
        else if (m == YK_MIX_Q3_K_M) t = i < 2 ? YK_TYPE_Q5_K : YK_TYPE_Q4_K;
        else if (m == YK_MIX_IQ4_NL && md->n_gqa >= 4) t = YK_TYPE_Q5_K;
        else if ((m == YK_MIX_Q4_K_M || m == YK_MIX_Q5_K_M) && more_bits(i, md->n_attn_v)) t = YK_TYPE_Q6_K;
        else if (m == YK_MIX_Q4_K_S && i < 4) t = YK_TYPE_Q5_K;
        if (md->is_70b && (t == YK_TYPE_Q3_K || t == YK_TYPE_Q4_K)) t = YK_TYPE_Q5_K;
        if (moe8) t = YK_TYPE_Q8_0;
        return t;
    }
    if (contains(name, "attn_k.weight")) return moe8 ? YK_TYPE_Q8_0 : t;
    if (contains(name, "ffn_down")) {
        int i = md->n_expert > 1 && layer_moe >= 0 ? layer_moe : st->i_ffn_down;
        int n = md->n_layer;
        st->i_ffn_down++;
        if (m == YK_MIX_Q2_K) t = YK_TYPE_Q3_K;
        else if (m == YK_MIX_Q3_K_M)
            t = i < n / 16 ? YK_TYPE_Q5_K : !md->falcon || more_bits(i, n) ? YK_TYPE_Q4_K : YK_TYPE_Q3_K;
        else if (m == YK_MIX_Q4_K_M) {
            if (md->falcon) t = i < n / 16 ? YK_TYPE_Q6_K : more_bits(i, n) ? YK_TYPE_Q5_K : YK_TYPE_Q4_K;
            else if (more_bits(i, n)) t = YK_TYPE_Q6_K;
        } else if (m == YK_MIX_IQ4_NL && i < n / 8) t = YK_TYPE_Q5_K;
        else if (m == YK_MIX_Q5_K_M && more_bits(i, n)) t = YK_TYPE_Q6_K;
        else if (m == YK_MIX_Q4_K_S && !md->falcon && i < n / 8) t = YK_TYPE_Q5_K;
        return t;
    }
    if (contains(name, "attn_output.weight")) {
        if (!md->falcon) {
            if (moe8) {
                if (m == YK_MIX_Q2_K || m == YK_MIX_Q3_K_S || m == YK_MIX_Q3_K_M || m == YK_MIX_IQ4_NL ||
                    m == YK_MIX_Q4_K_S || m == YK_MIX_Q4_K_M)
                    t = YK_TYPE_Q5_K;
            } else if (m == YK_MIX_Q2_K) t = YK_TYPE_Q3_K;
            else if (m == YK_MIX_Q3_K_M) t = YK_TYPE_Q4_K;
        }
        return t;
    }
    if (contains(name, "attn_qkv.weight")) {
        if (m == YK_MIX_Q3_K_M) t = YK_TYPE_Q4_K;
        else if (m == YK_MIX_Q4_K_M) t = YK_TYPE_Q5_K;
        else if (m == YK_MIX_Q5_K_M) t = YK_TYPE_Q6_K;
        return t;
    }
    if (contains(name, "ffn_gate")) st->i_ffn_gate++;
    else if (contains(name, "ffn_up")) st->i_ffn_up++;
    return t;
}

static bool is_quantized(yk_type t)
{
    const yk_type_layout *l = yk_type_layout_of(t);
    return l && l->block > 1;
}

yk_type yk_mix_tensor_type(yk_mix m, const yk_mix_model *model, yk_mix_state *st, const char *name,
                           const int64_t *ne, uint32_t n_dims, yk_type src, yk_type *wanted)
{
    if (wanted) *wanted = src;
    if ((unsigned)m >= YK_MIX_COUNT || !quantizable(name, n_dims)) return src;
    yk_type t = mixes[m].base;
    if (is_quantized(t)) t = choose(m, model, st, name, ne);
    if (wanted) *wanted = t;
    if (ne[0] % yk_type_layout_of(t)->block == 0) return t;
    switch (t) {
    case YK_TYPE_Q2_K: case YK_TYPE_Q3_K: t = YK_TYPE_IQ4_NL; break;
    case YK_TYPE_Q4_K: t = YK_TYPE_Q5_0; break;
    case YK_TYPE_Q5_K: t = YK_TYPE_Q5_1; break;
    case YK_TYPE_Q6_K: t = YK_TYPE_Q8_0; break;
    default: break;
    }
    return ne[0] % yk_type_layout_of(t)->block == 0 ? t : YK_TYPE_F16;
}
