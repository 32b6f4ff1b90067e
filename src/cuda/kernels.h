/* cuda/kernels.h: the CUDA kernels of the cuda device (device_cuda.c), as C launchers. Each
 * enqueues its kernel on `stream` and returns the launch status (0: cudaSuccess); device memory
 * only. Types are yk_type ids. The same contracts as the device ops of yoke/device.h. */
#ifndef YOKE_CUDA_KERNELS_H
#define YOKE_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st *ykc_stream;

/* True if the launcher has a kernel for weights of this type. */
int ykc_matmul_supported(int type);
/* y (nt, rows) = x (nt, cols) . W^T; W: rows of `stride` bytes of `type`. Small nt on CUDA cores
 * with float (F16/BF16: rounded to the weight's format) activations; larger nt on tensor cores
 * with F16 (BF16 for BF16 weights) tiles, the weights dequantised per tile. */
int ykc_matmul(ykc_stream s, int type, const void *W, size_t stride, int64_t rows, int64_t cols, const float *x, int64_t nt,
               float *y);
int ykc_rmsnorm(ykc_stream s, float *y, const float *x, const float *w, int64_t n, int64_t nt, float eps);
int ykc_add(ykc_stream s, float *y, const float *x, int64_t n);
int ykc_add_bias(ykc_stream s, float *y, const float *b, int64_t n, int64_t nt);
int ykc_swiglu(ykc_stream s, float *g, const float *u, int64_t n);
/* mode: 0 normal (pairs 2i, 2i+1), 2 NeoX (i, i + rope_dim/2); freq_factors NULL or rope_dim/2. */
int ykc_rope(ykc_stream s, float *x, int64_t nt, int64_t n_heads, const int32_t *pos, int neox, uint32_t head_dim,
             uint32_t rope_dim, float base, float freq_scale, const float *freq_factors);
/* Stores k, v (nt, n_kv, hd) into the caches (n_seq, n_kv, ctx, hd), token t in slot seq[t] at
 * position pos[t] (pos, seq: device memory), F32 or F16. */
int ykc_kv_store(ykc_stream s, void *kc, void *vc, const float *k, const float *v, int f16, uint32_t n_kv, uint32_t hd,
                 uint32_t ctx, const int32_t *pos, const int32_t *seq, uint32_t nt);
/* Causal attention over the caches (see yk_attn_args); head_dim <= 256. */
int ykc_attention(ykc_stream s, float *out, const float *q, const void *kc, const void *vc, int f16, const int32_t *kv_of_q,
                  uint32_t n_q, uint32_t n_kv, uint32_t hd, uint32_t ctx, const int32_t *pos, const int32_t *seq, uint32_t nt);
/* Reads `bytes` (a multiple of 16) of buf with 16-byte loads; writes a value into sink. */
int ykc_read(ykc_stream s, const void *buf, size_t bytes, unsigned *sink);

#ifdef __cplusplus
}
#endif

#endif
