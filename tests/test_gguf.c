/* test_gguf.c: the GGUF reader on every file under shared/golden/models and shared/golden/vocab.
 *
 * For each file: the header counts, the metadata the golden README states (architecture, layers,
 * widths, vocabulary size, rms eps, rope base), the tensor shapes and the histogram of matrix
 * types, every lookup by name, and each tensor's bytes: a checksum of the mapped bytes compared with
 * one of the bytes read with stdio at data_offset + offset. The tensor layout is also checked
 * against what a GGUF writer produces independently of the reader: tensors packed in order, each
 * padded to the alignment, the last one ending the file. Skips visibly without shared/. */
#include "test.h"

#include <dirent.h>
#include <unistd.h>

typedef struct {
    const char *model, *arch;
    uint32_t n_tensors, n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    float rope_base, rms_eps; /* rope base 0: the key is absent */
    bool tied;
    const char *matrix_types; /* "Q6_K:1 Q2_K:9 ..." count of 2-D tensors per type */
} expect;

/* From the tables of shared/golden/README.md. n_tensors = 2-D + 1-D tensors: per layer 9
 * (2 norms + 7 matrices), plus 3 biases for qwen2, plus token_embd, output_norm and output. */
static const expect models[] = {
    {"stories260K", "llama", 48, 5, 64, 8, 4, 172, 512, 2048, 0, 1e-5f, false, "F32:37"},
    {"stories260K-F16", "llama", 48, 5, 64, 8, 4, 172, 512, 2048, 0, 1e-5f, false, "F16:37"},
    {"llama-2-tiny-random", "llama", 12, 1, 8, 2, 2, 32, 32000, 4096, 0, 1e-5f, false, "F16:9"},
    {"rand-llama-gqa-F32", "llama", 21, 2, 256, 8, 2, 512, 512, 256, 10000, 1e-5f, false, "F32:16"},
    {"rand-llama-gqa-Q2_K", "llama", 21, 2, 256, 8, 2, 512, 512, 256, 10000, 1e-5f, false, "Q6_K:1 Q2_K:9 Q3_K:4 Q4_K:2"},
    {"rand-llama-gqa-Q3_K_M", "llama", 21, 2, 256, 8, 2, 512, 512, 256, 10000, 1e-5f, false, "Q6_K:1 Q3_K:9 Q4_K:4 Q5_K:2"},
    {"rand-llama-gqa-Q4_K_M", "llama", 21, 2, 256, 8, 2, 512, 512, 256, 10000, 1e-5f, false, "Q6_K:3 Q4_K:13"},
    {"rand-llama-gqa-Q5_K_M", "llama", 21, 2, 256, 8, 2, 512, 512, 256, 10000, 1e-5f, false, "Q6_K:3 Q5_K:13"},
    {"rand-llama-gqa-Q6_K", "llama", 21, 2, 256, 8, 2, 512, 512, 256, 10000, 1e-5f, false, "Q6_K:16"},
    {"rand-qwen2-F32", "qwen2", 26, 2, 64, 8, 4, 256, 512, 256, 1e6, 1e-6f, true, "F32:15"},
    {"rand-qwen2-F16", "qwen2", 26, 2, 64, 8, 4, 256, 512, 256, 1e6, 1e-6f, true, "F16:15"},
    {"rand-qwen2-BF16", "qwen2", 26, 2, 64, 8, 4, 256, 512, 256, 1e6, 1e-6f, true, "BF16:15"},
    {"rand-qwen2-Q8_0", "qwen2", 26, 2, 64, 8, 4, 256, 512, 256, 1e6, 1e-6f, true, "Q8_0:15"},
    {"rand-qwen2-Q4_0", "qwen2", 26, 2, 64, 8, 4, 256, 512, 256, 1e6, 1e-6f, true, "Q8_0:1 Q4_0:14"},
    {"rand-qwen2-Q4_1", "qwen2", 26, 2, 64, 8, 4, 256, 512, 256, 1e6, 1e-6f, true, "Q8_0:1 Q4_1:14"},
    {"rand-qwen2-Q5_0", "qwen2", 26, 2, 64, 8, 4, 256, 512, 256, 1e6, 1e-6f, true, "Q8_0:1 Q5_0:14"},
    {"rand-qwen2-Q5_1", "qwen2", 26, 2, 64, 8, 4, 256, 512, 256, 1e6, 1e-6f, true, "Q8_0:1 Q5_1:14"},
};

