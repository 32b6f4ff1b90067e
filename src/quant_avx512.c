/* quant_avx512.c: the kernels for CPUs with AVX-512 (F, BW, VL, DQ) + VNNI + BF16; chosen at run
 * time when the CPU has them (see quant.c). Decoding (one token) runs 4 rows at a time from 4 parts of
 * the row range (see ROW_LOOP in quant_simd.inc).
 *
 * Q2_K and Q3_K use the shared 256-bit kernels of quant_simd.inc (compiled here with VNNI); Q4_K,
 * Q5_K and Q6_K take 64 values per VPMADDUBSW + VPDPWSSD (32 weight bytes broadcast to both halves
 * and shifted per half, so the activations are used in place), in tiles of 2 rows x 8 tokens when
 * prefilling; Q6_K's +32 offset joins the integer sums, the mins of Q4_K and Q5_K are one float dot
 * product per output after the super-blocks. The 32-wide types and the float
 * types have 512-bit kernels:
 *
 * 32-wide types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL): blocks across lanes. A group of 16 blocks of a
 * weight row is transposed into 8 vectors, vector i holding values 4i..4i+3 of block b in int32
 * lane b (gathers; nibbles split, 5th bits merged, IQ4_NL looked up, all as u8 levels); each token's
 * Q8_0/Q8_1 row is transposed the same way once per call, with -offset * (block sum) per lane as the
 * starting value of the sums. 8 VPDPBUSD then leave each block's exact integer dot product in its
 * own lane, and one VCVTDQ2PS + one FMA (16 weight scales x 16 activation scales) add 16 blocks to
 * the output's accumulator: about 11 instructions per 512 multiply-adds against 32 for one block
 * pair per VPDPBUSD (the layout before this one). Prefill transposes each chunk of rows once for all tokens (the chunk stays in
 * L2) and runs tiles of 3 rows x 4 tokens; decode transposes each group as it streams by, 4 rows
 * from 4 parts of the matrix at a time.
 *
 * Float types. One 16-lane accumulator per output, one FMA (F32, F16 widened exactly) or VDPBF16PS
 * (BF16 against BF16 activations) per 16 (32) inputs, lanes summed at the end, the k % 16 tail in
 * scalar order. Prefill stages chunks of rows in L2 (F16 widened once) and runs tiles of 4 rows x 6
 * tokens over blocks of 512 inputs whose activations stay in L1.
 *
 * Each output gets the same instructions whatever the tile, the row range, the thread split or
 * the number of tokens: decode and prefill, one device and several, give the same bits. */
#define SIMD_VNNI 1
#include "quant_simd.inc"

#include <stdlib.h>

/* ---- prefill: the next chunk of rows ---------------------------------------------------------- */

/* Prefill works on chunks of rows that are first read in one pass (staged or transposed) and then
 * reused from L2 by every token group. While a chunk is computed, the next chunk's rows are
 * prefetched into L2 a few lines per tile, so that its pass finds them there instead of waiting
 * on memory. */
typedef struct {
    const uint8_t *p, *end;
    size_t step; /* bytes per tile */
} ahead_pf;

static inline ahead_pf ahead_of(const uint8_t *W, size_t w_stride, int64_t c1, int64_t c2, int64_t tiles)
{
    size_t bytes = (size_t)(c2 - c1) * w_stride;
    ahead_pf a = {W + (size_t)c1 * w_stride, W + (size_t)c2 * w_stride, 0};
    a.step = (bytes / (size_t)(tiles > 0 ? tiles : 1) + 64) / 64 * 64;
    return a;
}

static inline void ahead_next(ahead_pf *a)
{
    for (size_t o = 0; o < a->step && a->p < a->end; o += 64, a->p += 64) _mm_prefetch((const char *)a->p, _MM_HINT_T1);
}

/* ---- 32-wide types: blocks across lanes ------------------------------------------------------- */

/* A group is 16 consecutive blocks of a row. Transposed, it is 8 vectors: vector i holds, in int32
 * lane b, values 4i .. 4i+3 of block b; so 8 VPDPBUSD (u8 weight levels x s8 activations) leave in
 * lane b the exact integer dot product of block b, started from lane b's offset correction
 * -offset * (sum of the block's 32 activations). One VCVTDQ2PS and one FMA with the product of the
 * 16 weight scales and 16 activation scales then add the whole group to the output's accumulator.
 * Q4_1 / Q5_1 add their min term (m * s, s the Q8_1 block sum) with a second FMA. The last group of
 * a row may be partial: its missing lanes are zero throughout. */
#define GB 16                  /* blocks per group */
#define AHEAD_GROUPS 8          /* prefill: groups per tile between two steps of the next-chunk prefetch */
#define WG_BYTES (8 * 64 + 128) /* a transposed weight group: 8 vectors, 16 scales, 16 mins */
#define XG_BYTES (8 * 64 + 192) /* a transposed activation group: 8 vectors, corrections, scales, sums */

