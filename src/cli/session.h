/* session.h: what run, logits, chat and bench share: the flags that choose the model, the devices
 * and the split, and the set-up of model, plan and engine (in-process, or MPI under mpirun). */
#ifndef YOKE_CLI_SESSION_H
#define YOKE_CLI_SESSION_H

#include "cli.h"
#include "yoke/engine.h"

typedef struct {
    const char *model_path;   /* -m */
    const char *devices;      /* --devices LIST (NULL: CPU devices, as many as --tp x --pp) */
    int threads;              /* -t: threads over all CPU devices (0: one per core) */
    int copy_weights;         /* --copy-weights 1, --no-copy-weights 0, else -1 (copy with >1 device) */
    int tp, pp;               /* --tp, --pp (0: not given) */
    const char *split;        /* --split r1,r2,... (the dimension that has several devices) */
    const char *split_tp;     /* --split-tp */
    const char *split_pp;     /* --split-pp */
    uint32_t micro_batch;     /* --micro-batch */
    bool show_plan;           /* --show-plan */
    yk_engine_opts eo;        /* -c, --batch, --kv-type, --comm-quant */
} session_opts;

typedef struct {
    yk_model model;
    yk_plan plan;
    yk_engine *engine;
    yk_device_spec specs[64]; /* the device list, by plan rank */
    yk_device *devs[64];      /* this process's devices: all ranks in-process, devs[0] under MPI */
    int n_devs;
    yk_comm *mpi;             /* non-NULL under mpirun */
    int rank;                 /* MPI rank (0 in-process) */
    int kv_elem_bytes;        /* 4 (F32) or 2 (F16) */
    int threads;              /* over all local devices */
    const char *model_path;
} session;

void session_opts_init(session_opts *o);
/* Consumes argv[*i] (and its value) if it is a session flag: returns 1 consumed, 0 not a session
 * flag, -1 on a bad value (message printed). */
int session_flag(const char *cmd, session_opts *o, int argc, char **argv, int *i);
/* Usage lines for the session flags. */
void session_usage(FILE *f);
/* Loads the model, makes the plan and starts the engine. Under MPI, ranks other than 0 serve
 * here and return 2 when rank 0 is done (the caller exits 0). Returns 0 on success, 1 on error
 * (message printed). */
int session_open(const char *cmd, session *s, const session_opts *o, int *argc, char ***argv);
void session_close(session *s);
/* NULL if every device of the plan (all ranks) is a CPU device, which is what the planner models;
 * else the first other device's kind, for a message saying why there is no prediction. */
const char *session_not_cpu(const session *s);
/* Prints the plan: devices, what each holds, bytes, and communication per token. */
void session_print_plan(const session *s, FILE *f);
/* Prints each device's compute and communication time per token from yk_engine_stats (several
 * devices only). */
void session_print_device_stats(session *s, const yk_dev_stats *st, uint64_t tokens, FILE *f);

#endif
