/* cuda/kernels.cu: the kernels of the CUDA device (contracts in kernels.h).
 *
 * Weights stay in their GGUF blocks in device memory and are dequantised inside the kernels,
 * 8 consecutive values at a time (dq8: every block format splits into runs of 8 that share one
 * scale). Two matrix products:
 *   - mv: up to 8 tokens per pass, one warp per weight row, float products with the activations as
 *     they are (F16 and BF16 weights: activations rounded to that format first, as the CPU path and
 *     the reference engine do). Used for decode and for F32 weights.
 *   - tc: 64 rows x 64 tokens per block on tensor cores (WMMA 16x16x16, F32 accumulators): each
 *     32-wide step dequantises the weight tile into shared memory as F16 (BF16 for BF16 weights)
 *     and rounds the activations to the same format. Used for prefill.
 * Attention is one block of 4 warps per (token, query head), an online softmax per warp over the
 * cached positions, merged at the end. RoPE angles are computed in double, as on the CPU. */
#include "kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

namespace {

enum {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13,
    Q6_K = 14, IQ4_NL = 20, BF16 = 30
};

__constant__ int8_t iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

__device__ __forceinline__ float ld_f16(const uint8_t *p)
{
    return __half2float(__ushort_as_half((unsigned short)(p[0] | (p[1] << 8))));
}

__device__ __forceinline__ float ld_bf16(const uint8_t *p)
{
    return __uint_as_float((unsigned)(p[0] | (p[1] << 8)) << 16);
}

/* 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block (scales: 12 bytes). */
__device__ __forceinline__ void k4_scale_min(int j, const uint8_t *s, int &sc, int &m)
{
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

__host__ __device__ constexpr bool is_block(int T) { return T != F32 && T != F16 && T != BF16; }

/* Values 8c .. 8c+7 of a row of a block type. */
template <int T> __device__ __forceinline__ void dq8(const uint8_t *row, int c, float w[8])
{
    if (T == Q8_0) {
        const uint8_t *b = row + (c >> 2) * 34;
        float d = ld_f16(b);
        const int8_t *q = (const int8_t *)(b + 2 + 8 * (c & 3));
#pragma unroll
        for (int i = 0; i < 8; i++) w[i] = q[i] * d;
    } else if (T == Q4_0 || T == IQ4_NL) {
        const uint8_t *b = row + (c >> 2) * 18;
        float d = ld_f16(b);
        int sub = c & 3, shift = (sub >> 1) * 4;
        const uint8_t *q = b + 2 + 8 * (sub & 1);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int v = (q[i] >> shift) & 15;
            w[i] = T == Q4_0 ? (v - 8) * d : d * iq4nl_values[v];
        }
    } else if (T == Q4_1) {
        const uint8_t *b = row + (c >> 2) * 20;
        float d = ld_f16(b), m = ld_f16(b + 2);
        int sub = c & 3, shift = (sub >> 1) * 4;
        const uint8_t *q = b + 4 + 8 * (sub & 1);
#pragma unroll
        for (int i = 0; i < 8; i++) w[i] = ((q[i] >> shift) & 15) * d + m;
    } else if (T == Q5_0 || T == Q5_1) {
        const int bytes = T == Q5_0 ? 22 : 24, hoff = T == Q5_0 ? 2 : 4;
        const uint8_t *b = row + (c >> 2) * bytes;
        float d = ld_f16(b), m = T == Q5_1 ? ld_f16(b + 2) : 0.0f;
        uint32_t qh = b[hoff] | (b[hoff + 1] << 8) | (b[hoff + 2] << 16) | ((uint32_t)b[hoff + 3] << 24);
        const uint8_t *qs = b + hoff + 4;
        int e0 = 8 * (c & 3);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int e = e0 + i;
            int v = ((qs[e & 15] >> ((e >> 4) * 4)) & 15) | (((qh >> e) & 1) << 4);
            w[i] = T == Q5_0 ? (v - 16) * d : v * d + m;
        }
    } else if (T == Q2_K) {
        const uint8_t *b = row + (c >> 5) * 84;
        int e0 = 8 * (c & 31), half = e0 >> 7, r = e0 & 127, shift = 2 * (r >> 5);
        int sc = b[e0 >> 4];
        float d = ld_f16(b + 80), dmin = ld_f16(b + 82);
        float dl = d * (sc & 0x0F), ml = dmin * (sc >> 4);
        const uint8_t *q = b + 16 + 32 * half + (r & 31);
#pragma unroll
        for (int i = 0; i < 8; i++) w[i] = dl * ((q[i] >> shift) & 3) - ml;
    } else if (T == Q3_K) {
        const uint8_t *b = row + (c >> 5) * 110;
        int e0 = 8 * (c & 31), half = e0 >> 7, r = e0 & 127, shift = 2 * (r >> 5), k = r & 31, j = e0 >> 4;
        const uint8_t *s = b + 96;
        int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4, hi = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
        float dl = ld_f16(b + 108) * ((lo | (hi << 4)) - 32);
        int mbit = 1 << (4 * half + (r >> 5));
        const uint8_t *q = b + 32 + 32 * half + k, *hm = b + k;
#pragma unroll
        for (int i = 0; i < 8; i++) w[i] = dl * (((q[i] >> shift) & 3) - ((hm[i] & mbit) ? 0 : 4));
    } else if (T == Q4_K || T == Q5_K) {
        const int bytes = T == Q4_K ? 144 : 176, qoff = T == Q4_K ? 16 : 48;
        const uint8_t *b = row + (c >> 5) * bytes;
        int e0 = 8 * (c & 31), sub = e0 >> 5, sc, m;
        k4_scale_min(sub, b + 4, sc, m);
        float d1 = ld_f16(b) * sc, m1 = ld_f16(b + 2) * m;
        int shift = (e0 & 32) ? 4 : 0;
        const uint8_t *q = b + qoff + 32 * (e0 >> 6) + (e0 & 31), *qh = b + 16 + (e0 & 31);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int v = (q[i] >> shift) & 15;
            if (T == Q5_K) v += ((qh[i] >> sub) & 1) << 4;
            w[i] = d1 * v - m1;
        }
    } else if (T == Q6_K) {
        const uint8_t *b = row + (c >> 5) * 210;
        int e0 = 8 * (c & 31), half = e0 >> 7, r = e0 & 127, p = r >> 5, l = r & 31;
        const uint8_t *ql = b + 64 * half + l + 32 * (p & 1), *qh = b + 128 + 32 * half + l;
        float dl = ld_f16(b + 208) * (float)(int8_t)b[192 + 8 * half + (l >> 4) + 2 * p];
        int shift = (p >> 1) * 4;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int v = (((ql[i] >> shift) & 15) | (((qh[i] >> (2 * p)) & 3) << 4)) - 32;
            w[i] = dl * v;
        }
    }
}

