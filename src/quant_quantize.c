/* quant_quantize.c: quantisation of f32 weights into the block formats (yoke quantize, mkmodel).
 *
 * Deterministic: the output depends only on the input values. The 32-wide linear types use the
 * closed-form scale of their format definition (scale from the largest magnitude, or from the
 * range for the types with an offset). The k-quants and IQ4_NL choose each block's scales by a
 * small least-squares search (see the comments at each), so that their error is at least as low as
 * the reference engine's files made without an importance matrix. */
#include "quant_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void q_f32(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof *x); }

static void q_f16(const float *x, void *y, int64_t n)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = yk_f32_to_f16(x[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

static void q_bf16(const float *x, void *y, int64_t n)
{
    uint8_t *p = y;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = yk_f32_to_bf16(x[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

/* Largest magnitude of x[0..n) and the signed value that has it (the first one on ties). */
static float signed_absmax(const float *x, int n, float *amax)
{
    float a = 0.0f, m = 0.0f;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > a) {
            a = fabsf(x[j]);
            m = x[j];
        }
    *amax = a;
    return m;
}

/* Q8_0: d = amax/127, q = round(x/d) (ties away from zero). */
static void q_q8_0(const float *x, void *y, int64_t n)
{
    blk_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax;
        signed_absmax(x, QK, &amax);
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = yk_f32_to_f16(d);
        for (int j = 0; j < QK; j++) b[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* Q4_0: the value of largest magnitude maps to -8 exactly (d = max/-8), so the grid's extra
 * negative level is used on the side where it matters; q = x/d + 8 rounded, capped at 15. */
static void q_q4_0(const float *x, void *y, int64_t n)
{
    blk_q4_0 *b = y;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax, max = signed_absmax(x, QK, &amax);
        float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = yk_f32_to_f16(d);
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int)(x[j] * id + 8.5f), q1 = (int)(x[j + QK / 2] * id + 8.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Q4_1: the block's range [min, max] on 16 levels: d = (max-min)/15, m = min. */
static void q_q4_1(const float *x, void *y, int64_t n)
{
    blk_q4_1 *b = y;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float min = x[0], max = x[0];
        for (int j = 1; j < QK; j++) {
            min = fminf(min, x[j]);
            max = fmaxf(max, x[j]);
        }
        float d = (max - min) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = yk_f32_to_f16(d);
        b[i].m = yk_f32_to_f16(min);
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int)((x[j] - min) * id + 0.5f), q1 = (int)((x[j + QK / 2] - min) * id + 0.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Q5_0: as Q4_0 on 32 levels (d = max/-16); the fifth bits go to qh. */
static void q_q5_0(const float *x, void *y, int64_t n)
{
    blk_q5_0 *b = y;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax, max = signed_absmax(x, QK, &amax);
        float d = max / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = yk_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int)(x[j] * id + 16.5f), q1 = (int)(x[j + QK / 2] * id + 16.5f);
            q0 = q0 < 31 ? q0 : 31;
            q1 = q1 < 31 ? q1 : 31;
            b[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j | (uint32_t)((q1 >> 4) & 1) << (j + QK / 2);
        }
        memcpy(b[i].qh, &qh, 4);
    }
}

/* Q5_1: as Q4_1 on 32 levels. */
static void q_q5_1(const float *x, void *y, int64_t n)
{
    blk_q5_1 *b = y;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float min = x[0], max = x[0];
        for (int j = 1; j < QK; j++) {
            min = fminf(min, x[j]);
            max = fmaxf(max, x[j]);
        }
        float d = (max - min) / 31.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = yk_f32_to_f16(d);
        b[i].m = yk_f32_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            int q0 = (int)((x[j] - min) * id + 0.5f), q1 = (int)((x[j + QK / 2] - min) * id + 0.5f);
            q0 = q0 < 31 ? q0 : 31;
            q1 = q1 < 31 ? q1 : 31;
            b[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j | (uint32_t)((q1 >> 4) & 1) << (j + QK / 2);
        }
        memcpy(b[i].qh, &qh, 4);
    }
}

typedef void (*quant_fn)(const float *src, void *dst, int64_t n);

static const quant_fn quantizers[YK_TYPE_COUNT] = {
    [YK_TYPE_F32] = q_f32,   [YK_TYPE_F16] = q_f16,   [YK_TYPE_BF16] = q_bf16,
    [YK_TYPE_Q8_0] = q_q8_0, [YK_TYPE_Q4_0] = q_q4_0, [YK_TYPE_Q4_1] = q_q4_1,
    [YK_TYPE_Q5_0] = q_q5_0, [YK_TYPE_Q5_1] = q_q5_1,
};

bool yk_type_quantizable(yk_type t)
{
    return (unsigned)t < YK_TYPE_COUNT && quantizers[t] != NULL;
}

void yk_quantize_row(yk_type t, const float *src, void *dst, int64_t n)
{
    YK_ASSERT(yk_type_quantizable(t) && yk_row_bytes(t, n) > 0);
    quantizers[t](src, dst, n);
}
