/* test_mkmodel.c: random-weight models (yk_mkmodel_write, `yoke mkmodel`) and the built-in SPM
 * vocabulary.
 *
 * Small llama and qwen2 models of every writable type are written and read back: every tensor's
 * name, shape and type, the metadata, the vocabulary. The F32 file's values are checked against the
 * stated distributions (mean, standard deviation, kurtosis and tail mass, with tolerances from
 * the sample sizes); the quantised files dequantise to the F32 file's values within each format's
 * error. The same seed gives the same bytes (whatever the thread count), another seed other
 * bytes. yoke's model loader and tokenizer accept the files. Errors: mixture-of-experts, shapes
 * the type cannot hold, tiny vocabularies. The CLI is run once through tu_yoke(). */
#include "test.h"
#include "yoke/model.h"
#include "yoke/tokenizer.h"

#include <sys/wait.h>
#include <unistd.h>

static yk_hparams small(const char *arch)
{
    bool qwen2 = !strcmp(arch, "qwen2");
    yk_hparams hp = {.n_layer = 2, .n_embd = 64, .n_head = 4, .n_head_kv = 2, .head_dim = 16, .rope_dim = 16,
                     .n_ff = 96, .n_vocab = 300, .n_ctx_train = 128, .rms_eps = qwen2 ? 1e-6f : 1e-5f,
                     .rope_base = qwen2 ? 1e6f : 10000.0f, .qkv_bias = qwen2, .tied_output = qwen2,
                     .rope_mode = qwen2 ? YK_ROPE_NEOX : YK_ROPE_NORM};
    snprintf(hp.arch, sizeof hp.arch, "%s", arch);
    return hp;
}

static bool same_files(const char *a, const char *b)
{
    size_t na, nb;
    uint8_t *pa = tu_read_file(a, &na), *pb = tu_read_file(b, &nb);
    bool same = pa && pb && na == nb && !memcmp(pa, pb, na);
    free(pa);
    free(pb);
    return same;
}

static bool u32_is(const yk_gguf *g, const char *arch, const char *suffix, uint32_t want)
{
    char k[128];
    uint32_t v;
    snprintf(k, sizeof k, "%s.%s", arch, suffix);
    return yk_gguf_get_u32(g, k, &v) && v == want;
}

