/* quant_avx512.c: the kernels for CPUs with AVX-512 (F, BW, VL, DQ) + VNNI + BF16; chosen at run
 * time when the CPU has them (see quant.c). Decoding (one token) runs 4 rows at a time from 4 parts of
 * the row range (see ROW_LOOP in quant_simd.inc).
 *
 * Q2_K and Q3_K use the shared 256-bit kernels of quant_simd.inc (compiled here with VNNI); Q4_K,
 * Q5_K and Q6_K take 64 values per VPMADDUBSW + VPDPWSSD (32 weight bytes broadcast to both halves
 * and shifted per half, so the activations are used in place), in tiles of 2 rows x 8 tokens when
 * prefilling, the offset term as one float FMA per super-block. The 32-wide types and the float
 * types have 512-bit kernels:
 *
 * 32-wide types. Per call, each group of up to TBP = 8 tokens (1 when decoding) is repacked once:
 * the int8 values of each pair of activation blocks are laid out to match how a pair of weight blocks unpacks into one
 * 64-byte vector, the block scales are converted to float, and the offset of the weight levels
 * (-8 for Q4_0, -16 for Q5_0, -128 for Q8_0 and IQ4_NL, whose signed values are stored as u8 + 128)
 * is precomputed as -offset * (sums of 4 activations), the initial value of VPDPBUSD. So one
 * VPDPBUSD gives the exact integer dot products of two blocks in 16 int32 lanes. Weight scales are
 * read 16 blocks at a time (two word permutes for 18-byte blocks, else a gather) and multiplied by the activation scales in one vector; a permute
 * spreads them over the lanes; one FMA per block pair accumulates. An odd last block goes through
 * the 256-bit kernel. Integers are exact; the float sums differ in order from the other paths.
 *
 * Float types. F16 activations are widened to f32 once per token group (exact); weights
 * are converted 16 at a time (F16) or multiplied pairwise with VDPBF16PS (BF16, whose activations
 * are BF16 by definition of the format pairing). */
#define SIMD_VNNI 1
#include "quant_simd.inc"

#include <stdlib.h>

#define PAIRS_PER_GROUP 8 /* 16 blocks: one gather of weight scales */

/* ---- repacked activations for the 32-wide types ---------------------------------------------- */

/* Per token and block pair j: xq, the 64 int8 activations in the order a weight pair unpacks (see
 * below); corr, -offset * (sum of each int32 lane's 4 activations), where offset is the level
 * offset of the weight format (the weights are used as unsigned levels); and xs, the activation
 * scale of each lane's block (16 floats). Then s, the Q8_1 sums of every block (Q4_1, Q5_1). */
typedef struct {
    int64_t nb, npair;
    size_t bytes;        /* per token */
    size_t off_corr, off_xs, off_s;
} pack_layout;

static pack_layout pack_layout_for(int64_t k)
{
    pack_layout l;
    l.nb = k / QK;
    l.npair = l.nb / 2;
    size_t qs = (size_t)l.npair * 64, fl = ((size_t)l.nb * 4 + 63) / 64 * 64;
    l.off_corr = qs;
    l.off_xs = 2 * qs;
    l.off_s = 3 * qs;
    l.bytes = 3 * qs + fl;
    return l;
}

/* Lane -> block-of-pair maps: natural layout (Q8_0: 32 values of block 0, then 32 of block 1) and
 * nibble layout (16 low values of blocks 0, 1, then 16 high of 0, 1); int32 lane L holds values
 * 4L .. 4L+3. perm_*[j] maps the lanes of pair j to blocks 2j, 2j+1 of a 16-block group. */
static const int32_t perm_nat[PAIRS_PER_GROUP][16] __attribute__((aligned(64))) = {
#define NAT(j) {2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1}
    NAT(0), NAT(1), NAT(2), NAT(3), NAT(4), NAT(5), NAT(6), NAT(7)
#undef NAT
};
static const int32_t perm_nib[PAIRS_PER_GROUP][16] __attribute__((aligned(64))) = {
#define NIB(j) {2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1}
    NIB(0), NIB(1), NIB(2), NIB(3), NIB(4), NIB(5), NIB(6), NIB(7)
#undef NIB
};

/* Packs one token's Q8_0 or Q8_1 row (block bytes bb, scale at 0, s at 2 for Q8_1, qs at qoff). */
static void pack_token(const uint8_t *xr, size_t bb, size_t qoff, bool has_s, bool nib, int offset,
                       const pack_layout *l, uint8_t *dst)
{
    const __m512i off = _mm512_set1_epi8((char)offset);
    const int32_t(*perm)[16] = nib ? perm_nib : perm_nat;
    float *xs = (float *)(dst + l->off_xs), *s = (float *)(dst + l->off_s);
    for (int64_t j = 0; j < l->npair; j++) {
        const uint8_t *a0 = xr + (size_t)(2 * j) * bb, *a1 = a0 + bb;
        __m512i v;
        if (nib) {
            __m128i a0l = _mm_loadu_si128((const __m128i *)(a0 + qoff)), a0h = _mm_loadu_si128((const __m128i *)(a0 + qoff + 16));
            __m128i a1l = _mm_loadu_si128((const __m128i *)(a1 + qoff)), a1h = _mm_loadu_si128((const __m128i *)(a1 + qoff + 16));
            __m256i lo = _mm256_set_m128i(a1l, a0l), hi = _mm256_set_m128i(a1h, a0h);
            v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        } else {
            __m256i v0 = _mm256_loadu_si256((const __m256i *)(a0 + qoff)), v1 = _mm256_loadu_si256((const __m256i *)(a1 + qoff));
            v = _mm512_inserti64x4(_mm512_castsi256_si512(v0), v1, 1);
        }
        _mm512_storeu_si512(dst + 64 * j, v);
        __m512i c = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, v));
        _mm512_storeu_si512(dst + l->off_corr + 64 * j, c);
        uint16_t h0, h1;
        memcpy(&h0, a0, 2);
        memcpy(&h1, a1, 2);
        float d[2] = {f16s(h0), f16s(h1)};
        for (int lane = 0; lane < 16; lane++) xs[16 * j + lane] = d[perm[0][lane]];
    }
    if (has_s)
        for (int64_t b = 0; b < l->nb; b++) {
            uint16_t h;
            memcpy(&h, xr + (size_t)b * bb + 2, 2);
            s[b] = f16s(h);
        }
}

