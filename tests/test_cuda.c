/* test_cuda.c: the CUDA device's operations on the GPU against a float64 reference and the CPU
 * device, on seeded random inputs of several shapes, every weight type (like ggml's backend-ops
 * test). Skips, saying why, where no GPU or no CUDA build is there.
 *
 * Matrix products are held against a float64 product of the dequantised weights with the
 * activations in the format the path uses: float (the CUDA-core path: decode and F32 weights; F16
 * and BF16 weights round the activations to their format, as the CPU path does), or F16 tiles on
 * tensor cores (prefill: 16 tokens or more), where rounding the dequantised weights and the
 * activations to F16 (2^-11 relative each) bounds the error near 1e-3. Tolerances (relative L2):
 * 1e-5 for the float paths, 3e-3 for the F16 tiles; BF16 weights on BF16 tiles are exact products
 * of the rounded activations, 1e-5. The other operations must agree with the CPU device to 1e-5
 * (the same formulas; only the summation order differs). */
#include "test.h"
#include "yoke/device.h"

static yk_device *gpu, *cpu;

static void fill(tu_rng *r, float *v, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) v[i] = (float)(tu_normal(r) * scale);
}

/* Writes host floats into new device memory. */
static float *up(yk_device *d, const float *v, size_t n)
{
    float *p = yk_dev_alloc(d, n * sizeof(float) + 16);
    YK_ASSERT(p != NULL);
    yk_dev_write(d, p, v, n * sizeof(float));
    return p;
}

static void down(yk_device *d, float *dst, const float *p, size_t n)
{
    yk_err err = {0};
    yk_dev_read(d, dst, p, n * sizeof(float));
    CHECK(yk_dev_sync(d, &err) == YK_OK, "%s: %s", d->name, err.msg);
}

static float act_round(yk_type t, float v)
{
    if (t == YK_TYPE_F16) return yk_f16_to_f32(yk_f32_to_f16(v));
    if (t == YK_TYPE_BF16) return yk_bf16_to_f32(yk_f32_to_bf16(v));
    return v;
}

static void check_matmul(yk_type t, int64_t rows, int64_t cols, int64_t nt, tu_rng *rng)
{
    size_t rb = yk_row_bytes(t, cols);
    float *wf = malloc(sizeof(float) * rows * cols), *wd = malloc(sizeof(float) * rows * cols);
    float *x = malloc(sizeof(float) * nt * cols), *yg = malloc(sizeof(float) * nt * rows), *yc = malloc(sizeof(float) * nt * rows);
    double *ref = malloc(sizeof(double) * nt * rows);
    float *reff = malloc(sizeof(float) * nt * rows);
    uint8_t *wq = malloc(rb * rows);
    fill(rng, wf, (size_t)rows * cols, 0.05);
    fill(rng, x, (size_t)nt * cols, 1.0);
    for (int64_t r = 0; r < rows; r++) {
        yk_quantize_row(t, wf + r * cols, wq + r * rb, cols);
        yk_dequantize_row(t, wq + r * rb, wd + r * cols, cols);
    }
    bool tiles = nt >= 16 && t != YK_TYPE_F32;
    for (int64_t i = 0; i < nt; i++)
        for (int64_t r = 0; r < rows; r++) {
            double s = 0;
            for (int64_t k = 0; k < cols; k++) s += (double)wd[r * cols + k] * act_round(t, x[i * cols + k]);
            ref[i * rows + r] = s;
            reff[i * rows + r] = (float)s;
        }
    /* GPU */
    yk_err err = {0};
    yk_dmat m;
    CHECK(yk_dev_upload(gpu, &m, t, wq, rb, 0, rows, 0, cols, &err) == YK_OK, "upload %s: %s", yk_type_name(t), err.msg);
    float *dx = up(gpu, x, (size_t)nt * cols), *dy = yk_dev_alloc(gpu, sizeof(float) * nt * rows);
    yk_dev_matmul(gpu, &m, dx, nt, dy);
    down(gpu, yg, dy, (size_t)nt * rows);
    yk_dev_free_mat(gpu, &m);
    yk_dev_free(gpu, dx);
    yk_dev_free(gpu, dy);
    /* CPU device, for the record (its quantised types use 8-bit activations) */
    yk_dmat mc;
    CHECK(yk_dev_upload(cpu, &mc, t, wq, rb, 0, rows, 0, cols, &err) == YK_OK, "cpu upload: %s", err.msg);
    yk_dev_matmul(cpu, &mc, x, nt, yc);
    yk_dev_free_mat(cpu, &mc);
    double eg = tu_rel_l2(yg, reff, (size_t)nt * rows), ec = tu_rel_l2(yc, reff, (size_t)nt * rows);
    bool exact_tiles = t == YK_TYPE_BF16 || t == YK_TYPE_F16;
    double tol = tiles && !exact_tiles ? 3e-3 : 1e-5;
    printf("  matmul %-6s %5lld x %-5lld nt %-3lld %-10s rel L2 vs float64 %.2e (bound %.0e); cpu device %.2e\n", yk_type_name(t),
           (long long)rows, (long long)cols, (long long)nt, tiles ? "tensor" : "cuda-core", eg, tol, ec);
    CHECK(eg <= tol, "matmul %s %lldx%lld nt %lld: rel L2 %.3g > %.0e", yk_type_name(t), (long long)rows, (long long)cols,
          (long long)nt, eg, tol);
    free(wf), free(wd), free(x), free(yg), free(yc), free(ref), free(reff), free(wq);
}