/* Element i of a row of a float type, and an activation rounded to that type's format. */
template <int T> __device__ __forceinline__ float ld_elem(const uint8_t *row, int i)
{
    if (T == F32) return ((const float *)row)[i];
    if (T == F16) return ld_f16(row + 2 * i);
    return ld_bf16(row + 2 * i);
}

template <int T> __device__ __forceinline__ float act(float v)
{
    if (T == F16) return __half2float(__float2half_rn(v));
    if (T == BF16) return __bfloat162float(__float2bfloat16_rn(v));
    return v;
}

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

constexpr int MV_TOK = 8;  /* tokens per mv pass */
constexpr int MV_WARPS = 4;

template <int T>
__global__ void __launch_bounds__(MV_WARPS * 32) k_mv(const uint8_t *__restrict__ W, size_t stride, int rows, int cols,
                                                     const float *__restrict__ x, int nt, float *__restrict__ y)
{
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int r = blockIdx.x * MV_WARPS + warp, t0 = blockIdx.y * MV_TOK;
    if (r >= rows) return;
    int ntl = min(MV_TOK, nt - t0);
    const uint8_t *row = W + (size_t)r * stride;
    const float *xt = x + (size_t)t0 * cols;
    float acc[MV_TOK];
#pragma unroll
    for (int t = 0; t < MV_TOK; t++) acc[t] = 0.0f;
    if (is_block(T)) {
        for (int c = lane; c < cols / 8; c += 32) {
            float w[8];
            dq8<T>(row, c, w);
#pragma unroll
            for (int t = 0; t < MV_TOK; t++) {
                if (t < ntl) {
                    const float *xp = xt + (size_t)t * cols + 8 * c;
                    float s = 0.0f;
#pragma unroll
                    for (int i = 0; i < 8; i++) s += w[i] * xp[i];
                    acc[t] += s;
                }
            }
        }
    } else {
        for (int i = lane; i < cols; i += 32) {
            float w = ld_elem<T>(row, i);
#pragma unroll
            for (int t = 0; t < MV_TOK; t++)
                if (t < ntl) acc[t] += w * act<T>(xt[(size_t)t * cols + i]);
        }
    }
#pragma unroll
    for (int t = 0; t < MV_TOK; t++) {
        float s = warp_sum(acc[t]);
        if (lane == 0 && t < ntl) y[(size_t)(t0 + t) * rows + r] = s;
    }
}