/* ---- weight pairs ------------------------------------------------------------------------------ */

/* Two blocks' packed nibbles -> 64 levels in the nibble layout. */
static inline __m512i nib_pair(const uint8_t *q0, const uint8_t *q1)
{
    __m256i y = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)q1), _mm_loadu_si128((const __m128i *)q0));
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(y), _mm256_srli_epi16(y, 4), 1);
    return _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
}

/* Fifth bits of a Q5 pair: bit j of qh goes to value j (low nibble j < 16, high nibble j - 16). */
static inline __m512i q5_high(const uint8_t *qh0, const uint8_t *qh1)
{
    uint32_t h0, h1;
    memcpy(&h0, qh0, 4);
    memcpy(&h1, qh1, 4);
    uint64_t m = (uint64_t)(h0 & 0xFFFF) | (uint64_t)(h1 & 0xFFFF) << 16 | (uint64_t)(h0 >> 16) << 32 | (uint64_t)(h1 >> 16) << 48;
    return _mm512_maskz_mov_epi8((__mmask64)m, _mm512_set1_epi8(0x10));
}

enum { W_Q4_0, W_Q4_1, W_Q5_0, W_Q5_1, W_Q8_0, W_IQ4 };

/* The weight levels of a block pair as u8: the stored levels (Q4_0 0..15 with offset 8, Q5_0 0..31
 * with offset 16, Q4_1 / Q5_1 with offset 0), or the signed values + 128 (Q8_0, IQ4_NL). */
static inline __m512i weight_pair(int kind, const uint8_t *b0, const uint8_t *b1)
{
    switch (kind) {
    case W_Q4_0: return nib_pair(b0 + 2, b1 + 2);
    case W_Q4_1: return nib_pair(b0 + 4, b1 + 4);
    case W_Q5_0: return _mm512_or_si512(nib_pair(b0 + 6, b1 + 6), q5_high(b0 + 2, b1 + 2));
    case W_Q5_1: return _mm512_or_si512(nib_pair(b0 + 8, b1 + 8), q5_high(b0 + 4, b1 + 4));
    case W_IQ4: {
        const __m512i tbl = _mm512_broadcast_i32x4(_mm_xor_si128(_mm_loadu_si128((const __m128i *)yk_iq4nl_values), _mm_set1_epi8((char)0x80)));
        return _mm512_shuffle_epi8(tbl, nib_pair(b0 + 2, b1 + 2));
    }
    default: { /* W_Q8_0 */
        __m256i v0 = _mm256_loadu_si256((const __m256i *)(b0 + 2)), v1 = _mm256_loadu_si256((const __m256i *)(b1 + 2));
        return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(v0), v1, 1), _mm512_set1_epi8((char)0x80));
    }
    }
}

/* The level offset of a kind's weights as weight_pair returns them. */
static inline int weight_offset(int kind)
{
    return kind == W_Q4_0 ? 8 : kind == W_Q5_0 ? 16 : kind == W_Q8_0 || kind == W_IQ4 ? 128 : 0;
}

/* The first 2 bytes (d) of 16 consecutive 18-byte blocks (Q4_0, IQ4_NL) in the low 16 bits of
 * 16 int32 lanes, without a gather: blocks 0..7 lie in bytes [0, 128) at words 9b, blocks 8..15 in
 * [144, 272); two word permutes pick them. Loads are masked to the nblk blocks that exist. */
static const uint16_t idx_b18[32] __attribute__((aligned(64))) = {0, 9, 18, 27, 36, 45, 54, 63};

static inline __m512i halves_b18(const uint8_t *wg, int nblk)
{
    uint64_t n = (uint64_t)nblk * 18;
    const uint64_t seg[4] = {0, 64, 144, 208};
    __m512i v[4];
    if (nblk == 16) {
        for (int i = 0; i < 4; i++) v[i] = _mm512_loadu_si512(wg + seg[i]); /* all within the 288 bytes */
    } else {
        for (int i = 0; i < 4; i++) {
            uint64_t left = n > seg[i] ? n - seg[i] : 0;
            __mmask64 m = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
            v[i] = _mm512_maskz_loadu_epi8(m, wg + seg[i]);
        }
    }
    __m512i idx = _mm512_load_si512(idx_b18);
    __m512i lo = _mm512_permutex2var_epi16(v[0], idx, v[1]), hi = _mm512_permutex2var_epi16(v[2], idx, v[3]);
    /* words 0..7 of lo and of hi -> int32 lanes 0..7 and 8..15 */
    __m256i w16 = _mm256_set_m128i(_mm512_castsi512_si128(hi), _mm512_castsi512_si128(lo));
    return _mm512_cvtepu16_epi32(w16);
}

/* ---- the tile ------------------------------------------------------------------------------- */

typedef void (*tail_fn)(const void *wb, const uint8_t *const *x, int T, int64_t b, __m256 *acc, float *extra);

/* The 32-wide kind's constants: block bytes and whether the nibble layout and the min term apply. */
typedef struct {
    int kind;
    size_t bb;
    bool nib, has_m;
    tail_fn tail;
} kind32;

/* R rows x T packed tokens. Per block pair and row: the weight levels w (u8) and the row's block
 * scales spread over the lanes; per (row, token): one VPDPBUSD, starting from the token's offset
 * correction, gives the exact integer dot of both blocks in 16 int32 lanes, and one FMA adds them,
 * times weight scale x activation scale, to the (row, token) accumulator. Q4_1 / Q5_1 add sum over blocks of m * s in a second accumulator.
 * An odd last block goes through the 256-bit block kernel (tail) on the original activations.
 * Every (row, token) output gets the same instruction sequence whatever R and T: decoding runs
 * R = 4 rows from 4 distant parts of the matrix (4 hardware-prefetch streams) and T = 1,
 * prefilling runs tiles of several rows and tokens, and both give the same bits. */
