/* quant_amx.c: prefill products of F16 and BF16 weights on AMX tiles (Intel Sapphire Rapids and
 * later), the "amx" path: the AVX-512 kernels for everything else, and for one token (see quant.c).
 *
 * TDPBF16PS multiplies a 16 x 32 BF16 tile by a 32 x 16 one and adds the products to a 16 x 16 FP32
 * tile: about 1000 G multiply-adds/s on one core of the machine in docs/PERF.md, 20x its FP32 FMAs.
 *
 * Exactness. An F16 value is exactly the sum of two BF16 values: hi keeps the top 8 of its 11
 * significant bits (the F32 word with its low 16 bits cleared), lo = value - hi the other 3 (exact
 * in F32, and in BF16, whose exponent range is F32's). The activations of F16 weights are F16 too
 * (yk_vec_type), so four passes, hi*hi + hi*lo + lo*lo + lo*hi, add every exact product w*x in
 * FP32, as the FMA kernels do: only the order of the FP32 additions differs. BF16 weights take one
 * pass against their BF16 activations. Products below 2^-126 would be flushed to zero by the
 * instruction (F16 data gives none: its smallest product is 2^-48).
 *
 * Layout. A = 16 weight rows x 32 inputs (a row of A is 64 bytes of one weight row); B = 32 inputs
 * x 16 tokens, stored as 16 rows of input pairs (row p holds inputs 2p, 2p+1 of each token); C =
 * 16 rows x 16 tokens. Tiles 0-3 accumulate 2 row tiles x 2 token tiles, 4-5 hold A, 6-7 hold B.
 * Per call: tokens in groups of TG; inputs in chunks of KCH, whose activation tiles (all tokens of
 * the group, 512 KB) stay in L2 while every step of RS rows is staged (F16 split into hi and lo)
 * and multiplied. Each step's rows are staged during the previous step's tile loop, a few rows per
 * input step: on weights that come from memory (2 threads, a 256 MB matrix) that runs 1.3x faster
 * than staging between the loops, whose reads then wait on memory (with the weights in cache the
 * two run alike; a software prefetch of the rows after added nothing). Rows, tokens and inputs past
 * the ends are zeros in the tiles. With several chunks the accumulators are stored between chunks.
 *
 * Every output gets the same sequence of tile instructions whatever the row range (thread split)
 * or the number of tokens (2 or more), so prefill results do not depend on how the work is cut. */
#include "quant_impl.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>

#define TB 1024  /* bytes of a tile: 16 rows x 64 bytes */
#define KCH 2048 /* inputs per chunk */
#define TG 64    /* tokens per group: 4 token tiles */
#define RS 32    /* rows per step: 2 row tiles */

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Each thread keeps its tile buffers (about 1 MB) from call to call: allocating them per call cost
 * page faults on every product. Freed when the thread exits (the key's destructor). */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_ok; /* written once under scratch_once */
static _Thread_local struct scratch {
    void *p;
    size_t n;
} scratch;

static void scratch_free(void *s)
{
    struct scratch *sc = s;
    free(sc->p);
    sc->p = NULL, sc->n = 0;
}

static void scratch_init(void) { scratch_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

/* This thread's buffer of at least n bytes (64-byte aligned), or NULL. */
static void *scratch_get(size_t n)
{
    if (scratch.n >= n) return scratch.p;
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_ok) return NULL;
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) return NULL;
    free(scratch.p);
    scratch.p = p, scratch.n = n;
    pthread_setspecific(scratch_key, &scratch);
    return p;
}

/* The 32 values at src (F16) as BF16 hi and lo parts (exact: see the top). */
static inline void split_f16(const uint16_t *src, __m512i *hi, __m512i *lo)
{
    const __m512i top = _mm512_set1_epi32((int)0xffff0000u);
    __m512 a = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)src));
    __m512 b = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + 16)));
    __m512 ah = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), top));
    __m512 bh = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(b), top));
    *hi = (__m512i)_mm512_cvtne2ps_pbh(bh, ah); /* a in the low half */
    *lo = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(b, bh), _mm512_sub_ps(a, ah));
}

/* Inputs [i, i + 32) of a row of k 16-bit values, zeros past k. */
static inline const uint16_t *inputs32(const uint16_t *row, int64_t i, int64_t k, uint16_t pad[32])
{
    if (i + 32 <= k) return row + i;
    memset(pad, 0, 32 * sizeof *pad);
    if (i < k) memcpy(pad, row + i, (size_t)(k - i) * sizeof *pad);
    return pad;
}

/* The parts (1 or 2) of 32 inputs as 16-bit words: F16 split, BF16 as is. */
static inline int parts32(yk_type wt, const uint16_t *v, __m512i out[2])
{
    if (wt == YK_TYPE_F16) {
        split_f16(v, &out[0], &out[1]);
        return 2;
    }
    out[0] = _mm512_loadu_si512(v);
    return 1;
}