enum { W_Q4_0, W_Q4_1, W_Q5_0, W_Q5_1, W_Q8_0, W_IQ4 };

/* A 32-wide weight type's layout: block bytes, where its quants and 5th bits lie, its level
 * offset (the weights are used as unsigned levels: Q8_0 and IQ4_NL values + 128) and whether it has
 * a min term. */
typedef struct {
    int kind;
    size_t bb, qoff, hoff;
    int offset;
    bool nib, has_m;
} kind32;

/* Blocks in the group that starts at block b0 of a row of nb blocks (the last one may be partial). */
static inline int group_blocks(int64_t nb, int64_t b0)
{
    return nb - b0 < GB ? (int)(nb - b0) : GB;
}

static inline __m512i lane_offsets(size_t bb)
{
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)bb));
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

/* Dword `off` bytes into each of the group's blocks, one per lane (zero for missing blocks). */
static inline __m512i group_dwords(const uint8_t *g, __m512i idx, __mmask16 m, size_t off)
{
    return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, g + off, 1);
}

/* Transposes the group of nblk (<= 16) blocks at wg into dst (WG_BYTES, 64-byte aligned). */
INLINE void weight_group(const kind32 *kd, const uint8_t *wg, int nblk, uint8_t *dst)
{
    const __mmask16 m = (__mmask16)((1u << nblk) - 1);
    const __m512i idx = lane_offsets(kd->bb);
    __m512i raw = kd->bb == 18 ? halves_b18(wg, nblk) : group_dwords(wg, idx, m, 0);
    _mm512_store_ps(dst + 512, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw)));
    if (kd->has_m) _mm512_store_ps(dst + 576, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(raw, 16))));
    if (!kd->nib) { /* Q8_0: values + 128 */
        UNROLL for (int i = 0; i < 8; i++)
            _mm512_store_si512(dst + 64 * i, _mm512_xor_si512(group_dwords(wg, idx, m, kd->qoff + 4 * i), _mm512_set1_epi8((char)0x80)));
        return;
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i h = kd->hoff ? group_dwords(wg, idx, m, kd->hoff) : _mm512_setzero_si512();
    /* byte 0 of each dword (after a shift) copied to its 4 bytes, tested against bits 0..3 */
    const __m512i b0 = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12));
    const __m512i bits = _mm512_set1_epi32(0x08040201);
    UNROLL for (int i = 0; i < 4; i++) { /* dword i of the 16 quant bytes: values 4i.. (low), 16+4i.. (high) */
        __m512i d = group_dwords(wg, idx, m, kd->qoff + 4 * i);
        __m512i v[2] = {_mm512_and_si512(d, m4), _mm512_and_si512(_mm512_srli_epi16(d, 4), m4)};
        UNROLL for (int half = 0; half < 2; half++) {
            int vi = i + 4 * half; /* values 4vi .. 4vi+3 */
            if (kd->hoff) {
                __m512i hb = _mm512_shuffle_epi8(_mm512_srli_epi32(h, 4 * vi), b0);
                v[half] = _mm512_or_si512(v[half], _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(hb, bits), _mm512_set1_epi8(0x10)));
            }
            if (kd->kind == W_IQ4) {
                const __m512i tbl = _mm512_broadcast_i32x4(_mm_xor_si128(_mm_loadu_si128((const __m128i *)yk_iq4nl_values), _mm_set1_epi8((char)0x80)));
                v[half] = _mm512_shuffle_epi8(tbl, v[half]);
            }
            _mm512_store_si512(dst + 64 * vi, v[half]);
        }
    }
}

/* Transposes one token's Q8_0 / Q8_1 row (block bytes xbb; d at 0, s at 2 for Q8_1, quants at xq)
 * into ng groups of XG_BYTES at dst: 8 vectors, the corrections (int32), the scales, the sums. */
static void pack_token(const kind32 *kd, const uint8_t *xr, size_t xbb, size_t xq, int64_t nb, uint8_t *dst)
{
    const __m512i idx = lane_offsets(xbb), off = _mm512_set1_epi8((char)kd->offset);
    for (int64_t b0 = 0; b0 < nb; b0 += GB, dst += XG_BYTES) {
        const uint8_t *g = xr + (size_t)b0 * xbb;
        const __mmask16 m = (__mmask16)((1u << group_blocks(nb, b0)) - 1);
        __m512i sum = _mm512_setzero_si512();
        for (int i = 0; i < 8; i++) {
            __m512i v = group_dwords(g, idx, m, xq + 4 * i);
            _mm512_store_si512(dst + 64 * i, v);
            sum = _mm512_dpbusd_epi32(sum, off, v);
        }
        __m512i raw = group_dwords(g, idx, m, 0);
        _mm512_store_si512(dst + 512, _mm512_sub_epi32(_mm512_setzero_si512(), sum));
        _mm512_store_ps(dst + 576, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(raw)));
        _mm512_store_ps(dst + 640, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(raw, 16))));
    }
}

