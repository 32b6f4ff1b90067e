/* model.c: loads a model's description and weight views from a GGUF file.
 *
 * The architecture is read from metadata, never from a table of known models: general.architecture
 * names the key prefix, and the "<arch>.*" keys give the shape. Supported architectures: llama
 * (also Mistral files, which use it) and qwen2. Every tensor the forward pass needs is looked up,
 * and its type and shape are checked, so the engine can trust the views. */
#include "yoke/model.h"
#include "yoke/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool get_u32_key(const yk_gguf *g, const char *arch, const char *suffix, uint32_t *out)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return yk_gguf_get_u32(g, key, out);
}

static bool get_f32_key(const yk_gguf *g, const char *arch, const char *suffix, float *out)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return yk_gguf_get_f32(g, key, out);
}

yk_status yk_hparams_from_gguf(yk_hparams *hp, const yk_gguf *g, yk_err *err)
{
    memset(hp, 0, sizeof *hp);
    yk_str s;
    if (!yk_gguf_get_str(g, "general.architecture", &s))
        return yk_err_set(err, YK_E_FORMAT, "%s: metadata key general.architecture is missing", g->path);
    if (s.len >= sizeof hp->arch)
        return yk_err_set(err, YK_E_UNSUPPORTED, "%s: general.architecture is too long", g->path);
    memcpy(hp->arch, s.ptr, s.len);
    hp->arch[s.len] = 0;
    const char *a = hp->arch;
    bool llama = !strcmp(a, "llama"), qwen2 = !strcmp(a, "qwen2");
    if (!llama && !qwen2)
        return yk_err_set(err, YK_E_UNSUPPORTED, "%s: general.architecture '%s' is not supported (supported: llama, qwen2)", g->path, a);

    struct { const char *key; uint32_t *dst; bool required; } u32s[] = {
        {"block_count", &hp->n_layer, true},
        {"embedding_length", &hp->n_embd, true},
        {"feed_forward_length", &hp->n_ff, true},
        {"attention.head_count", &hp->n_head, true},
        {"attention.head_count_kv", &hp->n_head_kv, false},
        {"context_length", &hp->n_ctx_train, true},
        {"attention.key_length", &hp->head_dim, false},
        {"rope.dimension_count", &hp->rope_dim, false},
        {"expert_count", &hp->n_expert, false},
        {"expert_used_count", &hp->n_expert_used, false},
    };
    for (size_t i = 0; i < sizeof u32s / sizeof *u32s; i++) {
        if (!get_u32_key(g, a, u32s[i].key, u32s[i].dst) && u32s[i].required)
            return yk_err_set(err, YK_E_FORMAT, "%s: metadata key %s.%s is missing or not an unsigned integer", g->path, a, u32s[i].key);
    }
    if (!hp->n_head_kv) hp->n_head_kv = hp->n_head;
    if (!hp->n_layer || !hp->n_embd || !hp->n_head || !hp->n_ff || hp->n_layer > 100000 || hp->n_embd > (1u << 20) ||
        hp->n_ff > (1u << 22) || hp->n_head > 16384)
        return yk_err_set(err, YK_E_FORMAT, "%s: absurd shape in %s.* keys (layers %u, embd %u, heads %u, ff %u)", g->path, a,
                          hp->n_layer, hp->n_embd, hp->n_head, hp->n_ff);
    if (hp->n_head % hp->n_head_kv)
        return yk_err_set(err, YK_E_FORMAT, "%s: %s.attention.head_count %u is not a multiple of head_count_kv %u", g->path, a,
                          hp->n_head, hp->n_head_kv);
    if (!hp->head_dim) {
        if (hp->n_embd % hp->n_head)
            return yk_err_set(err, YK_E_FORMAT, "%s: %s.embedding_length %u is not a multiple of head_count %u", g->path, a, hp->n_embd, hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    if (!hp->rope_dim) hp->rope_dim = hp->head_dim;
    if (hp->rope_dim > hp->head_dim || hp->rope_dim % 2 || hp->head_dim % 2 || hp->head_dim > 1024)
        return yk_err_set(err, YK_E_FORMAT, "%s: %s.rope.dimension_count %u does not fit head dimension %u", g->path, a, hp->rope_dim, hp->head_dim);
    if (hp->n_expert > 1)
        return yk_err_set(err, YK_E_UNSUPPORTED, "%s: mixture-of-experts models (%s.expert_count = %u) are not supported yet", g->path, a, hp->n_expert);
    if (!get_f32_key(g, a, "attention.layer_norm_rms_epsilon", &hp->rms_eps))
        return yk_err_set(err, YK_E_FORMAT, "%s: metadata key %s.attention.layer_norm_rms_epsilon is missing or not a float", g->path, a);
    if (!(hp->rms_eps > 0 && hp->rms_eps < 1))
        return yk_err_set(err, YK_E_FORMAT, "%s: %s.attention.layer_norm_rms_epsilon %g is out of range", g->path, a, hp->rms_eps);
    if (!get_f32_key(g, a, "rope.freq_base", &hp->rope_base)) hp->rope_base = 10000.0f;
    if (!(hp->rope_base > 1 && isfinite(hp->rope_base)))
        return yk_err_set(err, YK_E_FORMAT, "%s: %s.rope.freq_base %g is out of range", g->path, a, hp->rope_base);
    /* rope scaling: "linear" divides positions by the factor; llama3-style scaling comes as the
     * rope_freqs tensor; other kinds (yarn, longrope) are not implemented */
    hp->rope_freq_scale = 1.0f;
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    yk_str stype;
    if (yk_gguf_get_str(g, key, &stype) && !yk_str_eq(stype, "none")) {
        float factor = 0;
        if (!yk_str_eq(stype, "linear"))
            return yk_err_set(err, YK_E_UNSUPPORTED, "%s: %s '%.*s' is not supported (supported: none, linear)", g->path, key,
                              (int)(stype.len > 32 ? 32 : stype.len), stype.ptr);
        if (get_f32_key(g, a, "rope.scaling.factor", &factor)) {
            if (!(factor >= 1 && factor <= 1024))
                return yk_err_set(err, YK_E_FORMAT, "%s: %s.rope.scaling.factor %g is out of range", g->path, a, factor);
            hp->rope_freq_scale = 1.0f / factor;
        }
    }
    hp->rope_mode = qwen2 ? YK_ROPE_NEOX : YK_ROPE_NORM;
    hp->qkv_bias = qwen2;

    const yk_gguf_tensor *emb = yk_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return yk_err_set(err, YK_E_FORMAT, "%s: tensor token_embd.weight is missing", g->path);
    if (emb->ne[1] <= 0 || emb->ne[1] > (1 << 24))
        return yk_err_set(err, YK_E_FORMAT, "%s: token_embd.weight has an absurd vocabulary size %lld", g->path, (long long)emb->ne[1]);
    hp->n_vocab = (uint32_t)emb->ne[1];
    hp->tied_output = yk_gguf_find_tensor(g, "output.weight") == NULL;
    return YK_OK;
}

/* Finds name, checks its type is computable and its shape is [ne0, ne1]; optional tensors may be
 * absent (data stays NULL). */
static yk_status find_tensor(yk_model *m, yk_tensor *t, char **names, const char *name, int64_t ne0, int64_t ne1,
                             bool optional, yk_err *err)
{
    const yk_gguf *g = &m->gguf;
    const yk_gguf_tensor *gt = yk_gguf_find_tensor(g, name);
    size_t len = strlen(name);
    memcpy(*names, name, len + 1);
    t->name = *names;
    *names += len + 1;
    if (!gt) {
        if (optional) return YK_OK;
        return yk_err_set(err, YK_E_FORMAT, "%s: tensor %s is missing", g->path, name);
    }
    int64_t have1 = gt->n_dims >= 2 ? gt->ne[1] : 1;
    if (gt->ne[0] != ne0 || have1 != ne1 || gt->ne[2] != 1 || gt->ne[3] != 1)
        return yk_err_set(err, YK_E_FORMAT, "%s: tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", g->path, name,
                          (long long)gt->ne[0], (long long)gt->ne[1], (long long)gt->ne[2], (long long)gt->ne[3],
                          (long long)ne0, (long long)ne1);
    if (!yk_type_supported(gt->type))
        return yk_err_set(err, YK_E_UNSUPPORTED, "%s: tensor %s has type %s, which yoke cannot compute with", g->path, name,
                          yk_type_name(gt->type));
    if (ne1 == 1 && gt->type != YK_TYPE_F32)
        return yk_err_set(err, YK_E_UNSUPPORTED, "%s: vector %s has type %s; yoke expects F32 norms and biases", g->path, name,
                          yk_type_name(gt->type));
    t->type = gt->type;
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->row_bytes = yk_row_bytes(gt->type, ne0);
    t->data = gt->data;
    return YK_OK;
}

yk_status yk_model_load(yk_model *m, const char *path, yk_err *err)
{
    memset(m, 0, sizeof *m);
    yk_status st = yk_gguf_open(&m->gguf, path, err);
    if (st) return st;
    yk_hparams *hp = &m->hp;
    if ((st = yk_hparams_from_gguf(hp, &m->gguf, err))) goto fail;

    m->layers = calloc(hp->n_layer, sizeof *m->layers);
    m->names = malloc((size_t)(hp->n_layer + 1) * 13 * 40);
    if (!m->layers || !m->names) {
        st = yk_err_set(err, YK_E_NOMEM, "%s: out of memory for %u layers", path, hp->n_layer);
        goto fail;
    }
    char *names = m->names;
    int64_t d = hp->n_embd, nq = (int64_t)hp->n_head * hp->head_dim, nkv = (int64_t)hp->n_head_kv * hp->head_dim;
#define FIND(t, name, a, b, opt) if ((st = find_tensor(m, t, &names, name, a, b, opt, err))) goto fail
    FIND(&m->tok_embd, "token_embd.weight", d, hp->n_vocab, false);
    FIND(&m->output_norm, "output_norm.weight", d, 1, false);
    FIND(&m->output, "output.weight", d, hp->n_vocab, true);
    if (!m->output.data) m->output = m->tok_embd;
    FIND(&m->rope_freqs, "rope_freqs.weight", hp->rope_dim / 2, 1, true);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        yk_layer_weights *w = &m->layers[l];
        char n[64];
#define LAYER(t, suffix, a, b, opt) snprintf(n, sizeof n, "blk.%u.%s", l, suffix); FIND(t, n, a, b, opt)
        LAYER(&w->attn_norm, "attn_norm.weight", d, 1, false);
        LAYER(&w->wq, "attn_q.weight", d, nq, false);
        LAYER(&w->wk, "attn_k.weight", d, nkv, false);
        LAYER(&w->wv, "attn_v.weight", d, nkv, false);
        LAYER(&w->bq, "attn_q.bias", nq, 1, !hp->qkv_bias);
        LAYER(&w->bk, "attn_k.bias", nkv, 1, !hp->qkv_bias);
        LAYER(&w->bv, "attn_v.bias", nkv, 1, !hp->qkv_bias);
        LAYER(&w->wo, "attn_output.weight", nq, d, false);
        LAYER(&w->ffn_norm, "ffn_norm.weight", d, 1, false);
        LAYER(&w->w_gate, "ffn_gate.weight", d, hp->n_ff, false);
        LAYER(&w->w_up, "ffn_up.weight", d, hp->n_ff, false);
        LAYER(&w->w_down, "ffn_down.weight", hp->n_ff, d, false);
#undef LAYER
    }
#undef FIND
    return YK_OK;
fail:
    yk_model_free(m);
    return st;
}

void yk_model_free(yk_model *m)
{
    free(m->layers);
    free(m->names);
    yk_gguf_close(&m->gguf);
    memset(m, 0, sizeof *m);
}

static uint64_t tensor_bytes(const yk_tensor *t) { return t->data ? (uint64_t)t->row_bytes * (uint64_t)t->ne1 : 0; }

uint64_t yk_model_weight_bytes(const yk_model *m)
{
    uint64_t n = m->tok_embd.row_bytes + tensor_bytes(&m->output_norm) + tensor_bytes(&m->output);
    for (uint32_t l = 0; l < m->hp.n_layer; l++) {
        const yk_layer_weights *w = &m->layers[l];
        const yk_tensor *all[] = {&w->attn_norm, &w->wq, &w->wk, &w->wv, &w->bq, &w->bk, &w->bv, &w->wo,
                                  &w->ffn_norm, &w->w_gate, &w->w_up, &w->w_down};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) n += tensor_bytes(all[i]);
    }
    return n;
}

