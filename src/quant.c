/* quant.c: the scalar reference of the block formats and the kernel dispatch.
 *
 * Contents: fp16/bf16 conversions; dequantisation of every supported type (bit-exact with the
 * GGUF/ggml definitions: the same float operations in the same order); the activation formats
 * (F16, BF16, Q8_0, Q8_1, Q8_K) with the arithmetic of the reference engine's x86 CPU path (so that
 * logits can be compared with it); scalar dot products (integer sums per block, then one float
 * multiply-add per block); and the dispatch that picks the scalar, AVX2 or AVX-512 kernels once,
 * from CPU detection and the YK_SIMD environment variable (which can only force a lower path).
 *
 * Determinism: each output value of a product is computed by one call of one kernel on one row and
 * one token, whatever the thread split or tiling, so results do not depend on the thread count.
 * Quantisers from f32 (weights) live in quant_quantize.c. */
#include "quant_impl.h"
#include "yoke/pool.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

const int8_t yk_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* ---- fp16 / bf16 ---------------------------------------------------------------------------- */

float yk_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000 | (mant << 13);
    } else if (exp == 0) {
        float v = (float)mant * 0x1p-24f; /* subnormal (or zero): exact */
        return sign ? -v : v;
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t yk_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7FFFFFFF;
    if (ax > 0x7F800000) return sign | 0x7E00 | (uint16_t)((ax >> 13) & 0x3FF); /* NaN stays quiet NaN */
    if (ax >= 0x477FF000) return sign | 0x7C00;         /* >= 65520 rounds to infinity */
    if (ax >= 0x38800000) {                              /* normal half: round mantissa at bit 13 */
        uint32_t r = ax + 0xFFF + ((ax >> 13) & 1);
        return sign | (uint16_t)((r - 0x38000000) >> 13);
    }
    /* Subnormal half: adding 0.5 (ulp 2^-24, the half subnormal unit) rounds in hardware. */
    float a;
    memcpy(&a, &ax, sizeof a);
    a += 0.5f;
    uint32_t r;
    memcpy(&r, &a, sizeof r);
    return sign | (uint16_t)(r - 0x3F000000);
}

float yk_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest even; subnormals flush to (signed) zero, as the reference engine and the
 * AVX-512 BF16 conversion instructions do. */
uint16_t yk_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((x >> 16) | 0x40);
    if (!(x & 0x7F800000)) return (uint16_t)((x & 0x80000000) >> 16);
    return (uint16_t)((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

static inline float h2f(uint16_t h) { return yk_f16_to_f32(h); }

/* ---- dequantisation ------------------------------------------------------------------------- */

static void deq_f32(const void *src, float *y, int64_t n) { memcpy(y, src, (size_t)n * sizeof *y); }

static void deq_f16(const void *src, float *y, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        y[i] = yk_f16_to_f32(h);
    }
}

static void deq_bf16(const void *src, float *y, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        y[i] = yk_bf16_to_f32(h);
    }
}

static void deq_q8_0(const void *src, float *y, int64_t n)
{
    const blk_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = h2f(b[i].d);
        for (int j = 0; j < QK; j++) y[j] = b[i].qs[j] * d;
    }
}

