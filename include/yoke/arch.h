/* yoke/arch.h: a model's architecture as plain numbers, read from GGUF metadata or from a preset.
 *
 * There is no model table: everything comes from the "<arch>.*" keys of the file. Presets are
 * the shapes of well-known models, used by `yoke mkmodel --preset` and `yoke plan --model`. */
#ifndef YOKE_ARCH_H
#define YOKE_ARCH_H

#include "yoke/base.h"


typedef enum {
    YK_ROPE_NORM = 0,  /* rotate adjacent pairs (2j, 2j+1): llama, mistral */
    YK_ROPE_NEOX = 1,  /* rotate pairs (j, j + dim/2): qwen2 */
} yk_rope_mode;

typedef struct {
    char arch[32];          /* general.architecture: "llama", "qwen2" */
    uint32_t n_layer;
    uint32_t n_embd;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim;      /* n_embd / n_head unless the file says otherwise */
    uint32_t n_ff;          /* FFN width (per expert for mixture-of-experts) */
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    uint32_t n_expert;      /* 0 for dense models */
    uint32_t n_expert_used;
    float rms_eps;
    float rope_base;
    uint32_t rope_dim;      /* dimensions rotated per head */
    yk_rope_mode rope_mode;
    /* Llama 3.1 style frequency scaling (rope_scale_factor 0 = none) */
    float rope_scale_factor;
    float rope_low_freq_factor;
    float rope_high_freq_factor;
    uint32_t rope_orig_ctx;
    float rope_freq_scale;  /* linear rope scaling: positions are multiplied by it (0 or 1: none) */
    bool qkv_bias;          /* qwen2 */
    bool tied_output;       /* no output.weight: logits use token_embd */
} yk_hparams;

typedef struct {
    const char *name;       /* "llama3-8b" */
    const char *desc;       /* "Llama 3 8B" */
    yk_hparams hp;
} yk_preset;

/* Preset by name (case-insensitive), or NULL. yk_presets lists them all, NULL-terminated by name. */
const yk_preset *yk_preset_find(const char *name);
extern const yk_preset yk_presets[];

/* Llama 3.1 rope frequency factors (the values of a GGUF "rope_freqs.weight" tensor): out[i] for
 * i in [0, rope_dim/2) divides the frequency of pair i. All 1 when rope_scale_factor is 0. */
void yk_llama3_rope_factors(const yk_hparams *hp, float *out);

/* Parameter count of the dense weights (embeddings, attention, FFN, norms, output). */
uint64_t yk_hparams_n_params(const yk_hparams *hp);

#endif
