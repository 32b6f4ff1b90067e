/* device.c: backend-independent parts of the device interface. */
#include "yoke/device.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

yk_status yk_dev_upload(yk_device *d, yk_dmat *out, yk_type t, const void *host, size_t host_stride,
                        int64_t r0, int64_t r1, int64_t c0, int64_t c1, yk_err *err)
{
    if (d->ops->upload) return d->ops->upload(d, out, t, host, host_stride, r0, r1, c0, c1, err);
    return yk_dev_upload_copy(d, out, t, host, host_stride, r0, r1, c0, c1, err);
}

yk_status yk_dev_upload_copy(yk_device *d, yk_dmat *out, yk_type t, const void *host, size_t host_stride,
                             int64_t r0, int64_t r1, int64_t c0, int64_t c1, yk_err *err)
{
    /* A device-owned, compact copy, written row by row. */
    size_t off = yk_row_bytes(t, c0), row = yk_row_bytes(t, c1 - c0);
    YK_ASSERT(row > 0 && (c0 == 0 || off > 0));
    uint8_t *mem = yk_dev_alloc(d, row * (size_t)(r1 - r0));
    if (!mem) return yk_err_set(err, YK_E_NOMEM, "%s: out of memory for a %lld x %lld weight slice", d->name,
                                (long long)(r1 - r0), (long long)(c1 - c0));
    for (int64_t r = r0; r < r1; r++)
        yk_dev_write(d, mem + (size_t)(r - r0) * row, (const uint8_t *)host + (size_t)r * host_stride + off, row);
    *out = (yk_dmat){.type = t, .rows = r1 - r0, .cols = c1 - c0, .stride = row, .data = mem, .owned = true};
    return YK_OK;
}

void yk_dev_free_mat(yk_device *d, yk_dmat *m)
{
    if (m->owned) yk_dev_free(d, (void *)m->data);
    memset(m, 0, sizeof *m);
}

/* ---- device lists ------------------------------------------------------------------------- */

static bool parse_int(const char **p, int max, int *out)
{
    const char *s = *p;
    long v = 0;
    if (*s < '0' || *s > '9') return false;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > max) return false;
    }
    *p = s;
    *out = (int)v;
    return true;
}

yk_status yk_devices_parse(const char *list, yk_device_spec *specs, int max, int *n, yk_err *err)
{
    *n = 0;
    int n_cpu = 0;
    const char *p = list;
    if (!*p) return yk_err_set(err, YK_E_INVALID, "--devices: empty list");
    for (;;) {
        const char *item = p, *end = strchr(p, ',');
        int len = end ? (int)(end - p) : (int)strlen(p);
        int count = 1, index = 0;
        const char *kind = NULL;
        if (len >= 3 && !strncmp(p, "cpu", 3) && (len == 3 || p[3] == ':')) {
            kind = "cpu";
            p += 3;
            if (*p == ':') {
                p++;
                if (!parse_int(&p, 64, &count) || count < 1)
                    return yk_err_set(err, YK_E_INVALID, "--devices: '%.*s': expected cpu:N with N from 1 to 64", len, item);
            }
        } else if (len >= 4 && !strncmp(p, "cuda", 4) && (len == 4 || p[4] == ':')) {
            kind = "cuda";
            p += 4;
            if (*p == ':') {
                p++;
                if (!parse_int(&p, 255, &index))
                    return yk_err_set(err, YK_E_INVALID, "--devices: '%.*s': expected cuda:I or cuda:IxK (GPU I, K logical devices)", len, item);
                if (*p == 'x' && (p++, !parse_int(&p, 64, &count) || count < 1))
                    return yk_err_set(err, YK_E_INVALID, "--devices: '%.*s': expected cuda:IxK with K from 1 to 64", len, item);
            }
        }
        if (!kind || p != item + len)
            return yk_err_set(err, YK_E_INVALID, "--devices: '%.*s': expected cpu, cpu:N, cuda:I or cuda:IxK", len, item);
        for (int k = 0; k < count; k++) {
            if (*n >= max) return yk_err_set(err, YK_E_INVALID, "--devices %s: more than %d devices", list, max);
            yk_device_spec *s = &specs[(*n)++];
            memset(s, 0, sizeof *s);
            snprintf(s->kind, sizeof s->kind, "%s", kind);
            s->index = kind[1] == 'p' ? n_cpu++ : index;
            s->sub = kind[1] == 'p' ? 0 : k;
        }
        /* the same GPU named twice (cuda:0,cuda:0) gives further logical devices on it */
        if (kind[1] == 'u')
            for (int i = 0; i < *n - count; i++)
                if (!strcmp(specs[i].kind, "cuda") && specs[i].index == index)
                    for (int k = *n - count; k < *n; k++) specs[k].sub++;
        if (!end) break;
        p = end + 1;
    }
    return YK_OK;
}

yk_device *yk_device_create(const yk_device_spec *spec, int n_threads, bool copy_weights, yk_err *err)
{
    if (!strcmp(spec->kind, "cpu")) return yk_cpu_device_create(spec->index, n_threads, copy_weights, err);
    if (!strcmp(spec->kind, "cuda")) return yk_cuda_device_create(spec->index, spec->sub, err);
    yk_err_set(err, YK_E_INVALID, "device kind '%s' is unknown", spec->kind);
    return NULL;
}

#ifndef YK_HAVE_CUDA
yk_device *yk_cuda_device_create(int gpu, int sub, yk_err *err)
{
    yk_err_set(err, YK_E_UNSUPPORTED, "cuda:%d: this yoke was built without CUDA (install the CUDA toolkit under "
               "/usr/local/cuda or put nvcc on PATH, and rebuild)", gpu);
    return NULL;
}
#endif

yk_status yk_devices_open(const yk_device_spec *specs, int n, int n_threads, int copy_weights, yk_device **devs, yk_err *err)
{
    int n_cpu = 0, seen = 0;
    for (int i = 0; i < n; i++) n_cpu += !strcmp(specs[i].kind, "cpu");
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    bool copy = copy_weights >= 0 ? copy_weights != 0 : n > 1;
    for (int i = 0; i < n; i++) devs[i] = NULL;
    for (int i = 0; i < n; i++) {
        int nt = 1;
        if (!strcmp(specs[i].kind, "cpu")) {
            /* threads divided among the CPU devices, the first ones taking the remainder */
            nt = n_threads / n_cpu + (seen < n_threads % n_cpu);
            seen++;
        }
        if (!(devs[i] = yk_device_create(&specs[i], nt > 0 ? nt : 1, copy, err))) {
            yk_devices_close(devs, i);
            return err ? err->status : YK_E_DEVICE;
        }
    }
    return YK_OK;
}

void yk_devices_close(yk_device **devs, int n)
{
    for (int i = 0; i < n; i++) {
        yk_dev_destroy(devs[i]);
        devs[i] = NULL;
    }
}
