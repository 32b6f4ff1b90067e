/* yoke/plan.h: how a model is split across devices, as plain data made by pure functions.
 *
 * Devices form a grid of pp pipeline stages, each run by a tensor-parallel group of tp devices;
 * device rank = stage * tp + tp_rank. A stage holds a contiguous range of layers. Inside a stage
 * each device holds (see ../shared/DESIGN.md):
 *   - attention: a range of query heads, the KV heads they read (whole GQA groups while
 *     tp <= n_head_kv; beyond that KV heads are replicated and only query heads are divided), the
 *     rows of attn_q/k/v for them and the matching input columns of attn_output;
 *   - FFN: rows [ff0, ff1) of ffn_gate and ffn_up and the same input columns of ffn_down;
 *   - the last stage: rows [vocab0, vocab1) of the output head.
 * Column cuts (attn_output, ffn_down) fall on quantisation block boundaries whenever the shape
 * allows; where it does not (small models in 256-element blocks), the device holds the columns
 * of a cut block dequantised to F32, and the plan says so. Uneven ratios divide
 * layers between stages and heads/columns inside a group. The engine executes a plan; it never
 * decides one. */
#ifndef YOKE_PLAN_H
#define YOKE_PLAN_H

#include "yoke/arch.h"

typedef struct {
    int rank, stage, tp_rank;
    uint32_t layer0, layer1;  /* layers [layer0, layer1) */
    uint32_t head0, head1;    /* query heads */
    uint32_t kv0, kv1;        /* KV heads computed and cached here */
    uint32_t ff0, ff1;        /* FFN columns */
    uint32_t vocab0, vocab1;  /* output rows; empty except on the last stage */
} yk_plan_dev;

typedef struct {
    int tp, pp, n_dev;
    yk_plan_dev *dev;         /* n_dev entries, by rank */
    uint32_t micro_batch;     /* tokens per pipeline micro-batch during prefill (0: whole batch) */
    bool unaligned_attn;      /* attn_output column cuts fall inside quantisation blocks */
    bool unaligned_ffn;       /* ffn_down column cuts fall inside quantisation blocks */
} yk_plan;

typedef struct {
    int tp, pp;               /* >= 1 each */
    const double *pp_ratios;  /* pp weights for layers, or NULL for even */
    const double *tp_ratios;  /* tp weights for heads/columns, or NULL for even */
    uint32_t attn_align;      /* elements: block size of attn_output's type (1 for F32/F16) */
    uint32_t ffn_align;       /* elements: block size of ffn_down's type */
    uint32_t micro_batch;     /* 0: default */
} yk_plan_opts;

/* Makes the plan for hp under o. Fails (YK_E_INVALID) with an explanation when the split is
 * impossible: more stages than layers, a device left with no heads or columns. p->dev is allocated; free with yk_plan_free. */
yk_status yk_plan_make(yk_plan *p, const yk_hparams *hp, const yk_plan_opts *o, yk_err *err);
void yk_plan_free(yk_plan *p);

/* Splits total units into n parts by ratios (NULL: even), each part >= min_units; n <= 64;
 * largest-remainder rounding, deterministic. Returns false if total < n * min_units. */
bool yk_split_units(uint32_t total, int n, const double *ratios, uint32_t min_units, uint32_t *parts);

/* Parses "r1,r2,..." of n positive numbers. */
bool yk_parse_ratios(const char *s, int n, double *out);

#endif
