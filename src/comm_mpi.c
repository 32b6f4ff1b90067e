/* comm_mpi.c: the MPI communicator (Open MPI), one device per rank, across processes and machines.
 *
 * All-reduce gathers every member's buffer (MPI_Allgather on the group's communicator) and sums
 * in rank order, so its bits equal the in-process communicator's for the same plan, whatever
 * algorithm the MPI library picks. Group communicators are made on first use with
 * MPI_Comm_create_group, which only the group's members call. Open MPI busy-polls while it waits;
 * unless the user set it, mpi_yield_when_idle is turned on so that waiting ranks leave the cores to
 * the compute threads. Without Open MPI at build time, yk_comm_mpi_create says so. */
#include "yoke/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool yk_comm_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

#ifndef YK_HAVE_MPI

bool yk_comm_mpi_available(void) { return false; }

yk_comm *yk_comm_mpi_create(int *argc, char ***argv, yk_err *err)
{
    yk_err_set(err, YK_E_UNSUPPORTED, "this yoke was built without MPI (install libopenmpi-dev and rebuild)");
    return NULL;
}

#else

#include <mpi.h>

#define MPI_CHECK(call, what)                                                                  \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != MPI_SUCCESS) {                                                              \
            char s_[MPI_MAX_ERROR_STRING];                                                     \
            int n_ = 0;                                                                        \
            MPI_Error_string(rc_, s_, &n_);                                                    \
            return yk_err_set(err, YK_E_COMM, "rank %d: %s failed (%s:%d): %s", c->rank, what, \
                              __FILE__, __LINE__, s_);                                         \
        }                                                                                      \
    } while (0)

typedef struct {
    MPI_Comm *group;  /* indexed by g0 * (size + 1) + gn; MPI_COMM_NULL until first use */
    float *tmp;
    size_t tmp_len;
} mpi_ctx;

bool yk_comm_mpi_available(void) { return true; }

static yk_status group_comm(yk_comm *c, int g0, int gn, MPI_Comm *out, yk_err *err)
{
    mpi_ctx *mc = c->ctx;
    MPI_Comm *slot = &mc->group[g0 * (c->size + 1) + gn];
    if (*slot == MPI_COMM_NULL) {
        MPI_Group world, grp;
        int range[1][3] = {{g0, g0 + gn - 1, 1}};
        MPI_CHECK(MPI_Comm_group(MPI_COMM_WORLD, &world), "MPI_Comm_group");
        MPI_CHECK(MPI_Group_range_incl(world, 1, range, &grp), "MPI_Group_range_incl");
        MPI_CHECK(MPI_Comm_create_group(MPI_COMM_WORLD, grp, g0, slot), "MPI_Comm_create_group");
        MPI_Group_free(&grp);
        MPI_Group_free(&world);
    }
    *out = *slot;
    return YK_OK;
}

static yk_status mpi_allreduce(yk_comm *c, int g0, int gn, float *buf, size_t n, yk_err *err)
{
    mpi_ctx *mc = c->ctx;
    if (n > (size_t)INT32_MAX / (size_t)gn) return yk_err_set(err, YK_E_INVALID, "all-reduce of %zu floats is too large", n);
    if (n * gn > mc->tmp_len) {
        free(mc->tmp);
        mc->tmp = malloc(n * gn * sizeof(float));
        if (!mc->tmp) return yk_err_set(err, YK_E_NOMEM, "all-reduce: out of memory");
        mc->tmp_len = n * gn;
    }
    MPI_Comm g = MPI_COMM_NULL;
    yk_status st = group_comm(c, g0, gn, &g, err);
    if (st) return st;
    MPI_CHECK(MPI_Allgather(buf, (int)n, MPI_FLOAT, mc->tmp, (int)n, MPI_FLOAT, g), "MPI_Allgather");
    /* sum in rank order: the same bits on every member, and as the in-process comm */
    for (size_t i = 0; i < n; i++) buf[i] = mc->tmp[i];
    for (int r = 1; r < gn; r++)
        for (size_t i = 0; i < n; i++) buf[i] += mc->tmp[(size_t)r * n + i];
    return YK_OK;
}