/* Adds one group of R transposed weight rows x T transposed tokens to acc. */
INLINE void tile_group(const kind32 *kd, int R, int T, const uint8_t *const *w, const uint8_t *const *x, __m512 (*acc)[8])
{
    __m512i s[4][8];
    UNROLL for (int t = 0; t < T; t++) {
        const __m512i c = _mm512_load_si512(x[t] + 512);
        UNROLL for (int r = 0; r < R; r++) s[r][t] = c;
    }
    UNROLL for (int i = 0; i < 8; i++) {
        __m512i wv[4];
        UNROLL for (int r = 0; r < R; r++) wv[r] = _mm512_load_si512(w[r] + 64 * i);
        UNROLL for (int t = 0; t < T; t++) {
            const __m512i xv = _mm512_load_si512(x[t] + 64 * i);
            UNROLL for (int r = 0; r < R; r++) s[r][t] = _mm512_dpbusd_epi32(s[r][t], wv[r], xv);
        }
    }
    UNROLL for (int r = 0; r < R; r++) {
        const __m512 wd = _mm512_load_ps((const float *)(w[r] + 512));
        UNROLL for (int t = 0; t < T; t++) {
            acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(wd, _mm512_load_ps((const float *)(x[t] + 576))), _mm512_cvtepi32_ps(s[r][t]), acc[r][t]);
            if (kd->has_m) acc[r][t] = _mm512_fmadd_ps(_mm512_load_ps((const float *)(w[r] + 576)), _mm512_load_ps((const float *)(x[t] + 640)), acc[r][t]);
        }
    }
}

/* Prefill tile: rows x tokens (2 x R x T vectors of sums and accumulators stay in registers). */
#define R32 3
#define T32 4

/* Tiles of R32 rows x T tokens over rows [c0, c1) whose transposed groups are in wt (ng groups per
 * row, row c0 first); packed tokens pk; outputs to Y[t * ldy + r]. */
INLINE void rows32(const kind32 *kd, int T, const uint8_t *wt, int64_t ng, int64_t c0, int64_t c1,
                   const uint8_t *const *pk, float *Y, int64_t ldy, ahead_pf *next)
{
    const size_t wrow = (size_t)ng * WG_BYTES;
    for (int64_t r = c0; r < c1; r += R32) {
        int R = c1 - r < R32 ? (int)(c1 - r) : R32;
        __m512 acc[4][8];
        UNROLL for (int q = 0; q < R32; q++) {
            UNROLL for (int t = 0; t < T; t++) acc[q][t] = _mm512_setzero_ps();
        }
        for (int64_t g = 0; g < ng; g++) {
            const uint8_t *w[R32], *x[8];
            UNROLL for (int q = 0; q < R32; q++) w[q] = wt + (size_t)(r - c0 + (q < R ? q : 0)) * wrow + (size_t)g * WG_BYTES;
            UNROLL for (int t = 0; t < T; t++) x[t] = pk[t] + (size_t)g * XG_BYTES;
            if (g % AHEAD_GROUPS == 0) ahead_next(next);
            if (R == R32) tile_group(kd, R32, T, w, x, acc);
            else
                for (int q = 0; q < R; q++) tile_group(kd, 1, T, w + q, x, acc + q);
        }
        for (int q = 0; q < R; q++)
            for (int t = 0; t < T; t++) Y[t * ldy + r + q] = _mm512_reduce_add_ps(acc[q][t]);
    }
}

/* Decoding: rows wr[0..R) against the one packed token pk, each group transposed into wt as the
 * rows stream by (R = 4 rows from 4 parts of the range: 4 hardware-prefetch streams). */
INLINE void decode32(const kind32 *kd, int R, const uint8_t *const *wr, const uint8_t *pk, int64_t nb, int64_t ng,
                     uint8_t *wt, float *out)
{
    __m512 acc[4][8];
    const uint8_t *w[4];
    UNROLL for (int r = 0; r < R; r++) acc[r][0] = _mm512_setzero_ps(), w[r] = wt + (size_t)r * WG_BYTES;
    for (int64_t g = 0; g < ng; g++) {
        UNROLL for (int r = 0; r < R; r++) {
            const uint8_t *wg = wr[r] + (size_t)(g * GB) * kd->bb;
            pf(wg, GB * kd->bb);
            weight_group(kd, wg, group_blocks(nb, g * GB), wt + (size_t)r * WG_BYTES);
        }
        const uint8_t *x = pk + (size_t)g * XG_BYTES;
        tile_group(kd, R, 1, w, &x, acc);
    }
    UNROLL for (int r = 0; r < R; r++) out[r] = _mm512_reduce_add_ps(acc[r][0]);
}

