/* yoke/hw.h: the hardware table (GPUs, CPUs, links, prices) and the engine profiles that the
 * performance model (yoke/perf.h) reads.
 *
 * Everything here is data, kept in tab-separated files in the repository (data/hw.tsv,
 * data/profiles/<engine>.tsv) and embedded into libyoke at build time, so the yoke binary works
 * from any directory. Users extend or override rows with their own files (yoke plan --hw FILE, or
 * every *.tsv under $YOKE_DATA and $YOKE_DATA/profiles): a later row with the same kind and name
 * replaces the earlier one.
 *
 * File format: one record a line, fields separated by tabs; '#' starts a comment line, and a field
 * that starts with '#' ends the line. The first field is the record kind:
 *   gpu|cpu  NAME  key=value...   a device: desc, aliases (comma-separated), mem_gib, bw_gbs,
 *                                 tflops, units, unit_bw_gbs, price, p2p (yes|no), link
 *   link     NAME  key=value...   desc, bw_gbs, lat_us, ar_us, ar_step_us, pcie (yes|no)
 *   profile  NAME  key=value...   an engine profile's settings (see yk_profile)
 *   factor   PROFILE  FACTOR  VALUE  fit=LO:HI | fixed    a fitted or fixed efficiency factor
 * Errors name the file, the line and the field. */
#ifndef YOKE_HW_H
#define YOKE_HW_H

#include "yoke/base.h"

#include <stdio.h>

typedef enum { YK_DEV_GPU = 0, YK_DEV_CPU = 1, YK_DEV_KIND_COUNT } yk_dev_kind;

/* One device model. GB = 1e9 bytes, GiB = 2^30 bytes. */
typedef struct {
    char name[32];        /* canonical name: "rtx4090" */
    char desc[64];        /* "RTX 4090" */
    char aliases[128];    /* comma-separated other names: "4090,rtx-4090" */
    yk_dev_kind kind;
    double mem_gib;       /* memory the device reports (VRAM; RAM for a CPU) */
    double bw_gbs;        /* memory bandwidth, GB/s (a CPU: the whole host, all cores) */
    double tflops;        /* dense fp16 tensor TFLOPS (GeForce: fp32 accumulate); CPU: fp32 FMA peak */
    uint32_t units;       /* streaming multiprocessors / compute units / CPU cores (threads used) */
    double unit_bw_gbs;   /* bandwidth one unit can pull alone (CPU cores); 0: no per-unit limit */
    double price_usd;     /* indicative; 0 if unknown */
    bool p2p;             /* peer-to-peer copies between two of these over PCIe work */
    char link[32];        /* the usual link between two of these: "pcie4" */
} yk_hw_dev;

/* A link between devices. The all-reduce of a small message among n devices costs
 * alpha(n) = ar_us + ar_step_us * (n - 1) microseconds; a large one adds 2(n-1)/n x bytes / bw. */
typedef struct {
    char name[32];        /* "pcie4" */
    char desc[64];
    double bw_gbs;        /* achieved bandwidth one way, GB/s */
    double lat_us;        /* one point-to-point message (a pipeline hop) */
    double ar_us;         /* all-reduce latency, fixed part */
    double ar_step_us;    /* all-reduce latency per extra device */
    bool pcie;            /* a PCIe link: without peer-to-peer, traffic is staged through host memory */
} yk_hw_link;

/* Efficiency factors of an engine profile, fitted to measurements or fixed from published facts. */
typedef enum {
    YK_F_ETA_BW = 0,  /* fraction of the memory bandwidth the weight reads reach */
    YK_F_QRATE,       /* quantised matvec limit: G weights/s per compute unit (0: none) */
    YK_F_ETA_F,       /* fraction of peak FLOPs reached by prefill matrix products */
    YK_F_T_LAYER,     /* us per layer per forward pass: kernel launches, synchronisation */
    YK_F_T_TOK,       /* us per forward pass: sampling, host round trip */
    YK_F_HOP,         /* us per pipeline hop beyond the link's latency (engine synchronisation) */
    YK_F_AR_SCALE,    /* multiplier on the link's all-reduce latency (engine's collective) */
    YK_F_QMAC,        /* prefill with quantised weights: G multiply-adds/s per compute unit (0: counted as FLOPs) */
    YK_F_HMAC,        /* prefill with F16/BF16 weights: G multiply-adds/s per compute unit (0: counted as FLOPs) */
    YK_F_COUNT
} yk_factor_id;

typedef struct {
    double value;
    double lo, hi;        /* search range when fitted */
    bool fit;             /* fitted to calibration rows (else fixed from a stated fact) */
} yk_factor;

