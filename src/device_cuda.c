/* device_cuda.c: the CUDA backend, host side (kernels in cuda/kernels.cu). Built when the CUDA
 * toolkit is found (YK_HAVE_CUDA); the runtime is linked statically, so a yoke binary runs on a
 * machine without the driver and only `--devices cuda:...` fails, with a message.
 *
 * One device is one stream on one GPU with its own memory; several logical devices may share a
 * GPU (cuda:0x2). Operations are queued on the stream; weights are uploaded once at load in their
 * GGUF blocks and dequantised inside the kernels. Every runtime call goes through CK, which
 * records the first failure (call, operation, file:line, device); after it every operation does
 * nothing and sync reports it. Worker threads call a device's operations from their own thread,
 * so each operation first makes the device's GPU current. */
#ifdef YK_HAVE_CUDA

#include "cuda/kernels.h"
#include "yoke/device.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    yk_device dev;
    int gpu;
    cudaStream_t stream;
    yk_err err;          /* first failure; sticky */
} cuda_device;

static cuda_device *cu(yk_device *d) { return (cuda_device *)d->ctx; }

static bool check(cuda_device *c, cudaError_t e, const char *call, const char *op, const char *file, int line)
{
    if (e == cudaSuccess) return true;
    if (!c->err.status)
        yk_err_set(&c->err, YK_E_DEVICE, "%s: %s failed in %s: %s (%s:%d)", c->dev.name, call, op, cudaGetErrorString(e), file,
                   line);
    return false;
}

#define CK(call, op) check(c, (call), #call, op, __FILE__, __LINE__)

/* Makes the GPU current for this thread; false if the device already failed. */
static bool enter(cuda_device *c, const char *op)
{
    if (c->err.status) return false;
    return CK(cudaSetDevice(c->gpu), op);
}

static void *cuda_alloc(yk_device *d, size_t n)
{
    cuda_device *c = cu(d);
    void *p = NULL;
    if (!enter(c, "alloc")) return NULL;
    /* a refused allocation is an answer, not a device failure: the caller reports out of memory */
    if (cudaMalloc(&p, n ? n : 1) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    if (!CK(cudaMemsetAsync(p, 0, n ? n : 1, c->stream), "alloc")) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void cuda_free(yk_device *d, void *p)
{
    cuda_device *c = cu(d);
    cudaSetDevice(c->gpu);
    cudaFree(p);
}

static void cuda_write(yk_device *d, void *dst, const void *src, size_t n)
{
    cuda_device *c = cu(d);
    if (enter(c, "write")) CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, c->stream), "write");
}

static void cuda_read(yk_device *d, void *dst, const void *src, size_t n)
{
    cuda_device *c = cu(d);
    if (enter(c, "read") && CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, c->stream), "read"))
        CK(cudaStreamSynchronize(c->stream), "read");
}

static void cuda_copy(yk_device *d, void *dst, const void *src, size_t n)
{
    cuda_device *c = cu(d);
    if (enter(c, "copy")) CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, c->stream), "copy");
}

static yk_status cuda_upload(yk_device *d, yk_dmat *out, yk_type t, const void *host, size_t host_stride, int64_t r0, int64_t r1,
                             int64_t c0, int64_t c1, yk_err *err)
{
    cuda_device *c = cu(d);
    size_t off = yk_row_bytes(t, c0), row = yk_row_bytes(t, c1 - c0), rows = (size_t)(r1 - r0);
    YK_ASSERT(row > 0 && (c0 == 0 || off > 0));
    uint8_t *mem = cuda_alloc(d, row * rows);
    if (!mem) {
        if (c->err.status) *err = c->err;
        else yk_err_set(err, YK_E_NOMEM, "%s: out of GPU memory for a %lld x %lld weight slice", d->name, (long long)rows,
                        (long long)(c1 - c0));
        return err->status;
    }
    const uint8_t *src = (const uint8_t *)host + (size_t)r0 * host_stride + off;
    /* whole rows in one copy; a column slice (tensor parallel) as one pitched copy */
    if (host_stride == row) CK(cudaMemcpyAsync(mem, src, row * rows, cudaMemcpyHostToDevice, c->stream), "upload");
    else CK(cudaMemcpy2DAsync(mem, row, src, host_stride, row, rows, cudaMemcpyHostToDevice, c->stream), "upload");
    d->bytes_written += row * rows;
    d->n_writes++;
    *out = (yk_dmat){.type = t, .rows = (int64_t)rows, .cols = c1 - c0, .stride = row, .data = mem, .owned = true};
    if (c->err.status) {
        *err = c->err;
        return err->status;
    }
    return YK_OK;
}