/* ---- tensor-core product for prefill -------------------------------------------------------- */

constexpr int TC_M = 64, TC_N = 64, TC_K = 32, TC_PAD = 8;

template <typename H> __device__ __forceinline__ H to_h(float v);
template <> __device__ __forceinline__ __half to_h<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 to_h<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <int T, typename H>
__global__ void __launch_bounds__(128) k_tc(const uint8_t *__restrict__ W, size_t stride, int rows, int cols,
                                            const float *__restrict__ x, int nt, float *__restrict__ y)
{
    using namespace nvcuda;
    __shared__ __align__(32) H As[TC_M][TC_K + TC_PAD];
    __shared__ __align__(32) H Bs[TC_N][TC_K + TC_PAD];
    __shared__ __align__(32) float Cs[TC_M][TC_N + 4];
    int r0 = blockIdx.x * TC_M, tok0 = blockIdx.y * TC_N, warp = threadIdx.x >> 5;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[TC_N / 16];
#pragma unroll
    for (int j = 0; j < TC_N / 16; j++) wmma::fill_fragment(acc[j], 0.0f);
    for (int k0 = 0; k0 < cols; k0 += TC_K) {
        /* A: 64 rows x 4 runs of 8 values */
        for (int idx = threadIdx.x; idx < TC_M * (TC_K / 8); idx += blockDim.x) {
            int rr = idx >> 2, cc = idx & 3, r = r0 + rr;
            float w[8];
            if (r < rows && is_block(T)) {
                dq8<T>(W + (size_t)r * stride, (k0 >> 3) + cc, w);
            } else {
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    int k = k0 + cc * 8 + i;
                    w[i] = r < rows && k < cols && !is_block(T) ? ld_elem<T>(W + (size_t)r * stride, k) : 0.0f;
                }
            }
#pragma unroll
            for (int i = 0; i < 8; i++) As[rr][cc * 8 + i] = to_h<H>(w[i]);
        }
        /* B: 64 tokens x 32 values */
        for (int idx = threadIdx.x; idx < TC_N * TC_K; idx += blockDim.x) {
            int tt = idx / TC_K, kk = idx % TC_K, t = tok0 + tt, k = k0 + kk;
            Bs[tt][kk] = to_h<H>(t < nt && k < cols ? x[(size_t)t * cols + k] : 0.0f);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TC_K; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, H, wmma::row_major> a;
            wmma::load_matrix_sync(a, &As[warp * 16][kk], TC_K + TC_PAD);
#pragma unroll
            for (int j = 0; j < TC_N / 16; j++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, H, wmma::col_major> b;
                wmma::load_matrix_sync(b, &Bs[j * 16][kk], TC_K + TC_PAD);
                wmma::mma_sync(acc[j], a, b, acc[j]);
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int j = 0; j < TC_N / 16; j++) wmma::store_matrix_sync(&Cs[warp * 16][j * 16], acc[j], TC_N + 4, wmma::mem_row_major);
    __syncthreads();
    for (int idx = threadIdx.x; idx < TC_M * TC_N; idx += blockDim.x) {
        int tt = idx / TC_M, rr = idx % TC_M, t = tok0 + tt, r = r0 + rr;
        if (t < nt && r < rows) y[(size_t)t * rows + r] = Cs[rr][tt];
    }
}

template <int T> cudaError_t launch_matmul(cudaStream_t s, const void *W, size_t stride, int rows, int cols, const float *x, int nt, float *y)
{
    const uint8_t *w = (const uint8_t *)W;
    /* the tensor-core path needs at least one full 16-token fragment to pay; F32 stays exact */
    if (nt >= 16 && T != F32) {
        dim3 grid((rows + TC_M - 1) / TC_M, (nt + TC_N - 1) / TC_N);
        if (T == BF16) k_tc<T, __nv_bfloat16><<<grid, 128, 0, s>>>(w, stride, rows, cols, x, nt, y);
        else k_tc<T, __half><<<grid, 128, 0, s>>>(w, stride, rows, cols, x, nt, y);
    } else {
        dim3 grid((rows + MV_WARPS - 1) / MV_WARPS, (nt + MV_TOK - 1) / MV_TOK);
        k_mv<T><<<grid, MV_WARPS * 32, 0, s>>>(w, stride, rows, cols, x, nt, y);
    }
    return cudaGetLastError();
}

/* ---- elementwise and normalisation ---------------------------------------------------------- */

__global__ void k_rmsnorm(float *y, const float *x, const float *w, int n, float eps)
{
    __shared__ double part[32];
    const float *xt = x + (size_t)blockIdx.x * n;
    float *yt = y + (size_t)blockIdx.x * n;
    double ss = 0.0; /* double accumulation of float squares, as the CPU device */
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += (double)(xt[i] * xt[i]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int i = 0; i < (int)(blockDim.x >> 5); i++) t += part[i];
        part[0] = t;
    }
    __syncthreads();
    float scale = 1.0f / sqrtf((float)(part[0] / (double)n) + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) yt[i] = (xt[i] * scale) * w[i];
}

