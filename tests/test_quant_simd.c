/* test_quant_simd.c: every SIMD path against the scalar path, for every type.
 *
 * - Activation conversions: byte-identical on every path.
 * - Products: each path within the float-summation tolerance of the scalar path (the integer block
 *   sums are exact on every path, which test_quant checks per path against float64; only the order
 *   of the float accumulation differs).
 * - Tiling: each output is the same whether computed with 1 token or among 9 (amx F16/BF16: 2 tokens
 *   or among 9), and for any row range.
 * - YK_SIMD: the test re-runs itself with YK_SIMD=scalar|avx2|avx512|amx and checks that the public
 *   functions then use that path (and never a higher one than the CPU has). */
#include "test.h"
#include "quant_impl.h"

static const yk_type types[] = {
    YK_TYPE_F32,  YK_TYPE_F16,  YK_TYPE_BF16, YK_TYPE_Q8_0, YK_TYPE_Q4_0, YK_TYPE_Q4_1, YK_TYPE_Q5_0,
    YK_TYPE_Q5_1, YK_TYPE_IQ4_NL, YK_TYPE_Q2_K, YK_TYPE_Q3_K, YK_TYPE_Q4_K, YK_TYPE_Q5_K, YK_TYPE_Q6_K,
};
#define N_TYPES (sizeof types / sizeof *types)
static const char *path_names[YK_SIMD_COUNT] = {"scalar", "avx2", "avx512", "amx"};

static void fill(tu_rng *rng, float *x, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++) x[i] = (float)(tu_normal(rng) * scale * (tu_uniform(rng) < 0.02 ? 5 : 1));
}

/* Weights: quantised Gaussian rows, or (raw) random bytes with sane fp16 scales in every block
 * position that holds one, so that every level pattern occurs. */
static void make_weights(tu_rng *rng, yk_type t, uint8_t *W, int64_t rows, int64_t k, bool raw)
{
    size_t rb = yk_row_bytes(t, k);
    float *x = malloc((size_t)k * sizeof *x);
    for (int64_t r = 0; r < rows; r++) {
        fill(rng, x, k, 0.02 * (1 + r % 3));
        yk_quantize_row(t, x, W + r * rb, k);
    }
    free(x);
    const yk_type_layout *l = yk_type_layout_of(t);
    if (!raw || l->block == 1) return;
    int off[2] = {-1, -1};
    switch (t) {
    case YK_TYPE_Q8_0: case YK_TYPE_Q4_0: case YK_TYPE_Q5_0: case YK_TYPE_IQ4_NL: off[0] = 0; break;
    case YK_TYPE_Q4_1: case YK_TYPE_Q5_1: case YK_TYPE_Q4_K: case YK_TYPE_Q5_K: off[0] = 0, off[1] = 2; break;
    case YK_TYPE_Q2_K: off[0] = 80, off[1] = 82; break;
    case YK_TYPE_Q3_K: off[0] = 108; break;
    case YK_TYPE_Q6_K: off[0] = 208; break;
    default: break;
    }
    size_t nb = rb * (size_t)rows / (size_t)l->block_bytes;
    for (size_t b = 0; b < nb; b++) {
        uint8_t *p = W + b * (size_t)l->block_bytes;
        for (int i = 0; i < l->block_bytes; i++) p[i] = (uint8_t)(tu_uniform(rng) * 256);
        for (int f = 0; f < 2; f++)
            if (off[f] >= 0) {
                uint16_t h = yk_f32_to_f16((float)((0.2 + tu_uniform(rng)) * 1e-3));
                memcpy(p + off[f], &h, 2);
            }
    }
}

/* The types whose prefill runs on AMX tiles on the amx path (quant_amx.c). */
static bool amx_tiles(yk_type t)
{
    return t == YK_TYPE_F16 || t == YK_TYPE_BF16 || t == YK_TYPE_Q8_0 || t == YK_TYPE_Q4_0 || t == YK_TYPE_Q5_0 ||
           t == YK_TYPE_IQ4_NL || t == YK_TYPE_Q4_K || t == YK_TYPE_Q5_K;
}

