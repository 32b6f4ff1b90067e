/* quant_avx2.c: the SIMD kernels of quant_simd.inc built for AVX2 + FMA + F16C; chosen at run time
 * when the CPU has them (see quant.c). */
#include "quant_simd.inc"

const yk_kernels yk_kernels_avx2 = {
    .name = "avx2",
    .mm = {
        [YK_TYPE_F32] = mm_f32,   [YK_TYPE_F16] = mm_f16,   [YK_TYPE_BF16] = mm_bf16,
        [YK_TYPE_Q8_0] = mm_q8_0, [YK_TYPE_Q4_0] = mm_q4_0, [YK_TYPE_Q4_1] = mm_q4_1,
        [YK_TYPE_Q5_0] = mm_q5_0, [YK_TYPE_Q5_1] = mm_q5_1, [YK_TYPE_IQ4_NL] = mm_iq4_nl,
        [YK_TYPE_Q2_K] = mm_q2_K, [YK_TYPE_Q3_K] = mm_q3_K, [YK_TYPE_Q4_K] = mm_q4_K,
        [YK_TYPE_Q5_K] = mm_q5_K, [YK_TYPE_Q6_K] = mm_q6_K,
    },
    .conv = {[YK_TYPE_Q8_0] = conv_q8_0, [YK_TYPE_Q8_1] = conv_q8_1, [YK_TYPE_F16] = conv_f16},
};