/* Checks the structure of a written model against hp and type. */
static void check_structure(const char *path, const yk_hparams *hp, yk_type type)
{
    yk_gguf g;
    yk_err err = {0};
    yk_status st = yk_gguf_open(&g, path, &err);
    CHECK(st == YK_OK, "%s", err.msg);
    if (st) return;
    const char *a = hp->arch;
    int64_t d = hp->n_embd, q = hp->n_head * hp->head_dim, kv = hp->n_head_kv * hp->head_dim;
    uint64_t want = 2 + !hp->tied_output + (uint64_t)hp->n_layer * (9 + 3 * hp->qkv_bias) + (hp->rope_scale_factor != 0);
    CHECK(g.n_tensors == want, "%s/%s: %llu tensors, want %llu", a, yk_type_name(type), (unsigned long long)g.n_tensors,
          (unsigned long long)want);
    struct { const char *name; int64_t ne0, ne1; bool matrix; } exp[] = {
        {"token_embd.weight", d, hp->n_vocab, true}, {"output_norm.weight", d, 1, false},
        {"output.weight", d, hp->n_vocab, true},
        {"blk.%u.attn_norm.weight", d, 1, false}, {"blk.%u.attn_q.weight", d, q, true},
        {"blk.%u.attn_k.weight", d, kv, true}, {"blk.%u.attn_v.weight", d, kv, true},
        {"blk.%u.attn_q.bias", q, 1, false}, {"blk.%u.attn_k.bias", kv, 1, false}, {"blk.%u.attn_v.bias", kv, 1, false},
        {"blk.%u.attn_output.weight", q, d, true}, {"blk.%u.ffn_norm.weight", d, 1, false},
        {"blk.%u.ffn_gate.weight", d, hp->n_ff, true}, {"blk.%u.ffn_up.weight", d, hp->n_ff, true},
        {"blk.%u.ffn_down.weight", hp->n_ff, d, true},
    };
    int bad = 0, found = 0;
    for (uint32_t l = 0; l < hp->n_layer; l++)
        for (size_t i = 0; i < sizeof exp / sizeof *exp; i++) {
            if (l > 0 && !strchr(exp[i].name, '%')) continue;
            char name[64];
            snprintf(name, sizeof name, exp[i].name, l);
            const yk_gguf_tensor *t = yk_gguf_find_tensor(&g, name);
            bool should = !(strstr(name, "bias") && !hp->qkv_bias) && !(!strcmp(name, "output.weight") && hp->tied_output);
            if (!should) {
                bad += t != NULL;
                continue;
            }
            found++;
            yk_type tt = exp[i].matrix ? type : YK_TYPE_F32;
            bool ok = t && t->n_dims == (exp[i].matrix ? 2u : 1u) && t->ne[0] == exp[i].ne0 && t->ne[1] == exp[i].ne1 &&
                      t->type == tt;
            if (!ok) printf("  %s: tensor %s wrong or missing\n", path, name);
            bad += !ok;
        }
    CHECK(bad == 0 && (uint64_t)found + (hp->rope_scale_factor != 0) == g.n_tensors, "%s: %d tensors wrong", path, bad);

    yk_str s;
    CHECK(yk_gguf_get_str(&g, "general.architecture", &s) && yk_str_eq(s, a), "architecture");
    CHECK(u32_is(&g, a, "block_count", hp->n_layer) && u32_is(&g, a, "embedding_length", hp->n_embd) &&
          u32_is(&g, a, "feed_forward_length", hp->n_ff) && u32_is(&g, a, "attention.head_count", hp->n_head) &&
          u32_is(&g, a, "attention.head_count_kv", hp->n_head_kv) && u32_is(&g, a, "context_length", hp->n_ctx_train) &&
          u32_is(&g, a, "rope.dimension_count", hp->rope_dim), "%s: <arch>.* keys", path);
    char k[128];
    float f;
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", a);
    CHECK(yk_gguf_get_f32(&g, k, &f) && f == hp->rms_eps, "rms eps");
    snprintf(k, sizeof k, "%s.rope.freq_base", a);
    CHECK(yk_gguf_get_f32(&g, k, &f) && f == hp->rope_base, "rope base");
    uint32_t ft;
    CHECK(yk_gguf_get_u32(&g, "general.file_type", &ft) && (int)ft == yk_file_type_of(type), "file type");
    const yk_gguf_kv *tok = yk_gguf_find_kv(&g, "tokenizer.ggml.tokens");
    const yk_gguf_kv *tt = yk_gguf_find_kv(&g, "tokenizer.ggml.token_type");
    const yk_gguf_kv *sc = yk_gguf_find_kv(&g, "tokenizer.ggml.scores");
    CHECK(yk_gguf_get_str(&g, "tokenizer.ggml.model", &s) && yk_str_eq(s, "llama"), "tokenizer model");
    CHECK(tok && tok->arr_n == hp->n_vocab && tt && tt->arr_n == hp->n_vocab && sc && sc->arr_n == hp->n_vocab,
          "vocabulary arrays of %u", hp->n_vocab);
    int64_t type_of;
    CHECK(yk_gguf_arr_str(tok, 1, &s) && yk_str_eq(s, "<s>") && yk_gguf_arr_str(tok, 2, &s) && yk_str_eq(s, "</s>") &&
          yk_gguf_arr_str(tok, 0, &s) && yk_str_eq(s, "<unk>") && yk_gguf_arr_str(tok, 3 + 0x41, &s) &&
          yk_str_eq(s, "<0x41>") && yk_gguf_arr_i64(tt, 3 + 0x41, &type_of) && type_of == 6, "special and byte tokens");
    uint32_t id;
    bool b;
    CHECK(yk_gguf_get_u32(&g, "tokenizer.ggml.bos_token_id", &id) && id == 1 &&
          yk_gguf_get_u32(&g, "tokenizer.ggml.eos_token_id", &id) && id == 2 &&
          yk_gguf_get_bool(&g, "tokenizer.ggml.add_bos_token", &b) && b, "bos/eos/add_bos");
    yk_gguf_close(&g);

    /* yoke's loader accepts it (every tensor present, shapes and types it can compute with). */
    yk_model m;
    st = yk_model_load(&m, path, &err);
    CHECK(st == YK_OK, "yk_model_load: %s", err.msg);
    if (!st) {
        CHECK(m.hp.n_layer == hp->n_layer && m.hp.n_vocab == hp->n_vocab && m.hp.tied_output == hp->tied_output &&
              m.hp.head_dim == hp->head_dim, "loaded hyper-parameters");
        yk_model_free(&m);
    }
}

