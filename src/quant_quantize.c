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

/* ---- scale searches ------------------------------------------------------------------------- */

/* Below this magnitude a group is treated as all zero. */
#define GROUP_EPS 1e-15f

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Symmetric grid -nmax..nmax-1 for n values, weighted by x^2 (large values matter most). Starts
 * from the scale that maps the value of largest magnitude onto -nmax, then tries 18 nearby
 * scales; for each it refits the scale in closed form (least squares: sum w x l / sum w l^2) and
 * keeps the one with the lowest weighted error. L receives level + nmax. Returns the scale. */
static float fit_symmetric(int n, int nmax, const float *x, uint8_t *L)
{
    float amax, max = signed_absmax(x, n, &amax);
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float best_scale = 0.0f, best = 0.0f;
    for (int is = 0; is <= 18; is++) {
        /* is = 0 first: the plain scale; then nmax -0.9 ... +0.9 in steps of 0.1 */
        int step = is == 0 ? 0 : is <= 9 ? is - 10 : is - 9;
        float iscale = -((float)nmax + 0.1f * (float)step) / max;
        float sumlx = 0.0f, suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi(yk_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        /* maximising (sum w x l)^2 / sum w l^2 minimises the weighted error at the refitted scale */
        if (is == 0 ? true : suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            best_scale = suml2 > 0.0f ? sumlx / suml2 : 0.0f;
            best = best_scale * sumlx;
            for (int i = 0; i < n; i++) L[i] = (uint8_t)(clampi(yk_nearest_int(iscale * x[i]), -nmax, nmax - 1) + nmax);
        }
    }
    return best_scale;
}

/* Symmetric grid -nmax..nmax-1 refined level by level: starting from the plain scale, each value's
 * level is moved to its best level for the scale that the others imply, while that lowers the
 * x^2-weighted error (a few sweeps of coordinate descent). For the 3-bit Q3_K. */
static float fit_symmetric_descent(int n, int nmax, const float *x, uint8_t *L)
{
    float amax, max = signed_absmax(x, n, &amax);
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -(float)nmax / max;
    int lv[QKK];
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        lv[i] = clampi(yk_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)lv[i];
        suml2 += w * (float)lv[i] * (float)lv[i];
    }
    for (int sweep = 0; sweep < 5; sweep++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)lv[i];
            if (slx <= 0.0f) continue;
            float sl2 = suml2 - w * (float)lv[i] * (float)lv[i];
            int nl = clampi(yk_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == lv[i]) continue;
            slx += w * x[i] * (float)nl;
            sl2 += w * (float)nl * (float)nl;
            if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                lv[i] = nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(lv[i] + nmax);
    return sumlx / suml2;
}

/* Affine grid: x ~ scale * l - m with l in 0..nmax and m >= 0 (the offset never moves the grid
 * above zero). Starts from the range [min(x,0), max(x)], then tries nstep grid scales around it
 * (nmax + rmin + rdelta*i levels over the range); for each, refits scale and offset by weighted
 * least squares and keeps the pair with the lowest weighted error (absolute error when use_abs,
 * squared otherwise). Returns the scale; *m_out receives m. */
static float fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L, float *m_out, float rmin,
                        float rdelta, int nstep, bool use_abs)
{
    float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        min = fminf(min, x[i]);
        max = fmaxf(max, x[i]);
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *m_out = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min), scale = 1.0f / iscale, best_err = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = clampi(yk_nearest_int(iscale * (x[i] - min)), 0, nmax);
        L[i] = (uint8_t)l;
        float diff = scale * (float)l + min - x[i];
        best_err += w[i] * (use_abs ? fabsf(diff) : diff * diff);
    }
    uint8_t Laux[QKK];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi(yk_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D <= 0.0f) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0.0f) {
            this_min = 0.0f;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0.0f;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * (float)Laux[i] + this_min - x[i];
            err += w[i] * (use_abs ? fabsf(diff) : diff * diff);
        }
        if (err < best_err) {
            memcpy(L, Laux, (size_t)n);
            best_err = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *m_out = -min;
    return scale;
}

/* ---- k-quants ------------------------------------------------------------------------------- */