INLINE void tile32(const kind32 *kd, int R, int T, const uint8_t *const *wr, const uint8_t *const *pk,
                   const pack_layout *l, const uint8_t *const *x, float *Y, int64_t ldy, const int64_t *yrow)
{
    const size_t bb = kd->bb;
    const int32_t(*perm)[16] = kd->nib ? perm_nib : perm_nat;
    const bool corr = weight_offset(kd->kind) != 0;
    __m512 acc[4][8], accm[4][8];
    UNROLL for (int r = 0; r < R; r++) {
        UNROLL for (int t = 0; t < T; t++) acc[r][t] = accm[r][t] = _mm512_setzero_ps();
    }
    const __m512i gidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)bb));
    for (int64_t g = 0; g < l->npair; g += PAIRS_PER_GROUP) {
        int np = l->npair - g < PAIRS_PER_GROUP ? (int)(l->npair - g) : PAIRS_PER_GROUP;
        __mmask16 gm = (__mmask16)((1u << (2 * np)) - 1);
        __m512 wd[4];
        UNROLL for (int r = 0; r < R; r++) {
            const uint8_t *wg = wr[r] + (size_t)(2 * g) * bb;
            pf(wg, (size_t)(2 * PAIRS_PER_GROUP) * bb);
            /* d (and m) of 16 blocks: the first 4 bytes of each block */
            __m512i raw = bb == 18 ? halves_b18(wg, 2 * np) : _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), gm, gidx, wg, 1);
            wd[r] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw));
            if (kd->has_m) {
                __m512 wm = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(raw, 16)));
                UNROLL for (int t = 0; t < T; t++)
                    accm[r][t] = _mm512_fmadd_ps(wm, _mm512_maskz_loadu_ps(gm, (const float *)(pk[t] + l->off_s) + 2 * g), accm[r][t]);
            }
        }
        for (int j = 0; j < np; j++) {
            __m512i w[4];
            __m512 ws[4];
            const __m512i pj = _mm512_load_si512(perm[j]);
            UNROLL for (int r = 0; r < R; r++) {
                const uint8_t *b0 = wr[r] + (size_t)(2 * (g + j)) * bb;
                w[r] = weight_pair(kd->kind, b0, b0 + bb);
                ws[r] = _mm512_permutexvar_ps(pj, wd[r]);
            }
            const size_t o = (size_t)(g + j) * 64;
            UNROLL for (int t = 0; t < T; t++) {
                const __m512i a = _mm512_loadu_si512(pk[t] + o);
                const __m512 as = _mm512_loadu_ps((const float *)(pk[t] + l->off_xs) + 16 * (g + j));
                const __m512i c = corr ? _mm512_loadu_si512(pk[t] + l->off_corr + o) : _mm512_setzero_si512();
                UNROLL for (int r = 0; r < R; r++) {
                    __m512i p = _mm512_dpbusd_epi32(c, w[r], a);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(ws[r], as), _mm512_cvtepi32_ps(p), acc[r][t]);
                }
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) {
        __m256 acc256[8];
        float extra[8];
        UNROLL for (int t = 0; t < T; t++) acc256[t] = _mm256_setzero_ps(), extra[t] = 0.0f;
        if (l->nb & 1) kd->tail(wr[r], x, T, l->nb - 1, acc256, extra);
        UNROLL for (int t = 0; t < T; t++)
            Y[t * ldy + yrow[r]] = _mm512_reduce_add_ps(acc[r][t]) + (kd->has_m ? _mm512_reduce_add_ps(accm[r][t]) : 0.0f) +
                                   hsum(acc256[t]) + extra[t];
    }
}

/* Prefill tile shape: rows x tokens per pass (accumulators, weights, corrections and scales of the
 * rows fill the 32 vector registers). */
#ifndef R32
#define R32 4
#endif
#ifndef T32
#define T32 3
#endif

/* Rows [c0, c1) against T tokens, R32 rows at a time. */
INLINE void rows32(const kind32 *kd, int T, const uint8_t *W, size_t w_stride, int64_t c0, int64_t c1,
                   const uint8_t *const *pk, const pack_layout *l, const uint8_t *const *x, float *Y, int64_t ldy)
{
    int64_t r = c0;
    for (; r + R32 <= c1; r += R32) {
        const uint8_t *w[R32];
        int64_t yr[R32];
        UNROLL for (int i = 0; i < R32; i++) w[i] = W + (size_t)(r + i) * w_stride, yr[i] = r + i;
        tile32(kd, R32, T, w, pk, l, x, Y, ldy, yr);
    }
    for (; r < c1; r++) {
        const uint8_t *w = W + (size_t)r * w_stride;
        tile32(kd, 1, T, &w, pk, l, x, Y, ldy, &r);
    }
}

