/* quant_avx2.c: the SIMD kernels (quant_simd.inc) built for AVX2 + FMA + F16C; chosen at run time
 * when the CPU has them (see quant.c). */
#define SIMD_NAME "avx2"
#define SIMD_TABLE yk_kernels_avx2
#include "quant_simd.inc"
