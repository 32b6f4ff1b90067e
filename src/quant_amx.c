/* quant_amx.c: prefill products on AMX tiles (Intel Sapphire Rapids and later), the "amx" path:
 * F16 and BF16 weights on BF16 tiles, Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_K and Q5_K on INT8 tiles
 * (second half of the file); the AVX-512 kernels for every other type, and for one token (quant_avx512.c).
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

/* Outputs of tokens [t0, t0 + ng) and rows [r, r + nr) from a step's accumulators (row j, token t
 * at c[j * TG + t]). */
static void write_out(const float *c, float *Y, int64_t ldy, int64_t t0, int64_t ng, int64_t r, int64_t nr)
{
    for (int64_t t = 0; t < ng; t++)
        for (int64_t j = 0; j < nr; j++) Y[(t0 + t) * ldy + r + j] = c[j * TG + t];
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
                if (kc + 1 == nkc) write_out(c, Y, ldy, t0, ng, r, nr);
            }
        }
    }
    _tile_release();
    return true;
}

/* ---- quantised weights on INT8 tiles ---------------------------------------------------------- *
 *
 * Q8_0, Q4_0, Q5_0 and IQ4_NL weights against Q8_0 activations, Q4_K and Q5_K against Q8_K. A block
 * here is 32 weights with one scale: a whole block of the 32-wide types, a sub-block of the k-quants.
 * TDPBUSD (unsigned levels: Q4_0, Q5_0, Q4_K, Q5_K) or TDPBSSD (signed: Q8_0, IQ4_NL) of a 16 x 32
 * tile of weight levels by a 32 x 16 tile of activation levels leaves every (row, token) block's
 * exact integer dot product in C. The core then takes C row by row: minus offset x the block's
 * activation sum (Q4_0: 8, Q5_0: 16), converted to float, times weight scale x activation scale,
 * minus (k-quants) the weight block's min x the activations' scaled sum, added to the output's
 * accumulator, in block order: every output gets the same arithmetic whatever the tile, the row
 * range or the number of tokens (2 or more). One C tile is computed while the previous block's is
 * read (C0 and C1 alternate). The tile instruction takes as long for 32 inputs as for 64 (measured:
 * 14-15 ns either way), so this runs at half the tiles' peak, and the float work per block costs
 * about as much again. Each step's rows are staged during the previous step's tiles, and the rows
 * of the step after are prefetched into L2 meanwhile (1.3-1.5x on rows that are not in L2 already;
 * the F16 kernel, with four tile passes per step, measured no gain from it). */
#define TB8 512   /* bytes of an INT8 tile here: A 16 rows x 32 levels, B 8 rows x 16 tokens x 4 */
#define KCH8 8192 /* inputs per chunk: 4 token tiles x 256 blocks x 512 B = 512 KB of activation tiles */

static inline bool kquant(yk_type wt) { return wt == YK_TYPE_Q4_K || wt == YK_TYPE_Q5_K; }

/* The 32 levels of a 32-wide weight block, in input order. */
static inline __m256i levels32(yk_type wt, const uint8_t *blk)
{
    const __m128i low4 = _mm_set1_epi8(0x0F);
    if (wt == YK_TYPE_Q8_0) return _mm256_loadu_si256((const __m256i *)((const blk_q8_0 *)blk)->qs);
    const uint8_t *qs = wt == YK_TYPE_Q4_0 ? ((const blk_q4_0 *)blk)->qs
                        : wt == YK_TYPE_Q5_0 ? ((const blk_q5_0 *)blk)->qs
                                             : ((const blk_iq4_nl *)blk)->qs;
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), low4), _mm_and_si128(q, low4));
    if (wt == YK_TYPE_Q4_0) return nib;
    if (wt == YK_TYPE_Q5_0) {
        uint32_t qh;
        memcpy(&qh, ((const blk_q5_0 *)blk)->qh, 4);
        return _mm256_or_si256(nib, _mm256_maskz_set1_epi8((__mmask32)qh, 16));
    }
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)yk_iq4nl_values)), nib);
}