/* The product for a 32-wide type. */
INLINE void mm32(const kind32 *kd, size_t xbb, size_t xq, const void *W, size_t w_stride, const void *Xq,
                 size_t x_stride, int64_t k, int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1, yk_mm_fn fallback)
{
    const int64_t nb = k / QK, ng = (nb + GB - 1) / GB;
    const size_t xtok = (size_t)ng * XG_BYTES, wrow = (size_t)ng * WG_BYTES;
    /* rows per chunk: their transposed groups (~512 KB) stay in L2 while the token groups pass */
    int64_t chunk = nt == 1 ? 4 : (int64_t)(524288 / wrow) / R32 * R32;
    if (chunk < R32) chunk = R32;
    if (chunk > r1 - r0) chunk = r1 - r0;
    uint8_t *pk = aligned_alloc(64, xtok * (size_t)nt), *wt = aligned_alloc(64, wrow * (size_t)chunk);
    if (!pk || !wt) { /* no memory for the transposed copies: the 256-bit kernel needs none */
        free(pk), free(wt);
        fallback(W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1);
        return;
    }
    for (int64_t t = 0; t < nt; t++) pack_token(kd, (const uint8_t *)Xq + (size_t)t * x_stride, xbb, xq, nb, pk + (size_t)t * xtok);
    const uint8_t *w8 = W;
    if (nt == 1) { /* decoding: 4 rows at a time from 4 parts of the range (see ROW_LOOP) */
        int64_t q = (r1 - r0) / 4;
        for (int64_t i = 0; i < q; i++) {
            const uint8_t *wr[4];
            float out[4];
            UNROLL for (int rr = 0; rr < 4; rr++) wr[rr] = w8 + (size_t)(r0 + rr * q + i) * w_stride;
            decode32(kd, 4, wr, pk, nb, ng, wt, out);
            UNROLL for (int rr = 0; rr < 4; rr++) Y[r0 + rr * q + i] = out[rr];
        }
        for (int64_t r = r0 + 4 * q; r < r1; r++) {
            const uint8_t *wr = w8 + (size_t)r * w_stride;
            decode32(kd, 1, &wr, pk, nb, ng, wt, Y + r);
        }
        free(pk), free(wt);
        return;
    }
    /* prefilling: per row chunk, the rows' groups transposed once, then token groups of T32 */
    for (int64_t c0 = r0; c0 < r1; c0 += chunk) {
        int64_t c1 = c0 + chunk < r1 ? c0 + chunk : r1;
        for (int64_t r = c0; r < c1; r++)
            for (int64_t g = 0; g < ng; g++)
                weight_group(kd, w8 + (size_t)r * w_stride + (size_t)(g * GB) * kd->bb, group_blocks(nb, g * GB),
                             wt + (size_t)(r - c0) * wrow + (size_t)g * WG_BYTES);
        ahead_pf next = ahead_of(w8, w_stride, c1, c1 + chunk < r1 ? c1 + chunk : r1,
                                 (nt + T32 - 1) / T32 * ((c1 - c0 + R32 - 1) / R32) * ((ng + AHEAD_GROUPS - 1) / AHEAD_GROUPS));
        for (int64_t t0 = 0; t0 < nt; t0 += T32) {
            int T = nt - t0 < T32 ? (int)(nt - t0) : T32;
            const uint8_t *x[T32] = {0};
            UNROLL for (int t = 0; t < T; t++) x[t] = pk + (size_t)(t0 + t) * xtok;
            switch (T) { /* a constant T per call keeps the sums and accumulators in registers */
#define ROWS32_T(n) case n: rows32(kd, n < T32 ? n : T32, wt, ng, c0, c1, x, Y + t0 * ldy, ldy, &next); break;
            ROWS32_T(1) ROWS32_T(2) ROWS32_T(3)
#undef ROWS32_T
            default: rows32(kd, T32, wt, ng, c0, c1, x, Y + t0 * ldy, ldy, &next); break;
            }
        }
    }
    free(pk), free(wt);
}

#define MM32(name, kind, WT, qoff, hoff, offset, AT, xq)                                              \
    static void mm512_##name(const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k, \
                             int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1)              \
    {                                                                                                 \
        const kind32 kd = {kind, sizeof(WT), qoff, hoff, offset, kind != W_Q8_0, kind == W_Q4_1 || kind == W_Q5_1}; \
        mm32(&kd, sizeof(AT), xq, W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1, mm_##name);       \
    }
MM32(q4_0, W_Q4_0, blk_q4_0, 2, 0, 8, blk_q8_0, 2)
MM32(q4_1, W_Q4_1, blk_q4_1, 4, 0, 0, blk_q8_1, 4)
MM32(q5_0, W_Q5_0, blk_q5_0, 6, 2, 16, blk_q8_0, 2)
MM32(q5_1, W_Q5_1, blk_q5_1, 8, 4, 0, blk_q8_1, 4)
MM32(q8_0, W_Q8_0, blk_q8_0, 2, 0, 128, blk_q8_0, 2)
MM32(iq4_nl, W_IQ4, blk_iq4_nl, 2, 0, 128, blk_q8_0, 2)

/* ---- k-quants ------------------------------------------------------------------------------- */

/* The scaled integer sums of a super-block, 64 values per VPMADDUBSW + VPDPWSSD: a 64-byte chunk
 * of weights is made from 32 bytes broadcast to both halves and shifted per half (VPSRLVW), so the
 * activations are used in their own order; sub-block scales are spread over the int16 lanes by
 * VPERMW. Q6_K's levels are stored + 32: -32 * scale_i * bsums[i] joins the integer sums (one more
 * VPMADDWD). The mins of Q4_K and Q5_K are a float dot product of row factors u, stored while the
 * row's super-blocks pass, with token factors v prepared once per token group (see prep_k). */

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
 * their scales per int16 lane, d, and (Q6_K) the offset's factors. */
typedef struct {
    __m512i q[4], sv[4];
    __m512 d;
    __m512i off; /* Q6_K: -32 * scale_i as int16 in lanes i < 16, 0 above */
} kw;

/* Q4_K (q5 = false) and Q5_K (q5 = true); u[j] = -dmin * m_j (8 floats). */
INLINE void unpack_k4(bool q5, const uint8_t *blk, kw *w, float *u)
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
    w->off = _mm512_setzero_si512();
    _mm256_storeu_ps(u, _mm256_mul_ps(_mm256_set1_ps(-f16s(mh)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn)))));
}