/* Packs 6-bit scale and min of sub-block j (0..7) into the 12 bytes of Q4_K / Q5_K. */
static void pack_k4_scale_min(uint8_t *s, int j, int ls, int lm)
{
    if (j < 4) {
        s[j] = (uint8_t)ls;
        s[j + 4] = (uint8_t)lm;
    } else {
        s[j + 4] = (uint8_t)((ls & 0x0F) | ((lm & 0x0F) << 4));
        s[j - 4] |= (uint8_t)((ls >> 4) << 6);
        s[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

/* Q4_K / Q5_K: per sub-block of 32 an affine fit weighted by (rms + |x|); the 8 scales and 8 mins
 * are then stored as 6-bit multiples of the super-block's d and dmin, and every value is
 * re-quantised against the stored (rounded) scale and min. */
static void quantize_k4(const float *x, int nmax, float rmin, int nstep, uint16_t *d_out, uint16_t *dmin_out,
                        uint8_t *scales, uint8_t L[QKK])
{
    float sc[8], mn[8], w[32], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xs[l]);
        sc[j] = fit_affine(32, nmax, xs, w, L + 32 * j, &mn[j], rmin, 0.1f, nstep, false);
        max_scale = fmaxf(max_scale, sc[j]);
        max_min = fmaxf(max_min, mn[j]);
    }
    float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    memset(scales, 0, 12);
    for (int j = 0; j < 8; j++)
        pack_k4_scale_min(scales, j, clampi(yk_nearest_int(inv_scale * sc[j]), 0, 63),
                          clampi(yk_nearest_int(inv_min * mn[j]), 0, 63));
    *d_out = yk_f32_to_f16(max_scale / 63.0f);
    *dmin_out = yk_f32_to_f16(max_min / 63.0f);
    float d = yk_f16_to_f32(*d_out), dmin = yk_f16_to_f32(*dmin_out);
    for (int j = 0; j < 8; j++) {
        int ls, lm;
        yk_k4_scale_min(j, scales, &ls, &lm);
        float dl = d * (float)ls, dm = dmin * (float)lm;
        if (dl == 0.0f) continue;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clampi(yk_nearest_int((x[32 * j + l] + dm) / dl), 0, nmax);
    }
}

static void q_q4_K(const float *x, void *y, int64_t n)
{
    blk_q4_K *b = y;
    uint8_t L[QKK];
    for (int64_t i = 0; i < n / QKK; i++, x += QKK) {
        uint16_t d, dmin;
        quantize_k4(x, 15, -1.0f, 20, &d, &dmin, b[i].scales, L);
        b[i].d = d;
        b[i].dmin = dmin;
        for (int j = 0; j < QKK; j += 64)
            for (int l = 0; l < 32; l++) b[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void q_q5_K(const float *x, void *y, int64_t n)
{
    blk_q5_K *b = y;
    uint8_t L[QKK];
    for (int64_t i = 0; i < n / QKK; i++, x += QKK) {
        uint16_t d, dmin;
        quantize_k4(x, 31, -0.5f, 15, &d, &dmin, b[i].scales, L);
        b[i].d = d;
        b[i].dmin = dmin;
        memset(b[i].qh, 0, sizeof b[i].qh);
        uint8_t m1 = 1, m2 = 2;
        for (int j = 0; j < QKK; j += 64, m1 <<= 2, m2 <<= 2)
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    b[i].qh[l] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    b[i].qh[l] |= m2;
                }
                b[i].qs[j / 2 + l] = (uint8_t)(l1 | (l2 << 4));
            }
    }
}

/* Packs 4 values of 2 bits per byte: byte l of each 32-byte group holds values l, l+32, l+64, l+96
 * of its 128-value half. */
static void pack_2bit(const uint8_t L[QKK], uint8_t qs[64])
{
    for (int j = 0; j < QKK; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* Q2_K: per sub-block of 16 an affine fit on 4 levels weighted by |x| (absolute error); the
 * 4-bit scales and mins are multiples of d = max scale / 15 and dmin = max min / 15. */
static void q_q2_K(const float *x, void *y, int64_t n)
{
    blk_q2_K *b = y;
    uint8_t L[QKK];
    for (int64_t i = 0; i < n / QKK; i++, x += QKK) {
        float sc[16], mn[16], w[16], max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
            sc[j] = fit_affine(16, 3, x + 16 * j, w, L + 16 * j, &mn[j], -0.5f, 0.1f, 15, true);
            max_scale = fmaxf(max_scale, sc[j]);
            max_min = fmaxf(max_min, mn[j]);
        }
        memset(b[i].scales, 0, 16);
        b[i].d = b[i].dmin = 0;
        if (max_scale > 0.0f) {
            float iscale = 15.0f / max_scale;
            for (int j = 0; j < 16; j++) b[i].scales[j] = (uint8_t)clampi(yk_nearest_int(iscale * sc[j]), 0, 15);
            b[i].d = yk_f32_to_f16(max_scale / 15.0f);
        }
        if (max_min > 0.0f) {
            float iscale = 15.0f / max_min;
            for (int j = 0; j < 16; j++) b[i].scales[j] |= (uint8_t)(clampi(yk_nearest_int(iscale * mn[j]), 0, 15) << 4);
            b[i].dmin = yk_f32_to_f16(max_min / 15.0f);
        }
        float d = yk_f16_to_f32(b[i].d), dmin = yk_f16_to_f32(b[i].dmin);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)(b[i].scales[j] & 0x0F), dm = dmin * (float)(b[i].scales[j] >> 4);
            if (dl == 0.0f) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)clampi(yk_nearest_int((x[16 * j + l] + dm) / dl), 0, 3);
        }
        pack_2bit(L, b[i].qs);
    }
}

