/* yoke/device.h: the backend interface. A device is a backend instance with its own memory, its
 * own threads and its own slice of the weights; devices never read each other's memory and talk
 * only through comm (comm.h).
 *
 * A device is a struct of function pointers plus a context. Kernels are enqueued in order on the
 * device's stream: a CPU device runs them at once, a GPU device queues them; sync waits for all.
 * Buffers passed to kernels are device memory from alloc (or weights from upload). Callers use
 * the yk_dev_* wrappers, never the pointers.
 *
 * Device memory is opaque: no caller dereferences it on the host, whatever the kind. The only way
 * between host and device memory is write and read, explicit calls that the device counts.
 * Kernels return nothing: a failing launch or kernel makes the device failed (sticky), later
 * calls do nothing, and the next sync returns the status with a message naming the device and the
 * operation. Devices are made by the caller from a device list (yk_devices_open) and handed to
 * the engine, which names no kind. */
#ifndef YOKE_DEVICE_H
#define YOKE_DEVICE_H

#include "yoke/arch.h"

typedef struct yk_device yk_device;

/* A weight matrix on a device: rows of cols elements, stride bytes apart. */
typedef struct {
    yk_type type;
    int64_t rows, cols;
    size_t stride;
    const void *data;
    bool owned;          /* allocated by the device (else a view of host memory) */
} yk_dmat;

/* Rotary embedding parameters. */
typedef struct {
    yk_rope_mode mode;
    uint32_t head_dim, rope_dim;
    float base;
    float freq_scale;           /* positions multiplied by it (linear scaling); 1 for none */
    const float *freq_factors;  /* rope_dim/2 divisors (Llama 3.1), device memory, or NULL */
} yk_rope;

/* Causal attention of nt new tokens, each of its own sequence and position, over the KV cache of
 * this device's heads. q: (nt, n_q * head_dim); k, v: (nt, n_kv * head_dim); pos, seq: (nt) device
 * memory, token t's position and KV slot (< n_seq). The new k, v rows are first stored in their
 * slots at their positions; then token t attends to positions 0..pos[t] of slot seq[t] (the
 * slot's earlier positions must hold that sequence's keys). kcache, vcache: (n_seq, n_kv, ctx,
 * head_dim) of kv_type (F32 or F16). Local query head h reads local KV head kv_of_q[h]. out: (nt,
 * n_q * head_dim). Each token's result depends only on its own q and its slot, never on the other
 * tokens of the batch. */
typedef struct {
    float *out;
    const float *q, *k, *v;
    void *kcache, *vcache;
    yk_type kv_type;         /* YK_TYPE_F32 or YK_TYPE_F16 */
    const int32_t *kv_of_q;  /* device memory, n_q entries */
    const int32_t *pos, *seq; /* device memory, nt entries each */
    uint32_t n_q, n_kv, head_dim, ctx, n_seq;
    uint32_t nt;
} yk_attn_args;

typedef struct {
    const char *kind;                      /* "cpu", "cuda" */
    bool host_memory;                      /* device memory is host memory (comms may read it in place) */
    void (*destroy)(yk_device *d);
    void *(*alloc)(yk_device *d, size_t bytes);        /* zeroed; NULL on failure */
    void (*free)(yk_device *d, void *p);
    /* Makes the device's copy of rows [r0, r1) and columns [c0, c1) (block aligned) of a host
     * matrix. (optional): NULL defaults to a device-owned copy made with alloc + write. */
    yk_status (*upload)(yk_device *d, yk_dmat *out, yk_type t, const void *host, size_t host_stride,
                        int64_t r0, int64_t r1, int64_t c0, int64_t c1, yk_err *err);
    void (*write)(yk_device *d, void *dst, const void *src, size_t n);  /* host -> device */
    void (*read)(yk_device *d, void *dst, const void *src, size_t n);   /* device -> host */
    void (*copy)(yk_device *d, void *dst, const void *src, size_t n);   /* device -> device */
    /* y (nt, w->rows) = x (nt, w->cols) . w^T */
    void (*matmul)(yk_device *d, const yk_dmat *w, const float *x, int64_t nt, float *y);
    /* y (nt, n) = x / sqrt(mean(x^2) + eps) * w */
    void (*rmsnorm)(yk_device *d, float *y, const float *x, const float *w, int64_t n, int64_t nt, float eps);
    /* y (nt, n) += x (nt, n) */
    void (*add)(yk_device *d, float *y, const float *x, int64_t n, int64_t nt);
    /* y (nt, n) += b (n) */
    void (*add_bias)(yk_device *d, float *y, const float *b, int64_t n, int64_t nt);
    /* rotates x (nt, n_heads * head_dim), token t for position pos[t] (device memory) */
    void (*rope)(yk_device *d, float *x, int64_t nt, int64_t n_heads, const int32_t *pos, const yk_rope *r);
    void (*attention)(yk_device *d, const yk_attn_args *a);
    /* g (nt, n) = silu(g) * u */
    void (*swiglu)(yk_device *d, float *g, const float *u, int64_t n, int64_t nt);
    /* Waits for every queued operation; the first failure since creation, or YK_OK. */
    yk_status (*sync)(yk_device *d, yk_err *err);
    /* (optional): streaming read bandwidth of device memory in GB/s over about `bytes`; NULL:
     * not measured by the device (the caller measures host memory itself). */
    yk_status (*read_bandwidth)(yk_device *d, size_t bytes, double *gbps, yk_err *err);
} yk_device_ops;

