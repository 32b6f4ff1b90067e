/* comm.c: the communicator wrappers: time and count every call, whatever implements it. */
#include "yoke/comm.h"
#include "yoke/quant.h"

#include <stdlib.h>
#include <string.h>

/* q8 all-reduce: quantise this member's buffer to Q8_0 (zero-padded to whole blocks), gather
 * every member's blocks, and sum their dequantised values in rank order. */
static yk_status allreduce_q8(yk_comm *c, int g0, int gn, float *buf, size_t n, yk_err *err)
{
    size_t padded = (n + 31) / 32 * 32, row = yk_row_bytes(YK_TYPE_Q8_0, (int64_t)padded);
    size_t qbytes = (row * (size_t)(gn + 1) + 63) / 64 * 64; /* the floats after the blocks stay aligned */
    size_t need = qbytes + padded * sizeof(float) * 2;
    if (need > c->qbuf_bytes) {
        free(c->qbuf);
        c->qbuf = malloc(need);
        if (!c->qbuf) {
            c->qbuf_bytes = 0;
            return yk_err_set(err, YK_E_NOMEM, "all-reduce: out of memory for %zu values", n);
        }
        c->qbuf_bytes = need;
    }
    uint8_t *mine = c->qbuf, *all = mine + row;
    float *tmp = (float *)(mine + qbytes), *sum = tmp + padded;
    memcpy(tmp, buf, n * sizeof(float));
    memset(tmp + n, 0, (padded - n) * sizeof(float));
    yk_quantize_row(YK_TYPE_Q8_0, tmp, mine, (int64_t)padded);
    yk_status st = c->ops->allgather(c, g0, gn, mine, row, all, err);
    if (st) return st;
    for (int r = 0; r < gn; r++) {
        yk_dequantize_row(YK_TYPE_Q8_0, all + row * (size_t)r, tmp, (int64_t)padded);
        for (size_t i = 0; i < n; i++) sum[i] = r ? sum[i] + tmp[i] : tmp[i];
    }
    memcpy(buf, sum, n * sizeof(float));
    c->bytes_sent += row;
    c->allreduce_bytes += row;
    return YK_OK;
}

yk_status yk_comm_allreduce_sum(yk_comm *c, int g0, int gn, float *buf, size_t n, yk_err *err)
{
    if (gn <= 1) return YK_OK;
    double t0 = yk_now();
    yk_status st;
    if (c->quant == YK_COMM_Q8) {
        st = allreduce_q8(c, g0, gn, buf, n, err);
    } else {
        st = c->ops->allreduce_sum(c, g0, gn, buf, n, err);
        c->bytes_sent += n * sizeof(float);
        c->allreduce_bytes += n * sizeof(float);
    }
    c->seconds += yk_now() - t0;
    return st;
}

yk_status yk_comm_send(yk_comm *c, int peer, const void *buf, size_t bytes, yk_err *err)
{
    double t0 = yk_now();
    yk_status st = c->ops->send(c, peer, buf, bytes, err);
    c->seconds += yk_now() - t0;
    c->bytes_sent += bytes;
    return st;
}

yk_status yk_comm_recv(yk_comm *c, int peer, void *buf, size_t bytes, yk_err *err)
{
    double t0 = yk_now();
    yk_status st = c->ops->recv(c, peer, buf, bytes, err);
    c->seconds += yk_now() - t0;
    return st;
}

yk_status yk_comm_bcast(yk_comm *c, int root, void *buf, size_t bytes, yk_err *err)
{
    if (c->size <= 1) return YK_OK;
    double t0 = yk_now();
    yk_status st = c->ops->bcast(c, root, buf, bytes, err);
    c->seconds += yk_now() - t0;
    return st;
}

yk_status yk_comm_barrier(yk_comm *c, yk_err *err) { return c->size <= 1 ? YK_OK : c->ops->barrier(c, err); }

void yk_comm_abort(yk_comm *c, const char *why)
{
    if (c && c->ops->abort) c->ops->abort(c, why);
}

void yk_comm_destroy(yk_comm *c)
{
    if (!c) return;
    free(c->qbuf);
    c->qbuf = NULL;
    c->ops->destroy(c);
}
