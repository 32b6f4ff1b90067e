/* predict.h: the planner's prediction for what run and bench are about to measure on this machine:
 * the model's GGUF header, this CPU (the hardware table's cpu row with the bandwidth measured here),
 * the in-process or MPI link, and the yoke-cpu engine profile (or one fitted by bench --calibrate
 * and loaded with --hw FILE or $YOKE_DATA). */
#ifndef YOKE_CLI_PREDICT_H
#define YOKE_CLI_PREDICT_H

#include "yoke/perf.h"

typedef struct {
    yk_hw_table table;
    yk_perf_model model;
    yk_hw_dev host;            /* this machine */
    const yk_hw_link *link;
    const yk_profile *prof;
    bool ok;
    char why[1024];            /* when !ok */
} predictor;

/* bw_gbs: measured read bandwidth of this machine; hw_file: extra rows (or NULL); mpi: ranks
 * talk over shared memory rather than as threads. Never fails hard: p->ok says whether
 * predictions are available, p->why why not. */
void predictor_init(predictor *p, const char *model_path, double bw_gbs, const char *hw_file, bool mpi);
/* Decode and prefill tok/s predicted for tp x pp devices sharing `threads` threads, n_seq
 * sequences decoded together (out->decode; out->decode1 for one). */
bool predictor_layout(predictor *p, int tp, int pp, int threads, uint32_t n_ctx, uint32_t n_seq, uint32_t n_prompt, uint32_t n_past,
                      yk_perf_result *out);
void predictor_free(predictor *p);

#endif
