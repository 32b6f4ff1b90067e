/* test_quant_golden.c: the block formats against the reference engine's files in shared/golden.
 *
 * 1. Dequantisation equals golden/dequant/<model>.<tensor>.f32 bit for bit, for every file there,
 *    through the library (yk_dequantize_row) and through `yoke dump --rows N`.
 * 2. Quantisation quality: for every quantised tensor of the golden files made from the F32 masters
 *    rand-llama-gqa-F32 and rand-qwen2-F32, yoke's quantisation of the master tensor to the same type
 *    has an RMS error (against the master) at most 1.05x that of the reference engine's tensor.
 *    Also reported: how many tensors came out byte-identical to the reference engine's. */
#include "test.h"

#include <dirent.h>
#include <sys/wait.h>

static const char *golden_dir(char *buf, size_t n, const char *rel)
{
    return tu_shared_path(buf, n, rel);
}

/* Checks one dequant file; returns false if it could not be checked at all. */
static void check_dequant_file(const char *fname)
{
    char path[4096], model_path[4096], rel[1024];
    const char *blk = strstr(fname, ".blk.");
    size_t len = strlen(fname);
    CHECK(blk && len > 4 && !strcmp(fname + len - 4, ".f32"), "dequant file name %s", fname);
    if (!blk || len <= 4) return;
    char model[512], tensor[512];
    snprintf(model, sizeof model, "%.*s", (int)(blk - fname), fname);
    snprintf(tensor, sizeof tensor, "%.*s", (int)(fname + len - 4 - (blk + 1)), blk + 1);
    snprintf(rel, sizeof rel, "golden/dequant/%s", fname);
    golden_dir(path, sizeof path, rel);
    snprintf(rel, sizeof rel, "golden/models/%s.gguf", model);
    golden_dir(model_path, sizeof model_path, rel);

    size_t nbytes;
    float *want = tu_read_file(path, &nbytes);
    yk_gguf g;
    yk_err err = {0};
    CHECK(want != NULL, "read %s", path);
    CHECK(yk_gguf_open(&g, model_path, &err) == YK_OK, "open %s: %s", model_path, err.msg);
    if (!want || err.status != YK_OK) {
        free(want);
        return;
    }
    const yk_gguf_tensor *t = yk_gguf_find_tensor(&g, tensor);
    CHECK(t != NULL, "%s: tensor %s", model, tensor);
    if (t) {
        int64_t ne0 = t->ne[0], rows = (int64_t)(nbytes / 4 / (size_t)ne0);
        CHECK(rows > 0 && (size_t)(rows * ne0 * 4) == nbytes, "%s: size", fname);
        float *got = malloc(nbytes);
        size_t rb = yk_row_bytes(t->type, ne0);
        for (int64_t r = 0; r < rows; r++) yk_dequantize_row(t->type, (const uint8_t *)t->data + r * rb, got + r * ne0, ne0);
        CHECK(memcmp(got, want, nbytes) == 0, "%s (%s): library dequantisation differs", fname, yk_type_name(t->type));
        free(got);

        /* the same through yoke dump */
        char out[4096], cmd[16384];
        tu_tmp_path(out, sizeof out, ".f32");
        snprintf(cmd, sizeof cmd, "'%s' dump '%s' '%s' --rows %lld > '%s'", tu_yoke(), model_path, tensor,
                 (long long)rows, out);
        int rc = system(cmd);
        size_t n2 = 0;
        float *dumped = tu_read_file(out, &n2);
        CHECK(rc == 0 && dumped && n2 == nbytes && !memcmp(dumped, want, nbytes), "%s: yoke dump differs (rc %d)", fname, rc);
        free(dumped);
        remove(out);
        printf("  %-55s %-5s checked\n", fname, yk_type_name(t->type));
    }
    free(want);
    yk_gguf_close(&g);
}

/* RMS error of n values against the master. */
static double rms_err(const float *a, const float *master, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - master[i]) * ((double)a[i] - master[i]);
    return sqrt(s / (double)n);
}

typedef struct {
    double mine, ref; /* sums of squared errors per type */
    int tensors, identical;
} type_tally;

