/* test_model.c: loading a model checks every tensor and hyper-parameter the forward pass needs,
 * and bad files give clear errors naming the file, the tensor or the key (never a crash). Each
 * bad file is a golden model rewritten through the GGUF writer with one thing changed. */
#include "test.h"
#include "yoke/model.h"

/* Copies src to dst, dropping tensor `drop`, giving tensor `reshape` ne[1] + 1 rows, and setting
 * key `key` to the string `val` (when given). */
static bool rewrite(const char *src, const char *dst, const char *drop, const char *reshape, const char *key, const char *val)
{
    yk_gguf g;
    yk_err err = {0};
    if (yk_gguf_open(&g, src, &err)) return false;
    yk_gguf_writer *w;
    bool ok = yk_gguf_writer_open(&w, dst, &err) == YK_OK;
    for (uint64_t i = 0; ok && i < g.n_kv; i++) {
        if (key && yk_str_eq(g.kv[i].key, key)) ok = yk_gguf_writer_add_str(w, key, val, &err) == YK_OK;
        else ok = yk_gguf_writer_copy_kv(w, &g, &g.kv[i], &err) == YK_OK;
    }
    for (uint64_t i = 0; ok && i < g.n_tensors; i++) {
        const yk_gguf_tensor *t = &g.tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (drop && !strcmp(name, drop)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        if (reshape && !strcmp(name, reshape)) ne[1] += 1;
        ok = yk_gguf_writer_add_tensor(w, name, t->type, t->n_dims, ne, &err) == YK_OK;
    }
    ok = ok && yk_gguf_writer_begin_data(w, &err) == YK_OK;
    for (uint64_t i = 0; ok && i < g.n_tensors; i++) {
        const yk_gguf_tensor *t = &g.tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (drop && !strcmp(name, drop)) continue;
        ok = yk_gguf_writer_write(w, t->data, t->nbytes, &err) == YK_OK;
        if (ok && reshape && !strcmp(name, reshape)) {
            /* one more row of zeros */
            size_t row = t->nbytes / (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);
            void *z = calloc(1, row);
            ok = z && yk_gguf_writer_write(w, z, row, &err) == YK_OK;
            free(z);
        }
    }
    ok = yk_gguf_writer_close(w, &err) == YK_OK && ok;
    if (!ok) printf("  rewrite: %s\n", err.msg);
    yk_gguf_close(&g);
    return ok;
}

int main(void)
{
    if (!tu_shared_dir()) tu_skip("test_model", "../shared/golden is absent: no model to corrupt");
    char src[512], dst[256];
    tu_shared_path(src, sizeof src, "golden/models/rand-qwen2-F32.gguf");
    tu_tmp_path(dst, sizeof dst, ".gguf");

    /* the golden file loads, with the hyper-parameters of the golden README */
    yk_model m;
    yk_err err = {0};
    CHECK(yk_model_load(&m, src, &err) == YK_OK, "%s", err.msg);
    CHECK(m.hp.n_layer == 2 && m.hp.n_embd == 64 && m.hp.n_head == 8 && m.hp.n_head_kv == 4 && m.hp.head_dim == 8 &&
              m.hp.n_ff == 256 && m.hp.n_vocab == 512 && m.hp.rope_mode == YK_ROPE_NEOX && m.hp.qkv_bias && m.hp.tied_output &&
              m.hp.rope_base == 1e6f && fabsf(m.hp.rms_eps - 1e-6f) < 1e-12f,
          "qwen2 hyper-parameters");
    CHECK(m.output.data == m.tok_embd.data, "tied output uses token_embd");
    yk_model_free(&m);

    static const struct { const char *drop, *reshape, *key, *val, *says; } bad[] = {
        {"blk.1.attn_k.weight", NULL, NULL, NULL, "tensor blk.1.attn_k.weight is missing"},
        {"blk.0.attn_q.bias", NULL, NULL, NULL, "tensor blk.0.attn_q.bias is missing"},
        {"output_norm.weight", NULL, NULL, NULL, "output_norm.weight is missing"},
        {NULL, "blk.0.ffn_down.weight", NULL, NULL, "blk.0.ffn_down.weight has shape [256, 65"},
        {NULL, "blk.1.attn_v.weight", NULL, NULL, "blk.1.attn_v.weight has shape"},
        {NULL, NULL, "general.architecture", "gpt-j", "'gpt-j' is not supported"},
        {"token_embd.weight", NULL, NULL, NULL, "token_embd.weight is missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(rewrite(src, dst, bad[i].drop, bad[i].reshape, bad[i].key, bad[i].val), "rewrite %zu", i);
        err.msg[0] = 0;
        yk_status st = yk_model_load(&m, dst, &err);
        CHECK(st != YK_OK && strstr(err.msg, bad[i].says) && strstr(err.msg, dst), "case %zu: status %d, message '%s'", i, st, err.msg);
        if (st == YK_OK) yk_model_free(&m);
    }
    remove(dst);
    CHECK(yk_model_load(&m, "/nonexistent/model.gguf", &err) != YK_OK && strstr(err.msg, "/nonexistent/model.gguf"), "missing file: %s", err.msg);
    return tu_done("test_model");
}
