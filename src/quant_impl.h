/* quant_impl.h: private to the quant module (quant.c, quant_*.c, quant_mix.c and the tests).
 *
 * Block layouts of the GGUF/ggml types (byte-exact, packed: rows may sit at any address), the
 * kernel table that each ISA file provides, and the scalar helpers the SIMD files reuse. */
#ifndef YOKE_QUANT_IMPL_H
#define YOKE_QUANT_IMPL_H

#include "yoke/quant.h"

#include <string.h>

#define QK 32   /* elements per block of the 32-wide types */
#define QKK 256 /* elements per super-block of the k-quants */

#define YK_PACKED __attribute__((packed))

typedef struct YK_PACKED { uint16_t d; int8_t qs[QK]; } blk_q8_0;                  /* x = d*q */
typedef struct YK_PACKED { uint16_t d, s; int8_t qs[QK]; } blk_q8_1;               /* s = d*sum(q) */
typedef struct YK_PACKED { uint16_t d; uint8_t qs[QK / 2]; } blk_q4_0;             /* x = d*(q-8) */
typedef struct YK_PACKED { uint16_t d, m; uint8_t qs[QK / 2]; } blk_q4_1;          /* x = d*q + m */
typedef struct YK_PACKED { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; } blk_q5_0;       /* d*(q-16) */
typedef struct YK_PACKED { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; } blk_q5_1;    /* d*q + m */
typedef struct YK_PACKED { uint16_t d; uint8_t qs[QK / 2]; } blk_iq4_nl;           /* x = d*kv[q] */
/* k-quants: 256 values in sub-blocks of 16 or 32, each with its own (quantised) scale. */
typedef struct YK_PACKED { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } blk_q2_K;
typedef struct YK_PACKED { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } blk_q3_K;
typedef struct YK_PACKED { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } blk_q4_K;
typedef struct YK_PACKED { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } blk_q5_K;
typedef struct YK_PACKED { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } blk_q6_K;
typedef struct YK_PACKED { float d; int8_t qs[QKK]; int16_t bsums[QKK / 16]; } blk_q8_K;

_Static_assert(sizeof(blk_q8_0) == 34 && sizeof(blk_q8_1) == 36 && sizeof(blk_q4_0) == 18 &&
               sizeof(blk_q4_1) == 20 && sizeof(blk_q5_0) == 22 && sizeof(blk_q5_1) == 24 &&
               sizeof(blk_iq4_nl) == 18, "32-wide block sizes");
_Static_assert(sizeof(blk_q2_K) == 84 && sizeof(blk_q3_K) == 110 && sizeof(blk_q4_K) == 144 &&
               sizeof(blk_q5_K) == 176 && sizeof(blk_q6_K) == 210 && sizeof(blk_q8_K) == 292,
               "k-quant block sizes");

/* The 16 values of IQ4_NL (a non-linear 4-bit grid), from the format definition. */
extern const int8_t yk_iq4nl_values[16];

/* Round to nearest, ties to even, for |x| < 2^22 (the rounding of the reference engine's
 * activation quantisers). */