/* Runs op on both devices over the same inputs and compares the output buffer. */
typedef void (*op_fn)(yk_device *d, float **bufs, void *arg);

static void both(const char *name, op_fn op, void *arg, float **host, const size_t *lens, int nbuf, int out, double tol)
{
    float *gb[8], *cb[8];
    for (int i = 0; i < nbuf; i++) {
        gb[i] = up(gpu, host[i], lens[i]);
        cb[i] = up(cpu, host[i], lens[i]);
    }
    op(gpu, gb, arg);
    op(cpu, cb, arg);
    float *g = malloc(lens[out] * sizeof(float));
    down(gpu, g, gb[out], lens[out]);
    double e = tu_rel_l2(g, cb[out], lens[out]);
    printf("  %-34s rel L2 vs cpu device %.2e (bound %.0e)\n", name, e, tol);
    CHECK(e <= tol, "%s: rel L2 %.3g > %.0e", name, e, tol);
    free(g);
    for (int i = 0; i < nbuf; i++) {
        yk_dev_free(gpu, gb[i]);
        yk_dev_free(cpu, cb[i]);
    }
}

typedef struct { int64_t n, nt; float eps; yk_rope rope; int64_t nh; uint32_t pos0; } simple_args;

static void op_rmsnorm(yk_device *d, float **b, void *a) { simple_args *s = a; yk_dev_rmsnorm(d, b[0], b[1], b[2], s->n, s->nt, s->eps); }
static void op_add(yk_device *d, float **b, void *a) { simple_args *s = a; yk_dev_add(d, b[0], b[1], s->n, s->nt); }
static void op_bias(yk_device *d, float **b, void *a) { simple_args *s = a; yk_dev_add_bias(d, b[0], b[1], s->n, s->nt); }
static void op_swiglu(yk_device *d, float **b, void *a) { simple_args *s = a; yk_dev_swiglu(d, b[0], b[1], s->n, s->nt); }
static void op_rope(yk_device *d, float **b, void *a)
{
    simple_args *s = a;
    yk_rope r = s->rope;
    r.freq_factors = r.freq_factors ? b[1] : NULL;
    /* token t at position pos0 + 37 t: positions come from device memory, one per token */
    int32_t pos[64];
    YK_ASSERT(s->nt <= 64);
    for (int64_t t = 0; t < s->nt; t++) pos[t] = (int32_t)(s->pos0 + 37 * t);
    int32_t *dpos = yk_dev_alloc(d, sizeof pos);
    yk_dev_write(d, dpos, pos, sizeof pos);
    yk_dev_rope(d, b[0], s->nt, s->nh, dpos, &r);
    yk_dev_free(d, dpos);
}