static uint64_t fnv(const uint8_t *p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Checksum of n bytes of the file at off, read with stdio. */
static uint64_t fnv_file(FILE *f, uint64_t off, uint64_t n, bool *ok)
{
    uint64_t h = 0xcbf29ce484222325ull;
    uint8_t buf[65536];
    *ok = fseeko(f, (off_t)off, SEEK_SET) == 0;
    while (*ok && n) {
        size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
        if (fread(buf, 1, k, f) != k) *ok = false;
        for (size_t i = 0; i < k; i++) h = (h ^ buf[i]) * 0x100000001b3ull;
        n -= k;
    }
    return h;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Checks the parts every GGUF file shares: lookups, string arrays, tensor bytes and layout. */
static void check_common(const char *path, const yk_gguf *g)
{
    CHECK(g->version == 3, "%s: version %u", path, g->version);
    CHECK(g->alignment == 32, "%s: alignment %llu", path, (unsigned long long)g->alignment);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const yk_gguf_kv *kv = &g->kv[i];
        char key[512];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        CHECK(yk_gguf_find_kv(g, key) == kv, "%s: lookup of key %s", path, key);
        CHECK(kv->offset + kv->nbytes <= g->size, "%s: kv %s inside the file", path, key);
        if (kv->type == YK_GGUF_ARRAY && kv->arr_type == YK_GGUF_STRING && kv->arr_n) {
            /* Walk the strings independently of the offsets table. */
            const uint8_t *p = kv->data;
            bool same = true;
            for (uint64_t k = 0; k < kv->arr_n; k++) {
                uint64_t len;
                memcpy(&len, p, 8);
                yk_str s;
                same &= yk_gguf_arr_str(kv, k, &s) && s.len == len && s.ptr == (const char *)p + 8;
                p += 8 + len;
            }
            CHECK(same, "%s: %s: every string element where the array says", path, key);
            CHECK(p == g->map + kv->offset + kv->nbytes, "%s: %s: array ends where nbytes says", path, key);
            yk_str s;
            CHECK(!yk_gguf_arr_str(kv, kv->arr_n, &s), "%s: %s: index past the end refused", path, key);
        }
    }
    CHECK(yk_gguf_find_kv(g, "no.such.key") == NULL, "%s: absent key", path);
    CHECK(yk_gguf_find_tensor(g, "no_such_tensor.weight") == NULL, "%s: absent tensor", path);

    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "%s: fopen", path);
    if (!f) return;
    uint64_t expect_off = 0, total = 0;
    int bad_sum = 0, bad_layout = 0, bad_size = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const yk_gguf_tensor *t = &g->tensors[i];
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        CHECK(yk_gguf_find_tensor(g, name) == t, "%s: lookup of tensor %s", path, name);
        uint64_t rows = (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
        bad_size += t->nbytes != yk_row_bytes(t->type, t->ne[0]) * rows;
        bool ok;
        bad_sum += !(fnv_file(f, g->data_offset + t->offset, t->nbytes, &ok) == fnv(t->data, t->nbytes) && ok);
        bad_layout += t->offset != expect_off;
        expect_off = align_up(t->offset + t->nbytes, g->alignment);
        total += t->nbytes;
    }
    fclose(f);
    CHECK(bad_size == 0, "%s: %d tensors whose nbytes disagrees with the type layout", path, bad_size);
    CHECK(bad_sum == 0, "%s: %d tensors whose mapped bytes differ from the file's", path, bad_sum);
    CHECK(bad_layout == 0, "%s: %d tensors not packed in order", path, bad_layout);
    if (g->n_tensors)
        CHECK(g->data_offset + expect_off == g->size, "%s: data ends at the file end (%llu + %llu vs %llu)", path,
              (unsigned long long)g->data_offset, (unsigned long long)expect_off, (unsigned long long)g->size);
    CHECK(g->data_offset % g->alignment == 0 || g->n_tensors == 0, "%s: data offset aligned", path);
}

static bool key_u32(const yk_gguf *g, const char *arch, const char *suffix, uint32_t *v)
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, suffix);
    return yk_gguf_get_u32(g, k, v);
}

