/* test_quant.c: the block formats and the scalar-path products, against float64 references.
 *
 * - fp16 / bf16 conversions against a float64 rounding reference (all 65536 halves round trip).
 * - Quantise -> dequantise error (NMSE) per type on seeded Gaussian rows with outliers.
 * - Activation conversions (Q8_0, Q8_1, Q8_K, F16, BF16): exact properties of the formats.
 * - yk_matmul on every type (random weights: quantised, or random block bytes for all types) against
 *   (a) a float64 dot of the dequantised weights with the dequantised activations (only float
 *   summation order differs: tight bound) and (b) a float64 product with the original activations
 *   (the activation rounding of each format: a per-type NMSE bound);
 *   with 1, 2 and 3 threads giving identical bytes. */
#include "test.h"
#include "quant_impl.h"

static const yk_type all_types[] = {
    YK_TYPE_F32,  YK_TYPE_F16,  YK_TYPE_BF16, YK_TYPE_Q8_0, YK_TYPE_Q4_0, YK_TYPE_Q4_1, YK_TYPE_Q5_0,
    YK_TYPE_Q5_1, YK_TYPE_IQ4_NL, YK_TYPE_Q2_K, YK_TYPE_Q3_K, YK_TYPE_Q4_K, YK_TYPE_Q5_K, YK_TYPE_Q6_K,
};
#define N_TYPES (sizeof all_types / sizeof *all_types)

/* ---- fp16 / bf16 ---------------------------------------------------------------------------- */

/* Rounds x to a binary float with mant_bits explicit mantissa bits and minimum normal exponent
 * emin, ties to even, in float64; returns +-inf above max_finite's rounding boundary. */
static double round_ref(double x, int mant_bits, int emin, double overflow_at)
{
    double a = fabs(x);
    if (a >= overflow_at) return x < 0 ? -INFINITY : INFINITY;
    if (a == 0) return x;
    int e = (int)floor(log2(a));
    if (e < emin) e = emin;
    double ulp = ldexp(1.0, e - mant_bits);
    double r = nearbyint(a / ulp) * ulp; /* a/ulp is exact in double for these ranges */
    return x < 0 ? -r : r;
}

static void test_conversions(tu_rng *rng)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = yk_f16_to_f32((uint16_t)h);
        bool nan = ((h >> 10) & 0x1F) == 0x1F && (h & 0x3FF);
        if (nan ? !isnan(f) : yk_f32_to_f16(f) != h) bad++;
    }
    CHECK(bad == 0, "%d halves do not round trip", bad);
    CHECK(yk_f16_to_f32(0x3C00) == 1.0f && yk_f16_to_f32(0xC000) == -2.0f && yk_f16_to_f32(0x0001) == 0x1p-24f,
          "half values");
    bad = 0;
    int bad_bf = 0;
    for (int i = 0; i < 200000; i++) {
        /* log-uniform magnitudes from 2^-30 to 2^17, both signs, plus exact halfway cases */
        double mag = ldexp(1.0, -30 + (int)(tu_uniform(rng) * 47)) * (1.0 + tu_uniform(rng));
        if (i % 4 == 0) mag = ldexp(1.0 + (2 * (int)(tu_uniform(rng) * 512) + 1) / 2048.0, -10 + i % 20);
        float x = (float)(tu_uniform(rng) < 0.5 ? -mag : mag);
        double want = round_ref(x, 10, -14, 65520.0);
        if ((double)yk_f16_to_f32(yk_f32_to_f16(x)) != want) {
            if (bad++ < 3) printf("  f16(%a) = %a, want %a\n", x, yk_f16_to_f32(yk_f32_to_f16(x)), want);
        }
        double want_bf = fabs(x) < 0x1p-126 ? 0.0 : round_ref(x, 7, -126, 0x1.ffp127);
        if ((double)yk_bf16_to_f32(yk_f32_to_bf16(x)) != want_bf) bad_bf++;
    }
    CHECK(bad == 0, "%d f16 roundings differ from the float64 reference", bad);
    CHECK(bad_bf == 0, "%d bf16 roundings differ from the float64 reference", bad_bf);
    CHECK(yk_f32_to_f16(65519.0f) == 0x7BFF && yk_f32_to_f16(65520.0f) == 0x7C00, "f16 overflow boundary");
    CHECK(isnan(yk_f16_to_f32(yk_f32_to_f16(NAN))) && isnan(yk_bf16_to_f32(yk_f32_to_bf16(NAN))), "NaN stays NaN");
    CHECK(yk_f32_to_bf16(1.0f + 0x1p-8f) == 0x3F80 && yk_f32_to_bf16(1.0f + 0x3p-8f) == 0x3F82, "bf16 ties to even");
}

