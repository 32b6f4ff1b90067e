/* yoke/perf.h: the physical performance model shared by `yoke plan` and `yoke bench`.
 *
 * Pure functions from (model description, devices, link, layout, engine profile, workload) to a
 * prediction that keeps its terms, so a user sees why two devices are not twice as fast:
 *
 *   decode step = sum over pipeline stages of
 *                   max over the stage's devices of
 *                     max(weight bytes / (bw x eta_bw), quantised weights / (units x qrate))
 *                     + KV-cache bytes / (bw x eta_bw),  or FLOPs / (peak x eta_f) when larger
 *                       (+ multiply-adds with quantised weights / (units x qmac) where qmac > 0)
 *                       (+ multiply-adds with F16/BF16 weights / (units x hmac) where hmac > 0)
 *                   + layers x t_layer
 *                   + ar_per_layer x layers x (ar_scale x alpha(link, tp) + 2(tp-1)/tp x payload / link bw)
 *               + per hop (link latency + hop_us + payload / link bw)  + t_tok
 *   prefill     = the same per micro-batch of `ubatch` prompt tokens (FLOPs usually dominate),
 *                 micro-batches pipelined through the stages
 *   memory      = weights + KV cache + compute buffers + runtime context, per device
 *
 * The efficiency factors come from an engine profile (yoke/hw.h), fitted by yk_perf_fit to
 * measurements with a deterministic coordinate-wise grid search on the squared log error. docs/PLAN.md explains each
 * term, the factors and the model's error on the calibration rows. */
#ifndef YOKE_PERF_H
#define YOKE_PERF_H

#include "yoke/arch.h"
#include "yoke/hw.h"

/* Devices in one plan; more is refused with a message (the planner enumerates layouts of them). */
#define YK_PERF_MAX_DEV 64

/* ---- model description ---- */

/* What a tensor is, which decides how tensor parallelism divides it. */
typedef enum {
    YK_ROLE_ATTN_Q = 0,   /* split by query heads */
    YK_ROLE_ATTN_K,       /* split by KV heads (replicated beyond one KV head per device) */
    YK_ROLE_ATTN_V,
    YK_ROLE_ATTN_O,       /* split by query heads (input columns) */
    YK_ROLE_FFN,          /* gate/up/down: split by FFN columns */
    YK_ROLE_EXPERT,       /* a mixture-of-experts FFN tensor holding all experts: split by columns */
    YK_ROLE_ROUTER,       /* expert router: replicated */
    YK_ROLE_NORM,         /* norms and other small per-layer vectors: replicated */
    YK_ROLE_TOKEN_EMBD,   /* lookup table: one row read per token */
    YK_ROLE_OUTPUT,       /* vocabulary projection: split by vocabulary rows, on the last stage */
    YK_ROLE_OUTPUT_NORM,  /* on the last stage, replicated */
    YK_ROLE_COUNT
} yk_perf_role;

typedef struct {
    int32_t layer;        /* block index, or -1 for tensors outside the blocks */
    yk_perf_role role;
    yk_type type;
    uint64_t n_params;    /* elements */
    uint64_t bytes;       /* exact storage bytes */
} yk_perf_tensor;

typedef struct {
    char name[256];       /* "llama3-70b:Q4_K_M" or the file path */
    yk_hparams hp;
    yk_perf_tensor *tensors;
    size_t n_tensors;
    uint64_t weight_bytes;  /* sum of tensor bytes */
    uint64_t n_params;      /* sum of tensor elements */
    uint64_t file_bytes;    /* GGUF file size (0 for a preset) */
    char type_name[16];     /* the mix: "Q4_K_M"; "mixed" for a file */
} yk_perf_model;

/* A preset ("llama3-70b", see yk_preset_find) with a weight type or llama.cpp mix ("Q4_K_M",
 * "Q8_0", "F16", ...). Per-tensor types follow the mix's published rules (attn_v and ffn_down of
 * some layers one step up, output Q6_K); mixes without known rules use their published bits per
 * weight. spec is "NAME:TYPE". Errors name the flag. */
yk_status yk_perf_model_preset(yk_perf_model *m, const char *spec, yk_err *err);
/* Reads only a GGUF header: exact bytes of every tensor, hyper-parameters from "<arch>.*" keys. */
yk_status yk_perf_model_gguf(yk_perf_model *m, const char *path, yk_err *err);
/* Scales every tensor's bytes so that the sum is total (a measured file size without its
 * tensor table at hand). */
void yk_perf_model_scale_bytes(yk_perf_model *m, uint64_t total);
void yk_perf_model_free(yk_perf_model *m);
/* Names of the mixes yk_perf_model_preset knows, comma-separated. */
const char *yk_perf_mix_names(void);

/* ---- devices, link, layout, workload ---- */