static void check_model(const char *dir, const expect *e)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, e->model);
    yk_gguf g;
    yk_err err = {0};
    yk_status st = yk_gguf_open(&g, path, &err);
    CHECK(st == YK_OK, "%s: %s", path, err.msg);
    if (st) return;
    check_common(path, &g);
    CHECK(g.n_tensors == e->n_tensors, "%s: %llu tensors", path, (unsigned long long)g.n_tensors);

    yk_str arch;
    CHECK(yk_gguf_get_str(&g, "general.architecture", &arch) && yk_str_eq(arch, e->arch), "%s: architecture", path);
    uint32_t v = 0;
    CHECK(key_u32(&g, e->arch, "block_count", &v) && v == e->n_layer, "%s: block_count %u", path, v);
    CHECK(key_u32(&g, e->arch, "embedding_length", &v) && v == e->n_embd, "%s: embedding_length %u", path, v);
    CHECK(key_u32(&g, e->arch, "attention.head_count", &v) && v == e->n_head, "%s: head_count %u", path, v);
    CHECK(key_u32(&g, e->arch, "attention.head_count_kv", &v) && v == e->n_head_kv, "%s: head_count_kv %u", path, v);
    CHECK(key_u32(&g, e->arch, "feed_forward_length", &v) && v == e->n_ff, "%s: feed_forward_length %u", path, v);
    CHECK(key_u32(&g, e->arch, "context_length", &v) && v == e->n_ctx, "%s: context_length %u", path, v);
    char k[128];
    float f = 0;
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", e->arch);
    CHECK(yk_gguf_get_f32(&g, k, &f) && f == e->rms_eps, "%s: rms eps %g", path, f); /* stored as f32: exact */
    snprintf(k, sizeof k, "%s.rope.freq_base", e->arch);
    if (e->rope_base) CHECK(yk_gguf_get_f32(&g, k, &f) && f == e->rope_base, "%s: rope base %g", path, f);
    else CHECK(yk_gguf_find_kv(&g, k) == NULL, "%s: no rope base key", path);
    const yk_gguf_kv *tokens = yk_gguf_find_kv(&g, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->type == YK_GGUF_ARRAY && tokens->arr_n == e->n_vocab, "%s: vocabulary size", path);
    yk_str s;
    CHECK(yk_gguf_arr_str(tokens, 1, &s) && yk_str_eq(s, "<s>"), "%s: token 1 is <s>", path);
    CHECK(yk_gguf_arr_str(tokens, 3, &s) && yk_str_eq(s, "<0x00>"), "%s: token 3 is <0x00>", path);
    const yk_gguf_kv *scores = yk_gguf_find_kv(&g, "tokenizer.ggml.scores");
    double d;
    CHECK(scores && scores->arr_n == e->n_vocab && scores->arr_type == YK_GGUF_F32 &&
          yk_gguf_arr_f64(scores, e->n_vocab - 1, &d) && !yk_gguf_arr_f64(scores, e->n_vocab, &d), "%s: scores", path);
    uint64_t u;
    CHECK(yk_gguf_get_u64(&g, "tokenizer.ggml.bos_token_id", &u) && u == 1, "%s: bos id", path);

    /* Shapes from the README's table. */
    uint32_t kv_dim = e->n_embd / e->n_head * e->n_head_kv;
    const yk_gguf_tensor *t = yk_gguf_find_tensor(&g, "token_embd.weight");
    CHECK(t && t->n_dims == 2 && t->ne[0] == e->n_embd && t->ne[1] == e->n_vocab, "%s: token_embd shape", path);
    t = yk_gguf_find_tensor(&g, "blk.0.attn_k.weight");
    CHECK(t && t->n_dims == 2 && t->ne[0] == e->n_embd && t->ne[1] == kv_dim, "%s: attn_k shape", path);
    t = yk_gguf_find_tensor(&g, "blk.0.ffn_down.weight");
    CHECK(t && t->ne[0] == e->n_ff && t->ne[1] == e->n_embd, "%s: ffn_down shape", path);
    t = yk_gguf_find_tensor(&g, "output_norm.weight");
    CHECK(t && t->n_dims == 1 && t->ne[0] == e->n_embd && t->type == YK_TYPE_F32, "%s: output_norm", path);
    CHECK((yk_gguf_find_tensor(&g, "output.weight") == NULL) == e->tied, "%s: output.weight presence", path);
    if (!strcmp(e->arch, "qwen2")) {
        t = yk_gguf_find_tensor(&g, "blk.1.attn_v.bias");
        CHECK(t && t->n_dims == 1 && t->ne[0] == kv_dim && t->type == YK_TYPE_F32, "%s: attn_v.bias", path);
    }

    /* Histogram of matrix types. */
    uint64_t hist[YK_TYPE_COUNT] = {0};
    int norms_f32 = 1;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        if (g.tensors[i].n_dims == 2) hist[g.tensors[i].type]++;
        else norms_f32 &= g.tensors[i].type == YK_TYPE_F32;
    }
    CHECK(norms_f32, "%s: 1-D tensors are F32", path);
    char got[256] = "";
    const char *p = e->matrix_types;
    int matched = 1, listed = 0;
    while (*p) {
        char name[16];
        int n, used;
        if (sscanf(p, "%15[^:]:%d%n", name, &n, &used) != 2) break;
        int ty = yk_type_from_name(name);
        matched &= ty >= 0 && hist[ty] == (uint64_t)n;
        listed += n;
        p += used;
        while (*p == ' ') p++;
    }
    uint64_t n2 = 0;
    for (int ty = 0; ty < YK_TYPE_COUNT; ty++) {
        n2 += hist[ty];
        if (hist[ty]) snprintf(got + strlen(got), sizeof got - strlen(got), "%s:%llu ", yk_type_name(ty), (unsigned long long)hist[ty]);
    }
    CHECK(matched && n2 == (uint64_t)listed, "%s: matrix types %s, expected %s", path, got, e->matrix_types);
    yk_gguf_close(&g);
}

