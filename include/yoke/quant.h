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


/* ---- quantisation mixes (yoke quantize) ------------------------------------------------------- */

/* The mixes of the reference engine's quantiser ("Q4_K_M" and so on): a default type for the
 * matrices plus per-tensor rules that give some tensors more bits. Appended only. */
typedef enum {
    YK_MIX_F32, YK_MIX_F16, YK_MIX_BF16, YK_MIX_Q8_0, YK_MIX_Q4_0, YK_MIX_Q4_1, YK_MIX_Q5_0, YK_MIX_Q5_1,
    YK_MIX_IQ4_NL, YK_MIX_Q2_K, YK_MIX_Q3_K_S, YK_MIX_Q3_K_M, YK_MIX_Q4_K_S, YK_MIX_Q4_K_M, YK_MIX_Q5_K_S,
    YK_MIX_Q5_K_M, YK_MIX_Q6_K,
    YK_MIX_COUNT
} yk_mix;

/* Name of a mix ("Q4_K_M"), and the mix of a name (case-insensitive), or -1. */
const char *yk_mix_name(yk_mix m);
int yk_mix_from_name(const char *name);
/* The general.file_type value the reference engine writes for the mix. */
uint32_t yk_mix_file_type(yk_mix m);
/* The mix's default matrix type. */
yk_type yk_mix_base_type(yk_mix m);

/* The model facts the rules depend on (from the GGUF metadata). */
typedef struct {
    int n_layer;      /* <arch>.block_count */
    int n_gqa;        /* head_count / head_count_kv (1 if unknown) */
    int n_expert;     /* <arch>.expert_count (0 or 1: dense) */
    int n_attn_v;     /* tensors named *attn_v.weight, *attn_qkv.weight or *attn_kv_b.weight */
    bool has_output;  /* output.weight present (else the token embedding is the output matrix) */
    bool is_70b;      /* llama with 80 layers: attn_v gets more bits */
    bool falcon;      /* architecture falcon: its own rules */
} yk_mix_model;

/* Counters of the rules, advanced tensor by tensor: start zeroed, and call yk_mix_tensor_type for
 * every tensor in the order of yk_mix_tensor_order. */
typedef struct {
    int i_attn_v, i_ffn_down, i_ffn_gate, i_ffn_up;
} yk_mix_state;

/* Type of one tensor under the mix: the tensor's own type when the mix leaves it alone (norms,
 * vectors, embeddings of position, ...); otherwise the mix's choice, replaced by a compatible
 * type when ne[0] is not a multiple of the chosen type's block. *wanted (if not NULL) receives the
 * type chosen before that fallback, so a caller can report it. */
yk_type yk_mix_tensor_type(yk_mix m, const yk_mix_model *model, yk_mix_state *st, const char *name,
                           const int64_t *ne, uint32_t n_dims, yk_type src, yk_type *wanted);
/* Orders tensor names as the reference engine's quantiser processes and writes them: tensors
 * outside the blocks first, then by block number; by name within each (strcmp order).
 * Returns <0, 0, >0 like strcmp. */
int yk_mix_tensor_order(const char *a, const char *b);

#endif
