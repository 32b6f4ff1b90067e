/* quant_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI, BF16) kernels (compiled with those flags; chosen at run time). */
#include "quant_impl.h"

const yk_kernels yk_kernels_avx512 = {.name = "avx512"};