/* Moments of the values of the tensors whose name contains `part` ("" with matrices: every
 * 2-D tensor), dequantised. */
typedef struct { double n, mean, sd, kurt, tail2; } moments;

static moments stats(const yk_gguf *g, const char *part, bool matrices)
{
    double s1 = 0, s2 = 0, n = 0;
    for (int pass = 0; pass < 2; pass++) {
        double mean = n ? s1 / n : 0, m2 = 0, m4 = 0, tail = 0, sd = n ? sqrt(s2 / n - mean * mean) : 0;
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const yk_gguf_tensor *t = &g->tensors[i];
            char nm[128];
            snprintf(nm, sizeof nm, "%.*s", (int)t->name.len, t->name.ptr);
            if (!strstr(nm, part) || (matrices && t->n_dims != 2)) continue;
            int64_t rows = t->ne[1], cols = t->ne[0];
            float *row = malloc((size_t)cols * sizeof *row);
            for (int64_t r = 0; r < rows; r++) {
                yk_dequantize_row(t->type, (const uint8_t *)t->data + (size_t)r * yk_row_bytes(t->type, cols), row, cols);
                for (int64_t c = 0; c < cols; c++) {
                    double v = row[c];
                    if (pass == 0) s1 += v, s2 += v * v, n++;
                    else {
                        double z = (v - mean) / sd;
                        m2 += z * z;
                        m4 += z * z * z * z;
                        tail += fabs(z) > 2;
                    }
                }
            }
            free(row);
        }
        if (pass == 1) return (moments){n, mean, sd, m4 / n / ((m2 / n) * (m2 / n)), tail / n};
    }
    return (moments){0};
}