/* Activation tiles of tokens [t0, t0 + ng) and inputs [i0, i0 + 32 nkb): tile (part, tt, kb) at
 * B + ((part * ntt + tt) * nkb + kb) * TB, token t of the tile in dword t of every row. */
static void stage_acts(yk_type wt, const uint8_t *Xq, size_t x_stride, int64_t k, int64_t t0, int64_t ng, int ntt,
                       int64_t i0, int64_t nkb, uint8_t *B)
{
    const int np = wt == YK_TYPE_F16 ? 2 : 1;
    if (ng < ntt * 16) memset(B, 0, (size_t)np * (size_t)ntt * (size_t)nkb * TB);
    const __m512i rows = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32(16));
    uint16_t pad[32];
    for (int64_t t = 0; t < ng; t++) {
        const uint16_t *x = (const uint16_t *)(Xq + (size_t)(t0 + t) * x_stride);
        for (int64_t kb = 0; kb < nkb; kb++) {
            __m512i v[2];
            int n = parts32(wt, inputs32(x, i0 + 32 * kb, k, pad), v);
            for (int p = 0; p < n; p++) {
                int32_t *tile = (int32_t *)(B + ((size_t)(p * ntt + t / 16) * (size_t)nkb + (size_t)kb) * TB);
                _mm512_i32scatter_epi32(tile + t % 16, rows, v[p], 4);
            }
        }
    }
}

/* The weight tiles of one step of RS rows, inputs [i0, i0 + 32 nkb): tile (part, rt, kb) at
 * A + ((part * 2 + rt) * nkb + kb) * TB, row j of the tile in its bytes 64j... Rows past the
 * matrix (w[j] NULL) and inputs past k are zeros. */
typedef struct {
    yk_type wt;
    const uint16_t *w[RS]; /* row j from input i0, or NULL */
    uint8_t *A;
    int64_t k, i0, nkb, whole; /* whole: steps with no input past k */
} stager;

static void stager_init(stager *g, yk_type wt, const uint8_t *W, size_t w_stride, int64_t k, int64_t r, int64_t nr,
                        int64_t i0, int64_t nkb, uint8_t *A)
{
    g->wt = wt, g->A = A, g->k = k, g->i0 = i0, g->nkb = nkb;
    g->whole = (k - i0) / 32 < nkb ? (k - i0) / 32 : nkb;
    for (int64_t j = 0; j < RS; j++) g->w[j] = j < nr ? (const uint16_t *)(W + (size_t)(r + j) * w_stride) + i0 : NULL;
}