/* Compares every available path with scalar for one type and shape. */
static void check_paths(tu_rng *rng, yk_type t, int64_t rows, int64_t k, int64_t nt, bool raw)
{
    size_t rb = yk_row_bytes(t, k);
    yk_type vt = yk_vec_type(t);
    size_t xb = yk_row_bytes(vt, k);
    uint8_t *W = malloc(rb * rows);
    float *X = malloc(k * nt * sizeof *X), *Wd = malloc(k * rows * sizeof *Wd), *Xd = malloc(k * nt * sizeof *Xd);
    uint8_t *Xq[YK_SIMD_COUNT];
    float *Y[YK_SIMD_COUNT];
    make_weights(rng, t, W, rows, k, raw);
    fill(rng, X, k * nt, 1.0);
    for (int s = 0; s < YK_SIMD_COUNT; s++) {
        Xq[s] = malloc(xb * nt);
        Y[s] = malloc(rows * nt * sizeof(float));
        if (!yk_simd_available((yk_simd)s)) continue;
        yk_acts_convert_on((yk_simd)s, t, X, k, 0, nt, Xq[s]);
        CHECK(memcmp(Xq[s], Xq[0], xb * nt) == 0, "%s %s activations differ from scalar", path_names[s], yk_type_name(vt));
        yk_matmul_rows_on((yk_simd)s, t, W, rb, Xq[0], k, nt, Y[s], rows, 0, rows);
    }
    for (int64_t r = 0; r < rows; r++) yk_dequantize_row(t, W + r * rb, Wd + r * k, k);
    for (int64_t i = 0; i < nt; i++) yk_dequantize_row(vt, Xq[0] + i * xb, Xd + i * k, k);
    for (int s = 1; s < YK_SIMD_COUNT; s++) {
        if (!yk_simd_available((yk_simd)s)) continue;
        int bad = 0;
        double worst = 0;
        for (int64_t i = 0; i < nt; i++)
            for (int64_t r = 0; r < rows; r++) {
                double mag = 0;
                for (int64_t j = 0; j < k; j++) mag += fabs((double)Wd[r * k + j] * Xd[i * k + j]);
                /* Two float summations of the same exact terms (block products, lane partial sums):
                 * each within about (k/32 + 16) roundings of 2^-24 relative to sum |w x|. The amx
                 * path's F16 tiles add up to 4k exact products one after another, whose worst case
                 * is looser; their rounding errors have random signs and grow like the square root
                 * of the count (the worst seen here: 0.02 of this tolerance), so the tighter bound
                 * is kept for every path. */
                double tol = 2.0 * ((double)k / 32 + 16) * 0x1p-24 * mag + 1e-30;
                double e = fabs((double)Y[s][i * rows + r] - Y[0][i * rows + r]);
                if (e / tol > worst) worst = e / tol;
                if (e > tol) bad++;
            }
        if ((s == YK_SIMD_AVX2 || (s == YK_SIMD_AMX && amx_tiles(t))) && !raw && nt == 9)
            printf("  %-6s vs scalar: worst difference %.3f of the tolerance (%s)\n", yk_type_name(t), worst,
                   path_names[s]);
        CHECK(bad == 0, "%s %s k=%lld nt=%lld%s: %d outputs off scalar (worst %.2f x tolerance)", path_names[s],
              yk_type_name(t), (long long)k, (long long)nt, raw ? " raw" : "", bad, worst);
    }

    /* Tiling: token i computed alone, and rows [3, rows-2) alone, give the same bits. On the amx
     * path one token of a type with AMX tiles takes the avx512 kernel (within the tolerance above of
     * the tiles, as that path is), so there token i is computed in a pair instead: any 2 tokens or
     * more take the same tile instructions. */
    for (int s = 0; s < YK_SIMD_COUNT; s++) {
        if (!yk_simd_available((yk_simd)s)) continue;
        const bool pairs = s == YK_SIMD_AMX && amx_tiles(t) && nt >= 2;
        float *y1 = malloc(2 * rows * sizeof *y1);
        bool same = true;
        for (int64_t i = 0; i < nt; i++) {
            int64_t i0 = pairs ? (i + 1 < nt ? i : i - 1) : i;
            yk_matmul_rows_on((yk_simd)s, t, W, rb, Xq[0] + i0 * xb, k, pairs ? 2 : 1, y1, rows, 0, rows);
            same &= memcmp(y1 + (i - i0) * rows, Y[s] + i * rows, rows * sizeof *y1) == 0;
        }
        float *y2 = calloc(rows * nt, sizeof *y2);
        yk_matmul_rows_on((yk_simd)s, t, W, rb, Xq[0], k, nt, y2, rows, 3, rows - 2);
        for (int64_t i = 0; i < nt; i++) same &= memcmp(y2 + i * rows + 3, Y[s] + i * rows + 3, (rows - 5) * sizeof *y2) == 0;
        CHECK(same, "%s %s: results depend on the tiling", path_names[s], yk_type_name(t));
        free(y1), free(y2);
    }
    for (int s = 0; s < YK_SIMD_COUNT; s++) free(Xq[s]), free(Y[s]);
    free(W), free(X), free(Wd), free(Xd);
}