/* The product for a 32-wide type. */
INLINE void mm32(const kind32 *kd, size_t xbb, bool has_s, const void *W, size_t w_stride, const void *Xq,
                 size_t x_stride, int64_t k, int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1, yk_mm_fn fallback)
{
    pack_layout l = pack_layout_for(k);
    uint8_t *buf = aligned_alloc(64, (l.bytes * (size_t)nt + 63) / 64 * 64);
    if (!buf) { /* no memory for the repacked copy: the 256-bit kernel needs none */
        fallback(W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1);
        return;
    }
    for (int64_t t = 0; t < nt; t++)
        pack_token((const uint8_t *)Xq + (size_t)t * x_stride, xbb, has_s ? 4 : 2, has_s, kd->nib, weight_offset(kd->kind), &l, buf + (size_t)t * l.bytes);
    if (nt == 1) { /* decoding: 4 rows at a time from 4 parts of the range (see ROW_LOOP) */
        const uint8_t *x = Xq, *pk = buf;
        int64_t q = (r1 - r0) / 4;
        for (int64_t i = 0; i < q; i++) {
            const uint8_t *w[4];
            int64_t yr[4];
            UNROLL for (int rr = 0; rr < 4; rr++) yr[rr] = r0 + rr * q + i, w[rr] = (const uint8_t *)W + (size_t)yr[rr] * w_stride;
            tile32(kd, 4, 1, w, &pk, &l, &x, Y, ldy, yr);
        }
        for (int64_t r = r0 + 4 * q; r < r1; r++) {
            const uint8_t *w = (const uint8_t *)W + (size_t)r * w_stride;
            tile32(kd, 1, 1, &w, &pk, &l, &x, Y, ldy, &r);
        }
        free(buf);
        return;
    }
    /* prefilling: row chunks in L2; in each, token groups of T32 over tiles of R32 rows */
    int64_t chunk = ROW_CHUNK(nt, w_stride, r1 - r0);
    for (int64_t c0 = r0; c0 < r1; c0 += chunk) {
        int64_t c1 = c0 + chunk < r1 ? c0 + chunk : r1;
        for (int64_t t0 = 0; t0 < nt; t0 += T32) {
            int T = nt - t0 < T32 ? (int)(nt - t0) : T32;
            const uint8_t *x[T32] = {0}, *pk[T32] = {0};
            UNROLL for (int t = 0; t < T; t++) {
                x[t] = (const uint8_t *)Xq + (size_t)(t0 + t) * x_stride;
                pk[t] = buf + (size_t)(t0 + t) * l.bytes;
            }
            switch (T) { /* a constant T per call keeps the accumulators in registers */
#define ROWS32_T(n) case n: rows32(kd, n < T32 ? n : T32, W, w_stride, c0, c1, pk, &l, x, Y + t0 * ldy, ldy); break;
            ROWS32_T(1) ROWS32_T(2) ROWS32_T(3) ROWS32_T(4) ROWS32_T(5) ROWS32_T(6) ROWS32_T(7)
#undef ROWS32_T
            default: rows32(kd, T32, W, w_stride, c0, c1, pk, &l, x, Y + t0 * ldy, ldy); break;
            }
        }
    }
    free(buf);
}

#define TAIL(name, WT)                                                                                \
    static void tail_##name(const void *wb, const uint8_t *const *x, int T, int64_t b, __m256 *acc, float *extra) \
    {                                                                                                 \
        rowdot_##name##_blk((const WT *)wb, x, T, b, acc, extra);                                     \
    }
TAIL(q4_0, blk_q4_0)
TAIL(q4_1, blk_q4_1)
TAIL(q5_0, blk_q5_0)
TAIL(q5_1, blk_q5_1)
TAIL(q8_0, blk_q8_0)
TAIL(iq4_nl, blk_iq4_nl)

#define MM32(name, kind, WT, AT, has_s)                                                               \
    static void mm512_##name(const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k, \
                             int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1)              \
    {                                                                                                 \
        const kind32 kd = {kind, sizeof(WT), kind != W_Q8_0, has_s, tail_##name};                     \
        mm32(&kd, sizeof(AT), has_s, W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1, mm_##name);    \
    }
MM32(q4_0, W_Q4_0, blk_q4_0, blk_q8_0, false)
MM32(q4_1, W_Q4_1, blk_q4_1, blk_q8_1, true)
MM32(q5_0, W_Q5_0, blk_q5_0, blk_q8_0, false)
MM32(q5_1, W_Q5_1, blk_q5_1, blk_q8_1, true)
MM32(q8_0, W_Q8_0, blk_q8_0, blk_q8_0, false)
MM32(iq4_nl, W_IQ4, blk_iq4_nl, blk_q8_0, false)

/* ---- k-quants ------------------------------------------------------------------------------- */

/* The scaled integer sums of a super-block, 64 values per VPMADDUBSW + VPDPWSSD: a 64-byte chunk
 * of weights is made from 32 bytes broadcast to both halves and shifted per half (VPSRLVW), so the
 * activations are used in their own order; sub-block scales are spread over the int16 lanes by
 * VPERMW. The offset term (Q4_K, Q5_K: the mins; Q6_K: the levels' +32) is a float product u * v of
 * a row factor u and a token factor v prepared once per token group (see prep_k). */

/* int16 lane -> scale index maps: Q4_K/Q5_K chunk j (sub-blocks 2j, 2j+1: 16 lanes each) and
 * Q6_K chunk c (sub-blocks 4c .. 4c+3: 8 lanes each). */
static const int16_t perm_k4[4][32] __attribute__((aligned(64))) = {
#define K4(j) {2*j,2*j,2*j,2*j,2*j,2*j,2*j,2*j,2*j,2*j,2*j,2*j,2*j,2*j,2*j,2*j, \
               2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1,2*j+1}
    K4(0), K4(1), K4(2), K4(3)
#undef K4
};
static const int16_t perm_k6[4][32] __attribute__((aligned(64))) = {
#define K6(c) {4*c,4*c,4*c,4*c,4*c,4*c,4*c,4*c, 4*c+1,4*c+1,4*c+1,4*c+1,4*c+1,4*c+1,4*c+1,4*c+1, \
               4*c+2,4*c+2,4*c+2,4*c+2,4*c+2,4*c+2,4*c+2,4*c+2, 4*c+3,4*c+3,4*c+3,4*c+3,4*c+3,4*c+3,4*c+3,4*c+3}
    K6(0), K6(1), K6(2), K6(3)
#undef K6
};