__global__ void k_add(float *y, const float *x, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) y[i] += x[i];
}

__global__ void k_add_bias(float *y, const float *b, int64_t n, int64_t total)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) y[i] += b[i % n];
}

__global__ void k_swiglu(float *g, const float *u, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* One thread per (token, rotated pair): the angle in double, then every head of the token. */
__global__ void k_rope(float *x, int nh, const int32_t *pos_of, int neox, uint32_t hd, uint32_t rope_dim, float base, float freq_scale,
                       const float *ff)
{
    uint32_t half = rope_dim / 2, i = blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y;
    if (i >= half) return;
    double pos = (double)pos_of[t] * freq_scale;
    double theta = pos * pow((double)base, -2.0 * i / rope_dim);
    if (ff) theta /= ff[i];
    float cs = (float)cos(theta), sn = (float)sin(theta);
    uint32_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    for (int h = 0; h < nh; h++) {
        float *v = x + ((size_t)t * nh + h) * hd;
        float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs - x1 * sn;
        v[b] = x0 * sn + x1 * cs;
    }
}

__global__ void k_kv_store(void *kc, void *vc, const float *k, const float *v, int f16, uint32_t n_kv, uint32_t hd, uint32_t ctx,
                           const int32_t *pos, const int32_t *seq, uint32_t nt)
{
    size_t total = (size_t)nt * n_kv * hd;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < total; idx += (size_t)gridDim.x * blockDim.x) {
        uint32_t i = idx % hd, h = (idx / hd) % n_kv, t = idx / ((size_t)hd * n_kv);
        size_t dst = (((size_t)seq[t] * n_kv + h) * ctx + pos[t]) * hd + i;
        if (f16) {
            ((__half *)kc)[dst] = __float2half_rn(k[idx]);
            ((__half *)vc)[dst] = __float2half_rn(v[idx]);
        } else {
            ((float *)kc)[dst] = k[idx];
            ((float *)vc)[dst] = v[idx];
        }
    }
}

constexpr int ATT_WARPS = 4, ATT_MAXD = 256;

template <bool F16KV> __device__ __forceinline__ float kv_at(const void *c, size_t i)
{
    if (F16KV) return __half2float(((const __half *)c)[i]);
    return ((const float *)c)[i];
}