static void check_simple(tu_rng *rng)
{
    int64_t n = 1000, nt = 7;
    float *a = malloc(sizeof(float) * n * nt), *b = malloc(sizeof(float) * n * nt), *w = malloc(sizeof(float) * n);
    fill(rng, a, (size_t)(n * nt), 1.0);
    fill(rng, b, (size_t)(n * nt), 1.0);
    fill(rng, w, (size_t)n, 1.0);
    simple_args s = {.n = n, .nt = nt, .eps = 1e-5f};
    float *h3[] = {b, a, w};
    size_t l3[] = {(size_t)(n * nt), (size_t)(n * nt), (size_t)n};
    both("rmsnorm 1000 x 7", op_rmsnorm, &s, h3, l3, 3, 0, 1e-6);
    float *h2[] = {a, b};
    size_t l2[] = {(size_t)(n * nt), (size_t)(n * nt)};
    both("add 1000 x 7", op_add, &s, h2, l2, 2, 0, 1e-7);
    both("swiglu 1000 x 7", op_swiglu, &s, h2, l2, 2, 0, 1e-6);
    float *hb[] = {a, w};
    size_t lb[] = {(size_t)(n * nt), (size_t)n};
    both("add_bias 1000 x 7", op_bias, &s, hb, lb, 2, 0, 1e-7);
    /* rope: 5 tokens of 6 heads of 64 at positions 1000.., both modes, Llama 3.1 factors, scaling */
    float ff[32];
    for (int i = 0; i < 32; i++) ff[i] = 1.0f + i * 0.25f;
    for (int mode = 0; mode < 2; mode++)
        for (int with_ff = 0; with_ff < 2; with_ff++) {
            simple_args r = {.nt = 5, .nh = 6, .pos0 = 1000,
                             .rope = {.mode = mode ? YK_ROPE_NEOX : YK_ROPE_NORM, .head_dim = 64, .rope_dim = 64, .base = 500000.0f,
                                      .freq_scale = with_ff ? 0.25f : 1.0f, .freq_factors = with_ff ? ff : NULL}};
            float *hr[] = {a, ff};
            size_t lr[] = {5 * 6 * 64, 32};
            char name[64];
            snprintf(name, sizeof name, "rope %s%s", mode ? "neox" : "normal", with_ff ? " + factors, scale" : "");
            both(name, op_rope, &r, hr, lr, 2, 0, 1e-6);
        }
    free(a), free(b), free(w);
}

/* Attention over 3 KV slots, against the CPU device at every step: a prefill of 9 tokens (5 of
 * sequence 0, 4 of sequence 2), then 1 token of sequence 0, then 3 tokens of sequences 2, 1 (its
 * first) and 0. */
static void check_attention(tu_rng *rng, yk_type kvt, uint32_t n_q, uint32_t n_kv, uint32_t hd)
{
    enum { N_SEQ = 3 };
    uint32_t ctx = 64, steps[] = {9, 1, 3};
    static const int32_t seq_of[3][9] = {{0, 0, 0, 0, 0, 2, 2, 2, 2}, {0}, {2, 1, 0}};
    static const int32_t pos_of[3][9] = {{0, 1, 2, 3, 4, 0, 1, 2, 3}, {5}, {4, 0, 6}};
    size_t kvb = (size_t)N_SEQ * n_kv * ctx * hd * (kvt == YK_TYPE_F16 ? 2 : 4);
    yk_device *devs[2] = {gpu, cpu};
    void *kc[2], *vc[2];
    int32_t map[64];
    int32_t *dmap[2];
    for (uint32_t h = 0; h < n_q; h++) map[h] = (int32_t)(h / (n_q / n_kv));
    for (int d = 0; d < 2; d++) {
        kc[d] = yk_dev_alloc(devs[d], kvb);
        vc[d] = yk_dev_alloc(devs[d], kvb);
        dmap[d] = yk_dev_alloc(devs[d], sizeof map);
        yk_dev_write(devs[d], dmap[d], map, sizeof map);
    }
    double worst = 0;
    for (int s = 0; s < 3; s++) {
        uint32_t nt = steps[s];
        size_t nqv = (size_t)nt * n_q * hd, nkv = (size_t)nt * n_kv * hd;
        float *q = malloc(nqv * 4), *k = malloc(nkv * 4), *v = malloc(nkv * 4), *outs[2];
        fill(rng, q, nqv, 1.0);
        fill(rng, k, nkv, 1.0);
        fill(rng, v, nkv, 1.0);
        for (int d = 0; d < 2; d++) {
            float *dq = up(devs[d], q, nqv), *dk = up(devs[d], k, nkv), *dv = up(devs[d], v, nkv);
            float *o = yk_dev_alloc(devs[d], nqv * 4);
            int32_t *dpos = yk_dev_alloc(devs[d], sizeof pos_of[s]), *dseq = yk_dev_alloc(devs[d], sizeof seq_of[s]);
            yk_dev_write(devs[d], dpos, pos_of[s], sizeof pos_of[s]);
            yk_dev_write(devs[d], dseq, seq_of[s], sizeof seq_of[s]);
            yk_attn_args a = {.out = o, .q = dq, .k = dk, .v = dv, .kcache = kc[d], .vcache = vc[d], .kv_type = kvt, .kv_of_q = dmap[d],
                              .pos = dpos, .seq = dseq, .n_q = n_q, .n_kv = n_kv, .head_dim = hd, .ctx = ctx, .n_seq = N_SEQ, .nt = nt};
            yk_dev_attention(devs[d], &a);
            yk_dev_free(devs[d], dpos), yk_dev_free(devs[d], dseq);
            outs[d] = malloc(nqv * 4);
            down(devs[d], outs[d], o, nqv);
            yk_dev_free(devs[d], dq), yk_dev_free(devs[d], dk), yk_dev_free(devs[d], dv), yk_dev_free(devs[d], o);
        }
        double e = tu_rel_l2(outs[0], outs[1], nqv);
        if (e > worst) worst = e;
        free(outs[0]), free(outs[1]), free(q), free(k), free(v);
    }
    printf("  attention %s kv, %u q / %u kv heads of %u: worst rel L2 vs cpu device %.2e (bound 1e-5)\n", yk_type_name(kvt), n_q, n_kv,
           hd, worst);
    CHECK(worst <= 1e-5, "attention %s %u/%u/%u: %.3g", yk_type_name(kvt), n_q, n_kv, hd, worst);
    for (int d = 0; d < 2; d++) yk_dev_free(devs[d], kc[d]), yk_dev_free(devs[d], vc[d]), yk_dev_free(devs[d], dmap[d]);
}

