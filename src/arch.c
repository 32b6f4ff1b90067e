/* arch.c: the preset shapes of well-known models, and parameter counting.
 * Shapes are the published configurations of each model (config.json of the released weights). */
#include "yoke/arch.h"

#include <math.h>
#include <strings.h>

#define LLAMA3_ROPE .rope_scale_factor = 32.0f, .rope_low_freq_factor = 1.0f, \
                    .rope_high_freq_factor = 4.0f, .rope_orig_ctx = 8192

const yk_preset yk_presets[] = {
    {"llama3.2-1b", "Llama 3.2 1B", {.arch = "llama", .n_layer = 16, .n_embd = 2048, .n_head = 32, .n_head_kv = 8,
        .head_dim = 64, .n_ff = 8192, .n_vocab = 128256, .n_ctx_train = 131072, .rms_eps = 1e-5f,
        .rope_base = 500000.0f, .rope_dim = 64, .rope_mode = YK_ROPE_NORM, LLAMA3_ROPE, .tied_output = true}},
    {"llama3-8b", "Llama 3 8B", {.arch = "llama", .n_layer = 32, .n_embd = 4096, .n_head = 32, .n_head_kv = 8,
        .head_dim = 128, .n_ff = 14336, .n_vocab = 128256, .n_ctx_train = 8192, .rms_eps = 1e-5f,
        .rope_base = 500000.0f, .rope_dim = 128, .rope_mode = YK_ROPE_NORM}},
    {"llama3-70b", "Llama 3 70B", {.arch = "llama", .n_layer = 80, .n_embd = 8192, .n_head = 64, .n_head_kv = 8,
        .head_dim = 128, .n_ff = 28672, .n_vocab = 128256, .n_ctx_train = 8192, .rms_eps = 1e-5f,
        .rope_base = 500000.0f, .rope_dim = 128, .rope_mode = YK_ROPE_NORM}},
    {"llama2-7b", "Llama 2 7B", {.arch = "llama", .n_layer = 32, .n_embd = 4096, .n_head = 32, .n_head_kv = 32,
        .head_dim = 128, .n_ff = 11008, .n_vocab = 32000, .n_ctx_train = 4096, .rms_eps = 1e-5f,
        .rope_base = 10000.0f, .rope_dim = 128, .rope_mode = YK_ROPE_NORM}},
    {"llama2-13b", "Llama 2 13B", {.arch = "llama", .n_layer = 40, .n_embd = 5120, .n_head = 40, .n_head_kv = 40,
        .head_dim = 128, .n_ff = 13824, .n_vocab = 32000, .n_ctx_train = 4096, .rms_eps = 1e-5f,
        .rope_base = 10000.0f, .rope_dim = 128, .rope_mode = YK_ROPE_NORM}},
    {"llama2-70b", "Llama 2 70B", {.arch = "llama", .n_layer = 80, .n_embd = 8192, .n_head = 64, .n_head_kv = 8,
        .head_dim = 128, .n_ff = 28672, .n_vocab = 32000, .n_ctx_train = 4096, .rms_eps = 1e-5f,
        .rope_base = 10000.0f, .rope_dim = 128, .rope_mode = YK_ROPE_NORM}},
    {"mistral-7b", "Mistral 7B v0.2", {.arch = "llama", .n_layer = 32, .n_embd = 4096, .n_head = 32, .n_head_kv = 8,
        .head_dim = 128, .n_ff = 14336, .n_vocab = 32000, .n_ctx_train = 32768, .rms_eps = 1e-5f,
        .rope_base = 1000000.0f, .rope_dim = 128, .rope_mode = YK_ROPE_NORM}},
    {"qwen2.5-7b", "Qwen2.5 7B", {.arch = "qwen2", .n_layer = 28, .n_embd = 3584, .n_head = 28, .n_head_kv = 4,
        .head_dim = 128, .n_ff = 18944, .n_vocab = 152064, .n_ctx_train = 32768, .rms_eps = 1e-6f,
        .rope_base = 1000000.0f, .rope_dim = 128, .rope_mode = YK_ROPE_NEOX, .qkv_bias = true}},
    {"qwen2.5-72b", "Qwen2.5 72B", {.arch = "qwen2", .n_layer = 80, .n_embd = 8192, .n_head = 64, .n_head_kv = 8,
        .head_dim = 128, .n_ff = 29568, .n_vocab = 152064, .n_ctx_train = 32768, .rms_eps = 1e-6f,
        .rope_base = 1000000.0f, .rope_dim = 128, .rope_mode = YK_ROPE_NEOX, .qkv_bias = true}},
    {"mixtral-8x7b", "Mixtral 8x7B", {.arch = "llama", .n_layer = 32, .n_embd = 4096, .n_head = 32, .n_head_kv = 8,
        .head_dim = 128, .n_ff = 14336, .n_vocab = 32000, .n_ctx_train = 32768, .n_expert = 8, .n_expert_used = 2,
        .rms_eps = 1e-5f, .rope_base = 1000000.0f, .rope_dim = 128, .rope_mode = YK_ROPE_NORM}},
    {0},
};

const yk_preset *yk_preset_find(const char *name)
{
    for (const yk_preset *p = yk_presets; p->name; p++)
        if (strcasecmp(p->name, name) == 0) return p;
    return NULL;
}

uint64_t yk_hparams_n_params(const yk_hparams *hp)
{
    uint64_t d = hp->n_embd, q = (uint64_t)hp->n_head * hp->head_dim, kv = (uint64_t)hp->n_head_kv * hp->head_dim;
    uint64_t experts = hp->n_expert ? hp->n_expert : 1;
    uint64_t attn = d * q + 2 * d * kv + q * d + (hp->qkv_bias ? q + 2 * kv : 0);
    uint64_t ffn = experts * 3 * d * hp->n_ff + (hp->n_expert ? d * hp->n_expert : 0);
    uint64_t layer = attn + ffn + 2 * d;
    uint64_t embd = (uint64_t)hp->n_vocab * d;
    return embd + (hp->tied_output ? 0 : embd) + d + hp->n_layer * layer;
}

void yk_llama3_rope_factors(const yk_hparams *hp, float *out)
{
    /* Wavelengths shorter than orig_ctx/high_freq_factor keep their frequency, longer than
     * orig_ctx/low_freq_factor are divided by the scale factor, and those between are blended. */
    uint32_t half = hp->rope_dim / 2;
    for (uint32_t i = 0; i < half; i++) {
        if (hp->rope_scale_factor == 0) {
            out[i] = 1.0f;
            continue;
        }
        double freq = pow(hp->rope_base, -2.0 * i / hp->rope_dim);
        double wavelen = 2 * M_PI / freq;
        double lo_wavelen = hp->rope_orig_ctx / hp->rope_low_freq_factor;
        double hi_wavelen = hp->rope_orig_ctx / hp->rope_high_freq_factor;
        if (wavelen < hi_wavelen) {
            out[i] = 1.0f;
        } else if (wavelen > lo_wavelen) {
            out[i] = hp->rope_scale_factor;
        } else {
            double smooth = (hp->rope_orig_ctx / wavelen - hp->rope_low_freq_factor) /
                            (hp->rope_high_freq_factor - hp->rope_low_freq_factor);
            out[i] = (float)(1.0 / ((1 - smooth) / hp->rope_scale_factor + smooth));
        }
    }
}