/* Stages inputs [i0 + 32 kb, + 32) of rows [j0, j1) of the step. */
static inline void stage(const stager *g, int j0, int j1, int64_t kb)
{
    const size_t part = 2 * (size_t)g->nkb * TB; /* from a hi tile to its lo tile */
    uint16_t pad[32];
    for (int j = j0; j < j1; j++) {
        uint8_t *d = g->A + ((size_t)(j / 16) * (size_t)g->nkb + (size_t)kb) * TB + (size_t)(j % 16) * 64;
        __m512i v[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
        if (g->w[j] && kb < g->whole) {
            parts32(g->wt, g->w[j] + 32 * kb, v);
        } else if (g->w[j]) {
            parts32(g->wt, inputs32(g->w[j] - g->i0, g->i0 + 32 * kb, g->k, pad), v);
        }
        _mm512_store_si512(d, v[0]);
        if (g->wt == YK_TYPE_F16) _mm512_store_si512(d + part, v[1]);
    }
}

/* C tiles of 2 row tiles x 1 or 2 token tiles (two) over nkb input steps, from A (this step's
 * weight tiles) and B (activation tiles tt, tt + 1 of ntt). C starts from c (TG floats a row apart)
 * when load, else from zero, and ends there. Per step each pass loads what changes: hi*hi, hi*lo
 * (new B), lo*lo (new A), lo*hi (new B). Meanwhile the core stages input step kb of rows [j0, j1)
 * of the next step (g, if not NULL): its reads from memory wait while the tiles compute. */
static void multiply(int np, const uint8_t *A, const uint8_t *B, int ntt, int tt, bool two, int64_t nkb, float *c,
                     bool load, const stager *g, int j0, int j1)
{
    const size_t ldc = TG * sizeof(float);
    if (load) {
        _tile_loadd(0, c, ldc);
        _tile_loadd(2, c + 16 * TG, ldc);
        if (two) {
            _tile_loadd(1, c + 16, ldc);
            _tile_loadd(3, c + 16 * TG + 16, ldc);
        }
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
#define A_AT(p, rt) (A + ((size_t)((p) * 2 + (rt)) * (size_t)nkb + (size_t)kb) * TB)
#define B_AT(p, t) (B + ((size_t)((p) * ntt + (t)) * (size_t)nkb + (size_t)kb) * TB)
#define PASS()                                                                                                      \
    do {                                                                                                            \
        _tile_dpbf16ps(0, 4, 6);                                                                                    \
        _tile_dpbf16ps(2, 5, 6);                                                                                    \
        if (two) {                                                                                                  \
            _tile_dpbf16ps(1, 4, 7);                                                                                \
            _tile_dpbf16ps(3, 5, 7);                                                                                \
        }                                                                                                           \
    } while (0)
    for (int64_t kb = 0; kb < nkb; kb++) {
        _tile_loadd(4, A_AT(0, 0), 64);
        _tile_loadd(5, A_AT(0, 1), 64);
        _tile_loadd(6, B_AT(0, tt), 64);
        if (two) _tile_loadd(7, B_AT(0, tt + 1), 64);
        PASS();
        if (np == 2) {
            _tile_loadd(6, B_AT(1, tt), 64);
            if (two) _tile_loadd(7, B_AT(1, tt + 1), 64);
            PASS();
            _tile_loadd(4, A_AT(1, 0), 64);
            _tile_loadd(5, A_AT(1, 1), 64);
            PASS();
            _tile_loadd(6, B_AT(0, tt), 64);
            if (two) _tile_loadd(7, B_AT(0, tt + 1), 64);
            PASS();
        }
        if (g) stage(g, j0, j1, kb);
    }
#undef PASS
#undef B_AT
#undef A_AT
    _tile_stored(0, c, ldc);
    _tile_stored(2, c + 16 * TG, ldc);
    if (two) {
        _tile_stored(1, c + 16, ldc);
        _tile_stored(3, c + 16 * TG + 16, ldc);
    }
}

bool yk_amx_matmul(yk_type wt, const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k, int64_t nt,
                   float *Y, int64_t ldy, int64_t r0, int64_t r1)
{
    YK_ASSERT(wt == YK_TYPE_F16 || wt == YK_TYPE_BF16);
    const int np = wt == YK_TYPE_F16 ? 2 : 1;
    const int64_t kpad = (k + 31) / 32 * 32, nkc = (kpad + KCH - 1) / KCH;
    const int64_t nkb_max = kpad < KCH ? kpad / 32 : KCH / 32;
    const int64_t steps = (r1 - r0 + RS - 1) / RS;
    /* with one chunk the accumulators of a step are written out at once; with several, all stay */
    const int64_t acc_rows = nkc > 1 ? steps * RS : RS;
    const size_t b_bytes = (size_t)np * (TG / 16) * (size_t)nkb_max * TB, a_bytes = (size_t)np * 2 * (size_t)nkb_max * TB;
    uint8_t *B = scratch_get(b_bytes + 2 * a_bytes + (size_t)acc_rows * TG * sizeof(float));
    if (!B) return false;
    uint8_t *A[2] = {B + b_bytes, B + b_bytes + a_bytes}; /* this step's weight tiles and the next's */
    float *acc = (float *)(A[1] + a_bytes);
    tile_config cfg = {.palette = 1};
    for (int i = 0; i < 8; i++) cfg.colsb[i] = 64, cfg.rows[i] = 16;
    _tile_loadconfig(&cfg);
    const uint8_t *w8 = W;
    for (int64_t t0 = 0; t0 < nt; t0 += TG) {
        const int64_t ng = nt - t0 < TG ? nt - t0 : TG;
        const int ntt = (int)((ng + 15) / 16), pairs = (ntt + 1) / 2;
        for (int64_t kc = 0; kc < nkc; kc++) {
            const int64_t i0 = kc * KCH, nkb = (kpad - i0 < KCH ? kpad - i0 : KCH) / 32;
            stage_acts(wt, Xq, x_stride, k, t0, ng, ntt, i0, nkb, B);
            stager g;
            stager_init(&g, wt, w8, w_stride, k, r0, r1 - r0 < RS ? r1 - r0 : RS, i0, nkb, A[0]);
            for (int64_t kb = 0; kb < nkb; kb++) stage(&g, 0, RS, kb);
            for (int64_t s = 0; s < steps; s++) {
                const int64_t r = r0 + s * RS, nr = r1 - r < RS ? r1 - r : RS;
                const bool more = s + 1 < steps;
                if (more) stager_init(&g, wt, w8, w_stride, k, r + RS, r1 - r - RS < RS ? r1 - r - RS : RS, i0, nkb, A[(s + 1) & 1]);
                float *c = acc + (nkc > 1 ? s * RS : 0) * TG;
                for (int p = 0; p < pairs; p++)
                    multiply(np, A[s & 1], B, ntt, 2 * p, 2 * p + 1 < ntt, nkb, c + 2 * p * 16, kc > 0, more ? &g : NULL,
                             p * RS / pairs, (p + 1) * RS / pairs);
                if (kc + 1 < nkc) continue;
                for (int64_t t = 0; t < ng; t++)
                    for (int64_t j = 0; j < nr; j++) Y[(t0 + t) * ldy + r + j] = c[j * TG + t];
            }
        }
    }
    _tile_release();
    return true;
}