template <bool F16KV>
__global__ void __launch_bounds__(ATT_WARPS * 32) k_attention(float *out, const float *q, const void *kc, const void *vc,
                                                             const int32_t *kv_of_q, int n_q, int n_kv, int hd, int ctx,
                                                             const int32_t *pos_of, const int32_t *seq)
{
    __shared__ float sm_m[ATT_WARPS], sm_l[ATT_WARPS], sm_acc[ATT_WARPS][ATT_MAXD];
    int h = blockIdx.x, t = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, pos = pos_of[t];
    int kvh = kv_of_q[h];
    const float *qv = q + ((size_t)t * n_q + h) * hd;
    float qr[ATT_MAXD / 32], acc[ATT_MAXD / 32];
#pragma unroll
    for (int e = 0; e < ATT_MAXD / 32; e++) {
        int i = lane + 32 * e;
        qr[e] = i < hd ? qv[i] : 0.0f;
        acc[e] = 0.0f;
    }
    float scale = 1.0f / sqrtf((float)hd), m = -INFINITY, l = 0.0f;
    size_t base = ((size_t)seq[t] * n_kv + kvh) * ctx * hd;
    /* scores = softmax(q . K^T / sqrt(head_dim)) over positions 0..pos; out = scores . V */
    for (int j = warp; j <= pos; j += ATT_WARPS) {
        size_t at = base + (size_t)j * hd;
        float s = 0.0f;
#pragma unroll
        for (int e = 0; e < ATT_MAXD / 32; e++) {
            int i = lane + 32 * e;
            if (i < hd) s += qr[e] * kv_at<F16KV>(kc, at + i);
        }
        s = warp_sum(s) * scale;
        float mn = fmaxf(m, s), corr = expf(m - mn), p = expf(s - mn);
        l = l * corr + p;
#pragma unroll
        for (int e = 0; e < ATT_MAXD / 32; e++) {
            int i = lane + 32 * e;
            if (i < hd) acc[e] = acc[e] * corr + p * kv_at<F16KV>(vc, at + i);
        }
        m = mn;
    }
    if (lane == 0) {
        sm_m[warp] = m;
        sm_l[warp] = l;
    }
#pragma unroll
    for (int e = 0; e < ATT_MAXD / 32; e++) {
        int i = lane + 32 * e;
        if (i < hd) sm_acc[warp][i] = acc[e];
    }
    __syncthreads();
    float mx = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++) mx = fmaxf(mx, sm_m[w]);
    float L = 0.0f;
    for (int w = 0; w < ATT_WARPS; w++) L += sm_l[w] > 0.0f ? sm_l[w] * expf(sm_m[w] - mx) : 0.0f;
    float *o = out + ((size_t)t * n_q + h) * hd;
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float s = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++)
            if (sm_l[w] > 0.0f) s += sm_acc[w][i] * expf(sm_m[w] - mx);
        o[i] = s / L;
    }
}

__global__ void k_read(const uint4 *p, size_t n, unsigned *sink)
{
    unsigned v = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint4 a = __ldcs(p + i);
        v ^= a.x ^ a.y ^ a.z ^ a.w;
    }
    if (v == 0x9e3779b9u) *sink = v; /* keeps the loads; almost never taken */
}

int grid_for(int64_t n, int threads)
{
    int64_t g = (n + threads - 1) / threads;
    return (int)(g < 1 ? 1 : g > 65535 ? 65535 : g);
}

} // namespace