static inline __m512i bcast256(const uint8_t *p)
{
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

/* Prefilling takes tiles of KR rows x KT tokens: a super-block's weights are unpacked once per row
 * for KT tokens, and the KT tokens' activation blocks (KT * 292 bytes) serve KR rows while in L1.
 * Measured (1 thread, shared machine, noisy): 2 x 8 gives ~60 GMAC/s on Q4_K and Q6_K for k = 2048
 * .. 8192 (the former 1 x 4 pass: 42-51); 1 x 8 drops to ~45-49 at k = 8192 (8 tokens' activations
 * outgrow L1), 1 x 16, 3 x 8, 4 x 4 are no better. Decoding takes 4 rows (from 4 parts of the
 * range, see ROW_LOOP) x 1 token. */
#define KR 2
#define KT 8
#define KR_MAX 4 /* >= KR and the 4 rows of decoding */
#define KCHUNK 262144 /* bytes of weight rows per chunk, kept in L2 while all token groups pass */

/* One super-block of one weight row, unpacked: 4 chunks of 64 levels (u8) in activation order,
 * their scales per int16 lane, d, and u, the row's factors of the offset term (see prep_k). */
typedef struct {
    __m512i q[4], sv[4];
    __m512 d, u;
} kw;

/* Q4_K (q5 = false) and Q5_K (q5 = true); u = -dmin * m_j in lanes j < 8, 0 above. */
INLINE void unpack_k4(bool q5, const uint8_t *blk, kw *w)
{
    const uint8_t *scales = blk + 4, *qh = blk + 16, *qs = blk + (q5 ? 48 : 16);
    uint16_t dh, mh;
    memcpy(&dh, blk, 2);
    memcpy(&mh, blk + 2, 2);
    uint8_t sc[8], mn[8];
    k4_unpack(scales, sc, mn);
    __m512i s16 = _mm512_cvtepu8_epi16(_mm256_castsi128_si256(_mm_loadl_epi64((const __m128i *)sc)));
    const __m512i m4 = _mm512_set1_epi8(0x0F), sh = _mm512_setr_epi64(0, 0, 0, 0, 0x0004000400040004, 0x0004000400040004,
                                                                      0x0004000400040004, 0x0004000400040004);
    __m512i h = q5 ? bcast256(qh) : _mm512_setzero_si512();
    UNROLL for (int j = 0; j < 4; j++) {
        w->q[j] = _mm512_and_si512(_mm512_srlv_epi16(bcast256(qs + 32 * j), sh), m4);
        if (q5) {
            /* bit 2j (low half) / 2j+1 (high half) of qh[l] -> bit 4 */
            __m512i cnt = _mm512_add_epi16(_mm512_set1_epi16((short)(2 * j)), _mm512_srli_epi16(sh, 2));
            __m512i hb = _mm512_and_si512(_mm512_slli_epi16(_mm512_srlv_epi16(h, cnt), 4), _mm512_set1_epi8(0x10));
            w->q[j] = _mm512_or_si512(w->q[j], hb);
        }
        w->sv[j] = _mm512_permutexvar_epi16(_mm512_load_si512(perm_k4[j]), s16);
    }
    w->d = _mm512_set1_ps(f16s(dh));
    w->u = _mm512_mul_ps(_mm512_set1_ps(-f16s(mh)), _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn))));
}

/* Q6_K: per 128-value half, 64 bytes of ql give chunks (low nibbles: values 0..63, high: 64..127)
 * in activation order; the two high bits come from qh broadcast and shifted per half. The levels
 * are stored + 32: u = -32 * d * scale_i (16 lanes). */
INLINE void unpack_q6(const blk_q6_K *b, kw *w)
{
    __m128i s8 = _mm_loadu_si128((const __m128i *)b->scales);
    __m512i s16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(s8));
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    /* bits 2p, 2p+1 of qh[l] -> bits 4, 5: p = 0 | 1 (low chunk) shift left 4 | 2, p = 2 | 3
     * (high chunk) shift right 0 | 2 (per 16-bit lane, never across the byte that holds them) */
    const __m512i up = _mm512_setr_epi64(0x0004000400040004, 0x0004000400040004, 0x0004000400040004, 0x0004000400040004,
                                         0x0002000200020002, 0x0002000200020002, 0x0002000200020002, 0x0002000200020002);
    const __m512i down = _mm512_setr_epi64(0, 0, 0, 0, 0x0002000200020002, 0x0002000200020002, 0x0002000200020002,
                                           0x0002000200020002);
    UNROLL for (int hf = 0; hf < 2; hf++) {
        __m512i l = _mm512_loadu_si512(b->ql + 64 * hf);
        __m512i h = bcast256(b->qh + 32 * hf);
        w->q[2 * hf] = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi16(h, up), m30));
        w->q[2 * hf + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_and_si512(_mm512_srlv_epi16(h, down), m30));
    }
    UNROLL for (int c = 0; c < 4; c++) w->sv[c] = _mm512_permutexvar_epi16(_mm512_load_si512(perm_k6[c]), s16);
    float d = f16s(b->d);
    w->d = _mm512_set1_ps(d);
    w->u = _mm512_mul_ps(_mm512_set1_ps(-32.0f * d), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s8)));
}

/* The token's factors v of the offset term, per super-block, so that the term is one FMA u * v
 * per (row, token, super-block): Q4_K, Q5_K: xd * (bsums[2j] + bsums[2j+1]), 8 floats;
 * Q6_K: xd * bsums[i], 16 floats. */
static void prep_k(bool q6, const uint8_t *x, int64_t nsb, float *v)
{
    const blk_q8_K *xb = (const blk_q8_K *)x;
    for (int64_t i = 0; i < nsb; i++) {
        __m256i bs = _mm256_loadu_si256((const __m256i *)xb[i].bsums);
        if (q6)
            _mm512_storeu_ps(v + 16 * i, _mm512_mul_ps(_mm512_set1_ps(xb[i].d), _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(bs))));
        else
            _mm256_storeu_ps(v + 8 * i, _mm256_mul_ps(_mm256_set1_ps(xb[i].d), _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, _mm256_set1_epi16(1)))));
    }
}

_Static_assert(KT == 8, "mm_k's switch covers T = 1 .. 7, then KT");

/* R rows x T tokens (R <= KR_MAX, T <= KT). Per (row, token, super-block): 4 x (VPMADDUBSW +
 * VPDPWSSD) give the scaled integer sums in 16 int32 lanes, then acc += (d * xd) * sums and
 * acc += u * v; out = the sum of acc's lanes. The same instructions for each output whatever R, T. */