static void check_vocab(const char *path)
{
    yk_gguf g;
    yk_err err = {0};
    yk_status st = yk_gguf_open(&g, path, &err);
    CHECK(st == YK_OK, "%s: %s", path, err.msg);
    if (st) return;
    check_common(path, &g);
    CHECK(g.n_tensors == 0, "%s: vocab files hold no tensors", path);
    const yk_gguf_kv *tokens = yk_gguf_find_kv(&g, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->arr_type == YK_GGUF_STRING && tokens->arr_n > 1000, "%s: tokens", path);
    yk_str model;
    CHECK(yk_gguf_get_str(&g, "tokenizer.ggml.model", &model) && model.len > 0, "%s: tokenizer model", path);
    const yk_gguf_kv *types = yk_gguf_find_kv(&g, "tokenizer.ggml.token_type");
    if (types && tokens) CHECK(types->arr_n == tokens->arr_n, "%s: token_type length", path);
    if (strstr(path, "llama-bpe")) CHECK(tokens && tokens->arr_n == 128256, "%s: 128256 tokens", path);
    if (strstr(path, "qwen2")) CHECK(tokens && tokens->arr_n == 151936, "%s: 151936 tokens", path);
    yk_gguf_close(&g);
}

/* The same bytes with the version field set to 2 read the same (v2 and v3 share the layout). */
static void check_v2(const char *path)
{
    size_t n;
    uint8_t *buf = tu_read_file(path, &n);
    CHECK(buf != NULL, "%s: read", path);
    if (!buf) return;
    buf[4] = 2;
    yk_gguf g;
    yk_err err = {0};
    yk_status st = yk_gguf_open_buffer(&g, buf, n, "v2 copy", &err);
    CHECK(st == YK_OK && g.version == 2 && g.n_tensors == 48, "v2: %s", err.msg);
    if (!st) yk_gguf_close(&g);
    free(buf);
}

int main(void)
{
    char dir[1024], vdir[1024];
    if (!tu_shared_path(dir, sizeof dir, "golden/models")) tu_skip("test_gguf", "needs ../shared/golden (absent)");
    tu_shared_path(vdir, sizeof vdir, "golden/vocab");

    /* Every model file in the folder is read: the ones in the table against their expected shape,
     * the others (files added to the golden set later) with the checks that hold for any file. A
     * table entry whose file is absent is said, not failed: the golden set is what it is. */
    int n_files = 0, n_known = 0;
    DIR *d = opendir(dir);
    CHECK(d != NULL, "open %s", dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".gguf")) continue;
        bool known = false;
        for (size_t i = 0; i < sizeof models / sizeof *models; i++)
            known |= strlen(models[i].model) == len - 5 && !strncmp(models[i].model, e->d_name, len - 5);
        n_files++;
        if (known) {
            n_known++;
            continue;
        }
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        yk_gguf g;
        yk_err err = {0};
        yk_status st = yk_gguf_open(&g, path, &err);
        CHECK(st == YK_OK, "%s: %s", path, err.msg);
        if (st) continue;
        check_common(path, &g);
        yk_gguf_close(&g);
        printf("  %-28s not in the table: read with the checks common to every file\n", e->d_name);
    }
    if (d) closedir(d);
    CHECK(n_files > 0, "%d model files", n_files);
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s.gguf", dir, models[i].model);
        if (access(path, R_OK)) {
            printf("  %-28s SKIPPED: in the table, absent from %s\n", models[i].model, dir);
            continue;
        }
        check_model(dir, &models[i]);
    }
    printf("  %d model files: %d checked against the table\n", n_files, n_known);

    int n_vocab = 0;
    d = opendir(vdir);
    CHECK(d != NULL, "open %s", vdir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".gguf")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", vdir, e->d_name);
        check_vocab(path);
        n_vocab++;
    }
    if (d) closedir(d);
    CHECK(n_vocab > 0, "%d vocab files", n_vocab);

    char p[2048];
    snprintf(p, sizeof p, "%s/stories260K.gguf", dir);
    check_v2(p);

    yk_gguf g;
    yk_err err = {0};
    CHECK(yk_gguf_open(&g, "/nonexistent/x.gguf", &err) == YK_E_IO && strstr(err.msg, "/nonexistent/x.gguf"),
          "missing file: %s", err.msg);
    yk_gguf_close(&g); /* safe on a closed g */
    return tu_done("test_gguf");
}