static yk_status mpi_allgather(yk_comm *c, int g0, int gn, const void *buf, size_t bytes, void *out, yk_err *err)
{
    if (bytes > (size_t)INT32_MAX / (size_t)gn) return yk_err_set(err, YK_E_INVALID, "all-gather of %zu bytes is too large", bytes);
    MPI_Comm g = MPI_COMM_NULL;
    yk_status st = group_comm(c, g0, gn, &g, err);
    if (st) return st;
    MPI_CHECK(MPI_Allgather(buf, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, g), "MPI_Allgather");
    return YK_OK;
}

static yk_status mpi_send(yk_comm *c, int peer, const void *buf, size_t bytes, yk_err *err)
{
    if (bytes > INT32_MAX) return yk_err_set(err, YK_E_INVALID, "send of %zu bytes is too large", bytes);
    MPI_CHECK(MPI_Send(buf, (int)bytes, MPI_BYTE, peer, 0, MPI_COMM_WORLD), "MPI_Send");
    return YK_OK;
}

static yk_status mpi_recv(yk_comm *c, int peer, void *buf, size_t bytes, yk_err *err)
{
    if (bytes > INT32_MAX) return yk_err_set(err, YK_E_INVALID, "recv of %zu bytes is too large", bytes);
    MPI_Status s;
    MPI_CHECK(MPI_Recv(buf, (int)bytes, MPI_BYTE, peer, 0, MPI_COMM_WORLD, &s), "MPI_Recv");
    int got = 0;
    MPI_Get_count(&s, MPI_BYTE, &got);
    if ((size_t)got != bytes)
        return yk_err_set(err, YK_E_COMM, "rank %d: recv from rank %d: expected %zu bytes, got %d", c->rank, peer, bytes, got);
    return YK_OK;
}

static yk_status mpi_bcast(yk_comm *c, int root, void *buf, size_t bytes, yk_err *err)
{
    if (bytes > INT32_MAX) return yk_err_set(err, YK_E_INVALID, "broadcast of %zu bytes is too large", bytes);
    MPI_CHECK(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    return YK_OK;
}

static yk_status mpi_barrier(yk_comm *c, yk_err *err)
{
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
    return YK_OK;
}

static void mpi_abort(yk_comm *c, const char *why)
{
    fprintf(stderr, "yoke: rank %d failed: %s\n", c->rank, why);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static void mpi_destroy(yk_comm *c)
{
    mpi_ctx *mc = c->ctx;
    for (int i = 0; i < c->size * (c->size + 1); i++)
        if (mc->group[i] != MPI_COMM_NULL) MPI_Comm_free(&mc->group[i]);
    free(mc->group);
    free(mc->tmp);
    free(mc);
    free(c);
    MPI_Finalize();
}

static const yk_comm_ops mpi_ops = {
    .kind = "mpi",
    .allreduce_sum = mpi_allreduce,
    .send = mpi_send,
    .recv = mpi_recv,
    .bcast = mpi_bcast,
    .barrier = mpi_barrier,
    .allgather = mpi_allgather,
    .abort = mpi_abort,
    .destroy = mpi_destroy,
};

yk_comm *yk_comm_mpi_create(int *argc, char ***argv, yk_err *err)
{
    /* Waiting ranks yield the core instead of spinning (see DESIGN.md, measured facts). */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        yk_err_set(err, YK_E_COMM, "MPI_Init_thread failed");
        return NULL;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    yk_comm *c = calloc(1, sizeof *c);
    mpi_ctx *mc = calloc(1, sizeof *mc);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (c && mc) mc->group = malloc((size_t)size * (size + 1) * sizeof *mc->group);
    if (!c || !mc || !mc->group) {
        free(c);
        if (mc) free(mc->group);
        free(mc);
        yk_err_set(err, YK_E_NOMEM, "MPI comm: out of memory");
        MPI_Finalize();
        return NULL;
    }
    for (int i = 0; i < size * (size + 1); i++) mc->group[i] = MPI_COMM_NULL;
    *c = (yk_comm){.ops = &mpi_ops, .ctx = mc, .rank = rank, .size = size};
    return c;
}

#endif
