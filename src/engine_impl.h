/* engine_impl.h: the engine's private state, shared by its three files: engine_load.c (slicing the
 * model onto the devices, creation), engine_forward.c (one device's forward pass) and engine.c (the
 * rank protocol and the driver's API). */
#ifndef YOKE_ENGINE_IMPL_H
#define YOKE_ENGINE_IMPL_H

#include "yoke/engine.h"

#include <pthread.h>

typedef struct {
    yk_dmat wq, wk, wv, wo, gate, up, down;
    float *attn_norm, *ffn_norm;  /* (n_embd) */
    float *bq, *bk, *bv;          /* (nq * hd), (nkv * hd) x2, or NULL */
    void *kcache, *vcache;        /* (n_seq, nkv, n_ctx, hd) of kv_type: one slot per sequence */
} layer_slice;

typedef struct {
    yk_engine *e;
    int rank;
    const yk_plan_dev *pd;
    yk_device *dev;
    yk_comm *comm;
    layer_slice *layers;          /* pd->layer1 - pd->layer0 */
    float *output_norm;           /* (n_embd), last stage */
    yk_dmat output;               /* (nvoc, n_embd), last stage */
    float *freq_factors;          /* (rope_dim / 2) or NULL */
    yk_rope rope;
    int32_t *kv_of_q;             /* (nq) device memory: local KV head of each local query head */
    uint32_t nq, nkv, nff, nvoc;  /* local query heads, KV heads, FFN columns, vocabulary rows */
    /* activations, device memory, for up to n_batch tokens */
    float *x;                     /* (nb, n_embd) residual stream */
    float *xb;                    /* (nb, n_embd) normed input / partial output */
    float *q, *att;               /* (nb, nq * hd) */
    float *k, *v;                 /* (nb, nkv * hd) */
    float *hb, *hb2;              /* (nb, nff) */
    float *logits;                /* (LOGIT_CHUNK, nvoc) */
    int32_t *pos, *seq;           /* (nb) each token's position and KV slot, of the current micro-batch */
    float *host_x;                /* (nb, n_embd) host staging: embedding lookup, stage hand-over, all-reduce */
    float *host_logits;           /* (LOGIT_CHUNK, nvoc) host staging for logits sent to rank 0 */
    uint8_t *host_batch;          /* (nb * BATCH_BYTES) the batch as broadcast by rank 0 (see pack_batch) */
    uint32_t *host_rows;          /* (nb) tokens of a micro-batch whose logits are wanted */
    double busy_s;                /* inside forward passes */
    double comm_s;                /* of which in comm calls */
    uint64_t weight_bytes, kv_bytes;
    pthread_t thread;
    bool has_thread;
    yk_status st;
    yk_err err;
} worker;

struct yk_engine {
    const yk_model *m;
    yk_plan plan;                 /* private copy */
    uint32_t n_ctx, n_batch, micro;  /* n_ctx: positions per sequence */
    uint32_t n_seq;               /* KV slots */
    uint32_t *seq_len;            /* rank 0: (n_seq) positions each slot holds */
    yk_type kv_type;              /* KV cache element type */
    bool mpi;
    int n_local;
    worker *w;                    /* n_local workers: all ranks in-process, or this rank under MPI */
    yk_comm **comms;              /* in-process communicators (n_local) */
    float *gather;                /* rank 0: (LOGIT_CHUNK, max nvoc) staging for received logits */
};

enum { OP_FORWARD = 1, OP_SEQ_COPY, OP_STATS, OP_RESET, OP_STOP };

/* Output rows computed (and sent to rank 0) at a time. */
#define LOGIT_CHUNK 32u

/* A batch travels as one buffer: ids (int32), seq, pos (uint32), want (uint8), n of each. */
#define BATCH_BYTES (4u + 4u + 4u + 1u)

/* OP_FORWARD: n tokens follow as a batch buffer. OP_SEQ_COPY: slot a's first n positions into slot b. */
typedef struct {
    int32_t op;
    uint32_t n, a, b;
} command;


static inline const yk_hparams *hparams(const worker *w) { return &w->e->m->hp; }

/* engine_forward.c: this device's part of a forward pass of a batch (every array given, n <=
 * n_batch); rank 0 also assembles the logits, one row per wanted token. */
yk_status yk_eng_worker_forward(worker *w, const yk_batch *b, float *logits, yk_err *err);
/* engine_forward.c: copies slot src's first n positions into slot dst in every cache of w. */
yk_status yk_eng_worker_seq_copy(worker *w, uint32_t src, uint32_t dst, uint32_t n, yk_err *err);
/* engine_load.c: frees what worker_init gave w (not its device, which is the caller's). */
void yk_eng_worker_release(worker *w);
/* engine.c: the thread of an in-process device other than rank 0. */
void *yk_eng_worker_thread(void *arg);

#endif
