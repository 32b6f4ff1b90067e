/* yoke/comm.h: communication between devices through one interface, whatever carries it.
 *
 * Every device holds a yk_comm whose rank is the device's plan rank. Operations are collective or
 * point-to-point and stream-ordered from the caller's view: when a call returns, its buffer may be
 * reused. Implementations: in-process (devices are threads of one process, comm_local.c) and MPI
 * (one device per rank, comm_mpi.c); NCCL joins with the CUDA backend.
 *
 * All-reduce sums in rank order, so every member gets the same bits and a run is reproducible for
 * a given plan. A peer that fails makes the others' calls return YK_E_COMM with a message naming
 * it, never hang. */
#ifndef YOKE_COMM_H
#define YOKE_COMM_H

#include "yoke/base.h"

typedef struct yk_comm yk_comm;

/* All-reduce payload: f32 (exact up to summation order), or q8 (8-bit blocks of 32 values with
 * one f16 scale each: 1.0625 bytes a value instead of 4; every member sums the same rounded
 * values in rank order, so members still agree bit for bit). */
typedef enum { YK_COMM_F32 = 0, YK_COMM_Q8 = 1 } yk_comm_quant;

typedef struct {
    const char *kind;  /* "local", "mpi" */
    /* buf (n floats) = sum over ranks [g0, g0 + gn) of their buf, added in rank order */
    yk_status (*allreduce_sum)(yk_comm *c, int g0, int gn, float *buf, size_t n, yk_err *err);
    yk_status (*send)(yk_comm *c, int peer, const void *buf, size_t bytes, yk_err *err);
    yk_status (*recv)(yk_comm *c, int peer, void *buf, size_t bytes, yk_err *err);
    /* buf of root copied to every rank */
    yk_status (*bcast)(yk_comm *c, int root, void *buf, size_t bytes, yk_err *err);
    yk_status (*barrier)(yk_comm *c, yk_err *err);
    /* out (gn x bytes) = every group member's buf, in rank order */
    yk_status (*allgather)(yk_comm *c, int g0, int gn, const void *buf, size_t bytes, void *out, yk_err *err);
    /* Marks this rank failed so that peers waiting on it give up (optional: may be NULL). */
    void (*abort)(yk_comm *c, const char *why);
    void (*destroy)(yk_comm *c);
} yk_comm_ops;

struct yk_comm {
    const yk_comm_ops *ops;
    void *ctx;
    int rank, size;
    uint64_t bytes_sent;  /* payload bytes this rank sent or contributed (all-reduce: its buffer) */
    uint64_t allreduce_bytes; /* of which all-reduce payload */
    double seconds;       /* time spent inside comm calls */
    yk_comm_quant quant;  /* all-reduce payload format */
    void *qbuf;           /* scratch for quantised all-reduce */
    size_t qbuf_bytes;
};

/* In-process communicator for n ranks: fills comms[0..n) (one per device thread). */
yk_status yk_comm_local_create(int n, yk_comm **comms, yk_err *err);

/* MPI communicator for this process (one device per rank); NULL and an error without MPI. */
yk_comm *yk_comm_mpi_create(int *argc, char ***argv, yk_err *err);
bool yk_comm_mpi_available(void);
/* True when this process was started by mpirun (environment says so). */
bool yk_comm_mpi_launched(void);

yk_status yk_comm_allreduce_sum(yk_comm *c, int g0, int gn, float *buf, size_t n, yk_err *err);
yk_status yk_comm_send(yk_comm *c, int peer, const void *buf, size_t bytes, yk_err *err);
yk_status yk_comm_recv(yk_comm *c, int peer, void *buf, size_t bytes, yk_err *err);
yk_status yk_comm_bcast(yk_comm *c, int root, void *buf, size_t bytes, yk_err *err);
yk_status yk_comm_barrier(yk_comm *c, yk_err *err);
void yk_comm_abort(yk_comm *c, const char *why);
void yk_comm_destroy(yk_comm *c);

#endif