INLINE void tile_k(int kind, const uint8_t *const *wr, int R, const uint8_t *const *x, const float *const *v, int T,
                   int64_t nsb, float (*out)[KT])
{
    const bool q6 = kind == YK_TYPE_Q6_K;
    const size_t sbb = q6 ? sizeof(blk_q6_K) : kind == YK_TYPE_Q5_K ? sizeof(blk_q5_K) : sizeof(blk_q4_K);
    __m512 acc[KR_MAX][KT];
    UNROLL for (int r = 0; r < R; r++) {
        UNROLL for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < nsb; i++) {
        const blk_q8_K *xb[KT];
        UNROLL for (int t = 0; t < T; t++) xb[t] = (const blk_q8_K *)x[t] + i;
        UNROLL for (int r = 0; r < R; r++) {
            const uint8_t *blk = wr[r] + (size_t)i * sbb;
            kw w;
            pf(blk, sbb);
            if (q6) unpack_q6((const blk_q6_K *)blk, &w);
            else unpack_k4(kind == YK_TYPE_Q5_K, blk, &w);
            /* integer sums (exact, so their order is free), the tokens' chains interleaved */
            __m512i isum[KT];
            UNROLL for (int t = 0; t < T; t++)
                isum[t] = _mm512_madd_epi16(_mm512_maddubs_epi16(w.q[0], _mm512_loadu_si512(xb[t]->qs)), w.sv[0]);
            UNROLL for (int j = 1; j < 4; j++) {
                UNROLL for (int t = 0; t < T; t++)
                    isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(w.q[j], _mm512_loadu_si512(xb[t]->qs + 64 * j)), w.sv[j]);
            }
            UNROLL for (int t = 0; t < T; t++) {
                __m512 vt = q6 ? _mm512_loadu_ps(v[t] + 16 * i) : _mm512_maskz_loadu_ps(0x00FF, v[t] + 8 * i);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(w.d, _mm512_set1_ps(xb[t]->d)), acc[r][t]);
                acc[r][t] = _mm512_fmadd_ps(w.u, vt, acc[r][t]);
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) {
        UNROLL for (int t = 0; t < T; t++) out[r][t] = _mm512_reduce_add_ps(acc[r][t]);
    }
}

/* The product for Q4_K, Q5_K, Q6_K: row chunks of ~256 KB in L2; inside each, token groups of KT
 * (their v prepared per chunk), KR rows at a time. */
INLINE void mm_k(int kind, const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k, int64_t nt,
                 float *Y, int64_t ldy, int64_t r0, int64_t r1, yk_mm_fn fallback)
{
    const bool q6 = kind == YK_TYPE_Q6_K;
    const int64_t nsb = k / QKK;
    const size_t vn = (size_t)nsb * (q6 ? 16 : 8); /* floats of v per token */
    const int tb = nt == 1 ? 1 : KT;
    float *vbuf = aligned_alloc(64, (vn * sizeof(float) * (size_t)tb + 127) / 64 * 64);
    if (!vbuf) { /* no memory for v: the 256-bit kernel needs none */
        fallback(W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1);
        return;
    }
    const uint8_t *x[KT] = {0};
    const float *v[KT] = {0};
    float out[KR_MAX][KT];
    const uint8_t *w[KR_MAX];
    if (nt == 1) { /* decoding: 4 rows at a time from 4 parts of the range (see ROW_LOOP) */
        x[0] = Xq;
        prep_k(q6, x[0], nsb, vbuf);
        v[0] = vbuf;
        int64_t q = (r1 - r0) / 4;
        for (int64_t i = 0; i < q; i++) {
            UNROLL for (int rr = 0; rr < 4; rr++) w[rr] = (const uint8_t *)W + (size_t)(r0 + rr * q + i) * w_stride;
            tile_k(kind, w, 4, x, v, 1, nsb, out);
            UNROLL for (int rr = 0; rr < 4; rr++) Y[r0 + rr * q + i] = out[rr][0];
        }
        for (int64_t r = r0 + 4 * q; r < r1; r++) {
            w[0] = (const uint8_t *)W + (size_t)r * w_stride;
            tile_k(kind, w, 1, x, v, 1, nsb, out);
            Y[r] = out[0][0];
        }
        free(vbuf);
        return;
    }
    int64_t chunk = nt <= KT ? r1 - r0 : (int64_t)(KCHUNK / w_stride) + 1;
    for (int64_t c0 = r0; c0 < r1; c0 += chunk) {
        int64_t c1 = c0 + chunk < r1 ? c0 + chunk : r1;
        for (int64_t t0 = 0; t0 < nt; t0 += KT) {
            int T = nt - t0 < KT ? (int)(nt - t0) : KT;
            for (int t = 0; t < T; t++) {
                x[t] = (const uint8_t *)Xq + (size_t)(t0 + t) * x_stride;
                prep_k(q6, x[t], nsb, vbuf + (size_t)t * vn);
                v[t] = vbuf + (size_t)t * vn;
            }
            for (int64_t r = c0; r < c1;) {
                int R = c1 - r >= KR ? KR : 1;
                UNROLL for (int rr = 0; rr < KR; rr++) w[rr] = (const uint8_t *)W + (size_t)(r + (rr < R ? rr : 0)) * w_stride;
                /* constant R and T per call keep the accumulators in registers */
#define TILE_N(R_, n) case n: tile_k(kind, w, R_, x, v, n, nsb, out); break;
#define TILE_T(R_)                                                                                    \
    switch (T) {                                                                                      \
    TILE_N(R_, 1) TILE_N(R_, 2) TILE_N(R_, 3) TILE_N(R_, 4) TILE_N(R_, 5) TILE_N(R_, 6) TILE_N(R_, 7)  \
    default: tile_k(kind, w, R_, x, v, KT, nsb, out); break;                                         \
    }
                if (R == KR) TILE_T(KR) else TILE_T(1)
#undef TILE_T
#undef TILE_N
                for (int rr = 0; rr < R; rr++) {
                    for (int t = 0; t < T; t++) Y[(t0 + t) * ldy + r + rr] = out[rr][t];
                }
                r += R;
            }
        }
    }
    free(vbuf);
}

