/* yoke/device.h: the backend interface. A device is a backend instance with its own memory, its
 * own threads and its own slice of the weights; devices never read each other's memory and talk
 * only through comm (comm.h).
 *
 * A device is a struct of function pointers plus a context. Kernels are enqueued in order on the
 * device's stream: a CPU device runs them at once, a GPU device queues them; sync waits for all.
 * Buffers passed to kernels are device memory from alloc (or weights from upload). Callers use
 * the yk_dev_* wrappers, never the pointers. */
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

/* Causal attention of nt new tokens at positions pos0.. over the KV cache of this device's heads.
 * q: (nt, n_q * head_dim); k, v: (nt, n_kv * head_dim); the new k, v rows are first stored in the
 * cache; kcache, vcache: (n_kv, ctx, head_dim) of kv_type (F32 or F16). Local query head h reads local KV head
 * kv_of_q[h]. out: (nt, n_q * head_dim). */
typedef struct {
    float *out;
    const float *q, *k, *v;
    void *kcache, *vcache;
    yk_type kv_type;         /* YK_TYPE_F32 or YK_TYPE_F16 */
    const int32_t *kv_of_q;  /* host array, n_q entries */
    uint32_t n_q, n_kv, head_dim, ctx;
    uint32_t pos0, nt;
} yk_attn_args;

typedef struct {
    const char *kind;                      /* "cpu", "cuda" */
    void (*destroy)(yk_device *d);
    void *(*alloc)(yk_device *d, size_t bytes);        /* zeroed; NULL on failure */
    void (*free)(yk_device *d, void *p);
    /* Makes the device's copy of rows [r0, r1) and columns [c0, c1) (block aligned) of a host
     * matrix. (optional): NULL defaults to a device-owned copy made with alloc + write. */
    yk_status (*upload)(yk_device *d, yk_dmat *out, yk_type t, const void *host, size_t host_stride,
                        int64_t r0, int64_t r1, int64_t c0, int64_t c1, yk_err *err);
    void (*write)(yk_device *d, void *dst, const void *src, size_t n);  /* host -> device */
    void (*read)(yk_device *d, void *dst, const void *src, size_t n);   /* device -> host */
    /* y (nt, w->rows) = x (nt, w->cols) . w^T */
    void (*matmul)(yk_device *d, const yk_dmat *w, const float *x, int64_t nt, float *y);
    /* y (nt, n) = x / sqrt(mean(x^2) + eps) * w */
    void (*rmsnorm)(yk_device *d, float *y, const float *x, const float *w, int64_t n, int64_t nt, float eps);
    /* y (nt, n) += x (nt, n) */
    void (*add)(yk_device *d, float *y, const float *x, int64_t n, int64_t nt);
    /* y (nt, n) += b (n) */
    void (*add_bias)(yk_device *d, float *y, const float *b, int64_t n, int64_t nt);
    /* rotates x (nt, n_heads * head_dim) for positions pos0.. */
    void (*rope)(yk_device *d, float *x, int64_t nt, int64_t n_heads, uint32_t pos0, const yk_rope *r);
    void (*attention)(yk_device *d, const yk_attn_args *a);
    /* g (nt, n) = silu(g) * u */
    void (*swiglu)(yk_device *d, float *g, const float *u, int64_t n, int64_t nt);
    void (*sync)(yk_device *d);
} yk_device_ops;

struct yk_device {
    const yk_device_ops *ops;
    void *ctx;
    char name[32];       /* "cpu0" */
    int n_threads;
};

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
static inline void yk_dev_write(yk_device *d, void *dst, const void *src, size_t n) { d->ops->write(d, dst, src, n); }
static inline void yk_dev_read(yk_device *d, void *dst, const void *src, size_t n) { d->ops->read(d, dst, src, n); }
static inline void yk_dev_matmul(yk_device *d, const yk_dmat *w, const float *x, int64_t nt, float *y) { d->ops->matmul(d, w, x, nt, y); }
static inline void yk_dev_rmsnorm(yk_device *d, float *y, const float *x, const float *w, int64_t n, int64_t nt, float eps) { d->ops->rmsnorm(d, y, x, w, n, nt, eps); }
static inline void yk_dev_add(yk_device *d, float *y, const float *x, int64_t n, int64_t nt) { d->ops->add(d, y, x, n, nt); }
static inline void yk_dev_add_bias(yk_device *d, float *y, const float *b, int64_t n, int64_t nt) { d->ops->add_bias(d, y, b, n, nt); }
static inline void yk_dev_rope(yk_device *d, float *x, int64_t nt, int64_t nh, uint32_t pos0, const yk_rope *r) { d->ops->rope(d, x, nt, nh, pos0, r); }
static inline void yk_dev_attention(yk_device *d, const yk_attn_args *a) { d->ops->attention(d, a); }
static inline void yk_dev_swiglu(yk_device *d, float *g, const float *u, int64_t n, int64_t nt) { d->ops->swiglu(d, g, u, n, nt); }
static inline void yk_dev_sync(yk_device *d) { d->ops->sync(d); }

#endif
