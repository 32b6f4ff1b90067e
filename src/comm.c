/* comm.c: the communicator wrappers: time and count every call, whatever implements it. */
#include "yoke/comm.h"

yk_status yk_comm_allreduce_sum(yk_comm *c, int g0, int gn, float *buf, size_t n, yk_err *err)
{
    if (gn <= 1) return YK_OK;
    double t0 = yk_now();
    yk_status st = c->ops->allreduce_sum(c, g0, gn, buf, n, err);
    c->seconds += yk_now() - t0;
    c->bytes_sent += n * sizeof(float);
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
    if (c) c->ops->destroy(c);
}