typedef struct {
    uint32_t n_dev;
    yk_hw_dev dev[YK_PERF_MAX_DEV];
    int32_t host[YK_PERF_MAX_DEV]; /* CPU devices with the same host id share its bandwidth; -1: own memory */
    yk_hw_link link;               /* between any two devices */
    bool p2p;                      /* peer-to-peer works (PCIe links without it run at half bandwidth) */
} yk_perf_rig;

/* n GPUs (each with its own memory) joined by link. n <= YK_PERF_MAX_DEV. */
void yk_perf_rig_gpus(yk_perf_rig *rig, const yk_hw_dev *devs, uint32_t n, const yk_hw_link *link, bool p2p);
/* n_dev CPU devices of `threads` threads each on one host: host describes the whole machine (a cpu
 * row: bw_gbs and tflops for all host->units cores); each device gets units = threads and the
 * matching share of the TFLOPS, and they share the host's bandwidth and memory. */
void yk_perf_rig_cpu(yk_perf_rig *rig, const yk_hw_dev *host, uint32_t n_dev, uint32_t threads, const yk_hw_link *link);

/* tp x pp devices: device i is in stage i / tp with rank i % tp. Filled by yk_perf_layout_make. */
typedef struct {
    uint32_t tp, pp;
    uint32_t layer_end[YK_PERF_MAX_DEV];  /* stage s owns layers [layer_end[s-1], layer_end[s]) */
    uint32_t q_heads[YK_PERF_MAX_DEV];    /* per device */
    uint32_t kv_heads[YK_PERF_MAX_DEV];   /* per device (at least 1: replicated when tp > n_head_kv) */
    uint32_t ffn_cols[YK_PERF_MAX_DEV];   /* per device, multiples of the quantisation block */
    uint32_t vocab_rows[YK_PERF_MAX_DEV]; /* per device */
    double ratio[YK_PERF_MAX_DEV];        /* the per-device ratios the split came from */
} yk_perf_layout;

/* Builds a layout of tp x pp = rig->n_dev devices. ratios (n_dev values, or NULL) weight the devices:
 * a stage's layers follow the sum of its devices' ratios, a device's heads and columns its share of
 * its stage. With NULL the ratios are the devices' bandwidths, capped by their memory (so mixed GPUs
 * get uneven splits) and even when prof->tp_even. Errors: tp*pp != n_dev, more stages than layers,
 * a device with zero layers, heads or columns, and (prof->tp_even) TP that does not divide the heads. */
yk_status yk_perf_layout_make(const yk_perf_model *m, const yk_perf_rig *rig, const yk_profile *prof,
                              uint32_t tp, uint32_t pp, const double *ratios, yk_perf_layout *lay, yk_err *err);

typedef struct {
    uint32_t n_ctx;     /* KV-cache length per sequence */
    uint32_t n_seq;     /* concurrent sequences */
    uint32_t n_prompt;  /* prompt tokens for prefill and time to first token */
    uint32_t n_past;    /* tokens in the cache when a decode step is timed */
} yk_perf_work;

/* ---- prediction ---- */

/* Where the time of one step goes, along its critical path: the path terms add up to total_s. */
typedef struct {
    double weights_s;   /* reading weights (bandwidth, or the quantised-kernel limit) */
    double kv_s;        /* reading the KV cache */
    double compute_s;   /* arithmetic beyond the reads, where FLOPs dominate */
    double launch_s;    /* per-layer launches and synchronisation, and the per-step fixed cost */
    double allreduce_s; /* tensor-parallel collectives */
    double hop_s;       /* pipeline hops */
    double wait_s;      /* waiting for other micro-batches on the path (pipelined schedules) */
    double total_s;     /* one step: the sum of the terms above */
    double idle_frac;   /* fraction of the step an average device waits (pipeline bubble) */
    double bubble_s;    /* idle_frac x total_s: not on the path, not in the sum */
    double tok_s;       /* tokens per second of the step */
    bool qlimited;      /* the quantised-kernel limit, not bandwidth, set the weight reads */
} yk_perf_terms;

typedef struct {
    uint64_t weights, kv, buffers, overhead; /* bytes */
    uint64_t used, capacity;                 /* capacity: usable memory (mem_frac applied) */
    bool fits;
} yk_perf_mem;

typedef struct {
    uint32_t n_dev;
    yk_perf_mem mem[YK_PERF_MAX_DEV];
    bool fits;
    char why[512];            /* when !fits: which device, by how much */
    yk_perf_terms decode1;    /* one sequence */
    yk_perf_terms decode;     /* n_seq sequences at once: tok_s counts all of them */
    yk_perf_terms prefill;    /* n_prompt tokens of one sequence */
    double ttft_s;            /* time to first token: prefill + one step's fixed cost */
    double comm_bytes_tok;    /* bytes each device sends per decoded token (all-reduces and hops) */
} yk_perf_result;