/* ---- helpers -------------------------------------------------------------------------------- */

static void fill_normal(tu_rng *rng, float *x, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++) {
        double v = tu_normal(rng) * scale;
        if (tu_uniform(rng) < 0.01) v *= 6; /* occasional outliers, as real weights have */
        x[i] = (float)v;
    }
}

static double nmse(const float *a, const double *ref, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return num / den;
}

/* Byte offsets of the fp16 scale fields in one block of t (to make random blocks well formed). */
static int half_fields(yk_type t, int off[3])
{
    switch (t) {
    case YK_TYPE_Q8_0: case YK_TYPE_Q4_0: case YK_TYPE_Q5_0: case YK_TYPE_IQ4_NL: off[0] = 0; return 1;
    case YK_TYPE_Q4_1: case YK_TYPE_Q5_1: case YK_TYPE_Q4_K: case YK_TYPE_Q5_K: off[0] = 0; off[1] = 2; return 2;
    case YK_TYPE_Q2_K: off[0] = 80; off[1] = 82; return 2;
    case YK_TYPE_Q3_K: off[0] = 108; return 1;
    case YK_TYPE_Q6_K: off[0] = 208; return 1;
    default: return 0;
    }
}

/* Random weights of type t: quantised from Gaussian rows when quantize is set and t is
 * quantisable, otherwise random block bytes with sane fp16 scales (covers every bit pattern of the
 * quantised values, which real quantisers may not produce). */
static void random_weights(tu_rng *rng, yk_type t, uint8_t *W, int64_t rows, int64_t k, bool quantize)
{
    size_t rb = yk_row_bytes(t, k);
    if (quantize && yk_type_quantizable(t)) {
        float *x = malloc((size_t)k * sizeof *x);
        for (int64_t r = 0; r < rows; r++) {
            fill_normal(rng, x, k, 0.02 * (1 + r % 5));
            yk_quantize_row(t, x, W + r * rb, k);
        }
        free(x);
        return;
    }
    const yk_type_layout *l = yk_type_layout_of(t);
    if (l->block == 1) { /* float types: store Gaussian values */
        float *x = malloc((size_t)k * sizeof *x);
        for (int64_t r = 0; r < rows; r++) {
            fill_normal(rng, x, k, 0.05);
            for (int64_t i = 0; i < k; i++) {
                uint16_t h = t == YK_TYPE_F16 ? yk_f32_to_f16(x[i]) : yk_f32_to_bf16(x[i]);
                if (t == YK_TYPE_F32) memcpy(W + r * rb + 4 * i, &x[i], 4);
                else memcpy(W + r * rb + 2 * i, &h, 2);
            }
        }
        free(x);
        return;
    }
    for (size_t i = 0; i < rb * (size_t)rows; i++) W[i] = (uint8_t)(tu_uniform(rng) * 256);
    int off[3], nf = half_fields(t, off);
    for (size_t b = 0; b < rb * (size_t)rows / (size_t)l->block_bytes; b++)
        for (int f = 0; f < nf; f++) {
            uint16_t h = yk_f32_to_f16((float)((0.5 + tu_uniform(rng)) * 1e-3 * (f ? 0.5 : 1.0)));
            memcpy(W + b * (size_t)l->block_bytes + off[f], &h, 2);
        }
}

/* ---- quantise / dequantise ------------------------------------------------------------------ */

/* NMSE bounds of quantise -> dequantise on Gaussian data with 1% 6-sigma outliers. Each is about
 * twice the value measured with the quantisers (the error is a property of the format: a step of
 * d = amax/levels gives d^2/12 per value), low enough that a wrong level or scale fails. */