/* Sub-block j (0..7) of a Q4_K / Q5_K super-block: its 32 levels, scale d x sc and min dmin x m. */
static inline __m256i levels_k(yk_type wt, const uint8_t *blk, int j, float *dw, float *mw)
{
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    uint16_t d, dmin;
    const uint8_t *scales = wt == YK_TYPE_Q4_K ? ((const blk_q4_K *)blk)->scales : ((const blk_q5_K *)blk)->scales;
    const uint8_t *qs = wt == YK_TYPE_Q4_K ? ((const blk_q4_K *)blk)->qs : ((const blk_q5_K *)blk)->qs;
    memcpy(&d, blk, 2), memcpy(&dmin, blk + 2, 2); /* both types start with d, dmin */
    int sc, m;
    yk_k4_scale_min(j, scales, &sc, &m);
    *dw = _cvtsh_ss(d) * (float)sc, *mw = _cvtsh_ss(dmin) * (float)m;
    __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j / 2)));
    __m256i v = _mm256_and_si256(j & 1 ? _mm256_srli_epi16(q, 4) : q, low4);
    if (wt == YK_TYPE_Q5_K) { /* the fifth bit: bit j of qh[l] */
        __m256i h = _mm256_loadu_si256((const __m256i *)((const blk_q5_K *)blk)->qh);
        v = _mm256_or_si256(v, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, j), _mm256_set1_epi8(1)), 4));
    }
    return v;
}

static inline int level_offset(yk_type wt) { return wt == YK_TYPE_Q4_0 ? 8 : wt == YK_TYPE_Q5_0 ? 16 : 0; }

/* What the tiles of one block need besides the levels, per (row or token, block), 16 a tile: the
 * weight scale dw and min mw (k-quants), the activation scale dx, offset x level sum osx (32-wide
 * types) and scale x level sum mx (k-quants). */
typedef struct {
    float *dw, *mw, *dx, *mx;
    int32_t *osx;
} scales8;

/* Activation tiles of tokens [t0, t0 + ng), blocks [b0, b0 + nb): tile (tt, b) at B + (tt * nb + b)
 * * TB8 (row p: inputs 4p..4p+3 of the tile's 16 tokens), its scales at [(tt * nb + b) * 16 + t %
 * 16]. Padding tokens are zeros. */
static void stage_acts8(yk_type wt, const uint8_t *Xq, size_t x_stride, int64_t t0, int64_t ng, int ntt, int64_t b0,
                        int64_t nb, uint8_t *B, const scales8 *sc)
{
    const size_t n = (size_t)ntt * (size_t)nb * 16;
    if (ng < ntt * 16) {
        memset(B, 0, n / 16 * TB8);
        memset(sc->dx, 0, n * sizeof(float)), memset(sc->mx, 0, n * sizeof(float));
        memset(sc->osx, 0, n * sizeof(int32_t));
    }
    const __m256i rows = _mm256_set_epi32(112, 96, 80, 64, 48, 32, 16, 0); /* dword p x 16 */
    const int off = level_offset(wt);
    for (int64_t t = 0; t < ng; t++) {
        const uint8_t *x = Xq + (size_t)(t0 + t) * x_stride;
        for (int64_t b = 0; b < nb; b++) {
            size_t at = ((size_t)(t / 16) * (size_t)nb + (size_t)b) * 16 + (size_t)(t % 16);
            const int8_t *qs;
            if (kquant(wt)) {
                const blk_q8_K *xk = (const blk_q8_K *)x + (b0 + b) / 8;
                int j = (int)((b0 + b) % 8);
                qs = xk->qs + 32 * j;
                sc->dx[at] = xk->d, sc->mx[at] = xk->d * (float)(xk->bsums[2 * j] + xk->bsums[2 * j + 1]);
                sc->osx[at] = 0;
            } else {
                const blk_q8_0 *x0 = (const blk_q8_0 *)x + b0 + b;
                qs = x0->qs;
                sc->dx[at] = _cvtsh_ss(x0->d), sc->mx[at] = 0;
            }
            __m256i v = _mm256_loadu_si256((const __m256i *)qs);
            _mm256_i32scatter_epi32((int32_t *)(B + (at / 16) * TB8) + t % 16, rows, v, 4);
            if (!kquant(wt)) {
                __m512i sum = _mm512_add_epi32(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(v)),
                                               _mm512_cvtepi8_epi32(_mm256_extracti128_si256(v, 1)));
                sc->osx[at] = off * _mm512_reduce_add_epi32(sum);
            }
        }
    }
}