static void check_distributions(const char *path)
{
    yk_gguf g;
    yk_err err = {0};
    if (yk_gguf_open(&g, path, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    /* Matrices ~ N(0, 0.02), all together (n ~ 60k-100k values). Standard errors at n = 60k: mean
     * 0.02/sqrt(n) = 8e-5, relative sd 1/sqrt(2n) = 0.3%, kurtosis sqrt(24/n) = 0.02, mass beyond 2
     * sigma (0.0455) sqrt(p(1-p)/n) = 0.0009; the tolerances are 5 to 7 of those. */
    moments m = stats(&g, "", true);
    CHECK(m.n > 50000 && fabs(m.mean) < 5 * 0.02 / sqrt(m.n) && fabs(m.sd / 0.02 - 1) < 0.015 && fabs(m.kurt - 3) < 0.12 &&
          fabs(m.tail2 - 0.0455) < 0.005, "matrices ~ N(0, 0.02): n %.0f mean %.3g sd %.5f kurtosis %.3f tail %.4f",
          m.n, m.mean, m.sd, m.kurt, m.tail2);
    /* Norms ~ 1 + N(0, 0.1): n = 320 (llama) or 320 (qwen2): SE of the mean 0.0056, of the sd ~4%. */
    moments nm = stats(&g, "norm", false);
    CHECK(fabs(nm.mean - 1) < 5 * 0.1 / sqrt(nm.n) && fabs(nm.sd / 0.1 - 1) < 0.2, "norms: n %.0f mean %.4f sd %.4f", nm.n,
          nm.mean, nm.sd);
    /* qwen2 biases ~ N(0, 0.1): n = 256, same reasoning. */
    moments bi = stats(&g, "bias", false);
    if (bi.n) CHECK(fabs(bi.mean) < 5 * 0.1 / sqrt(bi.n) && fabs(bi.sd / 0.1 - 1) < 0.2, "biases: n %.0f mean %.4f sd %.4f",
                    bi.n, bi.mean, bi.sd);
    yk_gguf_close(&g);
}

/* Relative L2 difference between the dequantised matrices of two files of the same shape. */
static double rel_diff(const char *a, const char *b)
{
    yk_gguf ga, gb;
    yk_err err = {0};
    if (yk_gguf_open(&ga, a, &err) || yk_gguf_open(&gb, b, &err)) return 1e9;
    double num = 0, den = 0;
    for (uint64_t i = 0; i < ga.n_tensors && i < gb.n_tensors; i++) {
        const yk_gguf_tensor *x = &ga.tensors[i], *y = &gb.tensors[i];
        int64_t cols = x->ne[0], rows = x->ne[1];
        float *rx = malloc((size_t)cols * 4), *ry = malloc((size_t)cols * 4);
        for (int64_t r = 0; r < rows; r++) {
            yk_dequantize_row(x->type, (const uint8_t *)x->data + (size_t)r * yk_row_bytes(x->type, cols), rx, cols);
            yk_dequantize_row(y->type, (const uint8_t *)y->data + (size_t)r * yk_row_bytes(y->type, cols), ry, cols);
            for (int64_t c = 0; c < cols; c++) {
                double dd = (double)rx[c] - ry[c];
                num += dd * dd;
                den += (double)ry[c] * ry[c];
            }
        }
        free(rx);
        free(ry);
    }
    yk_gguf_close(&ga);
    yk_gguf_close(&gb);
    return sqrt(num / den);
}

static void models(void)
{
    const char *archs[] = {"llama", "qwen2"};
    /* Expected relative error of each format against float32 values (uniform rounding over a block
     * of N(0, s) values): F16 ~ 2^-11/sqrt(3), BF16 ~ 2^-8/sqrt(3), Q8_0 ~ (max/127)/sqrt(12)/s ~ 0.6%. */
    struct { yk_type t; double max_rel; } types[] = {
        {YK_TYPE_F32, 0}, {YK_TYPE_F16, 1e-3}, {YK_TYPE_BF16, 5e-3}, {YK_TYPE_Q8_0, 1.5e-2}, {YK_TYPE_Q4_0, 0.15},
    };
    for (int a = 0; a < 2; a++) {
        char f32[512];
        tu_tmp_path(f32, sizeof f32, ".gguf");
        for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
            if (!yk_type_quantizable(types[ti].t)) continue;
            yk_mkmodel_opts o = {.hp = small(archs[a]), .type = types[ti].t, .seed = 7};
            char path[512];
            if (ti == 0) snprintf(path, sizeof path, "%s", f32);
            else tu_tmp_path(path, sizeof path, ".gguf");
            yk_err err = {0};
            yk_status st = yk_mkmodel_write(path, &o, &err);
            CHECK(st == YK_OK, "%s %s: %s", archs[a], yk_type_name(types[ti].t), err.msg);
            if (st) continue;
            check_structure(path, &o.hp, o.type);
            if (ti == 0) {
                check_distributions(path);
                continue;
            }
            double rel = rel_diff(path, f32);
            CHECK(rel < types[ti].max_rel && rel > 0, "%s %s vs F32: rel L2 %.3g (max %.3g)", archs[a],
                  yk_type_name(types[ti].t), rel, types[ti].max_rel);
            unlink(path);
        }
        unlink(f32);
    }
}

static void determinism(void)
{
    char p1[512], p2[512], p3[512], p4[512];
    tu_tmp_path(p1, sizeof p1, ".gguf");
    tu_tmp_path(p2, sizeof p2, ".gguf");
    tu_tmp_path(p3, sizeof p3, ".gguf");
    tu_tmp_path(p4, sizeof p4, ".gguf");
    yk_err err = {0};
    yk_mkmodel_opts o = {.hp = small("qwen2"), .type = YK_TYPE_Q8_0, .seed = 11};
    o.hp.n_vocab = 40000; /* token_embd: 40000 rows of 68 bytes, more than one 4 MB chunk */
    yk_status st = yk_mkmodel_write(p1, &o, &err);
    o.threads = 3;
    st |= yk_mkmodel_write(p2, &o, &err);
    o.threads = 1;
    o.seed = 12;
    st |= yk_mkmodel_write(p3, &o, &err);
    CHECK(st == YK_OK, "%s", err.msg);
    CHECK(same_files(p1, p2), "same seed, 1 and 3 threads: identical bytes");
    CHECK(!same_files(p1, p3), "another seed: other bytes");
    /* Only the tensor data differs, and all of it does. */
    yk_gguf a, b;
    if (!yk_gguf_open(&a, p1, &err) && !yk_gguf_open(&b, p3, &err)) {
        CHECK(a.data_offset == b.data_offset && !memcmp(a.map, b.map, a.data_offset), "same metadata");
        int same = 0;
        for (uint64_t i = 0; i < a.n_tensors; i++) same += !memcmp(a.tensors[i].data, b.tensors[i].data, a.tensors[i].nbytes);
        CHECK(same == 0, "%d tensors equal across seeds", same);
        yk_gguf_close(&a);
        yk_gguf_close(&b);
    }
    /* Llama 3.1 rope factors: a rope_freqs.weight tensor with yk_llama3_rope_factors' values. */
    yk_mkmodel_opts r = {.hp = small("llama"), .type = YK_TYPE_F32, .seed = 1};
    r.hp.rope_scale_factor = 32;
    r.hp.rope_low_freq_factor = 1;
    r.hp.rope_high_freq_factor = 4;
    r.hp.rope_orig_ctx = 64;
    r.hp.rope_base = 500000;
    st = yk_mkmodel_write(p4, &r, &err);
    CHECK(st == YK_OK, "rope: %s", err.msg);
    if (!st) {
        check_structure(p4, &r.hp, r.type);
        float want[8];
        yk_llama3_rope_factors(&r.hp, want);
        yk_gguf g;
        if (!yk_gguf_open(&g, p4, &err)) {
            const yk_gguf_tensor *t = yk_gguf_find_tensor(&g, "rope_freqs.weight");
            CHECK(t && t->type == YK_TYPE_F32 && t->ne[0] == 8 && !memcmp(t->data, want, sizeof want) && want[7] > 1,
                  "rope_freqs.weight holds the factors");
            yk_gguf_close(&g);
        }
    }
    unlink(p1);
    unlink(p2);
    unlink(p3);
    unlink(p4);
}

static void errors(void)
{
    char path[512];
    tu_tmp_path(path, sizeof path, ".gguf");
    yk_err err = {0};
    yk_mkmodel_opts o = {.hp = yk_preset_find("mixtral-8x7b")->hp, .type = YK_TYPE_Q8_0};
    CHECK(yk_mkmodel_write(path, &o, &err) == YK_E_UNSUPPORTED && strstr(err.msg, "mixture-of-experts not supported yet"),
          "mixtral: %s", err.msg);
    o = (yk_mkmodel_opts){.hp = small("llama"), .type = YK_TYPE_Q8_0};
    o.hp.n_ff = 100;
    CHECK(yk_mkmodel_write(path, &o, &err) == YK_E_INVALID && strstr(err.msg, "ff") && strstr(err.msg, "block size 32"),
          "ff 100 with Q8_0: %s", err.msg);
    o.hp.n_ff = 96;
    o.hp.n_vocab = 100;
    CHECK(yk_mkmodel_write(path, &o, &err) == YK_E_INVALID && strstr(err.msg, "vocab"), "vocab 100: %s", err.msg);
    o.hp.n_vocab = 300;
    o.hp.n_head_kv = 3;
    CHECK(yk_mkmodel_write(path, &o, &err) == YK_E_INVALID && strstr(err.msg, "kv-heads"), "kv-heads 3: %s", err.msg);
    CHECK(access(path, F_OK) != 0, "no file left behind");
    o.hp.n_head_kv = 2;
    CHECK(yk_mkmodel_write("/nonexistent/dir/m.gguf", &o, &err) == YK_E_IO && strstr(err.msg, "/nonexistent/dir/m.gguf"),
          "unwritable: %s", err.msg);
}

static uint64_t hash_str(yk_str s)
{
    uint64_t h = 1469598103934665603ull;
    for (uint64_t k = 0; k < s.len; k++) h = (h ^ (unsigned char)s.ptr[k]) * 1099511628211ull;
    return h;
}

static void vocabulary(void)
{
    yk_spm_vocab v;
    yk_err err = {0};
    CHECK(yk_spm_vocab_builtin(&v, 258, &err) == YK_E_INVALID, "258 tokens refused");
    yk_status st = yk_spm_vocab_builtin(&v, 32000, &err);
    CHECK(st == YK_OK, "%s", err.msg);
    if (st) return;
    /* Unique texts, and every normal piece buildable by SPM merges: its prefix one UTF-8 character
     * shorter is a piece too (single characters are pieces). Lookups through an open hash table. */
    size_t cap = 1;
    while (cap < 4 * (size_t)v.n) cap *= 2;
    int32_t *slot = malloc(cap * sizeof *slot);
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    int dup = 0, normal = 0, unbuildable = 0, bytes_ok = 1;
    for (uint32_t i = 0; i < v.n; i++) {
        size_t h = hash_str(v.tokens[i]) & (cap - 1);
        while (slot[h] >= 0 && !(v.tokens[slot[h]].len == v.tokens[i].len && !memcmp(v.tokens[slot[h]].ptr, v.tokens[i].ptr, v.tokens[i].len)))
            h = (h + 1) & (cap - 1);
        dup += slot[h] >= 0;
        slot[h] = (int32_t)i;
    }
    for (uint32_t i = 0; i < v.n; i++) {
        if (i >= 3 && i < 259) {
            char want[8];
            snprintf(want, sizeof want, "<0x%02X>", i - 3);
            bytes_ok &= yk_str_eq(v.tokens[i], want) && v.types[i] == 6;
        }
        if (v.types[i] != 1) continue;
        normal++;
        yk_str p = v.tokens[i];
        size_t cut = p.len;
        do cut--; while (cut > 0 && ((unsigned char)p.ptr[cut] & 0xc0) == 0x80);
        if (cut == 0) continue; /* a single character */
        yk_str pre = {p.ptr, cut};
        size_t h = hash_str(pre) & (cap - 1);
        bool found = false;
        while (slot[h] >= 0 && !found) {
            yk_str s = v.tokens[slot[h]];
            found = s.len == pre.len && !memcmp(s.ptr, pre.ptr, pre.len) && v.types[slot[h]] == 1;
            h = (h + 1) & (cap - 1);
        }
        unbuildable += !found;
    }
    CHECK(dup == 0, "%d duplicate tokens", dup);
    CHECK(bytes_ok, "byte tokens <0x00>..<0xFF> at 3..258, type 6");
    CHECK(normal > 500 && unbuildable == 0, "%d normal pieces, %d without their prefix", normal, unbuildable);
    CHECK(v.types[0] == 2 && v.types[1] == 3 && v.types[2] == 3 && v.types[v.n - 1] == 5, "special and unused types");
    CHECK(v.scores[259] > v.scores[260] && v.scores[260] > v.scores[600], "scores fall with rank");
    free(slot);
    yk_spm_vocab_free(&v);
}

/* yoke's SPM tokenizer on a mkmodel file: whole words become single pieces, other text bytes. */
static void tokenizes(void)
{
    char path[512];
    tu_tmp_path(path, sizeof path, ".gguf");
    yk_err err = {0};
    yk_mkmodel_opts o = {.hp = small("llama"), .type = YK_TYPE_F16, .seed = 3};
    o.hp.n_vocab = 2000;
    yk_gguf g;
    if (yk_mkmodel_write(path, &o, &err) || yk_gguf_open(&g, path, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    yk_tokenizer t;
    yk_status st = yk_tokenizer_load(&t, &g, &err);
    CHECK(st == YK_OK, "tokenizer: %s", err.msg);
    if (!st) {
        const char *text = "Once upon a time, the little girl saw a big dog. \xc3\xa9";
        int32_t *ids = NULL;
        size_t n = 0;
        st = yk_tokenizer_encode(&t, text, strlen(text), true, false, &ids, &n, &err);
        CHECK(st == YK_OK, "encode: %s", err.msg);
        const char *want[] = {"<s>", "\xe2\x96\x81Once", "\xe2\x96\x81upon", "\xe2\x96\x81" "a", "\xe2\x96\x81time", ",",
                              "\xe2\x96\x81the", "\xe2\x96\x81little", "\xe2\x96\x81girl", "\xe2\x96\x81saw",
                              "\xe2\x96\x81" "a", "\xe2\x96\x81" "big", "\xe2\x96\x81" "dog", ".", "\xe2\x96\x81",
                              "<0xC3>", "<0xA9>"};
        const yk_gguf_kv *tok = yk_gguf_find_kv(&g, "tokenizer.ggml.tokens");
        bool same = n == sizeof want / sizeof *want;
        for (size_t i = 0; same && i < n; i++) {
            yk_str s;
            same = yk_gguf_arr_str(tok, (uint64_t)ids[i], &s) && yk_str_eq(s, want[i]);
        }
        CHECK(same, "encoding into whole-word pieces (%zu ids)", n);
        free(ids);
        yk_tokenizer_free(&t);
    }
    yk_gguf_close(&g);
    unlink(path);
}

static void cli(void)
{
    if (access(tu_yoke(), X_OK) != 0) {
        printf("test_mkmodel: CLI part SKIPPED: %s not built\n", tu_yoke());
        return;
    }
    char path[512], cmd[2048];
    tu_tmp_path(path, sizeof path, ".gguf");
    /* A preset's architecture with a smaller shape: qwen2 (biases, rope base 1e6), tied by flag. */
    snprintf(cmd, sizeof cmd,
             "%s mkmodel -o %s --preset qwen2.5-7b --layers 1 --embd 64 --heads 4 --kv-heads 2 --ff 64 --vocab 512"
             " --type Q8_0 --seed 3 --tied --threads 2 >/dev/null",
             tu_yoke(), path);
    CHECK(system(cmd) == 0, "%s", cmd);
    yk_hparams hp = small("qwen2");
    hp.n_layer = 1;
    hp.n_ff = 64;
    hp.n_vocab = 512;
    hp.n_ctx_train = 32768;
    check_structure(path, &hp, YK_TYPE_Q8_0);
    unlink(path);
    snprintf(cmd, sizeof cmd, "%s mkmodel -o %s --preset mixtral-8x7b 2>&1", tu_yoke(), path);
    FILE *p = popen(cmd, "r");
    char out[512] = "";
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int st = p ? pclose(p) : -1;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1 && strstr(out, "yoke mkmodel: mixture-of-experts not supported yet"),
          "mixtral: %s", out);
    snprintf(cmd, sizeof cmd, "%s mkmodel -o %s --type Q9_9 2>/dev/null", tu_yoke(), path);
    CHECK(system(cmd) != 0 && access(path, F_OK) != 0, "unknown type refused");
}

int main(void)
{
    vocabulary();
    models();
    determinism();
    errors();
    tokenizes();
    cli();
    return tu_done("test_mkmodel");
}