/* Q6_K: per 128-value half, 64 bytes of ql give chunks (low nibbles: values 0..63, high: 64..127)
 * in activation order; the two high bits come from qh broadcast and shifted per half. */
INLINE void unpack_q6(const blk_q6_K *b, kw *w)
{
    __m256i s16y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    __m512i s16 = _mm512_castsi256_si512(s16y);
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
    w->d = _mm512_set1_ps(f16s(b->d));
    w->off = _mm512_zextsi256_si512(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(s16y, 5)));
}

/* Q4_K, Q5_K: the token's factors v of the mins term, 8 floats per super-block (xd * (bsums[2j] +
 * bsums[2j+1])); with the row's u[j] = -dmin * m_j, the term is the dot product of u and v. */
static void prep_k(const uint8_t *x, int64_t nsb, float *v)
{
    const blk_q8_K *xb = (const blk_q8_K *)x;
    for (int64_t i = 0; i < nsb; i++) {
        __m256i bs = _mm256_loadu_si256((const __m256i *)xb[i].bsums);
        _mm256_storeu_ps(v + 8 * i, _mm256_mul_ps(_mm256_set1_ps(xb[i].d), _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, _mm256_set1_epi16(1)))));
    }
}

_Static_assert(KT == 8, "mm_k's switch covers T = 1 .. 7, then KT");

/* R rows x T tokens (R <= KR_MAX, T <= KT). Per (row, token, super-block): 4 x (VPMADDUBSW +
 * VPDPWSSD) give the scaled integer sums in 16 int32 lanes (Q6_K: + the offset term), then
 * acc += (d * xd) * sums; after the last super-block (Q4_K, Q5_K) acc += u * v, 16 floats at a
 * time (ubuf: u of the R rows, nsb * 8 floats each); out = the sum of acc's lanes. The same
 * instructions for each output whatever R, T. */