/* Q3_K: per sub-block of 16 a symmetric 8-level fit (coordinate descent); the 16 scales are
 * stored as signed 6-bit multiples of d, the largest magnitude mapping to -32. */
static void q_q3_K(const float *x, void *y, int64_t n)
{
    blk_q3_K *b = y;
    uint8_t L[QKK];
    for (int64_t i = 0; i < n / QKK; i++, x += QKK) {
        float sc[16], amax;
        for (int j = 0; j < 16; j++) sc[j] = fit_symmetric_descent(16, 4, x + 16 * j, L + 16 * j);
        const float max_scale = yk_first_absmax(sc, 16, &amax);
        memset(b[i].scales, 0, 12);
        b[i].d = 0;
        if (max_scale != 0.0f) {
            float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = clampi(yk_nearest_int(iscale * sc[j]), -32, 31) + 32;
                if (j < 8) b[i].scales[j] = (uint8_t)(l & 0x0F);
                else b[i].scales[j - 8] |= (uint8_t)((l & 0x0F) << 4);
                b[i].scales[8 + (j & 3)] |= (uint8_t)((l >> 4) << (2 * (j >> 2)));
            }
            b[i].d = yk_f32_to_f16(1.0f / iscale);
        }
        float d = yk_f16_to_f32(b[i].d);
        int8_t s6[16];
        yk_k3_scales(b[i].scales, s6);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)s6[j];
            if (dl == 0.0f) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)(clampi(yk_nearest_int(x[16 * j + l] / dl), -4, 3) + 4);
        }
        /* third bit to hmask (value j: byte j % 32, bit j / 32), the low two bits to qs */
        memset(b[i].hmask, 0, 32);
        for (int j = 0; j < QKK; j++)
            if (L[j] > 3) {
                b[i].hmask[j % 32] |= (uint8_t)(1 << (j / 32));
                L[j] -= 4;
            }
        pack_2bit(L, b[i].qs);
    }
}

/* Q6_K: per sub-block of 16 a symmetric 64-level fit; the 16 scales are int8 multiples of d, the
 * largest magnitude mapping to -128 (capped at 127). */