static double roundtrip_bound(yk_type t)
{
    switch (t) {
    case YK_TYPE_F32: return 0;       /* exact */
    case YK_TYPE_F16: return 1e-7;    /* 2^-11 relative steps: measured 4.3e-8 */
    case YK_TYPE_BF16: return 5e-6;   /* 2^-8 relative steps: 2.6e-6 */
    case YK_TYPE_Q8_0: return 1.2e-4; /* 255 levels per 32 values: 5.8e-5 */
    case YK_TYPE_Q4_0: return 3e-2;   /* 16 levels: 1.4e-2 */
    case YK_TYPE_Q4_1: return 1.6e-2; /* 16 levels on the range: 8.0e-3 */
    case YK_TYPE_Q5_0: return 7e-3;   /* 32 levels: 3.5e-3 */
    case YK_TYPE_Q5_1: return 4e-3;   /* 1.9e-3 */
    case YK_TYPE_IQ4_NL: return 1.8e-2; /* 16 non-linear levels: 8.8e-3 */
    case YK_TYPE_Q2_K: return 2.2e-1; /* 4 levels per 16 values: 0.109 */
    case YK_TYPE_Q3_K: return 6e-2;   /* 8 levels: 3.1e-2 */
    case YK_TYPE_Q4_K: return 1.4e-2; /* 16 levels per 32, 6-bit scales: 6.7e-3 */
    case YK_TYPE_Q5_K: return 3.5e-3; /* 1.7e-3 */
    case YK_TYPE_Q6_K: return 1e-3;   /* 64 levels per 16 values: 5.1e-4 */
    default: return 0;
    }
}

static void test_roundtrip(tu_rng *rng)
{
    const int64_t n = 4096;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    double *ref = malloc(n * sizeof *ref);
    uint8_t *q = malloc(yk_row_bytes(YK_TYPE_F32, n));
    fill_normal(rng, x, n, 1.0);
    for (int64_t i = 0; i < n; i++) ref[i] = x[i];
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        yk_type t = all_types[ti];
        if (!yk_type_quantizable(t)) continue;
        yk_quantize_row(t, x, q, n);
        yk_dequantize_row(t, q, y, n);
        double e = nmse(y, ref, n);
        printf("  %-6s quantise/dequantise NMSE %.3g (bound %.3g)\n", yk_type_name(t), e, roundtrip_bound(t));
        CHECK(e <= roundtrip_bound(t), "%s NMSE %g > %g", yk_type_name(t), e, roundtrip_bound(t));
        /* deterministic */
        uint8_t *q2 = malloc(yk_row_bytes(t, n));
        yk_quantize_row(t, x, q2, n);
        CHECK(memcmp(q, q2, yk_row_bytes(t, n)) == 0, "%s quantiser deterministic", yk_type_name(t));
        free(q2);
        /* an all-zero row quantises to zeros */
        float z[256] = {0}, zy[256];
        uint8_t zq[2048];
        yk_quantize_row(t, z, zq, 256);
        yk_dequantize_row(t, zq, zy, 256);
        bool zero = true;
        for (int i = 0; i < 256; i++) zero &= zy[i] == 0.0f;
        CHECK(zero, "%s zero row", yk_type_name(t));
    }
    free(x), free(y), free(ref), free(q);
}

/* ---- activation formats --------------------------------------------------------------------- */

static void test_acts(tu_rng *rng)
{
    const int64_t k = 512;
    float x[512], y[512];
    fill_normal(rng, x, k, 3.0);
    x[5] = 0.0f;
    for (int j = 64; j < 96; j++) x[j] = 0.0f; /* an all-zero block */
    uint8_t buf[4096];

    /* Q8_0: d = fp16(amax/127); q = round-to-even(x * 127/amax). */
    yk_acts_convert_on(YK_SIMD_SCALAR, YK_TYPE_Q4_0, x, k, 0, 1, buf);
    const blk_q8_0 *b = (const blk_q8_0 *)buf;
    int bad = 0;
    for (int i = 0; i < k / 32; i++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * i + j]));
        if (b[i].d != yk_f32_to_f16(amax / 127.0f)) bad++;
        float id = amax ? 127.0f / amax : 0.0f;
        for (int j = 0; j < 32; j++)
            if (b[i].qs[j] != (int)rintf(x[32 * i + j] * id)) bad++;
    }
    CHECK(bad == 0, "Q8_0 activations: %d values differ", bad);

    /* Q8_1: as Q8_0 plus s = fp16(d * sum q). */
    uint8_t buf1[4096];
    yk_acts_convert_on(YK_SIMD_SCALAR, YK_TYPE_Q4_1, x, k, 0, 1, buf1);
    const blk_q8_1 *b1 = (const blk_q8_1 *)buf1;
    bad = 0;
    for (int i = 0; i < k / 32; i++) {
        int sum = 0;
        float amax = 0;
        for (int j = 0; j < 32; j++) {
            sum += b1[i].qs[j];
            amax = fmaxf(amax, fabsf(x[32 * i + j]));
        }
        if (b1[i].s != yk_f32_to_f16(amax / 127.0f * (float)sum)) bad++;
        if (memcmp(b1[i].qs, b[i].qs, 32) || b1[i].d != b[i].d) bad++;
    }
    CHECK(bad == 0, "Q8_1 activations: %d blocks differ", bad);

    /* Q8_K: the largest magnitude maps to -127 (sign flipped by d < 0 when it is positive),
     * values reconstruct within d/2, bsums are the sums of 16. */
    yk_acts_convert_on(YK_SIMD_SCALAR, YK_TYPE_Q4_K, x, k, 0, 1, buf);
    const blk_q8_K *bk = (const blk_q8_K *)buf;
    bad = 0;
    yk_dequantize_row(YK_TYPE_Q8_K, buf, y, k);
    for (int i = 0; i < k / 256; i++) {
        int has_m127 = 0;
        for (int j = 0; j < 256; j++) {
            has_m127 |= bk[i].qs[j] == -127;
            if (fabsf(y[256 * i + j] - x[256 * i + j]) > fabsf(bk[i].d) * 0.5001f) bad++;
        }
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += bk[i].qs[16 * g + l];
            if (s != bk[i].bsums[g]) bad++;
        }
        if (!has_m127) bad++;
    }
    CHECK(bad == 0, "Q8_K activations: %d values differ", bad);
}