int main(void)
{
    yk_err err = {0};
    yk_device_spec spec = {.kind = "cuda", .index = 0};
    if (!(gpu = yk_device_create(&spec, 1, false, &err))) tu_skip("test_cuda", err.msg);
    printf("  %s: %s\n", gpu->name, gpu->desc);
    cpu = yk_cpu_device_create(0, 2, false, &err);
    YK_ASSERT(cpu != NULL);
    tu_rng rng = {12345};
    static const yk_type types[] = {YK_TYPE_F32, YK_TYPE_F16, YK_TYPE_BF16, YK_TYPE_Q8_0, YK_TYPE_Q4_0, YK_TYPE_Q4_1, YK_TYPE_Q5_0,
                                    YK_TYPE_Q5_1, YK_TYPE_IQ4_NL, YK_TYPE_Q2_K, YK_TYPE_Q3_K, YK_TYPE_Q4_K, YK_TYPE_Q5_K, YK_TYPE_Q6_K};
    static const int64_t shapes[][3] = {{67, 256, 1}, {130, 512, 3}, {64, 768, 9}, {200, 512, 16}, {97, 1024, 70}};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) check_matmul(types[ti], shapes[si][0], shapes[si][1], shapes[si][2], &rng);
    /* float types at widths that are no multiple of 8 (stories260K: 172, llama-2-tiny: 8) */
    static const yk_type floats[] = {YK_TYPE_F32, YK_TYPE_F16, YK_TYPE_BF16};
    for (size_t ti = 0; ti < 3; ti++) {
        check_matmul(floats[ti], 64, 172, 1, &rng);
        check_matmul(floats[ti], 33, 172, 20, &rng);
        check_matmul(floats[ti], 5, 8, 17, &rng);
    }
    check_simple(&rng);
    check_attention(&rng, YK_TYPE_F32, 8, 2, 64);
    check_attention(&rng, YK_TYPE_F16, 8, 2, 64);
    check_attention(&rng, YK_TYPE_F32, 8, 4, 8);
    check_attention(&rng, YK_TYPE_F32, 4, 4, 128);
    double gbps = 0;
    CHECK(gpu->ops->read_bandwidth(gpu, (size_t)1 << 30, &gbps, &err) == YK_OK && gbps > 0, "read bandwidth: %s", err.msg);
    printf("  %s read bandwidth %.0f GB/s\n", gpu->name, gbps);

    /* A failing operation: the device names itself and the operation, and stays failed. */
    yk_device *bad = yk_device_create(&spec, 1, false, &err);
    YK_ASSERT(bad != NULL);
    uint8_t junk[64] = {0};
    yk_dmat m;
    CHECK(yk_dev_upload(bad, &m, YK_TYPE_IQ2_XXS, junk, 66, 0, 1, 0, 256, &err) == YK_OK, "upload of an unsupported type: %s", err.msg);
    float *x = yk_dev_alloc(bad, 1024), *y = yk_dev_alloc(bad, 64);
    yk_dev_matmul(bad, &m, x, 1, y);
    yk_status st = yk_dev_sync(bad, &err);
    CHECK(st != YK_OK && strstr(err.msg, bad->name) && strstr(err.msg, "matmul"), "unsupported type fails naming device and op: %s",
          err.msg);
    printf("  failing op: %s\n", err.msg);
    yk_dev_free_mat(bad, &m);
    yk_dev_free(bad, x), yk_dev_free(bad, y);
    yk_dev_destroy(bad);
    yk_dev_destroy(cpu);
    yk_dev_destroy(gpu);
    return tu_done("test_cuda");
}