struct yk_device {
    const yk_device_ops *ops;
    void *ctx;
    char name[32];       /* "cpu0", "cuda0", "cuda0.1" (second logical device on GPU 0) */
    char desc[96];       /* what it is: "NVIDIA H200, sm_90, 139.8 GiB"; empty for CPU devices */
    int n_threads;
    uint64_t bytes_written, bytes_read; /* host <-> device traffic through write and read */
    uint64_t n_writes, n_reads;
};

/* One entry of a device list: a kind and, for GPUs, the GPU's index. */
typedef struct {
    char kind[8];        /* "cpu", "cuda" */
    int index;           /* GPU index (cuda), or the device's position among the CPU devices */
    int sub;             /* logical device on that GPU (cuda:0x2 gives subs 0 and 1) */
} yk_device_spec;

/* Parses a device list: items separated by commas, each `cpu` or `cpu:N` (N CPU devices),
 * `cuda:I` (GPU I), `cuda:IxK` (K logical devices on GPU I, each with its own stream, memory and
 * weights). Fills specs (at most max) and *n. Fails naming the item. */
yk_status yk_devices_parse(const char *list, yk_device_spec *specs, int max, int *n, yk_err *err);
/* Makes the device of a spec: threads for a CPU device, copy_weights as yk_cpu_device_create. NULL
 * on failure (err names the device and why, e.g. no CUDA driver). */
yk_device *yk_device_create(const yk_device_spec *spec, int n_threads, bool copy_weights, yk_err *err);
/* Makes devs[0..n) from specs: n_threads (0: one per core) divided among the CPU devices;
 * copy_weights -1 (copy when n > 1), 0 or 1. On failure none is left open and err names the device. */
yk_status yk_devices_open(const yk_device_spec *specs, int n, int n_threads, int copy_weights, yk_device **devs, yk_err *err);
void yk_devices_close(yk_device **devs, int n);


/* CUDA device on GPU `gpu`; `sub` numbers logical devices on one GPU. NULL on failure (no driver,
 * no such GPU, or a build without CUDA). */
yk_device *yk_cuda_device_create(int gpu, int sub, yk_err *err);

/* CPU device with n_threads threads of its own (persistent pool); copy_weights makes it keep its
 * own copy of its weight slice instead of viewing the mmap. NULL on failure (err filled). */
yk_device *yk_cpu_device_create(int index, int n_threads, bool copy_weights, yk_err *err);

/* Wrappers: the only way callers reach a device. */
static inline void yk_dev_destroy(yk_device *d) { if (d) d->ops->destroy(d); }
static inline void *yk_dev_alloc(yk_device *d, size_t n) { return d->ops->alloc(d, n); }
static inline void yk_dev_free(yk_device *d, void *p) { if (p) d->ops->free(d, p); }
yk_status yk_dev_upload(yk_device *d, yk_dmat *out, yk_type t, const void *host, size_t host_stride,
                        int64_t r0, int64_t r1, int64_t c0, int64_t c1, yk_err *err);
/* Like yk_dev_upload, but always a device-owned copy (for host memory that will not outlive it). */
yk_status yk_dev_upload_copy(yk_device *d, yk_dmat *out, yk_type t, const void *host, size_t host_stride,
                             int64_t r0, int64_t r1, int64_t c0, int64_t c1, yk_err *err);
void yk_dev_free_mat(yk_device *d, yk_dmat *m);
static inline void yk_dev_write(yk_device *d, void *dst, const void *src, size_t n)
{
    d->bytes_written += n;
    d->n_writes++;
    d->ops->write(d, dst, src, n);
}
static inline void yk_dev_read(yk_device *d, void *dst, const void *src, size_t n)
{
    d->bytes_read += n;
    d->n_reads++;
    d->ops->read(d, dst, src, n);
}
static inline void yk_dev_matmul(yk_device *d, const yk_dmat *w, const float *x, int64_t nt, float *y) { d->ops->matmul(d, w, x, nt, y); }
static inline void yk_dev_rmsnorm(yk_device *d, float *y, const float *x, const float *w, int64_t n, int64_t nt, float eps) { d->ops->rmsnorm(d, y, x, w, n, nt, eps); }
static inline void yk_dev_add(yk_device *d, float *y, const float *x, int64_t n, int64_t nt) { d->ops->add(d, y, x, n, nt); }
static inline void yk_dev_add_bias(yk_device *d, float *y, const float *b, int64_t n, int64_t nt) { d->ops->add_bias(d, y, b, n, nt); }
static inline void yk_dev_copy(yk_device *d, void *dst, const void *src, size_t n) { d->ops->copy(d, dst, src, n); }
static inline void yk_dev_rope(yk_device *d, float *x, int64_t nt, int64_t nh, const int32_t *pos, const yk_rope *r) { d->ops->rope(d, x, nt, nh, pos, r); }
static inline void yk_dev_attention(yk_device *d, const yk_attn_args *a) { d->ops->attention(d, a); }
static inline void yk_dev_swiglu(yk_device *d, float *g, const float *u, int64_t n, int64_t nt) { d->ops->swiglu(d, g, u, n, nt); }
static inline yk_status yk_dev_sync(yk_device *d, yk_err *err) { return d->ops->sync(d, err); }

#endif