static void cuda_matmul(yk_device *d, const yk_dmat *w, const float *x, int64_t nt, float *y)
{
    cuda_device *c = cu(d);
    if (!enter(c, "matmul")) return;
    if (!ykc_matmul_supported(w->type)) {
        yk_err_set(&c->err, YK_E_UNSUPPORTED, "%s: matmul: weights of type %s are not supported", d->name, yk_type_name(w->type));
        return;
    }
    CK((cudaError_t)ykc_matmul((ykc_stream)c->stream, w->type, w->data, w->stride, w->rows, w->cols, x, nt, y), "matmul");
}

static void cuda_rmsnorm(yk_device *d, float *y, const float *x, const float *w, int64_t n, int64_t nt, float eps)
{
    cuda_device *c = cu(d);
    if (enter(c, "rmsnorm")) CK((cudaError_t)ykc_rmsnorm((ykc_stream)c->stream, y, x, w, n, nt, eps), "rmsnorm");
}

static void cuda_add(yk_device *d, float *y, const float *x, int64_t n, int64_t nt)
{
    cuda_device *c = cu(d);
    if (enter(c, "add")) CK((cudaError_t)ykc_add((ykc_stream)c->stream, y, x, n * nt), "add");
}

static void cuda_add_bias(yk_device *d, float *y, const float *b, int64_t n, int64_t nt)
{
    cuda_device *c = cu(d);
    if (enter(c, "add_bias")) CK((cudaError_t)ykc_add_bias((ykc_stream)c->stream, y, b, n, nt), "add_bias");
}

static void cuda_rope(yk_device *d, float *x, int64_t nt, int64_t nh, const int32_t *pos, const yk_rope *r)
{
    cuda_device *c = cu(d);
    if (enter(c, "rope"))
        CK((cudaError_t)ykc_rope((ykc_stream)c->stream, x, nt, nh, pos, r->mode == YK_ROPE_NEOX, r->head_dim, r->rope_dim, r->base,
                                 r->freq_scale, r->freq_factors),
           "rope");
}

static void cuda_attention(yk_device *d, const yk_attn_args *a)
{
    cuda_device *c = cu(d);
    if (!enter(c, "attention")) return;
    if (a->head_dim > 256) {
        yk_err_set(&c->err, YK_E_UNSUPPORTED, "%s: attention: head dimension %u above 256 is not supported", d->name, a->head_dim);
        return;
    }
    int f16 = a->kv_type == YK_TYPE_F16;
    if (CK((cudaError_t)ykc_kv_store((ykc_stream)c->stream, a->kcache, a->vcache, a->k, a->v, f16, a->n_kv, a->head_dim, a->ctx,
                                     a->pos, a->seq, a->nt),
           "attention"))
        CK((cudaError_t)ykc_attention((ykc_stream)c->stream, a->out, a->q, a->kcache, a->vcache, f16, a->kv_of_q, a->n_q, a->n_kv,
                                      a->head_dim, a->ctx, a->pos, a->seq, a->nt),
           "attention");
}

static void cuda_swiglu(yk_device *d, float *g, const float *u, int64_t n, int64_t nt)
{
    cuda_device *c = cu(d);
    if (enter(c, "swiglu")) CK((cudaError_t)ykc_swiglu((ykc_stream)c->stream, g, u, n * nt), "swiglu");
}

static yk_status cuda_sync(yk_device *d, yk_err *err)
{
    cuda_device *c = cu(d);
    if (enter(c, "sync")) CK(cudaStreamSynchronize(c->stream), "sync");
    if (c->err.status && err) *err = c->err;
    return c->err.status;
}