/* The prediction for one layout. Never fails for a layout made by yk_perf_layout_make. */
yk_status yk_perf_predict(const yk_perf_model *m, const yk_perf_rig *rig, const yk_perf_layout *lay,
                          const yk_profile *prof, const yk_perf_work *w, yk_perf_result *out, yk_err *err);

/* The formulas' building blocks, exposed for tests and for bench. */
/* alpha(link, n) in seconds: ar_us + ar_step_us (n - 1), times the engine's ar_scale. */
double yk_perf_allreduce_s(const yk_hw_link *l, bool p2p, uint32_t n, double bytes, double ar_scale);
/* Effective read bandwidth (bytes/s) of device d in rig (host sharing and per-unit limits). */
double yk_perf_dev_bw(const yk_perf_rig *rig, uint32_t d);
/* KV-cache bytes of one token in one layer for kv_heads heads. */
double yk_perf_kv_token_bytes(const yk_hparams *hp, uint32_t kv_heads, double kv_bytes);

/* ---- recommendation ---- */

typedef struct {
    yk_perf_layout lay;
    yk_perf_result res;
    bool valid;               /* a layout exists for these devices */
    char note[256];           /* why not valid */
} yk_perf_option;

/* Tries every tp x pp factorisation of the rig's devices (auto ratios) and returns the best that
 * fits: highest decode tok/s at w->n_seq, then at one sequence. If none fits, best is the one
 * closest to fitting with res.fits false. n_tried receives how many layouts were valid. */
yk_status yk_perf_recommend(const yk_perf_model *m, const yk_perf_rig *rig, const yk_profile *prof,
                            const yk_perf_work *w, yk_perf_option *best, uint32_t *n_tried, yk_err *err);

/* ---- fitting ---- */

typedef enum {
    YK_METRIC_DECODE = 0,   /* decode tok/s of n_seq sequences */
    YK_METRIC_PREFILL,      /* prefill tok/s of n_prompt tokens */
    YK_METRIC_E2E_MS,       /* prefill of n_prompt + n_gen decode steps, in ms */
    YK_METRIC_SPEEDUP,      /* E2E of one device of the same kind / E2E of the rig */
    YK_METRIC_COUNT
} yk_perf_metric;

/* One measurement: what ran, on what, and the measured value. The model and rig are borrowed. */
typedef struct {
    const yk_perf_model *model;
    yk_perf_rig rig;
    uint32_t tp, pp;          /* layout (auto ratios) */
    yk_perf_work work;
    yk_perf_metric metric;
    uint32_t n_gen;           /* E2E and SPEEDUP: generated tokens */
    double value;
    char label[96];           /* for tables */
} yk_perf_obs;

/* Predicts an observation's metric with profile prof. */
yk_status yk_perf_obs_predict(const yk_perf_obs *o, const yk_profile *prof, double *pred, yk_err *err);

/* Fits the factors of prof marked fit (within their ranges) to the observations by minimising the
 * sum of squared log errors with a deterministic coordinate-wise grid search: starting from the
 * middle of every range, each free factor in turn takes the best of 9 values spread over a window
 * around its current value (3 sweeps a round), and the windows halve every round (10 rounds).
 * Same input, same factors. Refuses when the free factors are not fewer than the observations.
 * *rms_log (may be NULL) receives the final root-mean-square log error. */
yk_status yk_perf_fit(yk_profile *prof, const yk_perf_obs *obs, size_t n, double *rms_log, yk_err *err);

/* ---- calibration rows (../shared/calibration/measurements.tsv) ---- */

/* Rows of a calibration file, each an observation with its own model description. Columns are
 * found by the header line (group, engine, gpu, n_gpus, link, model, quant, model_bytes, metric,
 * value); the engine column names the profile that explains the row (its calib= list), which also
 * decides the layout (no TP: pipeline over all GPUs; else TP over all). Models are presets ("-shape"
 * dropped, "llama3.1-70b" read as llama3-70b); a quant that is not a known mix (AWQ-4bit) is
 * described as Q4_0 and, like every row with model_bytes, scaled to the measured file size. */
typedef struct {
    yk_perf_obs *obs;
    yk_perf_model *models;     /* one per row, owned */
    char (*engine)[32];        /* the row's engine column */
    char (*group)[16];
    size_t n;
} yk_perf_calib;

yk_status yk_perf_calib_load(yk_perf_calib *c, const char *path, const yk_hw_table *t, yk_err *err);
void yk_perf_calib_free(yk_perf_calib *c);
/* True if a calibration engine name is in the profile's calib list. */
bool yk_profile_explains(const yk_profile *p, const char *engine);

#endif