uint64_t yk_model_slice_bytes(const yk_model *m, uint32_t layer0, uint32_t layer1, uint32_t head0, uint32_t head1,
                              uint32_t kv0, uint32_t kv1, uint32_t ff0, uint32_t ff1, uint32_t vocab0, uint32_t vocab1)
{
    const yk_hparams *hp = &m->hp;
    uint64_t hd = hp->head_dim, d = hp->n_embd, nq = (uint64_t)(head1 - head0) * hd, nkv = (uint64_t)(kv1 - kv0) * hd;
    uint64_t n = 0;
    for (uint32_t l = layer0; l < layer1; l++) {
        const yk_layer_weights *w = &m->layers[l];
        n += 2 * d * sizeof(float);                                      /* norms */
        n += nq * w->wq.row_bytes + nkv * (w->wk.row_bytes + w->wv.row_bytes);
        if (w->bq.data) n += (nq + 2 * nkv) * sizeof(float);
        n += d * yk_row_bytes(w->wo.type, (int64_t)nq);                  /* attn_output columns */
        n += (uint64_t)(ff1 - ff0) * (w->w_gate.row_bytes + w->w_up.row_bytes);
        n += d * yk_row_bytes(w->w_down.type, (int64_t)(ff1 - ff0));     /* ffn_down columns */
    }
    if (vocab1 > vocab0) n += d * sizeof(float) + (uint64_t)(vocab1 - vocab0) * m->output.row_bytes;
    return n;
}
