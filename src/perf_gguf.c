/* perf_gguf.c: the performance model's description of a GGUF file (yoke/perf.h), from its header
 * only: the tensor table gives every tensor's exact bytes, type and shape; the "<arch>.*" keys give
 * the shape. Tensor data is never read (the reader maps the file; a 40 GB file opens at once).
 *
 * Hyper-parameters come from yk_hparams_from_gguf (yoke/model.h); for architectures yoke cannot run
 * yet (mixture of experts, others with llama-style tensor names) a lenient read of the same keys
 * lets the planner still plan them. Roles follow the GGUF tensor names: blk.N.attn_q/k/v/output,
 * ffn_gate/up/down(_exps), ffn_gate_inp, norms and biases; token_embd, output, output_norm. */
#include "yoke/perf.h"
#include "yoke/model.h"

#include <stdlib.h>
#include <string.h>

static bool get_arch_u32(const yk_gguf *g, const char *arch, const char *key, uint32_t *out)
{
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return yk_gguf_get_u32(g, k, out);
}

/* The shape keys without yoke's support checks; still refuses what would make the model absurd. */
static yk_status lenient_hparams(yk_hparams *hp, const yk_gguf *g, yk_err *err)
{
    memset(hp, 0, sizeof *hp);
    yk_str s;
    if (!yk_gguf_get_str(g, "general.architecture", &s) || !s.len || s.len >= sizeof hp->arch)
        return yk_err_set(err, YK_E_FORMAT, "%s: metadata key general.architecture is missing or too long", g->path);
    memcpy(hp->arch, s.ptr, s.len);
    const char *a = hp->arch;
    if (!get_arch_u32(g, a, "block_count", &hp->n_layer) || !get_arch_u32(g, a, "embedding_length", &hp->n_embd) ||
        !get_arch_u32(g, a, "feed_forward_length", &hp->n_ff) || !get_arch_u32(g, a, "attention.head_count", &hp->n_head))
        return yk_err_set(err, YK_E_FORMAT, "%s: %s.block_count, embedding_length, feed_forward_length or attention.head_count "
                          "is missing", g->path, a);
    if (!get_arch_u32(g, a, "attention.head_count_kv", &hp->n_head_kv)) hp->n_head_kv = hp->n_head;
    get_arch_u32(g, a, "context_length", &hp->n_ctx_train);
    get_arch_u32(g, a, "expert_count", &hp->n_expert);
    get_arch_u32(g, a, "expert_used_count", &hp->n_expert_used);
    if (!get_arch_u32(g, a, "attention.key_length", &hp->head_dim) && hp->n_head) hp->head_dim = hp->n_embd / hp->n_head;
    if (!hp->n_layer || !hp->n_embd || !hp->n_ff || !hp->n_head || !hp->n_head_kv || !hp->head_dim || hp->n_head % hp->n_head_kv ||
        hp->n_layer > 100000 || hp->n_head > 16384 || hp->n_expert > 4096 || hp->n_expert_used > hp->n_expert)
        return yk_err_set(err, YK_E_FORMAT, "%s: absurd shape in %s.* keys (layers %u, embd %u, heads %u/%u, ff %u, experts %u/%u)",
                          g->path, a, hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_ff, hp->n_expert_used, hp->n_expert);
    hp->rope_dim = hp->head_dim;
    const yk_gguf_tensor *emb = yk_gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->ne[1] <= 0 || emb->ne[1] > (1 << 24))
        return yk_err_set(err, YK_E_FORMAT, "%s: tensor token_embd.weight is missing or has an absurd vocabulary", g->path);
    hp->n_vocab = (uint32_t)emb->ne[1];
    hp->tied_output = yk_gguf_find_tensor(g, "output.weight") == NULL;
    return YK_OK;
}