extern "C" {

int ykc_matmul_supported(int type)
{
    switch (type) {
    case F32: case F16: case BF16: case Q8_0: case Q4_0: case Q4_1: case Q5_0: case Q5_1: case IQ4_NL: case Q2_K: case Q3_K:
    case Q4_K: case Q5_K: case Q6_K: return 1;
    default: return 0;
    }
}

int ykc_matmul(ykc_stream st, int type, const void *W, size_t stride, int64_t rows, int64_t cols, const float *x, int64_t nt, float *y)
{
    cudaStream_t s = (cudaStream_t)st;
    int r = (int)rows, c = (int)cols, n = (int)nt;
    switch (type) {
    case F32: return launch_matmul<F32>(s, W, stride, r, c, x, n, y);
    case F16: return launch_matmul<F16>(s, W, stride, r, c, x, n, y);
    case BF16: return launch_matmul<BF16>(s, W, stride, r, c, x, n, y);
    case Q8_0: return launch_matmul<Q8_0>(s, W, stride, r, c, x, n, y);
    case Q4_0: return launch_matmul<Q4_0>(s, W, stride, r, c, x, n, y);
    case Q4_1: return launch_matmul<Q4_1>(s, W, stride, r, c, x, n, y);
    case Q5_0: return launch_matmul<Q5_0>(s, W, stride, r, c, x, n, y);
    case Q5_1: return launch_matmul<Q5_1>(s, W, stride, r, c, x, n, y);
    case IQ4_NL: return launch_matmul<IQ4_NL>(s, W, stride, r, c, x, n, y);
    case Q2_K: return launch_matmul<Q2_K>(s, W, stride, r, c, x, n, y);
    case Q3_K: return launch_matmul<Q3_K>(s, W, stride, r, c, x, n, y);
    case Q4_K: return launch_matmul<Q4_K>(s, W, stride, r, c, x, n, y);
    case Q5_K: return launch_matmul<Q5_K>(s, W, stride, r, c, x, n, y);
    case Q6_K: return launch_matmul<Q6_K>(s, W, stride, r, c, x, n, y);
    default: return (int)cudaErrorInvalidValue;
    }
}

int ykc_rmsnorm(ykc_stream s, float *y, const float *x, const float *w, int64_t n, int64_t nt, float eps)
{
    k_rmsnorm<<<(unsigned)nt, 256, 0, (cudaStream_t)s>>>(y, x, w, (int)n, eps);
    return cudaGetLastError();
}

int ykc_add(ykc_stream s, float *y, const float *x, int64_t n)
{
    k_add<<<grid_for(n, 256), 256, 0, (cudaStream_t)s>>>(y, x, n);
    return cudaGetLastError();
}

int ykc_add_bias(ykc_stream s, float *y, const float *b, int64_t n, int64_t nt)
{
    k_add_bias<<<grid_for(n * nt, 256), 256, 0, (cudaStream_t)s>>>(y, b, n, n * nt);
    return cudaGetLastError();
}

int ykc_swiglu(ykc_stream s, float *g, const float *u, int64_t n)
{
    k_swiglu<<<grid_for(n, 256), 256, 0, (cudaStream_t)s>>>(g, u, n);
    return cudaGetLastError();
}

int ykc_rope(ykc_stream s, float *x, int64_t nt, int64_t n_heads, const int32_t *pos, int neox, uint32_t head_dim, uint32_t rope_dim,
             float base, float freq_scale, const float *freq_factors)
{
    uint32_t half = rope_dim / 2;
    dim3 grid((half + 63) / 64, (unsigned)nt);
    k_rope<<<grid, 64, 0, (cudaStream_t)s>>>(x, (int)n_heads, pos, neox, head_dim, rope_dim, base, freq_scale, freq_factors);
    return cudaGetLastError();
}

int ykc_kv_store(ykc_stream s, void *kc, void *vc, const float *k, const float *v, int f16, uint32_t n_kv, uint32_t hd, uint32_t ctx,
                 const int32_t *pos, const int32_t *seq, uint32_t nt)
{
    k_kv_store<<<grid_for((int64_t)nt * n_kv * hd, 256), 256, 0, (cudaStream_t)s>>>(kc, vc, k, v, f16, n_kv, hd, ctx, pos, seq, nt);
    return cudaGetLastError();
}

int ykc_attention(ykc_stream s, float *out, const float *q, const void *kc, const void *vc, int f16, const int32_t *kv_of_q,
                  uint32_t n_q, uint32_t n_kv, uint32_t hd, uint32_t ctx, const int32_t *pos, const int32_t *seq, uint32_t nt)
{
    if (hd > ATT_MAXD) return (int)cudaErrorInvalidValue;
    dim3 grid(n_q, nt);
    if (f16) k_attention<true><<<grid, ATT_WARPS * 32, 0, (cudaStream_t)s>>>(out, q, kc, vc, kv_of_q, (int)n_q, (int)n_kv, (int)hd, (int)ctx, pos, seq);
    else k_attention<false><<<grid, ATT_WARPS * 32, 0, (cudaStream_t)s>>>(out, q, kc, vc, kv_of_q, (int)n_q, (int)n_kv, (int)hd, (int)ctx, pos, seq);
    return cudaGetLastError();
}

int ykc_read(ykc_stream s, const void *buf, size_t bytes, unsigned *sink)
{
    int dev = 0, sms = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    k_read<<<sms * 8, 512, 0, (cudaStream_t)s>>>((const uint4 *)buf, bytes / 16, sink);
    return cudaGetLastError();
}

} // extern "C"
