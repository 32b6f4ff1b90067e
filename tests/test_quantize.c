/* test_quantize.c: yoke quantize and the mix rules.
 *
 * - Every quantised golden file is reproduced byte for byte from its F32 master (types of every
 *   tensor, tensor order, metadata and data), with 1 and 3 threads.
 * - The mix rules on a synthetic 32-layer model: which layers of attn_v / ffn_down get more bits
 *   under each mix (the published behaviour of the reference engine's mixes), the output matrix,
 *   the 70B rule, and the fallbacks for row lengths that do not fit a block.
 * - A model whose FFN rows (172) fit no block falls back to F16, said on stderr.
 * - Bad requests fail with a message: unknown mix, OUT = IN, a tensor type yoke cannot convert. */
#include "test.h"

#include <sys/wait.h>

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool files_equal(const char *a, const char *b)
{
    size_t na, nb;
    void *pa = tu_read_file(a, &na), *pb = tu_read_file(b, &nb);
    bool eq = pa && pb && na == nb && !memcmp(pa, pb, na);
    free(pa), free(pb);
    return eq;
}

static void test_golden(void)
{
    struct {
        const char *master, *sibling, *mix;
    } cases[] = {
        {"rand-llama-gqa-F32", "rand-llama-gqa-Q2_K", "Q2_K"},     {"rand-llama-gqa-F32", "rand-llama-gqa-Q3_K_M", "Q3_K_M"},
        {"rand-llama-gqa-F32", "rand-llama-gqa-Q4_K_M", "Q4_K_M"}, {"rand-llama-gqa-F32", "rand-llama-gqa-Q5_K_M", "Q5_K_M"},
        {"rand-llama-gqa-F32", "rand-llama-gqa-Q6_K", "Q6_K"},     {"rand-qwen2-F32", "rand-qwen2-F16", "F16"},
        {"rand-qwen2-F32", "rand-qwen2-BF16", "BF16"},             {"rand-qwen2-F32", "rand-qwen2-Q8_0", "Q8_0"},
        {"rand-qwen2-F32", "rand-qwen2-Q4_0", "Q4_0"},             {"rand-qwen2-F32", "rand-qwen2-Q4_1", "Q4_1"},
        {"rand-qwen2-F32", "rand-qwen2-Q5_0", "Q5_0"},             {"rand-qwen2-F32", "rand-qwen2-Q5_1", "Q5_1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char m[4096], s[4096], rel[512], out[4096], cmd[16384];
        snprintf(rel, sizeof rel, "golden/models/%s.gguf", cases[i].master);
        tu_shared_path(m, sizeof m, rel);
        snprintf(rel, sizeof rel, "golden/models/%s.gguf", cases[i].sibling);
        tu_shared_path(s, sizeof s, rel);
        tu_tmp_path(out, sizeof out, ".gguf");
        int threads = i % 2 ? 3 : 1;
        snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' %s --threads %d > /dev/null", tu_yoke(), m, out, cases[i].mix, threads);
        int rc = run(cmd);
        CHECK(rc == 0, "quantize %s %s: exit %d", cases[i].master, cases[i].mix, rc);
        CHECK(rc == 0 && files_equal(out, s), "%s: yoke quantize %s (%d threads) differs from the reference engine's file",
              cases[i].sibling, cases[i].mix, threads);
        remove(out);
    }
}

/* Types of a synthetic 32-layer llama-style model under a mix, tensor by tensor in order. */
static void types_of(yk_mix mix, const yk_mix_model *md, int64_t ne0, yk_type attn_v[32], yk_type ffn_down[32],
                     yk_type *output, yk_type *attn_q0)
{
    yk_mix_state st = {0};
    int64_t ne[4] = {ne0, 4096, 1, 1}, ne_vec[4] = {ne0, 1, 1, 1};
    *output = yk_mix_tensor_type(mix, md, &st, "output.weight", ne, 2, YK_TYPE_F32, NULL);
    CHECK(yk_mix_tensor_type(mix, md, &st, "output_norm.weight", ne_vec, 1, YK_TYPE_F32, NULL) == YK_TYPE_F32, "norm kept");
    for (int l = 0; l < 32; l++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", l);
        yk_type q = yk_mix_tensor_type(mix, md, &st, name, ne, 2, YK_TYPE_F32, NULL);
        if (l == 0) *attn_q0 = q;
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
        attn_v[l] = yk_mix_tensor_type(mix, md, &st, name, ne, 2, YK_TYPE_F32, NULL);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        ffn_down[l] = yk_mix_tensor_type(mix, md, &st, name, ne, 2, YK_TYPE_F32, NULL);
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        CHECK(yk_mix_tensor_type(mix, md, &st, name, ne_vec, 1, YK_TYPE_F32, NULL) == YK_TYPE_F32, "norm kept");
    }
}

static void test_rules(void)
{
    yk_mix_model md = {.n_layer = 32, .n_gqa = 4, .n_attn_v = 32, .has_output = true};
    yk_type v[32], d[32], out, q0;
    /* more bits: layers < 32/8 = 4, >= 28, and (l - 4) % 3 == 2 */
    bool more[32];
    for (int l = 0; l < 32; l++) more[l] = l < 4 || l >= 28 || (l - 4) % 3 == 2;

    types_of(YK_MIX_Q4_K_M, &md, 4096, v, d, &out, &q0);
    bool ok = out == YK_TYPE_Q6_K && q0 == YK_TYPE_Q4_K;
    for (int l = 0; l < 32; l++) ok &= v[l] == (more[l] ? YK_TYPE_Q6_K : YK_TYPE_Q4_K) && d[l] == v[l];
    CHECK(ok, "Q4_K_M: Q6_K for output and the more-bits layers of attn_v / ffn_down, Q4_K elsewhere");

    types_of(YK_MIX_Q5_K_M, &md, 4096, v, d, &out, &q0);
    ok = out == YK_TYPE_Q6_K && q0 == YK_TYPE_Q5_K;
    for (int l = 0; l < 32; l++) ok &= v[l] == (more[l] ? YK_TYPE_Q6_K : YK_TYPE_Q5_K) && d[l] == v[l];
    CHECK(ok, "Q5_K_M rules");

    types_of(YK_MIX_Q4_K_S, &md, 4096, v, d, &out, &q0);
    ok = q0 == YK_TYPE_Q4_K;
    for (int l = 0; l < 32; l++) ok &= v[l] == (l < 4 ? YK_TYPE_Q5_K : YK_TYPE_Q4_K) && d[l] == v[l];
    CHECK(ok, "Q4_K_S: attn_v and ffn_down of the first 4 layers Q5_K");

    types_of(YK_MIX_Q3_K_M, &md, 4096, v, d, &out, &q0);
    ok = q0 == YK_TYPE_Q3_K;
    for (int l = 0; l < 32; l++) ok &= v[l] == (l < 2 ? YK_TYPE_Q5_K : YK_TYPE_Q4_K) && d[l] == (l < 2 ? YK_TYPE_Q5_K : YK_TYPE_Q4_K);
    CHECK(ok, "Q3_K_M: attn_v Q5_K for 2 layers then Q4_K; ffn_down Q5_K below n/16, then Q4_K");

    types_of(YK_MIX_Q3_K_S, &md, 4096, v, d, &out, &q0);
    ok = out == YK_TYPE_Q6_K && q0 == YK_TYPE_Q3_K;
    for (int l = 0; l < 32; l++) ok &= v[l] == YK_TYPE_Q3_K && d[l] == YK_TYPE_Q3_K;
    CHECK(ok, "Q3_K_S: Q3_K everywhere but the output");

    types_of(YK_MIX_Q2_K, &md, 4096, v, d, &out, &q0);
    ok = q0 == YK_TYPE_Q2_K;
    for (int l = 0; l < 32; l++) ok &= v[l] == YK_TYPE_Q4_K && d[l] == YK_TYPE_Q3_K;
    CHECK(ok, "Q2_K: attn_v Q4_K (GQA >= 4), ffn_down Q3_K");
    md.n_gqa = 1;
    types_of(YK_MIX_Q2_K, &md, 4096, v, d, &out, &q0);
    CHECK(v[0] == YK_TYPE_Q3_K, "Q2_K without GQA: attn_v Q3_K");

    types_of(YK_MIX_Q8_0, &md, 4096, v, d, &out, &q0);
    CHECK(out == YK_TYPE_Q8_0 && v[5] == YK_TYPE_Q8_0 && q0 == YK_TYPE_Q8_0, "Q8_0 everywhere");
    types_of(YK_MIX_Q4_0, &md, 4096, v, d, &out, &q0);
    CHECK(out == YK_TYPE_Q6_K && v[5] == YK_TYPE_Q4_0 && d[0] == YK_TYPE_Q4_0, "Q4_0: output Q6_K");
    types_of(YK_MIX_F16, &md, 4096, v, d, &out, &q0);
    CHECK(out == YK_TYPE_F16 && v[5] == YK_TYPE_F16, "F16 everywhere, no per-tensor rules");

    /* 70B: attn_v of Q4_K or Q3_K gets Q5_K */
    md.is_70b = true;
    md.n_gqa = 8;
    types_of(YK_MIX_Q4_K_S, &md, 4096, v, d, &out, &q0);
    CHECK(v[10] == YK_TYPE_Q5_K && d[10] == YK_TYPE_Q4_K, "70B: attn_v Q5_K");
    md.is_70b = false;

    /* fallbacks: 64-wide rows (not a multiple of 256) */
    yk_mix_state st = {0};
    int64_t ne64[4] = {64, 64, 1, 1}, ne172[4] = {172, 64, 1, 1};
    yk_type wanted;
    CHECK(yk_mix_tensor_type(YK_MIX_Q4_K_M, &md, &st, "blk.0.attn_q.weight", ne64, 2, YK_TYPE_F32, &wanted) == YK_TYPE_Q5_0 &&
              wanted == YK_TYPE_Q4_K, "Q4_K falls back to Q5_0");
    CHECK(yk_mix_tensor_type(YK_MIX_Q5_K_M, &md, &st, "blk.0.attn_q.weight", ne64, 2, YK_TYPE_F32, NULL) == YK_TYPE_Q5_1, "Q5_K -> Q5_1");
    CHECK(yk_mix_tensor_type(YK_MIX_Q6_K, &md, &st, "blk.0.attn_q.weight", ne64, 2, YK_TYPE_F32, NULL) == YK_TYPE_Q8_0, "Q6_K -> Q8_0");
    CHECK(yk_mix_tensor_type(YK_MIX_Q2_K, &md, &st, "blk.0.attn_q.weight", ne64, 2, YK_TYPE_F32, NULL) == YK_TYPE_IQ4_NL, "Q2_K -> IQ4_NL");
    CHECK(yk_mix_tensor_type(YK_MIX_Q4_K_M, &md, &st, "blk.0.ffn_up.weight", ne172, 2, YK_TYPE_F32, NULL) == YK_TYPE_F16, "172 -> F16");
    CHECK(yk_mix_tensor_type(YK_MIX_Q4_0, &md, &st, "blk.0.ffn_up.weight", ne172, 2, YK_TYPE_F32, NULL) == YK_TYPE_F16, "Q4_0 172 -> F16");
    CHECK(yk_mix_tensor_type(YK_MIX_Q4_0, &md, &st, "blk.0.ffn_up.weight", ne172, 2, YK_TYPE_F16, NULL) == YK_TYPE_F16, "kept F16");
    /* order: outside blocks first, then by block number (10 after 9), then by name */
    CHECK(yk_mix_tensor_order("output.weight", "blk.0.attn_q.weight") < 0 &&
              yk_mix_tensor_order("blk.9.ffn_up.weight", "blk.10.attn_k.weight") < 0 &&
              yk_mix_tensor_order("blk.1.attn_k.weight", "blk.1.attn_q.weight") < 0 &&
              yk_mix_tensor_order("output.weight", "token_embd.weight") < 0, "tensor order");
    CHECK(yk_mix_from_name("q4_k_m") == YK_MIX_Q4_K_M && yk_mix_from_name("Q9_K") == -1 &&
              yk_mix_file_type(YK_MIX_Q4_K_M) == 15 && yk_mix_file_type(YK_MIX_BF16) == 32, "mix names");
}

/* stories260K: ffn_down rows of 172 fit no block: F16, with a note on stderr; 64-wide rows Q5_0. */
static void test_fallback(void)
{
    char in[4096], out[4096], errf[4096], cmd[16384];
    tu_shared_path(in, sizeof in, "golden/models/stories260K.gguf");
    tu_tmp_path(out, sizeof out, ".gguf");
    tu_tmp_path(errf, sizeof errf, ".txt");
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' Q4_K_M > /dev/null 2> '%s'", tu_yoke(), in, out, errf);
    CHECK(run(cmd) == 0, "quantize stories260K Q4_K_M");
    char *msg = tu_read_file(errf, NULL);
    CHECK(msg && strstr(msg, "blk.0.ffn_down.weight: rows of 172 values are not a multiple of the Q4_K block (256): using F16"),
          "fallback stated on stderr: %s", msg ? msg : "(none)");
    free(msg);
    yk_gguf g;
    yk_err err = {0};
    CHECK(yk_gguf_open(&g, out, &err) == YK_OK, "open output: %s", err.msg);
    if (err.status == YK_OK) {
        const yk_gguf_tensor *up = yk_gguf_find_tensor(&g, "blk.0.ffn_down.weight");
        const yk_gguf_tensor *q = yk_gguf_find_tensor(&g, "blk.0.attn_q.weight");
        const yk_gguf_tensor *o = yk_gguf_find_tensor(&g, "output.weight");
        const yk_gguf_tensor *n = yk_gguf_find_tensor(&g, "blk.0.attn_norm.weight");
        CHECK(up && up->type == YK_TYPE_F16, "ffn_down (172-wide rows) F16");
        CHECK(q && q->type == YK_TYPE_Q5_0, "attn_q Q5_0 (Q4_K does not fit 64)");
        CHECK(o && o->type == YK_TYPE_Q8_0, "output Q8_0 (64 is not a multiple of 256)");
        CHECK(n && n->type == YK_TYPE_F32, "norm F32");
        uint32_t ft = 0;
        CHECK(yk_gguf_get_u32(&g, "general.file_type", &ft) && ft == 15, "file type 15");
        yk_gguf_close(&g);
    }
    remove(out), remove(errf);
}

static void test_errors(void)
{
    char in[4096], out[4096], errf[4096], cmd[16384];
    tu_shared_path(in, sizeof in, "golden/models/rand-qwen2-F32.gguf");
    tu_tmp_path(out, sizeof out, ".gguf");
    tu_tmp_path(errf, sizeof errf, ".txt");
    struct {
        const char *args, *want;
    } cases[] = {
        {"'%s' '%s' Q9_K", "unknown type 'Q9_K'"},
        {"'%s' '%s' Q4_0 --threads 0", "--threads"},
        {"'%s' /nonexistent/dir/x.gguf Q4_0", "x.gguf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char args[8192];
        snprintf(args, sizeof args, cases[i].args, in, out);
        snprintf(cmd, sizeof cmd, "'%s' quantize %s > /dev/null 2> '%s'", tu_yoke(), args, errf);
        int rc = run(cmd);
        char *msg = tu_read_file(errf, NULL);
        CHECK(rc == 1 && msg && strstr(msg, "yoke quantize: ") && strstr(msg, cases[i].want), "case %zu: exit %d, '%s'", i,
              rc, msg ? msg : "");
        free(msg);
    }
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' Q4_0 > /dev/null 2> '%s'", tu_yoke(), in, in, errf);
    CHECK(run(cmd) == 1, "OUT = IN refused");

    /* A tensor of a type yoke cannot dequantise (IQ2_XXS) that the mix would convert. */
    char bad[4096];
    tu_tmp_path(bad, sizeof bad, ".gguf");
    yk_gguf_writer *w;
    yk_err err = {0};
    int64_t ne[2] = {256, 2};
    CHECK(yk_gguf_writer_open(&w, bad, &err) == YK_OK, "writer: %s", err.msg);
    yk_gguf_writer_add_str(w, "general.architecture", "llama", &err);
    yk_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", YK_TYPE_IQ2_XXS, 2, ne, &err);
    yk_gguf_writer_begin_data(w, &err);
    uint8_t zeros[2 * 66] = {0};
    yk_gguf_writer_write(w, zeros, sizeof zeros, &err);
    CHECK(yk_gguf_writer_close(w, &err) == YK_OK, "write %s: %s", bad, err.msg);
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' Q4_0 > /dev/null 2> '%s'", tu_yoke(), bad, out, errf);
    int rc = run(cmd);
    char *msg = tu_read_file(errf, NULL);
    CHECK(rc == 1 && msg && strstr(msg, "IQ2_XXS, which yoke cannot dequantise"), "IQ2_XXS refused: %s", msg ? msg : "");
    free(msg);
    FILE *f = fopen(out, "rb");
    CHECK(f == NULL, "no output left behind");
    if (f) fclose(f);
    remove(bad), remove(out), remove(errf);
}

int main(void)
{
    test_rules();
    if (!tu_shared_dir()) {
        if (tu_failures) return tu_done("test_quantize");
        tu_skip("test_quantize", "shared/golden not found (the mix rules passed)");
    }
    test_golden();
    test_fallback();
    test_errors();
    return tu_done("test_quantize");
}
