/* guard_device.c: a test device kind whose memory the host cannot read. It wraps a CPU device, but
 * keeps every buffer PROT_NONE outside its own operations: any host access to device memory by
 * the engine or a comm (instead of an explicit write or read) faults at once. Running the golden
 * suite on it proves that the engine treats device memory as opaque. */
#include "test.h"
#include "yoke/device.h"

#include <sys/mman.h>
#include <unistd.h>

typedef struct {
    yk_device dev;
    yk_device *cpu;       /* does the arithmetic */
    struct { void *p; size_t n; } *bufs;
    int n_bufs, cap;
} guard_device;

static guard_device *gd(yk_device *d) { return (guard_device *)d->ctx; }

static void protect_all(guard_device *g, int prot)
{
    for (int i = 0; i < g->n_bufs; i++) YK_ASSERT(mprotect(g->bufs[i].p, g->bufs[i].n, prot) == 0);
}

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n ? n + pg - 1 : pg) / pg * pg;
}

static void *g_alloc(yk_device *d, size_t n)
{
    guard_device *g = gd(d);
    size_t len = page_round(n);
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* zeroed */
    if (p == MAP_FAILED) return NULL;
    if (g->n_bufs == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->bufs = realloc(g->bufs, (size_t)g->cap * sizeof *g->bufs);
        YK_ASSERT(g->bufs != NULL);
    }
    g->bufs[g->n_bufs].p = p;
    g->bufs[g->n_bufs++].n = len;
    return p;
}

static void g_free(yk_device *d, void *p)
{
    guard_device *g = gd(d);
    for (int i = 0; i < g->n_bufs; i++)
        if (g->bufs[i].p == p) {
            munmap(p, g->bufs[i].n);
            g->bufs[i] = g->bufs[--g->n_bufs];
            return;
        }
    YK_ASSERT(!"guard device: free of memory it did not allocate");
}

/* Writes, reads and device-to-device copies: the one memcpy with the memory open. */
static void g_memcpy(yk_device *d, void *dst, const void *src, size_t n)
{
    protect_all(gd(d), PROT_READ | PROT_WRITE);
    memcpy(dst, src, n);
    protect_all(gd(d), PROT_NONE);
}

/* Each operation opens the device's memory, runs the CPU kernel, and closes it again. */
#define OPEN(d) protect_all(gd(d), PROT_READ | PROT_WRITE)
#define CLOSE(d) protect_all(gd(d), PROT_NONE)

static void g_matmul(yk_device *d, const yk_dmat *w, const float *x, int64_t nt, float *y)
{
    OPEN(d);
    yk_dev_matmul(gd(d)->cpu, w, x, nt, y);
    CLOSE(d);
}
static void g_rmsnorm(yk_device *d, float *y, const float *x, const float *w, int64_t n, int64_t nt, float eps)
{
    OPEN(d);
    yk_dev_rmsnorm(gd(d)->cpu, y, x, w, n, nt, eps);
    CLOSE(d);
}
static void g_add(yk_device *d, float *y, const float *x, int64_t n, int64_t nt)
{
    OPEN(d);
    yk_dev_add(gd(d)->cpu, y, x, n, nt);
    CLOSE(d);
}
static void g_add_bias(yk_device *d, float *y, const float *b, int64_t n, int64_t nt)
{
    OPEN(d);
    yk_dev_add_bias(gd(d)->cpu, y, b, n, nt);
    CLOSE(d);
}
static void g_rope(yk_device *d, float *x, int64_t nt, int64_t nh, const int32_t *pos, const yk_rope *r)
{
    OPEN(d);
    yk_dev_rope(gd(d)->cpu, x, nt, nh, pos, r);
    CLOSE(d);
}
static void g_attention(yk_device *d, const yk_attn_args *a)
{
    OPEN(d);
    yk_dev_attention(gd(d)->cpu, a);
    CLOSE(d);
}
static void g_swiglu(yk_device *d, float *g, const float *u, int64_t n, int64_t nt)
{
    OPEN(d);
    yk_dev_swiglu(gd(d)->cpu, g, u, n, nt);
    CLOSE(d);
}
static yk_status g_sync(yk_device *d, yk_err *err) { return yk_dev_sync(gd(d)->cpu, err); }

static void g_destroy(yk_device *d)
{
    guard_device *g = gd(d);
    for (int i = 0; i < g->n_bufs; i++) munmap(g->bufs[i].p, g->bufs[i].n);
    free(g->bufs);
    yk_dev_destroy(g->cpu);
    free(g);
}

static const yk_device_ops guard_ops = {
    .kind = "guard",
    .host_memory = false,
    .destroy = g_destroy,
    .alloc = g_alloc,
    .free = g_free,
    .upload = NULL, /* a device-owned copy through alloc + write */
    .write = g_memcpy,
    .read = g_memcpy,
    .copy = g_memcpy,
    .matmul = g_matmul,
    .rmsnorm = g_rmsnorm,
    .add = g_add,
    .add_bias = g_add_bias,
    .rope = g_rope,
    .attention = g_attention,
    .swiglu = g_swiglu,
    .sync = g_sync,
};

yk_device *tu_guard_device_create(int index, int n_threads, yk_err *err)
{
    guard_device *g = calloc(1, sizeof *g);
    if (!g || !(g->cpu = yk_cpu_device_create(index, n_threads, false, err))) {
        free(g);
        return NULL;
    }
    g->dev.ops = &guard_ops;
    g->dev.ctx = g;
    g->dev.n_threads = n_threads;
    snprintf(g->dev.name, sizeof g->dev.name, "guard%d", index);
    return &g->dev;
}