/* The weight tiles of one step of RS rows, blocks [b0, b0 + nb): tile (rt, b) at A + (rt * nb + b)
 * * TB8, row j % 16 at 32 (j % 16); its scales at [(rt * nb + b) * 16 + j % 16]. Rows past the
 * matrix (w[j] NULL) are zeros. */
typedef struct {
    yk_type wt;
    const uint8_t *w[RS]; /* row j from block b0, or NULL */
    size_t bb;            /* bytes of a block (of a super-block: k-quants) */
    bool kq;
    uint8_t *A;
    float *dw, *mw;
    int64_t nb;
} stager8;

static void stager8_init(stager8 *g, yk_type wt, const uint8_t *W, size_t w_stride, int64_t r, int64_t nr, int64_t b0,
                         int64_t nb, uint8_t *A, float *dw, float *mw)
{
    g->wt = wt, g->kq = kquant(wt), g->bb = yk_row_bytes(wt, g->kq ? QKK : QK), g->A = A, g->dw = dw, g->mw = mw, g->nb = nb;
    const size_t skip = yk_row_bytes(wt, b0 * QK);
    for (int64_t j = 0; j < RS; j++) g->w[j] = j < nr ? W + (size_t)(r + j) * w_stride + skip : NULL;
}

/* Stages block b of rows [j0, j1) of the step (kq: g->kq, a constant where inlined). */
static inline __attribute__((always_inline)) void stage8(const stager8 *g, bool kq, int j0, int j1, int64_t b)
{
    const size_t bb = g->bb;
    for (int j = j0; j < j1; j++) {
        size_t at = ((size_t)(j / 16) * (size_t)g->nb + (size_t)b) * 16 + (size_t)(j % 16);
        __m256i v = _mm256_setzero_si256();
        float d = 0, m = 0;
        if (g->w[j] && kq) {
            /* chunks start on whole super-blocks: b0 is a multiple of 8 */
            v = levels_k(g->wt, g->w[j] + (size_t)(b / 8) * bb, (int)(b % 8), &d, &m);
        } else if (g->w[j]) {
            const uint8_t *blk = g->w[j] + (size_t)b * bb;
            uint16_t h;
            memcpy(&h, blk, 2); /* every one of these blocks starts with its scale */
            v = levels32(g->wt, blk), d = _cvtsh_ss(h);
        }
        _mm256_store_si256((__m256i *)(g->A + (at / 16) * TB8 + (size_t)(j % 16) * 32), v);
        g->dw[at] = d;
        if (kq) g->mw[at] = m;
    }
}

/* One C tile (16 rows x 16 tokens) over nb blocks: A, B and the scales at the tile's first block
 * (w: the weights' dw, mw; x: the activations' dx, mx, osx; mins: the k-quants' min term, else the
 * level offset). The accumulators (16 tokens a row, TG
 * floats apart) start from acc when load, else from zero. Meanwhile each block of rows [j0, j1) of
 * the next step is staged (g, if not NULL: its reads from memory wait while the tiles compute), and
 * line b of the same rows of the step after is prefetched into L2 (pf, pf_bytes a row). */