#define MMK(name, kind)                                                                                \
    static void mm512_##name(const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k, \
                             int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1)              \
    {                                                                                                 \
        mm_k(kind, W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1, mm_##name);                      \
    }
MMK(q4_K, YK_TYPE_Q4_K)
MMK(q5_K, YK_TYPE_Q5_K)
MMK(q6_K, YK_TYPE_Q6_K)

/* ---- float types ------------------------------------------------------------------------------ */

/* Each (row, token) output has one 16-lane accumulator that takes every 16 weights (F32, F16
 * widened exactly) by one FMA, or every 32 (BF16, against BF16 activations) by one VDPBF16PS, in
 * index order; then the lanes are summed and the last k % 16 (k % 32) products added in scalar
 * order. The tile (rows x tokens) and the blocking over k only decide when each of those
 * instructions runs, never which, so every output has the same bits whatever the tile, the row
 * range or nt: decoding runs 4 rows from 4 parts of the matrix (4 prefetch streams) against one
 * token; prefilling runs tiles of RF rows x TF tokens over blocks of KC inputs whose activations
 * stay in L1, with the accumulators kept between blocks in a small buffer. */
enum { F_F32, F_F16, F_BF16 };

#ifndef RF
#define RF 4    /* rows per tile */
#endif
#ifndef TF
#define TF 6    /* tokens per tile: 24 accumulators + 4 weight vectors + 1 activation vector */
#endif
#ifndef KC
#define KC 512  /* inputs per block: TF tokens x 512 x 4 bytes = 12 KB of activations in L1 */
#endif

static inline int64_t stepf(int kind) { return kind == F_BF16 ? 32 : 16; }

INLINE __m512 loadw(int kind, const uint8_t *w, int64_t i)
{
    if (kind == F_F32) return _mm512_loadu_ps((const float *)w + i);
    if (kind == F_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i)));
    return _mm512_loadu_ps((const uint16_t *)w + i); /* 32 BF16 */
}

/* acc += w * x for one step at input i: x is f32 (F32, F16) or BF16. */
INLINE __m512 madd(int kind, __m512 w, const void *x, int64_t i, __m512 acc)
{
    if (kind == F_BF16)
        return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)_mm512_loadu_ps((const uint16_t *)x + i));
    return _mm512_fmadd_ps(w, _mm512_loadu_ps((const float *)x + i), acc);
}

/* Steps over inputs [i0, i1) (whole steps) of R rows against T tokens, accumulators in acc[r][t]. */
INLINE void tilef(int kind, int R, int T, const uint8_t *const *wr, const void *const *x, int64_t i0, int64_t i1,
                  __m512 (*acc)[TF])
{
    const int64_t st = stepf(kind), wb = kind == F_F32 ? 4 : 2;
    __m512 a[RF][TF];
    UNROLL for (int r = 0; r < R; r++) {
        UNROLL for (int t = 0; t < T; t++) a[r][t] = acc[r][t];
    }
    for (int64_t i = i0; i < i1; i += st) {
        __m512 wv[RF];
        UNROLL for (int r = 0; r < R; r++) {
            if (((i * wb) & 127) == 0) pf(wr[r] + i * wb, 128);
            wv[r] = loadw(kind, wr[r], i);
        }
        UNROLL for (int t = 0; t < T; t++) {
            UNROLL for (int r = 0; r < R; r++) a[r][t] = madd(kind, wv[r], x[t], i, a[r][t]);
        }
    }
    UNROLL for (int r = 0; r < R; r++) {
        UNROLL for (int t = 0; t < T; t++) acc[r][t] = a[r][t];
    }
}

/* The output of row w and token x from its accumulator: lane sum, then inputs [kmain, k) in order. */
static inline float finishf(int kind, const uint8_t *w, const void *x, int64_t kmain, int64_t k, __m512 acc)
{
    float s = _mm512_reduce_add_ps(acc);
    for (int64_t j = kmain; j < k; j++) {
        if (kind == F_F32) s += ((const float *)w)[j] * ((const float *)x)[j];
        else if (kind == F_F16) s += f16s(((const uint16_t *)w)[j]) * ((const float *)x)[j];
        else s += yk_bf16_to_f32(((const uint16_t *)w)[j]) * yk_bf16_to_f32(((const uint16_t *)x)[j]);
    }
    return s;
}

/* Rows [c0, c1) of a chunk against T tokens, over all inputs in blocks of KC, then the outputs. */
INLINE void rowsf(int kind, int T, const uint8_t *W, size_t w_stride, int64_t c0, int64_t c1, const void *const *x,
                  int64_t k, float *Y, int64_t ldy, __m512 (*acc)[TF])
{
    const int64_t kmain = k / stepf(kind) * stepf(kind);
    for (int64_t r = c0; r < c1; r++) {
        UNROLL for (int t = 0; t < T; t++) acc[r - c0][t] = _mm512_setzero_ps();
    }
    for (int64_t i0 = 0; i0 < kmain; i0 += KC) {
        int64_t i1 = i0 + KC < kmain ? i0 + KC : kmain;
        int64_t r = c0;
        for (; r + RF <= c1; r += RF) {
            const uint8_t *w[RF];
            UNROLL for (int q = 0; q < RF; q++) w[q] = W + (size_t)(r + q) * w_stride;
            tilef(kind, RF, T, w, x, i0, i1, acc + (r - c0));
        }
        for (; r < c1; r++) {
            const uint8_t *w = W + (size_t)r * w_stride;
            tilef(kind, 1, T, &w, x, i0, i1, acc + (r - c0));
        }
    }
    for (int64_t r = c0; r < c1; r++)
        for (int t = 0; t < T; t++) Y[t * ldy + r] = finishf(kind, W + (size_t)r * w_stride, x[t], kmain, k, acc[r - c0][t]);
}

/* Rows per chunk: at most 64, and at most ~512 KB of weights (they stay in L2 while the token
 * groups pass). */