INLINE void tile_k(int kind, const uint8_t *const *wr, int R, const uint8_t *const *x, const float *const *v, int T,
                   int64_t nsb, float *ubuf, float (*out)[KT])
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
            else unpack_k4(kind == YK_TYPE_Q5_K, blk, &w, ubuf + (size_t)(r * nsb + i) * 8);
            /* integer sums (exact, so their order is free), the tokens' chains interleaved */
            __m512i isum[KT];
            UNROLL for (int t = 0; t < T; t++)
                isum[t] = q6 ? _mm512_dpwssd_epi32(_mm512_madd_epi16(_mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)xb[t]->bsums)), w.off),
                                                   _mm512_maddubs_epi16(w.q[0], _mm512_loadu_si512(xb[t]->qs)), w.sv[0])
                             : _mm512_madd_epi16(_mm512_maddubs_epi16(w.q[0], _mm512_loadu_si512(xb[t]->qs)), w.sv[0]);
            UNROLL for (int j = 1; j < 4; j++) {
                UNROLL for (int t = 0; t < T; t++)
                    isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(w.q[j], _mm512_loadu_si512(xb[t]->qs + 64 * j)), w.sv[j]);
            }
            UNROLL for (int t = 0; t < T; t++) {
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(w.d, _mm512_set1_ps(xb[t]->d)), acc[r][t]);
            }
        }
    }
    if (!q6) { /* the mins: acc += u * v, 16 floats (2 super-blocks) at a time */
        for (int64_t e = 0; e < 8 * nsb; e += 16) {
            const __mmask16 m = 8 * nsb - e >= 16 ? 0xFFFF : 0x00FF;
            __m512 u[KR_MAX];
            UNROLL for (int r = 0; r < R; r++) u[r] = _mm512_maskz_loadu_ps(m, ubuf + (size_t)r * nsb * 8 + e);
            UNROLL for (int t = 0; t < T; t++) {
                __m512 vt = _mm512_maskz_loadu_ps(m, v[t] + e);
                UNROLL for (int r = 0; r < R; r++) acc[r][t] = _mm512_fmadd_ps(u[r], vt, acc[r][t]);
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
    const size_t vn = (size_t)nsb * 8; /* floats of v per token (Q4_K, Q5_K) */
    const int tb = nt == 1 ? 1 : KT;
    /* v of tb tokens, then u of KR_MAX rows */
    float *vbuf = q6 ? NULL : aligned_alloc(64, (vn * sizeof(float) * ((size_t)tb + KR_MAX) + 127) / 64 * 64);
    float *ubuf = q6 ? NULL : vbuf + vn * (size_t)tb;
    if (!q6 && !vbuf) { /* no memory for v: the 256-bit kernel needs none */
        fallback(W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1);
        return;
    }
    const uint8_t *x[KT] = {0};
    const float *v[KT] = {0};
    float out[KR_MAX][KT];
    const uint8_t *w[KR_MAX];
    if (nt == 1) { /* decoding: 4 rows at a time from 4 parts of the range (see ROW_LOOP) */
        x[0] = Xq;
        if (!q6) prep_k(x[0], nsb, vbuf);
        v[0] = vbuf;
        int64_t q = (r1 - r0) / 4;
        for (int64_t i = 0; i < q; i++) {
            UNROLL for (int rr = 0; rr < 4; rr++) w[rr] = (const uint8_t *)W + (size_t)(r0 + rr * q + i) * w_stride;
            tile_k(kind, w, 4, x, v, 1, nsb, ubuf, out);
            UNROLL for (int rr = 0; rr < 4; rr++) Y[r0 + rr * q + i] = out[rr][0];
        }
        for (int64_t r = r0 + 4 * q; r < r1; r++) {
            w[0] = (const uint8_t *)W + (size_t)r * w_stride;
            tile_k(kind, w, 1, x, v, 1, nsb, ubuf, out);
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
                if (!q6) {
                    prep_k(x[t], nsb, vbuf + (size_t)t * vn);
                    v[t] = vbuf + (size_t)t * vn;
                }
            }
            for (int64_t r = c0; r < c1;) {
                int R = c1 - r >= KR ? KR : 1;
                UNROLL for (int rr = 0; rr < KR; rr++) w[rr] = (const uint8_t *)W + (size_t)(r + (rr < R ? rr : 0)) * w_stride;
                /* constant R and T per call keep the accumulators in registers */
#define TILE_N(R_, n) case n: tile_k(kind, w, R_, x, v, n, nsb, ubuf, out); break;
#define TILE_T(R_)                                                                                    \
    switch (T) {                                                                                      \
    TILE_N(R_, 1) TILE_N(R_, 2) TILE_N(R_, 3) TILE_N(R_, 4) TILE_N(R_, 5) TILE_N(R_, 6) TILE_N(R_, 7)  \
    default: tile_k(kind, w, R_, x, v, KT, nsb, ubuf, out); break;                                   \
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

#define RF 4    /* rows per tile (and per decode step: 4 prefetch streams) */
#define TF 6    /* tokens per tile: 24 accumulators + 4 weight vectors + 1 activation vector */
#define KC 512  /* inputs per block: TF tokens x 512 x 4 bytes = 12 KB of activations in L1 */

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

/* Steps over inputs [i0, i1) (whole steps) of R rows against T tokens, accumulators in acc[r][t].
 * Decoding prefetches PF_DIST ahead in each row (stream); prefilling reads staged rows from L2. */
INLINE void tilef(int kind, int R, int T, const uint8_t *const *wr, const void *const *x, int64_t i0, int64_t i1,
                  bool stream, __m512 (*acc)[TF])
{
    const int64_t st = stepf(kind), wb = kind == F_F32 ? 4 : 2;
    __m512 a[RF][TF];
    UNROLL for (int r = 0; r < R; r++) {
        UNROLL for (int t = 0; t < T; t++) a[r][t] = acc[r][t];
    }
    for (int64_t i = i0; i < i1; i += st) {
        __m512 wv[RF];
        UNROLL for (int r = 0; r < R; r++) {
            if (stream && ((i * wb) & 127) == 0) pf(wr[r] + i * wb, 128);
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

/* Rows [c0, c1) of a chunk against T tokens, over all inputs in blocks of KC, then the outputs. The
 * tiles read the rows staged in S (row c0 first, sst bytes apart, F16 widened to F32); the scalar
 * tails read W. */
INLINE void rowsf(int kind, int T, const uint8_t *S, size_t sst, const uint8_t *W, size_t w_stride, int64_t c0,
                  int64_t c1, const void *const *x, int64_t k, float *Y, int64_t ldy, __m512 (*acc)[TF], ahead_pf *next)
{
    const int64_t kmain = k / stepf(kind) * stepf(kind);
    const int ks = kind == F_F16 ? F_F32 : kind;
    for (int64_t r = c0; r < c1; r++) {
        UNROLL for (int t = 0; t < T; t++) acc[r - c0][t] = _mm512_setzero_ps();
    }
    for (int64_t i0 = 0; i0 < kmain; i0 += KC) {
        int64_t i1 = i0 + KC < kmain ? i0 + KC : kmain;
        int64_t r = c0;
        for (; r + RF <= c1; r += RF) {
            const uint8_t *w[RF];
            UNROLL for (int q = 0; q < RF; q++) w[q] = S + (size_t)(r - c0 + q) * sst;
            ahead_next(next);
            tilef(ks, RF, T, w, x, i0, i1, false, acc + (r - c0));
        }
        for (; r < c1; r++) {
            const uint8_t *w = S + (size_t)(r - c0) * sst;
            tilef(ks, 1, T, &w, x, i0, i1, false, acc + (r - c0));
        }
    }
    for (int64_t r = c0; r < c1; r++)
        for (int t = 0; t < T; t++) Y[t * ldy + r] = finishf(kind, W + (size_t)r * w_stride, x[t], kmain, k, acc[r - c0][t]);
}

/* Rows per chunk: at most CR, and at most ~512 KB staged: they stay in L2 while the token groups
 * pass, beside the next chunk's rows being prefetched and the activations (measured on the 1B F16
 * model, 2 threads: 512 KB prefills ~15% faster than 1 MB or 256 KB). */
#define CR 128
static int64_t chunk_rows(size_t sst)
{
    int64_t n = (int64_t)(524288 / sst);
    return n < RF ? RF : n > CR ? CR : n / RF * RF;
}

/* n F16 values widened to F32 (exact). */
static void widen_f16(const uint16_t *h, float *f, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(f + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
    for (; i < n; i++) f[i] = f16s(h[i]);
}

/* Copies rows [c0, c1), inputs [0, kmain), into S (sst bytes apart), F16 widened to F32: one
 * sequential read of the rows, which the hardware prefetchers follow. */
static void stage_rows(int kind, const uint8_t *W, size_t w_stride, int64_t c0, int64_t c1, int64_t kmain, uint8_t *S,
                       size_t sst)
{
    for (int64_t r = c0; r < c1; r++) {
        const uint8_t *w = W + (size_t)r * w_stride;
        uint8_t *d = S + (size_t)(r - c0) * sst;
        if (kind == F_F16) widen_f16((const uint16_t *)w, (float *)d, kmain);
        else memcpy(d, w, (size_t)kmain * (kind == F_F32 ? 4 : 2));
    }
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
        for (int64_t t = 0; t < nt; t++) widen_f16((const uint16_t *)((const uint8_t *)Xq + (size_t)t * x_stride), xf + (size_t)t * k, k);
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
            __m512 acc[RF][TF] = {{_mm512_setzero_ps()}};
            UNROLL for (int q4 = 0; q4 < 4; q4++) w[q4] = w8 + (size_t)(r0 + q4 * q + i) * w_stride;
            tilef(kind, 4, 1, w, &x, 0, kmain, true, acc);
            UNROLL for (int q4 = 0; q4 < 4; q4++) Y[r0 + q4 * q + i] = finishf(kind, w[q4], x, kmain, k, acc[q4][0]);
        }
        for (int64_t r = r0 + 4 * q; r < r1; r++) {
            const uint8_t *w = w8 + (size_t)r * w_stride;
            __m512 acc[1][TF] = {{_mm512_setzero_ps()}};
            tilef(kind, 1, 1, &w, &x, 0, kmain, true, acc);
            Y[r] = finishf(kind, w, x, kmain, k, acc[0][0]);
        }
        free(xf);
        return;
    }
    /* prefilling: row chunks staged in L2; in each, token groups of TF over blocks of KC inputs */
    const size_t sst = ((size_t)kmain * (kind == F_BF16 ? 2 : 4) + 63) / 64 * 64;
    const int64_t chunk = chunk_rows(sst ? sst : 64);
    __m512 (*acc)[TF] = aligned_alloc(64, (size_t)chunk * sizeof *acc);
    uint8_t *S = aligned_alloc(64, (size_t)chunk * (sst ? sst : 64));
    if (!acc || !S) {
        free(acc), free(S), free(xf);
        fallback(W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1);
        return;
    }
    for (int64_t c0 = r0; c0 < r1; c0 += chunk) {
        int64_t c1 = c0 + chunk < r1 ? c0 + chunk : r1;
        stage_rows(kind, w8, w_stride, c0, c1, kmain, S, sst);
        ahead_pf next = ahead_of(w8, w_stride, c1, c1 + chunk < r1 ? c1 + chunk : r1,
                                 (nt + TF - 1) / TF * ((kmain + KC - 1) / KC) * ((c1 - c0 + RF - 1) / RF));
        for (int64_t t0 = 0; t0 < nt; t0 += TF) {
            int T = nt - t0 < TF ? (int)(nt - t0) : TF;
            const void *x[TF] = {0};
            UNROLL for (int t = 0; t < T; t++) x[t] = xb + (size_t)(t0 + t) * xs;
            switch (T) { /* a constant T per call keeps the accumulators in registers */
#define ROWSF_T(n) case n: rowsf(kind, n < TF ? n : TF, S, sst, w8, w_stride, c0, c1, x, k, Y + t0 * ldy, ldy, acc, &next); break;
            ROWSF_T(1) ROWSF_T(2) ROWSF_T(3) ROWSF_T(4) ROWSF_T(5)
#undef ROWSF_T
            default: rowsf(kind, TF, S, sst, w8, w_stride, c0, c1, x, k, Y + t0 * ldy, ldy, acc, &next); break;
            }
        }
    }
    free(S);
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

/* Q8_K activations (Q2_K..Q6_K weights), as the scalar conversion: the scale from the first value
 * of largest magnitude (q = -127 there), q = nearest(-127 / max x x) capped at 127, sums per 16. */
static void conv512_q8_K(const float *x, void *y, int64_t k)
{
    blk_q8_K *b = y;
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t i = 0; i < k / QKK; i++, x += QKK) {
        __m512 m = _mm512_setzero_ps();
        for (int j = 0; j < QKK; j += 16) m = _mm512_max_ps(m, _mm512_andnot_ps(sign, _mm512_loadu_ps(x + j)));
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float max = 0;
        for (int j = 0; j < QKK; j += 16) { /* the first value whose magnitude is amax */
            __mmask16 hit = _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, _mm512_loadu_ps(x + j)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (hit) {
                max = x[j + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m512 is = _mm512_set1_ps(iscale);
        for (int j = 0; j < QKK; j += 16) {
            /* round to nearest even (the default rounding mode), as yk_nearest_int */
            __m512i v = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(is, _mm512_loadu_ps(x + j))), _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(b[i].qs + j), _mm512_cvtepi32_epi8(v));
            b[i].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(v);
        }
        b[i].d = 1.0f / iscale;
    }
}

/* The amx path: prefill (2 tokens or more) of F16 and BF16 weights on BF16 tiles, of Q8_0, Q4_0,
 * Q5_0, IQ4_NL, Q4_K and Q5_K on INT8 tiles, everything else as avx512. One token keeps the avx512 kernels
 * (reading the weights is the limit there), so on this path decode and prefill give those types'
 * outputs within rounding of each other, not the same bits. */
#define MMX(name, type, amx)                                                                           \
    static void mmx_##name(const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k,   \
                           int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1)                \
    {                                                                                                 \
        if (nt < 2 || !amx(type, W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1))                  \
            mm512_##name(W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1);                           \
    }
MMX(f16, YK_TYPE_F16, yk_amx_matmul)
MMX(bf16, YK_TYPE_BF16, yk_amx_matmul)
MMX(q8_0, YK_TYPE_Q8_0, yk_amx_matmul8)
MMX(q4_0, YK_TYPE_Q4_0, yk_amx_matmul8)
MMX(q5_0, YK_TYPE_Q5_0, yk_amx_matmul8)
MMX(iq4_nl, YK_TYPE_IQ4_NL, yk_amx_matmul8)
MMX(q4_K, YK_TYPE_Q4_K, yk_amx_matmul8)
MMX(q5_K, YK_TYPE_Q5_K, yk_amx_matmul8)

#define KERNELS512(name_, P)                                                                          \
    {                                                                                                \
        .name = name_,                                                                               \
        .mm = {                                                                                      \
            [YK_TYPE_F32] = mm512_f32,   [YK_TYPE_F16] = P##f16,      [YK_TYPE_BF16] = P##bf16,      \
            [YK_TYPE_Q8_0] = P##q8_0,    [YK_TYPE_Q4_0] = P##q4_0,    [YK_TYPE_Q4_1] = mm512_q4_1,   \
            [YK_TYPE_Q5_0] = P##q5_0,    [YK_TYPE_Q5_1] = mm512_q5_1, [YK_TYPE_IQ4_NL] = P##iq4_nl,  \
            [YK_TYPE_Q2_K] = mm_q2_K,    [YK_TYPE_Q3_K] = mm_q3_K,    [YK_TYPE_Q4_K] = P##q4_K,      \
            [YK_TYPE_Q5_K] = P##q5_K,    [YK_TYPE_Q6_K] = mm512_q6_K,                                \
        },                                                                                           \
        .conv = {[YK_TYPE_Q8_0] = conv_q8_0, [YK_TYPE_Q8_1] = conv_q8_1, [YK_TYPE_F16] = conv_f16,   \
                 [YK_TYPE_BF16] = conv512_bf16, [YK_TYPE_Q8_K] = conv512_q8_K},                      \
    }
const yk_kernels yk_kernels_avx512 = KERNELS512("avx512", mm512_);
const yk_kernels yk_kernels_amx = KERNELS512("amx", mmx_);
