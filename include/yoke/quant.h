/* yoke/quant.h: block formats and the CPU kernels that compute with them.
 *
 * Every type yoke computes with has a scalar reference implementation and, where it pays, SIMD
 * paths (AVX2, AVX-512/VNNI) chosen at run time from CPU detection. YK_SIMD=scalar|avx2|avx512 in the
 * environment forces a lower path so that every path is testable on any machine.
 *
 * Matrix products convert the activations once per call into the companion format of the weight
 * type (yk_vec_type: F32 for F32, F16 for F16, BF16 for BF16, Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL,
 * Q8_1 for Q4_1/Q5_1, Q8_K for the k-quants) and then run integer or low-precision dot products.
 * Results never depend on how rows are split between threads. */
#ifndef YOKE_QUANT_H
#define YOKE_QUANT_H

#include "yoke/base.h"

typedef struct yk_pool yk_pool;

/* True if yoke can dequantise and compute with t. */
bool yk_type_supported(yk_type t);
/* True if yoke can quantise f32 data into t. */
bool yk_type_quantizable(yk_type t);
/* Activation format used for dot products with weights of type t. */
yk_type yk_vec_type(yk_type t);

/* Row conversions; n must be a multiple of the block size of t. */
void yk_dequantize_row(yk_type t, const void *src, float *dst, int64_t n);
void yk_quantize_row(yk_type t, const float *src, void *dst, int64_t n);

/* Activations: bytes for nt rows of k values converted for weights of type wt, and the conversion
 * of rows [t0, t1) of X (row stride k floats) into Xq (row stride yk_row_bytes(yk_vec_type(wt), k)). */
size_t yk_acts_bytes(yk_type wt, int64_t k, int64_t nt);
void yk_acts_convert(yk_type wt, const float *X, int64_t k, int64_t t0, int64_t t1, void *Xq);

/* Y[t*ldy + r] = sum_i W[r][i] * X[t][i] for rows r in [r0, r1) and tokens t in [0, nt), with
 * W rows w_stride bytes apart and Xq made by yk_acts_convert. Thread-safe over disjoint row ranges. */
void yk_matmul_rows(yk_type wt, const void *W, size_t w_stride, const void *Xq, int64_t k, int64_t nt,
                    float *Y, int64_t ldy, int64_t r0, int64_t r1);

/* The whole product on a thread pool: converts X into scratch (at least yk_acts_bytes bytes) and
 * divides rows among the pool's threads. */
void yk_matmul(yk_pool *pool, yk_type wt, const void *W, size_t w_stride, int64_t n_rows, const float *X,
               int64_t k, int64_t nt, float *Y, int64_t ldy, void *scratch);

/* The SIMD path in use ("scalar", "avx2", "avx512"), after CPU detection and YK_SIMD. */
const char *yk_simd_path(void);

/* fp16 / bf16 scalar conversions (round to nearest even). */
float yk_f16_to_f32(uint16_t h);
uint16_t yk_f32_to_f16(float f);
float yk_bf16_to_f32(uint16_t h);
uint16_t yk_f32_to_bf16(float f);

#endif
