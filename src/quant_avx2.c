/* quant_avx2.c: AVX2 + FMA + F16C kernels (compiled with those flags; chosen at run time). */
#include "quant_impl.h"

const yk_kernels yk_kernels_avx2 = {.name = "avx2"};