/* Child mode: YK_SIMD was set to want; the public functions must use it. */
static int child(const char *want)
{
    int expect = -1;
    for (int s = 0; s < YK_SIMD_COUNT; s++)
        if (!strcmp(want, path_names[s])) expect = s;
    CHECK(expect >= 0, "path name %s", want);
    if (expect < 0) return tu_done("test_quant_simd child");
    CHECK(!strcmp(yk_simd_path(), want), "YK_SIMD=%s gives path %s", want, yk_simd_path());
    tu_rng rng = {99};
    const int64_t rows = 19, k = 512, nt = 3;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        yk_type t = types[ti];
        size_t rb = yk_row_bytes(t, k);
        uint8_t *W = malloc(rb * rows), *xq = malloc(yk_acts_bytes(t, k, nt));
        float *X = malloc(k * nt * sizeof *X), *y = malloc(rows * nt * sizeof *y), *y2 = malloc(rows * nt * sizeof *y2);
        make_weights(&rng, t, W, rows, k, false);
        fill(&rng, X, k * nt, 1.0);
        yk_matmul(NULL, t, W, rb, rows, X, k, nt, y, rows, xq);
        yk_acts_convert_on((yk_simd)expect, t, X, k, 0, nt, xq);
        yk_matmul_rows_on((yk_simd)expect, t, W, rb, xq, k, nt, y2, rows, 0, rows);
        CHECK(!memcmp(y, y2, rows * nt * sizeof *y), "YK_SIMD=%s: yk_matmul of %s is not the %s path", want, yk_type_name(t), want);
        free(W), free(xq), free(X), free(y), free(y2);
    }
    return tu_done("test_quant_simd child");
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--child")) return child(argv[2]);
    for (int s = 0; s < YK_SIMD_COUNT; s++)
        printf("  path %-6s %s\n", path_names[s], yk_simd_available((yk_simd)s) ? "available" : "NOT available on this CPU: skipped");

    tu_rng rng = {7};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        yk_type t = types[ti];
        check_paths(&rng, t, 37, 768, 9, false);
        check_paths(&rng, t, 21, 512, 2, true);
        if (yk_type_layout_of(t)->block == 1) check_paths(&rng, t, 13, 172, 5, false); /* tails */
        /* the smallest rows: one block, an odd number of blocks, one super-block */
        int64_t blk = yk_type_layout_of(t)->block;
        check_paths(&rng, t, 9, blk == 1 ? 7 : blk, 3, false);
        if (blk == 32) check_paths(&rng, t, 9, 96, 6, true);
        /* several row chunks, input blocks and token groups of the prefill tiles, with tails */
        check_paths(&rng, t, 150, blk == 1 ? 1100 : blk == 32 ? 1056 : 1280, 13, false);
        /* long rows: several row chunks of every prefill kernel */
        check_paths(&rng, t, 150, 8192, 7, false);
        /* AMX tiles: 2 input chunks (with a tail for the float types), 2 token groups (64 + 6) */
        if (blk == 1) check_paths(&rng, t, 40, 2100, 70, false);
        if (blk > 1) check_paths(&rng, t, 40, 8192 + (blk == 32 ? 96 : 512), 70, false);
    }

    /* YK_SIMD forces each path (a lower one than the CPU's best, or the best itself). */
    for (int s = 0; s < YK_SIMD_COUNT; s++) {
        if (!yk_simd_available((yk_simd)s)) continue;
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "YK_SIMD=%s '%s' --child %s", path_names[s], argv[0], path_names[s]);
        int rc = system(cmd);
        CHECK(rc == 0, "child run with YK_SIMD=%s failed (%d)", path_names[s], rc);
    }
    return tu_done("test_quant_simd");
}