/* Compares yoke's quantisation of every master tensor with the sibling file's tensor of the same name. */
static void check_quant_error(const char *master_name, const char *sibling, type_tally *tally)
{
    char p1[4096], p2[4096], rel[1024];
    snprintf(rel, sizeof rel, "golden/models/%s.gguf", master_name);
    golden_dir(p1, sizeof p1, rel);
    snprintf(rel, sizeof rel, "golden/models/%s.gguf", sibling);
    golden_dir(p2, sizeof p2, rel);
    yk_gguf m, s;
    yk_err err = {0};
    CHECK(yk_gguf_open(&m, p1, &err) == YK_OK, "open %s: %s", p1, err.msg);
    if (err.status) return;
    CHECK(yk_gguf_open(&s, p2, &err) == YK_OK, "open %s: %s", p2, err.msg);
    if (err.status) {
        yk_gguf_close(&m);
        return;
    }
    for (uint64_t i = 0; i < s.n_tensors; i++) {
        const yk_gguf_tensor *ts = &s.tensors[i];
        if (ts->type == YK_TYPE_F32) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)ts->name.len, ts->name.ptr);
        const yk_gguf_tensor *tm = yk_gguf_find_tensor(&m, name);
        CHECK(tm && tm->type == YK_TYPE_F32 && tm->ne[0] == ts->ne[0], "%s: master tensor %s", master_name, name);
        if (!tm || tm->type != YK_TYPE_F32 || tm->ne[0] != ts->ne[0]) continue;
        int64_t ne0 = ts->ne[0], rows = ts->ne[1] * ts->ne[2] * ts->ne[3];
        size_t n = (size_t)(ne0 * rows), rb = yk_row_bytes(ts->type, ne0);
        const float *master = tm->data;
        float *ref = malloc(n * sizeof *ref), *mine = malloc(n * sizeof *mine);
        uint8_t *q = malloc(rb * (size_t)rows);
        CHECK(yk_type_quantizable(ts->type), "%s quantisable", yk_type_name(ts->type));
        if (!yk_type_quantizable(ts->type)) continue;
        for (int64_t r = 0; r < rows; r++) {
            yk_dequantize_row(ts->type, (const uint8_t *)ts->data + r * rb, ref + r * ne0, ne0);
            yk_quantize_row(ts->type, master + r * ne0, q + r * rb, ne0);
            yk_dequantize_row(ts->type, q + r * rb, mine + r * ne0, ne0);
        }
        double e_ref = rms_err(ref, master, n), e_mine = rms_err(mine, master, n);
        /* 1.05x: the bound of the brief; 1e-12 absolute covers tensors both quantise exactly. */
        CHECK(e_mine <= 1.05 * e_ref + 1e-12, "%s %s %s: RMS error %.4g vs reference %.4g (ratio %.3f)", sibling, name,
              yk_type_name(ts->type), e_mine, e_ref, e_mine / e_ref);
        type_tally *t = &tally[ts->type];
        t->mine += e_mine * e_mine * (double)n;
        t->ref += e_ref * e_ref * (double)n;
        t->tensors++;
        t->identical += memcmp(q, ts->data, rb * (size_t)rows) == 0;
        free(ref), free(mine), free(q);
    }
    yk_gguf_close(&s);
    yk_gguf_close(&m);
}

int main(void)
{
    char dir[4096];
    if (!golden_dir(dir, sizeof dir, "golden/dequant")) tu_skip("test_quant_golden", "shared/golden not found");
    DIR *d = opendir(dir);
    CHECK(d != NULL, "open %s", dir);
    int files = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            check_dequant_file(e->d_name);
            files++;
        }
    if (d) closedir(d);
    CHECK(files == 27, "%d dequant files (README lists 27)", files);

    type_tally tally[YK_TYPE_COUNT] = {{0}};
    const char *llama[] = {"rand-llama-gqa-Q2_K", "rand-llama-gqa-Q3_K_M", "rand-llama-gqa-Q4_K_M",
                           "rand-llama-gqa-Q5_K_M", "rand-llama-gqa-Q6_K"};
    const char *qwen[] = {"rand-qwen2-F16", "rand-qwen2-BF16", "rand-qwen2-Q8_0", "rand-qwen2-Q4_0",
                          "rand-qwen2-Q4_1", "rand-qwen2-Q5_0", "rand-qwen2-Q5_1"};
    for (size_t i = 0; i < 5; i++) check_quant_error("rand-llama-gqa-F32", llama[i], tally);
    for (size_t i = 0; i < 7; i++) check_quant_error("rand-qwen2-F32", qwen[i], tally);
    printf("  quantisation RMS error, yoke / reference engine, over all tensors of each type:\n");
    for (int t = 0; t < YK_TYPE_COUNT; t++)
        if (tally[t].tensors)
            printf("    %-5s %2d tensors  ratio %.4f  byte-identical %d\n", yk_type_name(t), tally[t].tensors,
                   sqrt(tally[t].mine / tally[t].ref), tally[t].identical);
    return tu_done("test_quant_golden");
}