/* ---- products ------------------------------------------------------------------------------- */

/* NMSE bounds of the product against float64 with the original activations: the activation
 * format's rounding (about 1/12 of its step squared, relative), with 3x margin. */
static double product_bound(yk_type t)
{
    /* Q2_K's dequantised weights are the noisiest (NMSE 0.1 against their source), and the
     * activation error is measured against that noisy product: measured 3e-4..8e-4. */
    if (t == YK_TYPE_Q2_K) return 2e-3;
    switch (yk_vec_type(t)) {
    case YK_TYPE_F32: return 1e-12;  /* float summation only: ~1e-14 */
    case YK_TYPE_F16: return 3e-7;   /* activations rounded to 11 bits: ~1e-7 */
    case YK_TYPE_BF16: return 2e-5;  /* 8 bits: ~5e-6 */
    case YK_TYPE_Q8_0: case YK_TYPE_Q8_1: return 2e-4; /* 8 bits per block of 32, heavy-tailed input: ~5e-5 */
    case YK_TYPE_Q8_K: return 3e-4;  /* 8 bits per block of 256: ~8e-5 */
    default: return 0;
    }
}

/* Checks yk_matmul for type t on rows x k weights and nt tokens; returns false on a failure. */
static void check_product(tu_rng *rng, yk_type t, int64_t rows, int64_t k, int64_t nt, bool quantize,
                          yk_pool **pools)
{
    size_t rb = yk_row_bytes(t, k);
    uint8_t *W = malloc(rb * rows);
    float *X = malloc(k * nt * sizeof *X), *Wd = malloc(k * rows * sizeof *Wd), *Xd = malloc(k * nt * sizeof *Xd);
    float *Y[3];
    double *ref = malloc(rows * nt * sizeof *ref), *refq = malloc(rows * nt * sizeof *refq);
    double *mag = malloc(rows * nt * sizeof *mag);
    void *scratch = malloc(yk_acts_bytes(t, k, nt));
    random_weights(rng, t, W, rows, k, quantize);
    fill_normal(rng, X, k * nt, 1.0);
    for (int64_t r = 0; r < rows; r++) yk_dequantize_row(t, W + r * rb, Wd + r * k, k);

    for (int p = 0; p < 3; p++) {
        Y[p] = malloc(rows * nt * sizeof *Y[p]);
        yk_matmul(pools[p], t, W, rb, rows, X, k, nt, Y[p], rows, scratch);
    }
    /* The converted activations, dequantised: the values the kernel really multiplies. */
    yk_type vt = yk_vec_type(t);
    for (int64_t i = 0; i < nt; i++)
        yk_dequantize_row(vt, (uint8_t *)scratch + i * yk_row_bytes(vt, k), Xd + i * k, k);
    for (int64_t i = 0; i < nt; i++)
        for (int64_t r = 0; r < rows; r++) {
            double s = 0, sq = 0, m = 0;
            for (int64_t j = 0; j < k; j++) {
                s += (double)Wd[r * k + j] * X[i * k + j];
                sq += (double)Wd[r * k + j] * Xd[i * k + j];
                m += fabs((double)Wd[r * k + j] * Xd[i * k + j]);
            }
            if (vt == YK_TYPE_Q8_1) {
                /* Q8_1 carries s = fp16(d * sum q): the offset m of Q4_1 / Q5_1 weights multiplies
                 * that rounded sum, not the exact one (the reference engine's arithmetic). */
                const blk_q8_1 *xb = (const blk_q8_1 *)((uint8_t *)scratch + i * yk_row_bytes(vt, k));
                for (int64_t blk = 0; blk < k / 32; blk++) {
                    uint16_t mh;
                    memcpy(&mh, W + r * rb + blk * yk_type_layout_of(t)->block_bytes + 2, 2);
                    int sum = 0;
                    for (int j = 0; j < 32; j++) sum += xb[blk].qs[j];
                    sq += (double)yk_f16_to_f32(mh) *
                          ((double)yk_f16_to_f32(xb[blk].s) - (double)yk_f16_to_f32(xb[blk].d) * sum);
                }
            }
            ref[i * rows + r] = s;
            refq[i * rows + r] = sq;
            mag[i * rows + r] = m;
        }
    /* (a) Only the float summation differs from refq: at most ~(k/32 + 8) roundings of 2^-24
     * relative to sum |w x| in the worst case; 1e-5 fails for any wrong block (a block carries about
     * 1/(k/32) >= 6e-4 of sum |w x|). Checked for every SIMD path the CPU has. */
    float *Yp = malloc(rows * nt * sizeof *Yp);
    void *xq = malloc(yk_acts_bytes(t, k, nt));
    for (int s = 0; s < YK_SIMD_COUNT; s++) {
        if (!yk_simd_available((yk_simd)s)) continue;
        yk_acts_convert_on((yk_simd)s, t, X, k, 0, nt, xq);
        yk_matmul_rows_on((yk_simd)s, t, W, rb, xq, k, nt, Yp, rows, 0, rows);
        int bad = 0;
        double worst = 0;
        for (int64_t i = 0; i < rows * nt; i++) {
            double e = fabs(Yp[i] - refq[i]) / (mag[i] > 0 ? mag[i] : 1);
            if (e > worst) worst = e;
            if (e > 1e-5) bad++;
        }
        CHECK(bad == 0, "%s path %d %lldx%lld nt=%lld: %d outputs off the exact-activation reference (worst %.3g)",
              yk_type_name(t), s, (long long)rows, (long long)k, (long long)nt, bad, worst);
    }
    free(Yp), free(xq);
    /* (b) Against the original activations: the format's rounding only (for realistic weights;
     * random block bytes have large offsets that make the bound meaningless). */
    double e = nmse(Y[0], ref, rows * nt);
    CHECK(!(quantize && yk_type_quantizable(t)) || e <= product_bound(t), "%s %lldx%lld nt=%lld: NMSE %.3g > %.3g", yk_type_name(t), (long long)rows,
          (long long)k, (long long)nt, e, product_bound(t));
    /* Thread counts give identical bytes. */
    CHECK(!memcmp(Y[0], Y[1], rows * nt * sizeof(float)) && !memcmp(Y[0], Y[2], rows * nt * sizeof(float)),
          "%s: 1, 2, 3 threads differ", yk_type_name(t));
    for (int p = 0; p < 3; p++) free(Y[p]);
    free(W), free(X), free(Wd), free(Xd), free(ref), free(refq), free(mag), free(scratch);
}

