/* quant_avx512.c: the SIMD kernels (quant_simd.inc) built for AVX-512 (F, BW, VL, DQ) with VNNI
 * (VPDPBUSD / VPDPWSSD for the integer dot products); chosen at run time when the CPU has them. */
#define SIMD_NAME "avx512"
#define SIMD_TABLE yk_kernels_avx512
#define SIMD_VNNI 1
#include "quant_simd.inc"