static inline int yk_nearest_int(float x)
{
    float v = x + 12582912.0f; /* 1.5 * 2^23: the mantissa's last bit becomes the unit */
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* The first of n values with the largest magnitude (0 if all are 0), its magnitude in *amax: the
 * value whose quantised level is the extreme one in the scale fits. */
static inline float yk_first_absmax(const float *v, int n, float *amax)
{
    float a = 0.0f, m = 0.0f;
    for (int j = 0; j < n; j++)
        if (__builtin_fabsf(v[j]) > a) a = __builtin_fabsf(v[j]), m = v[j];
    *amax = a;
    return m;
}

/* Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block. */
static inline void yk_k4_scale_min(int j, const uint8_t *s, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* Unpacks the 16 6-bit scales of a Q3_K super-block, biased (0..63, real scale = value - 32), as
 * 16 bytes in 4 words: low 4 bits from bytes 0..7 (low nibbles: scales 0..7, high: 8..15), high 2
 * bits from bytes 8..11 (bits 2(j/4), 2(j/4)+1 of byte 8 + j%4). */
static inline void yk_k3_scales_biased(const uint8_t *s, uint32_t out[4])
{
    uint32_t a0, a1, t;
    memcpy(&a0, s, 4);
    memcpy(&a1, s + 4, 4);
    memcpy(&t, s + 8, 4);
    out[0] = (a0 & 0x0F0F0F0F) | ((t & 0x03030303) << 4);
    out[1] = (a1 & 0x0F0F0F0F) | (((t >> 2) & 0x03030303) << 4);
    out[2] = ((a0 >> 4) & 0x0F0F0F0F) | (((t >> 4) & 0x03030303) << 4);
    out[3] = ((a1 >> 4) & 0x0F0F0F0F) | (((t >> 6) & 0x03030303) << 4);
}

/* The same as signed scales -32..31. */
static inline void yk_k3_scales(const uint8_t *s, int8_t out[16])
{
    uint32_t w[4];
    uint8_t b[16];
    yk_k3_scales_biased(s, w);
    memcpy(b, w, 16);
    for (int j = 0; j < 16; j++) out[j] = (int8_t)(b[j] - 32);
}

/* A kernel computes Y[t*ldy + r] for rows [r0, r1) and tokens [0, nt); x_stride is the byte
 * stride between converted token rows. */
typedef void (*yk_mm_fn)(const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k,
                         int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1);
/* Converts one row of k floats into the activation format (indexed by the activation type). */
typedef void (*yk_conv_fn)(const float *x, void *y, int64_t k);

/* Paths in order of capability; each needs the CPU features of the ones before it. amx is avx512
 * with the prefill products of F16, BF16, Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_K and Q5_K on AMX tiles
 * (quant_amx.c). */
typedef enum { YK_SIMD_SCALAR, YK_SIMD_AVX2, YK_SIMD_AVX512, YK_SIMD_AMX, YK_SIMD_COUNT } yk_simd;

typedef struct {
    const char *name;
    yk_mm_fn mm[YK_TYPE_COUNT];     /* by weight type; NULL: use the scalar kernel */
    yk_conv_fn conv[YK_TYPE_COUNT]; /* by activation type; NULL: use the scalar conversion */
} yk_kernels;

extern const yk_kernels yk_kernels_scalar;
extern const yk_kernels yk_kernels_avx2;
extern const yk_kernels yk_kernels_avx512;
extern const yk_kernels yk_kernels_amx;

/* F16 or BF16 weights (rows [r0, r1)) times nt converted tokens on AMX tiles, as a yk_mm_fn; false
 * (nothing written) if its buffers cannot be allocated. Only on the amx path (the OS must have
 * granted the tile state: yk_simd_available). */
bool yk_amx_matmul(yk_type wt, const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k, int64_t nt,
                   float *Y, int64_t ldy, int64_t r0, int64_t r1);
/* The same for Q8_0, Q4_0, Q5_0, IQ4_NL (Q8_0 activations), Q4_K and Q5_K (Q8_K) on INT8 tiles. */
bool yk_amx_matmul8(yk_type wt, const void *W, size_t w_stride, const void *Xq, size_t x_stride, int64_t k,
                    int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1);

/* The path chosen from CPU detection and YK_SIMD (computed once, thread-safe). */
yk_simd yk_simd_active(void);
/* True if this CPU can run path s. */
bool yk_simd_available(yk_simd s);
/* Row range product and activation conversion on an explicit path (tests compare paths with it;
 * the public functions use yk_simd_active()). The path must be available: yk_simd_available(s),
 * which for amx also obtains the tile state from the OS (without it the tiles fault). */
void yk_matmul_rows_on(yk_simd s, yk_type wt, const void *W, size_t w_stride, const void *Xq, int64_t k,
                       int64_t nt, float *Y, int64_t ldy, int64_t r0, int64_t r1);
void yk_acts_convert_on(yk_simd s, yk_type wt, const float *X, int64_t k, int64_t t0, int64_t t1, void *Xq);

/* Scalar dot products of one weight row with one converted activation row (k values). */
float yk_dot_scalar(yk_type wt, const void *w, const void *x, int64_t k);

#endif