/* Best of 3 timed streaming reads of a buffer of about `bytes`, after one warm-up. */
static yk_status cuda_read_bandwidth(yk_device *d, size_t bytes, double *gbps, yk_err *err)
{
    cuda_device *c = cu(d);
    bytes = bytes / 16 * 16;
    *gbps = 0;
    void *buf = cuda_alloc(d, bytes);
    unsigned *sink = cuda_alloc(d, sizeof *sink);
    cudaEvent_t e0 = NULL, e1 = NULL;
    if (buf && sink && CK(cudaEventCreate(&e0), "read_bandwidth") && CK(cudaEventCreate(&e1), "read_bandwidth")) {
        for (int rep = 0; rep < 4 && !c->err.status; rep++) {
            float ms = 0;
            if (CK(cudaEventRecord(e0, c->stream), "read_bandwidth") &&
                CK((cudaError_t)ykc_read((ykc_stream)c->stream, buf, bytes, sink), "read_bandwidth") &&
                CK(cudaEventRecord(e1, c->stream), "read_bandwidth") && CK(cudaEventSynchronize(e1), "read_bandwidth") &&
                CK(cudaEventElapsedTime(&ms, e0, e1), "read_bandwidth") && rep > 0 && ms > 0 && bytes / (ms * 1e6) > *gbps)
                *gbps = bytes / (ms * 1e6);
        }
    }
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cuda_free(d, buf);
    cuda_free(d, sink);
    if (!buf && !c->err.status) return yk_err_set(err, YK_E_NOMEM, "%s: no room for a %zu-byte bandwidth probe", d->name, bytes);
    if (c->err.status && err) *err = c->err;
    return c->err.status;
}

static void cuda_destroy(yk_device *d)
{
    cuda_device *c = cu(d);
    cudaSetDevice(c->gpu);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

static const yk_device_ops cuda_ops = {
    .kind = "cuda",
    .host_memory = false,
    .destroy = cuda_destroy,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .write = cuda_write,
    .read = cuda_read,
    .copy = cuda_copy,
    .matmul = cuda_matmul,
    .rmsnorm = cuda_rmsnorm,
    .add = cuda_add,
    .add_bias = cuda_add_bias,
    .rope = cuda_rope,
    .attention = cuda_attention,
    .swiglu = cuda_swiglu,
    .sync = cuda_sync,
    .read_bandwidth = cuda_read_bandwidth,
};

yk_device *yk_cuda_device_create(int gpu, int sub, yk_err *err)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        yk_err_set(err, YK_E_DEVICE, "cuda:%d: no usable CUDA GPU: %s (is the NVIDIA driver installed and a GPU present?)", gpu,
                   cudaGetErrorString(e));
        return NULL;
    }
    if (gpu < 0 || gpu >= count) {
        yk_err_set(err, YK_E_DEVICE, "cuda:%d: no such GPU (this machine has %d)", gpu, count);
        return NULL;
    }
    cuda_device *c = calloc(1, sizeof *c);
    if (!c) {
        yk_err_set(err, YK_E_NOMEM, "cuda:%d: out of memory", gpu);
        return NULL;
    }
    c->gpu = gpu;
    c->dev.ops = &cuda_ops;
    c->dev.ctx = c;
    c->dev.n_threads = 1;
    if (sub) snprintf(c->dev.name, sizeof c->dev.name, "cuda%d.%d", gpu, sub);
    else snprintf(c->dev.name, sizeof c->dev.name, "cuda%d", gpu);
    struct cudaDeviceProp prop;
    if (!CK(cudaSetDevice(gpu), "create") || !CK(cudaGetDeviceProperties(&prop, gpu), "create") ||
        !CK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "create")) {
        *err = c->err;
        cuda_destroy(&c->dev);
        return NULL;
    }
    if (prop.major < 8) {
        yk_err_set(err, YK_E_UNSUPPORTED, "cuda:%d: %s is compute capability %d.%d; yoke's kernels need 8.0 (Ampere) or newer", gpu,
                   prop.name, prop.major, prop.minor);
        cuda_destroy(&c->dev);
        return NULL;
    }
    snprintf(c->dev.desc, sizeof c->dev.desc, "%.60s, sm_%d%d, %.1f GiB", prop.name, prop.major, prop.minor,
             prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return &c->dev;
}

#endif