static int64_t chunk_rows(size_t w_stride)
{
    int64_t n = (int64_t)(524288 / (w_stride ? w_stride : 1));
    return n < RF ? RF : n > 64 ? 64 : n / RF * RF;
}

INLINE void mmf(int kind, const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k, int64_t nt,
                float *Y, int64_t ldy, int64_t r0, int64_t r1, yk_mm_fn fallback)
{
    /* activations: F16 widened to f32 once per call (exact), F32 and BF16 used in place */
    float *xf = NULL;
    if (kind == F_F16) {
        xf = aligned_alloc(64, ((size_t)k * (size_t)nt * sizeof(float) + 63) / 64 * 64);
        if (!xf) {
            fallback(W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1);
            return;
        }
        for (int64_t t = 0; t < nt; t++) {
            const uint16_t *h = (const uint16_t *)((const uint8_t *)Xq + (size_t)t * x_stride);
            float *f = xf + (size_t)t * k;
            int64_t i = 0;
            for (; i + 16 <= k; i += 16) _mm512_storeu_ps(f + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
            for (; i < k; i++) f[i] = f16s(h[i]);
        }
    }
    const uint8_t *xb = kind == F_F16 ? (const uint8_t *)xf : (const uint8_t *)Xq;
    const size_t xs = kind == F_F16 ? (size_t)k * sizeof(float) : x_stride;
    const int64_t kmain = k / stepf(kind) * stepf(kind);
    const uint8_t *w8 = W;
    if (nt == 1) { /* decoding: 4 rows at a time from 4 parts of the range (see ROW_LOOP) */
        const void *x = xb;
        int64_t q = (r1 - r0) / 4;
        for (int64_t i = 0; i < q; i++) {
            const uint8_t *w[4];
            __m512 acc[4][TF] = {{_mm512_setzero_ps()}, {_mm512_setzero_ps()}, {_mm512_setzero_ps()}, {_mm512_setzero_ps()}};
            UNROLL for (int q4 = 0; q4 < 4; q4++) w[q4] = w8 + (size_t)(r0 + q4 * q + i) * w_stride;
            tilef(kind, 4, 1, w, &x, 0, kmain, acc);
            UNROLL for (int q4 = 0; q4 < 4; q4++) Y[r0 + q4 * q + i] = finishf(kind, w[q4], x, kmain, k, acc[q4][0]);
        }
        for (int64_t r = r0 + 4 * q; r < r1; r++) {
            const uint8_t *w = w8 + (size_t)r * w_stride;
            __m512 acc[1][TF] = {{_mm512_setzero_ps()}};
            tilef(kind, 1, 1, &w, &x, 0, kmain, acc);
            Y[r] = finishf(kind, w, x, kmain, k, acc[0][0]);
        }
        free(xf);
        return;
    }
    /* prefilling: row chunks in L2; in each, token groups of TF over blocks of KC inputs */
    __m512 (*acc)[TF] = aligned_alloc(64, (size_t)64 * sizeof *acc);
    if (!acc) {
        free(xf);
        fallback(W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1);
        return;
    }
    const int64_t chunk = chunk_rows(w_stride);
    for (int64_t c0 = r0; c0 < r1; c0 += chunk) {
        int64_t c1 = c0 + chunk < r1 ? c0 + chunk : r1;
        for (int64_t t0 = 0; t0 < nt; t0 += TF) {
            int T = nt - t0 < TF ? (int)(nt - t0) : TF;
            const void *x[TF] = {0};
            UNROLL for (int t = 0; t < T; t++) x[t] = xb + (size_t)(t0 + t) * xs;
            switch (T) { /* a constant T per call keeps the accumulators in registers */
#define ROWSF_T(n) case n: rowsf(kind, n < TF ? n : TF, w8, w_stride, c0, c1, x, k, Y + t0 * ldy, ldy, acc); break;
            ROWSF_T(1) ROWSF_T(2) ROWSF_T(3) ROWSF_T(4) ROWSF_T(5)
#undef ROWSF_T
            default: rowsf(kind, TF, w8, w_stride, c0, c1, x, k, Y + t0 * ldy, ldy, acc); break;
            }
        }
    }
    free(acc);
    free(xf);
}

#define MMF(name, kind)                                                                                \
    static void mm512_##name(const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k, \
                             int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1)              \
    {                                                                                                 \
        mmf(kind, W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1, mm_##name);                       \
    }
MMF(f32, F_F32)
MMF(f16, F_F16)
MMF(bf16, F_BF16)

/* BF16 activations: round to nearest even with subnormals flushed, as yk_f32_to_bf16 (the
 * conversion instruction treats denormals as zero, and NaN stays NaN). */
static void conv512_bf16(const float *x, void *y, int64_t k)
{
    uint16_t *p = y;
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) _mm256_storeu_si256((__m256i *)(p + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
    for (; i < k; i++) p[i] = yk_f32_to_bf16(x[i]);
}

const yk_kernels yk_kernels_avx512 = {
    .name = "avx512",
    .mm = {
        [YK_TYPE_F32] = mm512_f32,   [YK_TYPE_F16] = mm512_f16,   [YK_TYPE_BF16] = mm512_bf16,
        [YK_TYPE_Q8_0] = mm512_q8_0, [YK_TYPE_Q4_0] = mm512_q4_0, [YK_TYPE_Q4_1] = mm512_q4_1,
        [YK_TYPE_Q5_0] = mm512_q5_0, [YK_TYPE_Q5_1] = mm512_q5_1, [YK_TYPE_IQ4_NL] = mm512_iq4_nl,
        [YK_TYPE_Q2_K] = mm_q2_K,    [YK_TYPE_Q3_K] = mm_q3_K,    [YK_TYPE_Q4_K] = mm512_q4_K,
        [YK_TYPE_Q5_K] = mm512_q5_K, [YK_TYPE_Q6_K] = mm512_q6_K,
    },
    .conv = {[YK_TYPE_Q8_0] = conv_q8_0, [YK_TYPE_Q8_1] = conv_q8_1, [YK_TYPE_F16] = conv_f16,
             [YK_TYPE_BF16] = conv512_bf16},
};