static void deq_q4_0(const void *src, float *y, int64_t n)
{
    const blk_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = h2f(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = ((b[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK / 2] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q4_1(const void *src, float *y, int64_t n)
{
    const blk_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = h2f(b[i].d), m = h2f(b[i].m);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (b[i].qs[j] & 0x0F) * d + m;
            y[j + QK / 2] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

/* Bit j of qh is the fifth bit of value j (values 0..15 in the low nibbles, 16..31 in the high). */
static void deq_q5_0(const void *src, float *y, int64_t n)
{
    const blk_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = h2f(b[i].d);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < QK / 2; j++) {
            int h0 = ((qh >> j) & 1) << 4, h1 = ((qh >> (j + 16)) & 1) << 4;
            y[j] = (((b[i].qs[j] & 0x0F) | h0) - 16) * d;
            y[j + QK / 2] = (((b[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void deq_q5_1(const void *src, float *y, int64_t n)
{
    const blk_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = h2f(b[i].d), m = h2f(b[i].m);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < QK / 2; j++) {
            int h0 = ((qh >> j) & 1) << 4, h1 = ((qh >> (j + 16)) & 1) << 4;
            y[j] = ((b[i].qs[j] & 0x0F) | h0) * d + m;
            y[j + QK / 2] = ((b[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

static void deq_iq4_nl(const void *src, float *y, int64_t n)
{
    const blk_iq4_nl *b = src;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = h2f(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = d * yk_iq4nl_values[b[i].qs[j] & 0x0F];
            y[j + QK / 2] = d * yk_iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

/* Q2_K: 16 sub-blocks of 16; 2-bit q; scale byte: low nibble scale, high nibble min.
 * Within each 128-value half, the 4 bit-pairs of 32 bytes give 4 x 32 values in order. */
static void deq_q2_K(const void *src, float *y, int64_t n)
{
    const blk_q2_K *b = src;
    for (int64_t i = 0; i < n / QKK; i++) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        const uint8_t *q = b[i].qs;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; part++) {
                    int sc = b[i].scales[is++];
                    float dl = d * (sc & 0x0F), ml = dmin * (sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * ((q[l + 16 * part] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* Q3_K: 16 sub-blocks of 16; 2 low bits in qs (layout as Q2_K), the third bit in hmask (set: +0,
 * clear: -4); 6-bit signed scales. */
static void deq_q3_K(const void *src, float *y, int64_t n)
{
    const blk_q3_K *b = src;
    for (int64_t i = 0; i < n / QKK; i++) {
        float d = h2f(b[i].d);
        int8_t sc[16];
        yk_k3_scales(b[i].scales, sc);
        const uint8_t *q = b[i].qs;
        int is = 0;
        uint8_t m = 1;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int part = 0; part < 2; part++) {
                    float dl = d * sc[is++];
                    for (int l = 0; l < 16; l++) {
                        int k = l + 16 * part;
                        *y++ = dl * (((q[k] >> shift) & 3) - ((b[i].hmask[k] & m) ? 0 : 4));
                    }
                }
            }
        }
    }
}

/* Q4_K: 8 sub-blocks of 32 with 6-bit scale and min; 64 values per 32 bytes (low nibbles first). */
static void deq_q4_K(const void *src, float *y, int64_t n)
{
    const blk_q4_K *b = src;
    for (int64_t i = 0; i < n / QKK; i++) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32) {
            int sc, m;
            yk_k4_scale_min(j, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            yk_k4_scale_min(j + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0x0F) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* Q5_K: as Q4_K plus a fifth bit: bit 2p (low nibble) and 2p+1 (high) of qh[l] for pair p. */
static void deq_q5_K(const void *src, float *y, int64_t n)
{
    const blk_q5_K *b = src;
    for (int64_t i = 0; i < n / QKK; i++) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        const uint8_t *q = b[i].qs;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 8; j += 2, q += 32, u1 <<= 2, u2 <<= 2) {
            int sc, m;
            yk_k4_scale_min(j, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            yk_k4_scale_min(j + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((q[l] & 0x0F) + (b[i].qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((q[l] >> 4) + (b[i].qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

/* Q6_K: 16 sub-blocks of 16 with int8 scales; 4 low bits in ql, 2 high bits in qh; q - 32. Per
 * 128-value half: ql[0..63], qh[0..31]; value l+32*p takes nibble p/2 of ql[l + 32*(p&1)] and bits
 * 2p..2p+1 of qh[l]. */
static void deq_q6_K(const void *src, float *y, int64_t n)
{
    const blk_q6_K *b = src;
    for (int64_t i = 0; i < n / QKK; i++) {
        float d = h2f(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int8_t)((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
                int q2 = (int8_t)((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

static void deq_q8_K(const void *src, float *y, int64_t n)
{
    const blk_q8_K *b = src;
    for (int64_t i = 0; i < n / QKK; i++, y += QKK)
        for (int j = 0; j < QKK; j++) y[j] = b[i].d * b[i].qs[j];
}

static void deq_q8_1(const void *src, float *y, int64_t n)
{
    const blk_q8_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        float d = h2f(b[i].d);
        for (int j = 0; j < QK; j++) y[j] = b[i].qs[j] * d;
    }
}

typedef void (*deq_fn)(const void *src, float *dst, int64_t n);

static const deq_fn dequantizers[YK_TYPE_COUNT] = {
    [YK_TYPE_F32] = deq_f32,   [YK_TYPE_F16] = deq_f16,   [YK_TYPE_BF16] = deq_bf16,
    [YK_TYPE_Q8_0] = deq_q8_0, [YK_TYPE_Q8_1] = deq_q8_1, [YK_TYPE_Q4_0] = deq_q4_0,
    [YK_TYPE_Q4_1] = deq_q4_1, [YK_TYPE_Q5_0] = deq_q5_0, [YK_TYPE_Q5_1] = deq_q5_1,
    [YK_TYPE_IQ4_NL] = deq_iq4_nl, [YK_TYPE_Q2_K] = deq_q2_K, [YK_TYPE_Q3_K] = deq_q3_K,
    [YK_TYPE_Q4_K] = deq_q4_K, [YK_TYPE_Q5_K] = deq_q5_K, [YK_TYPE_Q6_K] = deq_q6_K,
    [YK_TYPE_Q8_K] = deq_q8_K,
};

bool yk_type_supported(yk_type t)
{
    return (unsigned)t < YK_TYPE_COUNT && dequantizers[t] && t != YK_TYPE_Q8_1 && t != YK_TYPE_Q8_K;
}

void yk_dequantize_row(yk_type t, const void *src, float *dst, int64_t n)
{
    YK_ASSERT((unsigned)t < YK_TYPE_COUNT && dequantizers[t] && yk_row_bytes(t, n) > 0);
    dequantizers[t](src, dst, n);
}

/* ---- activation formats --------------------------------------------------------------------- */

yk_type yk_vec_type(yk_type t)
{
    switch (t) {
    case YK_TYPE_F16: return YK_TYPE_F16;
    case YK_TYPE_BF16: return YK_TYPE_BF16;
    case YK_TYPE_Q4_0: case YK_TYPE_Q5_0: case YK_TYPE_Q8_0: case YK_TYPE_IQ4_NL: return YK_TYPE_Q8_0;
    case YK_TYPE_Q4_1: case YK_TYPE_Q5_1: return YK_TYPE_Q8_1;
    case YK_TYPE_Q2_K: case YK_TYPE_Q3_K: case YK_TYPE_Q4_K: case YK_TYPE_Q5_K: case YK_TYPE_Q6_K:
        return YK_TYPE_Q8_K;
    default: return YK_TYPE_F32;
    }
}

static void conv_f32(const float *x, void *y, int64_t k) { memcpy(y, x, (size_t)k * sizeof *x); }

static void conv_f16(const float *x, void *y, int64_t k)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < k; i++) {
        uint16_t h = yk_f32_to_f16(x[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

static void conv_bf16(const float *x, void *y, int64_t k)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < k; i++) {
        uint16_t h = yk_f32_to_bf16(x[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

/* Q8_0 activations as the reference engine's x86 path makes them: d = amax/127 stored as fp16,
 * values round(x * 127/amax) with ties to even. */
static void conv_q8_0(const float *x, void *y, int64_t k)
{
    blk_q8_0 *b = y;
    for (int64_t i = 0; i < k / QK; i++, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        b[i].d = yk_f32_to_f16(amax / 127.0f);
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        for (int j = 0; j < QK; j++) b[i].qs[j] = (int8_t)yk_nearest_int(x[j] * id);
    }
}

/* Q8_1: as Q8_0, plus s = fp16(d * sum(q)) for the offset of Q4_1 / Q5_1 weights. */
static void conv_q8_1(const float *x, void *y, int64_t k)
{
    blk_q8_1 *b = y;
    for (int64_t i = 0; i < k / QK; i++, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            b[i].qs[j] = (int8_t)yk_nearest_int(x[j] * id);
            sum += b[i].qs[j];
        }
        b[i].d = yk_f32_to_f16(d);
        b[i].s = yk_f32_to_f16(d * (float)sum);
    }
}

/* Q8_K: scale from the value of largest magnitude (q = -127 there), float d, sums per 16. */
static void conv_q8_K(const float *x, void *y, int64_t k)
{
    blk_q8_K *b = y;
    for (int64_t i = 0; i < k / QKK; i++, x += QKK) {
        float amax;
        const float max = yk_first_absmax(x, QKK, &amax);
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < QKK; j++) {
            int v = yk_nearest_int(iscale * x[j]);
            b[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QKK / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += b[i].qs[16 * j + l];
            b[i].bsums[j] = (int16_t)s;
        }
        b[i].d = 1.0f / iscale;
    }
}

/* ---- scalar dot products -------------------------------------------------------------------- */

/* Float sums use 8 interleaved partial sums (as the SIMD paths do), combined pairwise at the end. */
static float sum8(const float p[8])
{
    return ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
}

static float dot_f32(const void *w, const void *x, int64_t k)
{
    const float *a = w, *b = x;
    float p[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= k; i += 8)
        for (int l = 0; l < 8; l++) p[l] += a[i + l] * b[i + l];
    for (; i < k; i++) p[i & 7] += a[i] * b[i];
    return sum8(p);
}

/* 16-bit floats (F16 or BF16, by the conversion cv) in 8 interleaved partial sums. */
static inline float dot_16bit(const void *w, const void *x, int64_t k, float (*cv)(uint16_t))
{
    const uint8_t *a = w, *b = x;
    float p[8] = {0};
    for (int64_t i = 0; i < k; i++) {
        uint16_t ha, hb;
        memcpy(&ha, a + 2 * i, 2);
        memcpy(&hb, b + 2 * i, 2);
        p[i & 7] += cv(ha) * cv(hb);
    }
    return sum8(p);
}

static float dot_f16(const void *w, const void *x, int64_t k) { return dot_16bit(w, x, k, yk_f16_to_f32); }
static float dot_bf16(const void *w, const void *x, int64_t k) { return dot_16bit(w, x, k, yk_bf16_to_f32); }

static float dot_q8_0(const void *w, const void *x, int64_t k)
{
    const blk_q8_0 *a = w, *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QK; i++) {
        int sumi = 0;
        for (int j = 0; j < QK; j++) sumi += a[i].qs[j] * b[i].qs[j];
        s += h2f(a[i].d) * h2f(b[i].d) * (float)sumi;
    }
    return s;
}

static float dot_q4_0(const void *w, const void *x, int64_t k)
{
    const blk_q4_0 *a = w;
    const blk_q8_0 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QK; i++) {
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++)
            sumi += ((a[i].qs[j] & 0x0F) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + QK / 2];
        s += h2f(a[i].d) * h2f(b[i].d) * (float)sumi;
    }
    return s;
}

static float dot_q4_1(const void *w, const void *x, int64_t k)
{
    const blk_q4_1 *a = w;
    const blk_q8_1 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QK; i++) {
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++)
            sumi += (a[i].qs[j] & 0x0F) * b[i].qs[j] + (a[i].qs[j] >> 4) * b[i].qs[j + QK / 2];
        s += h2f(a[i].d) * h2f(b[i].d) * (float)sumi + h2f(a[i].m) * h2f(b[i].s);
    }
    return s;
}

static float dot_q5_0(const void *w, const void *x, int64_t k)
{
    const blk_q5_0 *a = w;
    const blk_q8_0 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QK; i++) {
        uint32_t qh;
        memcpy(&qh, a[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++) {
            int v0 = ((a[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16;
            int v1 = ((a[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            sumi += v0 * b[i].qs[j] + v1 * b[i].qs[j + QK / 2];
        }
        s += h2f(a[i].d) * h2f(b[i].d) * (float)sumi;
    }
    return s;
}

static float dot_q5_1(const void *w, const void *x, int64_t k)
{
    const blk_q5_1 *a = w;
    const blk_q8_1 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QK; i++) {
        uint32_t qh;
        memcpy(&qh, a[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++) {
            int v0 = (a[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4);
            int v1 = (a[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            sumi += v0 * b[i].qs[j] + v1 * b[i].qs[j + QK / 2];
        }
        s += h2f(a[i].d) * h2f(b[i].d) * (float)sumi + h2f(a[i].m) * h2f(b[i].s);
    }
    return s;
}

static float dot_iq4_nl(const void *w, const void *x, int64_t k)
{
    const blk_iq4_nl *a = w;
    const blk_q8_0 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QK; i++) {
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++)
            sumi += yk_iq4nl_values[a[i].qs[j] & 0x0F] * b[i].qs[j] +
                    yk_iq4nl_values[a[i].qs[j] >> 4] * b[i].qs[j + QK / 2];
        s += h2f(a[i].d) * h2f(b[i].d) * (float)sumi;
    }
    return s;
}

/* k-quants x Q8_K: per super-block, sum_j scale_j * <q_j, a_j> in integers, times d * d8, minus
 * dmin * d8 * sum_j min_j * (sum of a over sub-block j) where the type has mins. */
static float dot_q2_K(const void *w, const void *x, int64_t k)
{
    const blk_q2_K *a = w;
    const blk_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QKK; i++) {
        int summ = 0, sumi = 0;
        for (int j = 0; j < 16; j++) summ += (a[i].scales[j] >> 4) * b[i].bsums[j];
        const uint8_t *q = a[i].qs;
        const int8_t *q8 = b[i].qs;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int part = 0; part < 2; part++, q8 += 16) {
                    int sub = 0;
                    for (int l = 0; l < 16; l++) sub += ((q[l + 16 * part] >> shift) & 3) * q8[l];
                    sumi += (a[i].scales[is++] & 0x0F) * sub;
                }
        s += b[i].d * h2f(a[i].d) * (float)sumi - b[i].d * h2f(a[i].dmin) * (float)summ;
    }
    return s;
}

static float dot_q3_K(const void *w, const void *x, int64_t k)
{
    const blk_q3_K *a = w;
    const blk_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QKK; i++) {
        int8_t sc[16];
        yk_k3_scales(a[i].scales, sc);
        const uint8_t *q = a[i].qs;
        const int8_t *q8 = b[i].qs;
        int is = 0, sumi = 0;
        uint8_t m = 1;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                for (int part = 0; part < 2; part++, q8 += 16) {
                    int sub = 0;
                    for (int l = 0; l < 16; l++) {
                        int kk = l + 16 * part;
                        sub += (((q[kk] >> shift) & 3) - ((a[i].hmask[kk] & m) ? 0 : 4)) * q8[l];
                    }
                    sumi += sc[is++] * sub;
                }
        s += b[i].d * h2f(a[i].d) * (float)sumi;
    }
    return s;
}

static float dot_q4_K(const void *w, const void *x, int64_t k)
{
    const blk_q4_K *a = w;
    const blk_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QKK; i++) {
        const uint8_t *q = a[i].qs;
        const int8_t *q8 = b[i].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j += 2, q += 32, q8 += 64) {
            int sc1, m1, sc2, m2, s1 = 0, s2 = 0;
            yk_k4_scale_min(j, a[i].scales, &sc1, &m1);
            yk_k4_scale_min(j + 1, a[i].scales, &sc2, &m2);
            for (int l = 0; l < 32; l++) {
                s1 += (q[l] & 0x0F) * q8[l];
                s2 += (q[l] >> 4) * q8[l + 32];
            }
            sumi += sc1 * s1 + sc2 * s2;
            summ += m1 * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]) + m2 * (b[i].bsums[2 * j + 2] + b[i].bsums[2 * j + 3]);
        }
        s += b[i].d * h2f(a[i].d) * (float)sumi - b[i].d * h2f(a[i].dmin) * (float)summ;
    }
    return s;
}

static float dot_q5_K(const void *w, const void *x, int64_t k)
{
    const blk_q5_K *a = w;
    const blk_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QKK; i++) {
        const uint8_t *q = a[i].qs;
        const int8_t *q8 = b[i].qs;
        int sumi = 0, summ = 0;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 8; j += 2, q += 32, q8 += 64, u1 <<= 2, u2 <<= 2) {
            int sc1, m1, sc2, m2, s1 = 0, s2 = 0;
            yk_k4_scale_min(j, a[i].scales, &sc1, &m1);
            yk_k4_scale_min(j + 1, a[i].scales, &sc2, &m2);
            for (int l = 0; l < 32; l++) {
                s1 += ((q[l] & 0x0F) + (a[i].qh[l] & u1 ? 16 : 0)) * q8[l];
                s2 += ((q[l] >> 4) + (a[i].qh[l] & u2 ? 16 : 0)) * q8[l + 32];
            }
            sumi += sc1 * s1 + sc2 * s2;
            summ += m1 * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]) + m2 * (b[i].bsums[2 * j + 2] + b[i].bsums[2 * j + 3]);
        }
        s += b[i].d * h2f(a[i].d) * (float)sumi - b[i].d * h2f(a[i].dmin) * (float)summ;
    }
    return s;
}

static float dot_q6_K(const void *w, const void *x, int64_t k)
{
    const blk_q6_K *a = w;
    const blk_q8_K *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < k / QKK; i++) {
        const uint8_t *ql = a[i].ql, *qh = a[i].qh;
        const int8_t *sc = a[i].scales, *q8 = b[i].qs;
        int sumi = 0;
        for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, q8 += 128) {
            for (int g = 0; g < 2; g++) { /* l in [16g, 16g+16): scales sc[g + 2p] */
                int s4[4] = {0};
                for (int l = 16 * g; l < 16 * g + 16; l++) {
                    s4[0] += (((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32) * q8[l];
                    s4[1] += (((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32) * q8[l + 32];
                    s4[2] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * q8[l + 64];
                    s4[3] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * q8[l + 96];
                }
                for (int p = 0; p < 4; p++) sumi += sc[g + 2 * p] * s4[p];
            }
        }
        s += b[i].d * h2f(a[i].d) * (float)sumi;
    }
    return s;
}

typedef float (*dot_fn)(const void *w, const void *x, int64_t k);

static const dot_fn scalar_dots[YK_TYPE_COUNT] = {
    [YK_TYPE_F32] = dot_f32,   [YK_TYPE_F16] = dot_f16,   [YK_TYPE_BF16] = dot_bf16,
    [YK_TYPE_Q8_0] = dot_q8_0, [YK_TYPE_Q4_0] = dot_q4_0, [YK_TYPE_Q4_1] = dot_q4_1,
    [YK_TYPE_Q5_0] = dot_q5_0, [YK_TYPE_Q5_1] = dot_q5_1, [YK_TYPE_IQ4_NL] = dot_iq4_nl,
    [YK_TYPE_Q2_K] = dot_q2_K, [YK_TYPE_Q3_K] = dot_q3_K, [YK_TYPE_Q4_K] = dot_q4_K,
    [YK_TYPE_Q5_K] = dot_q5_K, [YK_TYPE_Q6_K] = dot_q6_K,
};

float yk_dot_scalar(yk_type wt, const void *w, const void *x, int64_t k)
{
    return scalar_dots[wt](w, x, k);
}

/* The scalar product: one weight row against every token while the row is hot in cache. */
#define SCALAR_MM(T)                                                                           \
    static void mm_##T(const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k, \
                       int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1)              \
    {                                                                                          \
        for (int64_t r = r0; r < r1; r++) {                                                    \
            const uint8_t *w = (const uint8_t *)W + (size_t)r * w_stride;                      \
            for (int64_t t = 0; t < nt; t++)                                                   \
                Y[t * ldy + r] = dot_##T(w, (const uint8_t *)Xq + (size_t)t * x_stride, k);    \
        }                                                                                      \
    }
SCALAR_MM(f32)
SCALAR_MM(f16)
SCALAR_MM(bf16)
SCALAR_MM(q8_0)
SCALAR_MM(q4_0)
SCALAR_MM(q4_1)
SCALAR_MM(q5_0)
SCALAR_MM(q5_1)
SCALAR_MM(iq4_nl)
SCALAR_MM(q2_K)
SCALAR_MM(q3_K)
SCALAR_MM(q4_K)
SCALAR_MM(q5_K)
SCALAR_MM(q6_K)

const yk_kernels yk_kernels_scalar = {
    .name = "scalar",
    .mm = {
        [YK_TYPE_F32] = mm_f32,   [YK_TYPE_F16] = mm_f16,   [YK_TYPE_BF16] = mm_bf16,
        [YK_TYPE_Q8_0] = mm_q8_0, [YK_TYPE_Q4_0] = mm_q4_0, [YK_TYPE_Q4_1] = mm_q4_1,
        [YK_TYPE_Q5_0] = mm_q5_0, [YK_TYPE_Q5_1] = mm_q5_1, [YK_TYPE_IQ4_NL] = mm_iq4_nl,
        [YK_TYPE_Q2_K] = mm_q2_K, [YK_TYPE_Q3_K] = mm_q3_K, [YK_TYPE_Q4_K] = mm_q4_K,
        [YK_TYPE_Q5_K] = mm_q5_K, [YK_TYPE_Q6_K] = mm_q6_K,
    },
    .conv = {
        [YK_TYPE_F32] = conv_f32,   [YK_TYPE_F16] = conv_f16,   [YK_TYPE_BF16] = conv_bf16,
        [YK_TYPE_Q8_0] = conv_q8_0, [YK_TYPE_Q8_1] = conv_q8_1, [YK_TYPE_Q8_K] = conv_q8_K,
    },
};

/* ---- dispatch ------------------------------------------------------------------------------- */

static const yk_kernels *const paths[YK_SIMD_COUNT] = {&yk_kernels_scalar, &yk_kernels_avx2, &yk_kernels_avx512,
                                                       &yk_kernels_amx};

/* AMX tiles need the OS kernel's permission for this process (Linux 5.16+): asked once; granted or
 * not for good. The kernel refuses where it does not support the state (or a thread's signal stack
 * is too small for it); the amx path is then unavailable. */
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static bool amx_granted; /* written once under amx_once */

static void amx_ask(void)
{
#if defined(__linux__) && defined(__x86_64__)
    enum { GET_XCOMP_SUPP = 0x1021, REQ_XCOMP_PERM = 0x1023, XTILEDATA = 18 };
    unsigned long supported = 0;
    amx_granted = syscall(SYS_arch_prctl, GET_XCOMP_SUPP, &supported) == 0 && (supported >> XTILEDATA & 1) &&
                  syscall(SYS_arch_prctl, REQ_XCOMP_PERM, XTILEDATA) == 0;
#endif
}

bool yk_simd_available(yk_simd s)
{
    __builtin_cpu_init();
    switch (s) {
    case YK_SIMD_SCALAR: return true;
    case YK_SIMD_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
               __builtin_cpu_supports("bmi2");
    case YK_SIMD_AVX512:
        return yk_simd_available(YK_SIMD_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
               __builtin_cpu_supports("avx512bf16");
    case YK_SIMD_AMX:
        if (!yk_simd_available(YK_SIMD_AVX512) || !__builtin_cpu_supports("amx-tile") ||
            !__builtin_cpu_supports("amx-bf16") || !__builtin_cpu_supports("amx-int8"))
            return false;
        pthread_once(&amx_once, amx_ask);
        return amx_granted;
    default: return false;
    }
}

static pthread_once_t simd_once = PTHREAD_ONCE_INIT;
static yk_simd simd_chosen; /* written once under simd_once: the one-time CPU detection */

static void simd_detect(void)
{
    yk_simd best = YK_SIMD_SCALAR;
    for (int s = YK_SIMD_COUNT - 1; s > YK_SIMD_SCALAR; s--)
        if (yk_simd_available((yk_simd)s)) {
            best = (yk_simd)s;
            break;
        }
    const char *env = getenv("YK_SIMD");
    if (env && *env)
        for (int s = 0; s < YK_SIMD_COUNT; s++)
            if (!strcmp(env, paths[s]->name) && s < (int)best) best = (yk_simd)s;
    simd_chosen = best;
}

yk_simd yk_simd_active(void)
{
    pthread_once(&simd_once, simd_detect);
    return simd_chosen;
}

const char *yk_simd_path(void) { return paths[yk_simd_active()]->name; }

static yk_mm_fn mm_for(yk_simd s, yk_type wt)
{
    YK_ASSERT((unsigned)s < YK_SIMD_COUNT && yk_type_supported(wt));
    yk_mm_fn f = paths[s]->mm[wt];
    return f ? f : yk_kernels_scalar.mm[wt];
}

static yk_conv_fn conv_for(yk_simd s, yk_type vt)
{
    yk_conv_fn f = paths[s]->conv[vt];
    return f ? f : yk_kernels_scalar.conv[vt];
}

/* ---- products ------------------------------------------------------------------------------- */

size_t yk_acts_bytes(yk_type wt, int64_t k, int64_t nt)
{
    return yk_row_bytes(yk_vec_type(wt), k) * (size_t)nt;
}

void yk_acts_convert_on(yk_simd s, yk_type wt, const float *X, int64_t k, int64_t t0, int64_t t1, void *Xq)
{
    yk_type vt = yk_vec_type(wt);
    size_t stride = yk_row_bytes(vt, k);
    YK_ASSERT(stride > 0);
    yk_conv_fn f = conv_for(s, vt);
    for (int64_t t = t0; t < t1; t++) f(X + t * k, (uint8_t *)Xq + (size_t)t * stride, k);
}

void yk_acts_convert(yk_type wt, const float *X, int64_t k, int64_t t0, int64_t t1, void *Xq)
{
    yk_acts_convert_on(yk_simd_active(), wt, X, k, t0, t1, Xq);
}

void yk_matmul_rows_on(yk_simd s, yk_type wt, const void *W, size_t w_stride, const void *Xq, int64_t k,
                       int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1)
{
    size_t x_stride = yk_row_bytes(yk_vec_type(wt), k);
    YK_ASSERT(x_stride > 0 && yk_row_bytes(wt, k) > 0 && r0 <= r1);
    if (r0 < r1 && nt > 0) mm_for(s, wt)(W, w_stride, Xq, x_stride, k, nt, Y, ldy, r0, r1);
}

void yk_matmul_rows(yk_type wt, const void *W, size_t w_stride, const void *Xq, int64_t k, int64_t nt,
                    float *Y, int64_t ldy, int64_t r0, int64_t r1)
{
    yk_matmul_rows_on(yk_simd_active(), wt, W, w_stride, Xq, k, nt, Y, ldy, r0, r1);
}

typedef struct {
    yk_simd simd;
    yk_type wt;
    const void *W;
    size_t w_stride;
    int64_t n_rows, k, nt, ldy;
    const float *X;
    void *Xq;
    float *Y;
} matmul_job;

static void convert_task(void *p, int ith, int nth)
{
    matmul_job *j = p;
    int64_t t0, t1;
    yk_split_range(j->nt, 1, ith, nth, &t0, &t1);
    if (t0 < t1) yk_acts_convert_on(j->simd, j->wt, j->X, j->k, t0, t1, j->Xq);
}

/* Rows are split in multiples of 16 so that every thread runs whole tiles of the SIMD kernels. */
static void matmul_task(void *p, int ith, int nth)
{
    matmul_job *j = p;
    int64_t r0, r1;
    yk_split_range(j->n_rows, 16, ith, nth, &r0, &r1);
    if (r0 < r1) yk_matmul_rows_on(j->simd, j->wt, j->W, j->w_stride, j->Xq, j->k, j->nt, j->Y, j->ldy, r0, r1);
}

void yk_matmul(yk_pool *pool, yk_type wt, const void *W, size_t w_stride, int64_t n_rows, const float *X,
               int64_t k, int64_t nt, float *Y, int64_t ldy, void *scratch)
{
    matmul_job j = {yk_simd_active(), wt, W, w_stride, n_rows, k, nt, ldy, X, scratch, Y};
    if (nt <= 0 || n_rows <= 0) return;
    /* Converting a few tokens is cheaper than waking the pool for it. */
    if (nt < 4) yk_acts_convert_on(j.simd, wt, X, k, 0, nt, scratch);
    else yk_pool_run(pool, convert_task, &j);
    yk_pool_run(pool, matmul_task, &j);
}