static void q_q6_K(const float *x, void *y, int64_t n)
{
    blk_q6_K *b = y;
    uint8_t L[QKK];
    for (int64_t i = 0; i < n / QKK; i++, x += QKK) {
        float sc[16], amax;
        for (int j = 0; j < 16; j++) sc[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j);
        const float max_scale = yk_first_absmax(sc, 16, &amax);
        if (amax < GROUP_EPS) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float iscale = -128.0f / max_scale;
        b[i].d = yk_f32_to_f16(1.0f / iscale);
        for (int j = 0; j < 16; j++) b[i].scales[j] = (int8_t)clampi(yk_nearest_int(iscale * sc[j]), -128, 127);
        float d = yk_f16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            float dl = d * (float)b[i].scales[j];
            if (dl == 0.0f) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)(clampi(yk_nearest_int(x[16 * j + l] / dl), -32, 31) + 32);
        }
        uint8_t *ql = b[i].ql, *qh = b[i].qh;
        for (int j = 0; j < QKK; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                int v1 = L[j + l], v2 = L[j + l + 32], v3 = L[j + l + 64], v4 = L[j + l + 96];
                ql[l] = (uint8_t)((v1 & 0x0F) | ((v3 & 0x0F) << 4));
                ql[l + 32] = (uint8_t)((v2 & 0x0F) | ((v4 & 0x0F) << 4));
                qh[l] = (uint8_t)((v1 >> 4) | ((v2 >> 4) << 2) | ((v3 >> 4) << 4) | ((v4 >> 4) << 6));
            }
    }
}

/* ---- IQ4_NL --------------------------------------------------------------------------------- */

/* Index of the grid value nearest to v (the grid is sorted). */
static int iq4nl_nearest(float v)
{
    const int8_t *g = yk_iq4nl_values;
    if (v <= g[0]) return 0;
    if (v >= g[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < g[mid]) hi = mid;
        else lo = mid;
    }
    return v - g[lo] < g[hi] - v ? lo : hi;
}

/* IQ4_NL: per block of 32, the scale that puts the value of largest magnitude on the grid's end
 * (-127), then 15 nearby scales, each refitted by x^2-weighted least squares; the best one is
 * stored as fp16 and the values are mapped to the nearest grid point at that stored scale. */
static void q_iq4_nl(const float *x, void *y, int64_t n)
{
    blk_iq4_nl *b = y;
    const int8_t *g = yk_iq4nl_values;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax, max = signed_absmax(x, QK, &amax);
        memset(b[i].qs, 0, sizeof b[i].qs);
        b[i].d = 0;
        if (amax < GROUP_EPS) continue;
        float best_d = 0.0f, best = -1.0f;
        for (int t = -8; t <= 7; t++) {
            /* t = -8: max onto +127 (clipped to the grid's top); t = -7..7: max onto the grid's
             * negative end -127, stretched by t */
            float id = t == -8 ? -(float)g[0] / max : ((float)t + (float)g[0]) / max;
            float sumqx = 0.0f, sumq2 = 0.0f;
            for (int j = 0; j < QK; j++) {
                float q = g[iq4nl_nearest(id * x[j])], w = x[j] * x[j];
                sumqx += w * q * x[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0.0f && (best < 0.0f || sumqx * sumqx > best * sumq2)) {
                best_d = sumqx / sumq2;
                best = best_d * sumqx;
            }
        }
        b[i].d = yk_f32_to_f16(best_d);
        float d = yk_f16_to_f32(b[i].d), id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < QK / 2; j++)
            b[i].qs[j] = (uint8_t)(iq4nl_nearest(id * x[j]) | (iq4nl_nearest(id * x[j + QK / 2]) << 4));
    }
}

typedef void (*quant_fn)(const float *src, void *dst, int64_t n);

static const quant_fn quantizers[YK_TYPE_COUNT] = {
    [YK_TYPE_F32] = q_f32,   [YK_TYPE_F16] = q_f16,   [YK_TYPE_BF16] = q_bf16,
    [YK_TYPE_Q8_0] = q_q8_0, [YK_TYPE_Q4_0] = q_q4_0, [YK_TYPE_Q4_1] = q_q4_1,
    [YK_TYPE_Q5_0] = q_q5_0, [YK_TYPE_Q5_1] = q_q5_1, [YK_TYPE_IQ4_NL] = q_iq4_nl,
    [YK_TYPE_Q2_K] = q_q2_K, [YK_TYPE_Q3_K] = q_q3_K, [YK_TYPE_Q4_K] = q_q4_K,
    [YK_TYPE_Q5_K] = q_q5_K, [YK_TYPE_Q6_K] = q_q6_K,
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