/* How an engine divides a layer across the devices of a tensor-parallel group. */
typedef enum {
    YK_TP_MEGATRON = 0,   /* heads and FFN columns, two all-reduces per layer (vLLM, yoke) */
    YK_TP_ROWSPLIT = 1,   /* every matrix split by rows, results gathered on the main device (llama.cpp -sm row) */
    YK_TP_NONE = 2,       /* the engine has no tensor parallelism (llama.cpp -sm layer) */
    YK_TP_KIND_COUNT
} yk_tp_kind;

typedef struct {
    char name[32];          /* "llama.cpp-layer" */
    char desc[96];
    char calib[96];         /* comma-separated engine names of calibration rows it explains */
    yk_dev_kind device;     /* the devices its factors describe */
    yk_tp_kind tp;
    uint32_t ar_per_layer;  /* synchronising collectives per layer under TP (2 for Megatron) */
    double act_bytes;       /* bytes per activation value sent between devices (2: fp16, 4: f32) */
    double kv_bytes;        /* bytes per KV-cache value */
    bool embd_on_device;    /* token embedding held in device memory (else in host memory) */
    uint32_t ubatch;        /* prompt tokens per forward pass during prefill */
    bool flash_attn;        /* attention without a materialised score matrix */
    bool pp_overlap;        /* several sequences flow through pipeline stages concurrently */
    bool tp_even;           /* TP only with identical devices and head counts divisible by TP */
    double ctx_mib;         /* runtime context per device (CUDA context) */
    double engine_mib;      /* engine's fixed buffers per device (workspaces, graphs) */
    double mem_frac;        /* fraction of device memory the engine allows itself */
    yk_factor f[YK_F_COUNT];
    char inherit[32];       /* parent profile of the factors marked inherits ("" for none) */
    bool inherits[YK_F_COUNT]; /* factor value taken from the parent after every load */
} yk_profile;

typedef struct {
    yk_hw_dev *devs;
    size_t n_devs;
    yk_hw_link *links;
    size_t n_links;
    yk_profile *profiles;
    size_t n_profiles;
} yk_hw_table;

/* Name of a factor as written in profile files ("eta_bw"), or NULL. */
const char *yk_factor_name(yk_factor_id id);

/* Loads the built-in data files (embedded at build time) into t, then every *.tsv under
 * $YOKE_DATA and $YOKE_DATA/profiles when that variable is set. t must be zeroed or freed before. */
yk_status yk_hw_load_default(yk_hw_table *t, yk_err *err);
/* Adds or replaces rows from a file. */
yk_status yk_hw_load_file(yk_hw_table *t, const char *path, yk_err *err);
/* Adds or replaces rows from text (not NUL-terminated); name is used in messages. */
yk_status yk_hw_load_text(yk_hw_table *t, const char *text, size_t n, const char *name, yk_err *err);
void yk_hw_free(yk_hw_table *t);

/* Lookups, case-insensitive; devices also by alias and with "rtx"/"nvidia" prefixes dropped.
 * NULL if absent. */
const yk_hw_dev *yk_hw_find_dev(const yk_hw_table *t, const char *name);
const yk_hw_link *yk_hw_find_link(const yk_hw_table *t, const char *name);
const yk_profile *yk_hw_find_profile(const yk_hw_table *t, const char *name);
/* The profile for an engine on a device kind: "yoke" on CPUs is "yoke-cpu". NULL if absent. */
const yk_profile *yk_hw_profile_for(const yk_hw_table *t, const char *engine, yk_dev_kind kind);

/* Up to max known names (devices when kind is 0, links when 1, profiles when 2) closest to name
 * by edit distance, written comma-separated into out. */
void yk_hw_suggest(const yk_hw_table *t, int kind, const char *name, char *out, size_t n);

/* Parses a device list: "2x4090", "4090,3090", "8xh100-sxm", "2 x a100-40". Appends up to max
 * devices to out and sets *n. Errors name the flag and the field. */
yk_status yk_hw_parse_devs(const yk_hw_table *t, const char *flag, const char *spec, yk_hw_dev *out,
                           size_t max, size_t *n, yk_err *err);
/* Parses a custom device: "name=X,vram=24,bw=1008,tflops=165,price=1600[,units=128][,p2p=no]
 * [,link=pcie4][,count=2][,kind=cpu]". *count receives how many (default 1). */
yk_status yk_hw_parse_custom(const char *flag, const char *spec, yk_hw_dev *out, uint32_t *count, yk_err *err);
/* Parses a link: a name ("pcie4") or "bw=GB/s,lat=us[,ar=us][,step=us][,pcie=yes]". */
yk_status yk_hw_parse_link(const yk_hw_table *t, const char *flag, const char *spec, yk_hw_link *out, yk_err *err);

/* Writes a profile in the data file format (settings line and factor lines), loadable again. */
void yk_profile_write(FILE *f, const yk_profile *p);

#endif