static inline __attribute__((always_inline)) void ctile8(bool sgn, bool mins, const uint8_t *A, const uint8_t *B, const scales8 *w, const scales8 *x, int64_t nb, float *acc,
                   bool load, const stager8 *g, int j0, int j1, const uint8_t *const *pf, size_t pf_bytes)
{
    int32_t c[2][256] __attribute__((aligned(64)));
    __m512 a[16];
    for (int i = 0; i < 16; i++) a[i] = load ? _mm512_loadu_ps(acc + i * TG) : _mm512_setzero_ps();
#define DP(t)                                                                                                       \
    do {                                                                                                            \
        _tile_zero(t);                                                                                              \
        if (sgn) _tile_dpbssd(t, 4, 6);                                                                             \
        else _tile_dpbusd(t, 4, 6);                                                                                 \
    } while (0)
    _tile_loadd(4, A, 32);
    _tile_loadd(6, B, 64);
    DP(0);
    for (int64_t b = 0; b < nb; b++) {
        int32_t *cur = c[b & 1];
        if (b & 1) _tile_stored(1, cur, 64);
        else _tile_stored(0, cur, 64);
        if (b + 1 < nb) { /* the next block's products while this one's are scaled */
            _tile_loadd(4, A + (size_t)(b + 1) * TB8, 32);
            _tile_loadd(6, B + (size_t)(b + 1) * TB8, 64);
            if (b & 1) DP(0);
            else DP(1);
        }
        const __m512 dx = _mm512_loadu_ps(x->dx + b * 16);
        if (mins) {
            const __m512 mx = _mm512_loadu_ps(x->mx + b * 16);
#pragma GCC unroll 16 /* the accumulators stay in registers */
            for (int i = 0; i < 16; i++) {
                __m512 p = _mm512_cvtepi32_ps(_mm512_load_si512(cur + i * 16));
                a[i] = _mm512_fmadd_ps(p, _mm512_mul_ps(dx, _mm512_set1_ps(w->dw[b * 16 + i])), a[i]);
                a[i] = _mm512_fnmadd_ps(mx, _mm512_set1_ps(w->mw[b * 16 + i]), a[i]);
            }
        } else {
            const __m512i o = _mm512_loadu_si512(x->osx + b * 16);
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) {
                __m512 p = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512(cur + i * 16), o));
                a[i] = _mm512_fmadd_ps(p, _mm512_mul_ps(dx, _mm512_set1_ps(w->dw[b * 16 + i])), a[i]);
            }
        }
        if (g) stage8(g, mins, j0, j1, b);
        for (int j = j0; j < j1; j++)
            if (pf[j] && (size_t)b * 64 < pf_bytes) _mm_prefetch((const char *)pf[j] + b * 64, _MM_HINT_T1);
    }
#undef DP
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(acc + i * TG, a[i]);
}