int main(void)
{
    tu_rng rng = {20251127};
    printf("  SIMD path: %s\n", yk_simd_path());
    test_conversions(&rng);
    test_roundtrip(&rng);
    test_acts(&rng);

    yk_pool *pools[3] = {yk_pool_create(1), yk_pool_create(2), yk_pool_create(3)};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        yk_type t = all_types[ti];
        CHECK(yk_type_supported(t), "%s supported", yk_type_name(t));
        check_product(&rng, t, 37, 512, 1, true, pools);
        check_product(&rng, t, 37, 512, 5, false, pools);
        check_product(&rng, t, 70, 768, 3, true, pools);
    }
    CHECK(!yk_type_supported(YK_TYPE_IQ2_XXS) && !yk_type_supported(YK_TYPE_Q8_K), "unsupported types");
    CHECK(yk_vec_type(YK_TYPE_Q4_K) == YK_TYPE_Q8_K && yk_vec_type(YK_TYPE_Q5_1) == YK_TYPE_Q8_1 &&
          yk_vec_type(YK_TYPE_IQ4_NL) == YK_TYPE_Q8_0 && yk_vec_type(YK_TYPE_F32) == YK_TYPE_F32, "vec types");
    /* A NULL pool runs inline. */
    for (int p = 0; p < 3; p++) yk_pool_destroy(pools[p]);
    return tu_done("test_quant");
}
