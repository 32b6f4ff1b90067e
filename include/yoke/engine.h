/* yoke/engine.h: runs a plan. The engine takes a model, a plan, devices and communicators, and
 * executes the forward pass; it knows nothing of which backend or comm it drives, and a single
 * device is simply the plan with one device.
 *
 * Execution is SPMD: every device runs the same loop on its own thread (in-process) or process
 * (MPI). Rank 0 is also the driver: yk_engine_forward broadcasts the token ids, runs rank 0's part
 * inline and gathers the logits from the last stage. */
#ifndef YOKE_ENGINE_H
#define YOKE_ENGINE_H

#include "yoke/comm.h"
#include "yoke/device.h"
#include "yoke/model.h"
#include "yoke/plan.h"

typedef struct yk_engine yk_engine;

typedef struct {
    uint32_t n_ctx;     /* KV cache positions of each sequence; 0: min(training context, 4096) */
    uint32_t n_seq;     /* KV slots: sequences decoded together (--parallel); 0: 1 */
    uint32_t n_batch;   /* most tokens per forward chunk; 0: 512 */
    yk_comm_quant comm_quant; /* all-reduce payload format */
    bool kv_f16;        /* KV cache in F16 (half the memory) instead of F32 */
} yk_engine_opts;

typedef enum { YK_LOGITS_LAST = 0, YK_LOGITS_ALL = 1 } yk_logits_mode;

/* Per-device counters since creation (or the last yk_engine_reset_stats). */
typedef struct {
    char name[32];
    double busy_s;      /* time inside forward passes */
    double comm_s;      /* of which inside comm calls (transfer and waiting) */
    uint64_t comm_bytes;
    uint64_t allreduce_bytes; /* of which all-reduce payload */
    uint64_t weight_bytes;  /* bytes of weights this device holds */
    uint64_t kv_bytes;      /* bytes of KV cache */
} yk_dev_stats;

/* All devices in this process: devs[r] runs plan rank r (plan->n_dev devices of any kinds, made
 * by the caller with yk_devices_open; the engine uses them and never destroys them: free the
 * engine first, then the devices). */
yk_status yk_engine_create_local(yk_engine **e, const yk_model *m, const yk_plan *p, yk_device *const *devs,
                                 const yk_engine_opts *o, yk_err *err);
/* One device in this process as rank comm->rank of an MPI job (comm->size == plan->n_dev), dev
 * made by the caller as above. Ranks other than 0 then call yk_engine_serve, which returns when
 * rank 0 frees its engine. */
yk_status yk_engine_create_mpi(yk_engine **e, const yk_model *m, const yk_plan *p, yk_comm *comm, yk_device *dev,
                               const yk_engine_opts *o, yk_err *err);
yk_status yk_engine_serve(yk_engine *e, yk_err *err);

/* A batch of n tokens of any sequences: token i is ids[i] of sequence seq[i] (a KV slot < n_seq)
 * at position pos[i]. A slot's tokens continue its cache: the first at most at the slot's length
 * (less rewinds it, dropping the tail), the next ones one position further each. want[i] != 0
 * asks for token i's logits. Each token's logits depend only on its own sequence: a sequence
 * decoded in a batch with others gets the same bits as alone. */
typedef struct {
    uint32_t n;
    const int32_t *ids;
    const uint32_t *seq;      /* NULL: all slot 0 */
    const uint32_t *pos;      /* NULL: each slot's length onwards */
    const uint8_t *want;      /* NULL: the last token only */
} yk_batch;

/* Driver (rank 0): evaluates a batch of any size (cut into n_batch-token passes). logits receives
 * one n_vocab row per wanted token, in batch order. Fails with YK_E_RANGE when a position does not
 * fit the context and YK_E_INVALID for an id outside the vocabulary, a slot out of range or a
 * position that leaves a gap in its slot; nothing is evaluated then. */
yk_status yk_engine_decode(yk_engine *e, const yk_batch *b, float *logits, yk_err *err);
/* Driver: one sequence in slot 0 at positions pos0.. (the slot holding at least pos0 positions).
 * logits receives n_vocab floats for the last token (YK_LOGITS_LAST) or n x n_vocab (YK_LOGITS_ALL). */
yk_status yk_engine_forward(yk_engine *e, const int32_t *ids, uint32_t n, uint32_t pos0, yk_logits_mode mode,
                            float *logits, yk_err *err);
uint32_t yk_engine_n_ctx(const yk_engine *e);
uint32_t yk_engine_n_seq(const yk_engine *e);
/* Positions slot seq holds (0 for a slot never used or cleared). */
uint32_t yk_engine_seq_len(const yk_engine *e, uint32_t seq);
/* Empties slot seq (no device work: later tokens overwrite it from position 0). */
void yk_engine_seq_clear(yk_engine *e, uint32_t seq);
/* Driver: slot dst becomes slot src's first n positions (a shared prompt prefix, say); n at most
 * src's length. */
yk_status yk_engine_seq_copy(yk_engine *e, uint32_t src, uint32_t dst, uint32_t n, yk_err *err);
/* Driver: collects every device's counters into stats[plan->n_dev]. */
yk_status yk_engine_stats(yk_engine *e, yk_dev_stats *stats, yk_err *err);
void yk_engine_reset_stats(yk_engine *e);
/* Driver: stops the other ranks and frees everything. */
void yk_engine_free(yk_engine *e);

#endif