bool yk_amx_matmul8(yk_type wt, const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k,
                    int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1)
{
    YK_ASSERT(wt == YK_TYPE_Q8_0 || wt == YK_TYPE_Q4_0 || wt == YK_TYPE_Q5_0 || wt == YK_TYPE_IQ4_NL || kquant(wt));
    const bool sgn = wt == YK_TYPE_Q8_0 || wt == YK_TYPE_IQ4_NL;
    const int64_t nblk = k / QK, nkc = (k + KCH8 - 1) / KCH8, nb_max = nblk < KCH8 / QK ? nblk : KCH8 / QK;
    const int64_t steps = (r1 - r0 + RS - 1) / RS, acc_rows = nkc > 1 ? steps * RS : RS;
    const size_t b_bytes = (TG / 16) * (size_t)nb_max * TB8, a_bytes = 2 * (size_t)nb_max * TB8;
    const size_t xs_bytes = (TG / 16) * (size_t)nb_max * 16 * 4, ws_bytes = 2 * (size_t)nb_max * 16 * 4;
    uint8_t *B = scratch_get(b_bytes + 2 * a_bytes + 3 * xs_bytes + 4 * ws_bytes + (size_t)acc_rows * TG * sizeof(float));
    if (!B) return false;
    uint8_t *A[2] = {B + b_bytes, B + b_bytes + a_bytes}; /* this step's weight tiles and the next's */
    uint8_t *p = A[1] + a_bytes;
    scales8 xs = {.dx = (float *)p, .mx = (float *)(p + xs_bytes), .osx = (int32_t *)(p + 2 * xs_bytes)}, ws[2];
    p += 3 * xs_bytes;
    for (int i = 0; i < 2; i++, p += 2 * ws_bytes) ws[i] = (scales8){.dw = (float *)p, .mw = (float *)(p + ws_bytes)};
    float *acc = (float *)p;
    tile_config cfg = {.palette = 1};
    for (int i = 0; i < 2; i++) cfg.colsb[i] = 64, cfg.rows[i] = 16; /* C */
    cfg.colsb[4] = 32, cfg.rows[4] = 16;                             /* A: 16 rows x 32 levels */
    cfg.colsb[6] = 64, cfg.rows[6] = 8;                              /* B: 32 levels x 16 tokens */
    _tile_loadconfig(&cfg);
    const uint8_t *w8 = W;
    for (int64_t t0 = 0; t0 < nt; t0 += TG) {
        const int64_t ng = nt - t0 < TG ? nt - t0 : TG;
        const int ntt = (int)((ng + 15) / 16), tiles = 2 * ntt;
        for (int64_t kc = 0; kc < nkc; kc++) {
            const int64_t b0 = kc * (KCH8 / QK), nb = nblk - b0 < KCH8 / QK ? nblk - b0 : KCH8 / QK;
            const size_t row_bytes = yk_row_bytes(wt, nb * QK), skip = yk_row_bytes(wt, b0 * QK);
            stage_acts8(wt, Xq, x_stride, t0, ng, ntt, b0, nb, B, &xs);
            stager8 g;
            stager8_init(&g, wt, w8, w_stride, r0, r1 - r0 < RS ? r1 - r0 : RS, b0, nb, A[0], ws[0].dw, ws[0].mw);
            for (int64_t b = 0; b < nb; b++) stage8(&g, g.kq, 0, RS, b);
            for (int64_t s = 0; s < steps; s++) {
                const int64_t r = r0 + s * RS, nr = r1 - r < RS ? r1 - r : RS;
                const bool more = s + 1 < steps;
                const int cur = (int)(s & 1), nxt = cur ^ 1;
                if (more)
                    stager8_init(&g, wt, w8, w_stride, r + RS, r1 - r - RS < RS ? r1 - r - RS : RS, b0, nb, A[nxt], ws[nxt].dw,
                                 ws[nxt].mw);
                const uint8_t *pf[RS] = {0}; /* the rows after, into L2 */
                for (int64_t j = 0; more && j < RS && r + 2 * RS + j < r1; j++) pf[j] = w8 + (size_t)(r + 2 * RS + j) * w_stride + skip;
                float *c = acc + (nkc > 1 ? s * RS : 0) * TG;
                for (int q = 0; q < tiles; q++) {
                    const int rt = q / ntt, tt = q % ntt;
                    const size_t at = (size_t)rt * (size_t)nb, bt = (size_t)tt * (size_t)nb;
                    const scales8 wq = {.dw = ws[cur].dw + at * 16, .mw = ws[cur].mw + at * 16};
                    const scales8 xq = {.dx = xs.dx + bt * 16, .mx = xs.mx + bt * 16, .osx = xs.osx + bt * 16};
                    const uint8_t *a = A[cur] + at * TB8, *bx = B + bt * TB8;
                    float *cq = c + rt * 16 * TG + tt * 16;
                    const stager8 *gq = more ? &g : NULL;
                    const int j0 = q * RS / tiles, j1 = (q + 1) * RS / tiles;
                    /* one instance per kind of level, scale and offset */
                    if (g.kq) ctile8(false, true, a, bx, &wq, &xq, nb, cq, kc > 0, gq, j0, j1, pf, row_bytes);
                    else if (sgn) ctile8(true, false, a, bx, &wq, &xq, nb, cq, kc > 0, gq, j0, j1, pf, row_bytes);
                    else ctile8(false, false, a, bx, &wq, &xq, nb, cq, kc > 0, gq, j0, j1, pf, row_bytes);
                }
                if (kc + 1 == nkc) write_out(c, Y, ldy, t0, ng, r, nr);
            }
        }
    }
    _tile_release();
    return true;
}