/* Does s (length n) end with suffix? */
static bool ends(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

static bool starts(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && !memcmp(s, prefix, k);
}

static yk_perf_role role_of(const char *name, size_t n, int32_t *layer)
{
    *layer = -1;
    if (starts(name, n, "blk.")) {
        int64_t l = 0;
        size_t i = 4;
        while (i < n && name[i] >= '0' && name[i] <= '9' && l < (1 << 30)) l = l * 10 + (name[i++] - '0');
        if (i == 4 || i >= n || name[i] != '.') return YK_ROLE_NORM;
        *layer = (int32_t)l;
        const char *rest = name + i + 1;
        size_t rn = n - i - 1;
        if (starts(rest, rn, "attn_q.weight")) return YK_ROLE_ATTN_Q;
        if (starts(rest, rn, "attn_k.weight")) return YK_ROLE_ATTN_K;
        if (starts(rest, rn, "attn_v.weight")) return YK_ROLE_ATTN_V;
        if (starts(rest, rn, "attn_output.weight")) return YK_ROLE_ATTN_O;
        if (starts(rest, rn, "ffn_gate_inp")) return YK_ROLE_ROUTER;
        if (ends(rest, rn, "_exps.weight")) return YK_ROLE_EXPERT;
        if ((starts(rest, rn, "ffn_gate") || starts(rest, rn, "ffn_up") || starts(rest, rn, "ffn_down")) && ends(rest, rn, ".weight"))
            return YK_ROLE_FFN;
        return YK_ROLE_NORM; /* norms, biases and other small per-layer tensors: replicated */
    }
    if (n == strlen("token_embd.weight") && starts(name, n, "token_embd.weight")) return YK_ROLE_TOKEN_EMBD;
    if (n == strlen("output.weight") && starts(name, n, "output.weight")) return YK_ROLE_OUTPUT;
    if (starts(name, n, "output_norm")) return YK_ROLE_OUTPUT_NORM;
    return YK_ROLE_NORM; /* rope_freqs and others: every device */
}

yk_status yk_perf_model_gguf(yk_perf_model *m, const char *path, yk_err *err)
{
    memset(m, 0, sizeof *m);
    yk_gguf g;
    yk_status st = yk_gguf_open(&g, path, err);
    if (st != YK_OK) return st;
    yk_err e1;
    st = yk_hparams_from_gguf(&m->hp, &g, &e1);
    if (st == YK_E_UNSUPPORTED) st = lenient_hparams(&m->hp, &g, err);
    else if (st != YK_OK) *err = e1;
    if (st == YK_OK) {
        m->tensors = calloc(g.n_tensors ? g.n_tensors : 1, sizeof *m->tensors);
        if (!m->tensors) st = yk_err_set(err, YK_E_NOMEM, "%s: out of memory", path);
    }
    for (uint64_t i = 0; st == YK_OK && i < g.n_tensors; i++) {
        const yk_gguf_tensor *gt = &g.tensors[i];
        yk_perf_tensor *t = &m->tensors[m->n_tensors++];
        t->role = role_of(gt->name.ptr, gt->name.len, &t->layer);
        if (t->layer >= (int32_t)m->hp.n_layer)
            st = yk_err_set(err, YK_E_FORMAT, "%s: tensor %.*s names layer %d of %u", path, (int)gt->name.len, gt->name.ptr,
                            t->layer, m->hp.n_layer);
        t->type = gt->type;
        t->bytes = gt->nbytes;
        t->n_params = 1;
        for (uint32_t d = 0; d < gt->n_dims; d++) t->n_params *= (uint64_t)gt->ne[d];
        m->weight_bytes += t->bytes;
        m->n_params += t->n_params;
    }
    if (st == YK_OK) {
        m->file_bytes = g.size;
        snprintf(m->name, sizeof m->name, "%s", path);
        snprintf(m->type_name, sizeof m->type_name, "file");
    }
    yk_gguf_close(&g);
    if (st != YK_OK) yk_perf_model_free(m);
    return st;
}
