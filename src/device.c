/* device.c: backend-independent parts of the device interface. */
#include "yoke/device.h"

#include <string.h>

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
