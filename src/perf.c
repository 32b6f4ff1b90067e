/* perf.c: the physical performance model (yoke/perf.h): layouts, the prediction with its terms,
 * the recommended layout, and the deterministic fit of a profile's factors to measurements.
 *
 * Design: a prediction first sums, for every device, what it holds and what one step reads (bytes,
 * quantised weights, matrix parameters for FLOPs), walking the model's tensor list once; then each
 * pipeline stage's time is the slowest of its devices plus launches and all-reduces, and the stages
 * combine into a decode step (sequential, or pipelined when several sequences are in flight and the
 * engine overlaps them) and a prefill (micro-batches pipelined through the stages). Everything is
 * plain arithmetic on doubles except the memory account, which is exact integer bytes. */
#include "yoke/perf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GIB 1073741824.0
#define MIB 1048576.0

static bool is_quant(yk_type t)
{
    return !(t == YK_TYPE_F32 || t == YK_TYPE_F16 || t == YK_TYPE_BF16 || t == YK_TYPE_F64 ||
             t == YK_TYPE_I8 || t == YK_TYPE_I16 || t == YK_TYPE_I32 || t == YK_TYPE_I64);
}

/* ---- building blocks ---- */

double yk_perf_allreduce_s(const yk_hw_link *l, bool p2p, uint32_t n, double bytes, double ar_scale)
{
    if (n <= 1) return 0;
    double bw = l->bw_gbs * 1e9 * (l->pcie && !p2p ? 0.5 : 1.0);
    double alpha = ar_scale * (l->ar_us + l->ar_step_us * (n - 1)) * 1e-6;
    return alpha + 2.0 * (n - 1) / n * bytes / bw;
}

static double link_bw(const yk_perf_rig *rig)
{
    return rig->link.bw_gbs * 1e9 * (rig->link.pcie && !rig->p2p ? 0.5 : 1.0);
}

double yk_perf_dev_bw(const yk_perf_rig *rig, uint32_t d)
{
    const yk_hw_dev *dev = &rig->dev[d];
    double bw = dev->bw_gbs * 1e9;
    if (rig->host[d] >= 0) {
        /* Devices of one host share its bandwidth in proportion to their units (threads). */
        double units = 0;
        for (uint32_t i = 0; i < rig->n_dev; i++)
            if (rig->host[i] == rig->host[d]) units += rig->dev[i].units;
        bw *= dev->units / units;
    }
    if (dev->unit_bw_gbs > 0 && dev->unit_bw_gbs * 1e9 * dev->units < bw) bw = dev->unit_bw_gbs * 1e9 * dev->units;
    return bw;
}

/* Memory a device may use: its own, or its threads' share of a host's. */
static double dev_capacity(const yk_perf_rig *rig, uint32_t d, double mem_frac)
{
    double cap = rig->dev[d].mem_gib * GIB;
    if (rig->host[d] >= 0) {
        double units = 0;
        for (uint32_t i = 0; i < rig->n_dev; i++)
            if (rig->host[i] == rig->host[d]) units += rig->dev[i].units;
        cap *= rig->dev[d].units / units;
    }
    return cap * mem_frac;
}

double yk_perf_kv_token_bytes(const yk_hparams *hp, uint32_t kv_heads, double kv_bytes)
{
    return 2.0 * kv_heads * hp->head_dim * kv_bytes;
}

/* ---- layouts ---- */

/* Divides n units among k parts in proportion to w (largest remainder, ties to the lower index).
 * Returns false if a part gets none. */
static bool split_units(uint32_t n, const double *w, uint32_t k, uint32_t *out)
{
    double tot = 0, frac[YK_PERF_MAX_DEV];
    for (uint32_t i = 0; i < k; i++) tot += w[i];
    uint32_t given = 0;
    for (uint32_t i = 0; i < k; i++) {
        double exact = n * (w[i] / tot);
        out[i] = (uint32_t)floor(exact);
        frac[i] = exact - out[i];
        given += out[i];
    }
    while (given < n) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < k; i++)
            if (frac[i] > frac[best]) best = i;
        out[best]++;
        frac[best] = -1;
        given++;
    }
    for (uint32_t i = 0; i < k; i++)
        if (!out[i]) return false;
    return true;
}

/* Usable bytes of device d after the runtime's fixed share. */
static double usable_bytes(const yk_perf_rig *rig, const yk_profile *prof, uint32_t d)
{
    double u = dev_capacity(rig, d, prof->mem_frac) - (prof->ctx_mib + prof->engine_mib) * MIB;
    return u > 0 ? u : 0;
}

/* Ratios proportional to bandwidth, with devices that would overflow capped at their memory and
 * the rest shared among the others (water filling); memory-proportional if nothing fits. */
static void auto_ratios(const yk_perf_model *m, const yk_perf_rig *rig, const yk_profile *prof, double *r)
{
    uint32_t n = rig->n_dev;
    if (prof->tp_even) {
        for (uint32_t i = 0; i < n; i++) r[i] = 1;
        return;
    }
    double need = (double)m->weight_bytes;
    bool capped[YK_PERF_MAX_DEV] = {0};
    for (uint32_t round = 0; round <= n; round++) {
        double rem = 1, bw_free = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (capped[i]) rem -= r[i];
            else bw_free += yk_perf_dev_bw(rig, i);
        }
        if (bw_free <= 0 || rem <= 0) break;
        bool changed = false;
        for (uint32_t i = 0; i < n; i++) {
            if (capped[i]) continue;
            r[i] = rem * yk_perf_dev_bw(rig, i) / bw_free;
            double cap = usable_bytes(rig, prof, i) / need;
            if (r[i] > cap) {
                r[i] = cap;
                capped[i] = true;
                changed = true;
            }
        }
        if (!changed) return;
    }
    bool all = true;
    for (uint32_t i = 0; i < n; i++) all = all && capped[i];
    if (all) /* does not fit anyway: share by memory so the shortfall is spread evenly */
        for (uint32_t i = 0; i < n; i++) r[i] = fmax(usable_bytes(rig, prof, i), 1);
    for (uint32_t i = 0; i < n; i++)
        if (!(r[i] > 0)) r[i] = 1e-9;
}

yk_status yk_perf_layout_make(const yk_perf_model *m, const yk_perf_rig *rig, const yk_profile *prof,
                              uint32_t tp, uint32_t pp, const double *ratios, yk_perf_layout *lay, yk_err *err)
{
    const yk_hparams *hp = &m->hp;
    uint32_t n = rig->n_dev;
    memset(lay, 0, sizeof *lay);
    if (n < 1 || n > YK_PERF_MAX_DEV) return yk_err_set(err, YK_E_INVALID, "%u devices: 1 to %d are supported", n, YK_PERF_MAX_DEV);
    if (tp < 1 || pp < 1 || (uint64_t)tp * pp != n)
        return yk_err_set(err, YK_E_INVALID, "--tp %u x --pp %u = %llu devices, but %u are given", tp, pp,
                          (unsigned long long)tp * pp, n);
    if (!hp->n_layer || !hp->n_head || !hp->n_head_kv || !hp->n_ff || !hp->n_vocab)
        return yk_err_set(err, YK_E_INVALID, "model %s: incomplete shape (layers, heads, FFN or vocabulary missing)", m->name);
    if (pp > hp->n_layer)
        return yk_err_set(err, YK_E_INVALID, "--pp %u: more pipeline stages than the model's %u layers", pp, hp->n_layer);
    if (tp > 1 && prof->tp == YK_TP_NONE)
        return yk_err_set(err, YK_E_INVALID, "--tp %u: engine %s has no tensor parallelism (use --pp, or --engine llama.cpp-tensor)", tp, prof->name);
    if (tp > hp->n_head)
        return yk_err_set(err, YK_E_INVALID, "--tp %u: more devices than the model's %u attention heads", tp, hp->n_head);
    if (prof->tp_even && tp > 1) {
        if (hp->n_head % tp || (hp->n_head_kv % tp && tp % hp->n_head_kv))
            return yk_err_set(err, YK_E_INVALID, "--tp %u: engine %s needs TP to divide the %u attention heads and the %u KV heads",
                              tp, prof->name, hp->n_head, hp->n_head_kv);
        for (uint32_t i = 1; i < n; i++)
            if (strcmp(rig->dev[i].name, rig->dev[0].name))
                return yk_err_set(err, YK_E_INVALID, "engine %s needs identical GPUs for TP (%s and %s differ)", prof->name,
                                  rig->dev[0].desc, rig->dev[i].desc);
    }
    double r[YK_PERF_MAX_DEV];
    if (ratios) {
        for (uint32_t i = 0; i < n; i++) {
            if (!(ratios[i] > 0) || !isfinite(ratios[i]))
                return yk_err_set(err, YK_E_INVALID, "--split: ratio %u is %g; every device needs a ratio > 0", i + 1, ratios[i]);
            r[i] = ratios[i];
        }
    } else auto_ratios(m, rig, prof, r);
    lay->tp = tp;
    lay->pp = pp;
    memcpy(lay->ratio, r, n * sizeof *r);

    double sw[YK_PERF_MAX_DEV] = {0};
    for (uint32_t i = 0; i < n; i++) sw[i / tp] += r[i];
    uint32_t cnt[YK_PERF_MAX_DEV];
    if (!split_units(hp->n_layer, sw, pp, cnt))
        return yk_err_set(err, YK_E_INVALID, "--split: a pipeline stage would get zero of the %u layers; use fewer stages or "
                          "less uneven ratios", hp->n_layer);
    for (uint32_t s = 0, acc = 0; s < pp; s++) lay->layer_end[s] = acc += cnt[s];

    uint32_t gqa = hp->n_head / hp->n_head_kv;
    uint32_t block = hp->n_ff % 256 == 0 ? 256 : hp->n_ff % 32 == 0 ? 32 : 1;
    for (uint32_t s = 0; s < pp; s++) {
        const double *rr = r + s * tp;
        uint32_t *kv = lay->kv_heads + s * tp, *q = lay->q_heads + s * tp;
        if (tp <= hp->n_head_kv) {
            if (!split_units(hp->n_head_kv, rr, tp, kv))
                return yk_err_set(err, YK_E_INVALID, "--split: a device would get zero of the %u KV heads; use less uneven ratios",
                                  hp->n_head_kv);
            for (uint32_t k = 0; k < tp; k++) q[k] = kv[k] * gqa;
        } else {
            /* More devices than KV heads: each keeps one KV head (replicated), query heads divided. */
            if (!split_units(hp->n_head, rr, tp, q))
                return yk_err_set(err, YK_E_INVALID, "--split: a device would get zero of the %u query heads", hp->n_head);
            for (uint32_t k = 0; k < tp; k++) kv[k] = 1;
        }
        uint32_t units[YK_PERF_MAX_DEV];
        if (!split_units(hp->n_ff / block, rr, tp, units))
            return yk_err_set(err, YK_E_INVALID, "--split: a device would get zero FFN columns");
        for (uint32_t k = 0; k < tp; k++) lay->ffn_cols[s * tp + k] = units[k] * block;
        if (!split_units(hp->n_vocab, rr, tp, lay->vocab_rows + s * tp))
            return yk_err_set(err, YK_E_INVALID, "--split: a device would get zero vocabulary rows");
    }
    return YK_OK;
}

/* ---- prediction ---- */

/* What a device holds and reads, summed over its tensors. */
typedef struct {
    uint64_t held;        /* exact bytes in its memory */
    double read;          /* bytes read per step by dense tensors (the embedding lookup excluded) */
    double read_exp;      /* expert tensors' bytes (read in the fraction of experts a step touches) */
    double qread, qread_exp; /* the same, in quantised weights (elements) */
    double hread, hread_exp; /* the same, in F16/BF16 matrix weights (elements) */
    double params, params_exp; /* matrix elements for FLOPs */
    uint32_t layers;
    uint32_t stage;
} dev_sums;

static uint64_t share_u64(uint64_t bytes, uint64_t num, uint64_t den)
{
    return (uint64_t)((unsigned __int128)bytes * num / den);
}

static void sum_devices(const yk_perf_model *m, const yk_perf_rig *rig, const yk_perf_layout *lay,
                        const yk_profile *prof, dev_sums *ds)
{
    const yk_hparams *hp = &m->hp;
    uint32_t n = rig->n_dev, tp = lay->tp, last = lay->pp - 1;
    memset(ds, 0, n * sizeof *ds);
    for (uint32_t d = 0; d < n; d++) {
        uint32_t s = d / tp;
        ds[d].stage = s;
        ds[d].layers = lay->layer_end[s] - (s ? lay->layer_end[s - 1] : 0);
    }
    for (size_t i = 0; i < m->n_tensors; i++) {
        const yk_perf_tensor *t = &m->tensors[i];
        bool quant = is_quant(t->type), half = t->type == YK_TYPE_F16 || t->type == YK_TYPE_BF16;
        for (uint32_t d = 0; d < n; d++) {
            uint32_t s = ds[d].stage;
            uint64_t num = 1, den = 1;
            bool holds, reads = true, expert = false, matrix = true;
            if (t->layer >= 0) {
                uint32_t l0 = s ? lay->layer_end[s - 1] : 0;
                holds = (uint32_t)t->layer >= l0 && (uint32_t)t->layer < lay->layer_end[s];
            } else if (t->role == YK_ROLE_TOKEN_EMBD) {
                /* A lookup: held by the first stage when the engine keeps it on the device; a tied
                 * embedding is also the output projection of the last stage. */
                bool as_output = hp->tied_output && s == last;
                holds = as_output || (s == 0 && prof->embd_on_device);
                reads = as_output;
                num = lay->vocab_rows[d], den = hp->n_vocab;
            } else if (t->role == YK_ROLE_OUTPUT || t->role == YK_ROLE_OUTPUT_NORM) {
                holds = s == last;
            } else holds = true; /* other global vectors (rope factors): every device */
            if (!holds) continue;
            switch (t->role) {
            case YK_ROLE_ATTN_Q: case YK_ROLE_ATTN_O: num = lay->q_heads[d], den = hp->n_head; break;
            case YK_ROLE_ATTN_K: case YK_ROLE_ATTN_V: num = lay->kv_heads[d], den = hp->n_head_kv; break;
            case YK_ROLE_FFN: num = lay->ffn_cols[d], den = hp->n_ff; break;
            case YK_ROLE_EXPERT: num = lay->ffn_cols[d], den = hp->n_ff, expert = true; break;
            case YK_ROLE_OUTPUT: num = lay->vocab_rows[d], den = hp->n_vocab; break;
            case YK_ROLE_TOKEN_EMBD: break;
            default: matrix = false; break;
            }
            uint64_t b = share_u64(t->bytes, num, den);
            ds[d].held += b;
            if (!reads) continue;
            double f = (double)num / den;
            double p = t->n_params * f;
            if (expert) {
                ds[d].read_exp += b;
                if (quant) ds[d].qread_exp += p;
                if (half) ds[d].hread_exp += p;
                ds[d].params_exp += p;
            } else {
                ds[d].read += b;
                if (quant) ds[d].qread += p;
                if (half && matrix) ds[d].hread += p;
                if (matrix) ds[d].params += p;
            }
        }
    }
}

/* One pipeline stage processing `tokens` tokens (decode: one per sequence; prefill: a micro-batch of
 * one sequence) with `past` tokens already cached. */
typedef struct {
    double time;          /* slowest device + launches + collectives */
    yk_perf_terms terms;  /* path terms of the slowest device */
    double busy_mean;     /* mean over the stage's devices of their busy time */
    double comm_bytes;    /* bytes each device sends */
} stage_out;

static void stage_time(const yk_perf_model *m, const yk_perf_rig *rig, const yk_perf_layout *lay, const yk_profile *prof,
                       const dev_sums *ds, uint32_t s, double tokens, double past, bool decode, stage_out *o)
{
    const yk_hparams *hp = &m->hp;
    const yk_factor *f = prof->f;
    uint32_t tp = lay->tp;
    memset(o, 0, sizeof *o);
    /* Fraction of experts that `tokens` tokens touch, each choosing n_expert_used of n_expert. */
    double fexp = 0, used = 0;
    if (hp->n_expert) {
        used = (double)hp->n_expert_used / hp->n_expert;
        fexp = 1 - pow(1 - used, tokens);
    }
    double worst = -1, busy_sum = 0;
    uint32_t layers = ds[s * tp].layers;
    double launch = layers * f[YK_F_T_LAYER].value * 1e-6;
    double payload = tokens * hp->n_embd * prof->act_bytes;
    double ar = tp > 1 ? prof->ar_per_layer * layers * yk_perf_allreduce_s(&rig->link, rig->p2p, tp, payload, f[YK_F_AR_SCALE].value) : 0;
    for (uint32_t k = 0; k < tp; k++) {
        uint32_t d = s * tp + k;
        const dev_sums *x = &ds[d];
        const yk_hw_dev *dev = &rig->dev[d];
        double bw = yk_perf_dev_bw(rig, d) * f[YK_F_ETA_BW].value;
        double read = x->read + x->read_exp * fexp;
        double qread = x->qread + x->qread_exp * fexp;
        double t_bw = read / bw;
        double t_q = f[YK_F_QRATE].value > 0 ? qread / (dev->units * f[YK_F_QRATE].value * 1e9) : 0;
        double t_w = fmax(t_bw, t_q);
        /* Decode: every sequence reads its own cache; prefill: the micro-batch reads the one cache once. */
        double kv_read = layers * yk_perf_kv_token_bytes(hp, lay->kv_heads[d], prof->kv_bytes) * past * (decode ? tokens : 1);
        double t_kv = kv_read / bw;
        /* Compute: FLOPs at a fraction of the peak, except that with qmac > 0 the multiply-adds
         * with quantised weights run at their own rate (integer dot products, e.g. VNNI on CPUs,
         * reach more than the float peak), and with hmac > 0 those with F16/BF16 weights (matrix
         * units, e.g. AMX tiles on CPUs). */
        double qmac = f[YK_F_QMAC].value, qparams = qmac > 0 ? x->qread + x->qread_exp * used : 0;
        double hmac = f[YK_F_HMAC].value, hparams = hmac > 0 ? x->hread + x->hread_exp * used : 0;
        double flops = 2 * tokens * (x->params + x->params_exp * used - qparams - hparams) +
                       4.0 * tokens * past * hp->head_dim * lay->q_heads[d] * layers;
        double t_f = flops / (dev->tflops * 1e12 * f[YK_F_ETA_F].value) +
                     (qmac > 0 ? tokens * qparams / (dev->units * qmac * 1e9) : 0) +
                     (hmac > 0 ? tokens * hparams / (dev->units * hmac * 1e9) : 0);
        double t_mem = t_w + t_kv, t_dev = fmax(t_mem, t_f);
        busy_sum += t_dev + launch + ar;
        if (t_dev > worst) {
            worst = t_dev;
            o->terms.weights_s = t_w;
            o->terms.kv_s = t_kv;
            o->terms.compute_s = t_f > t_mem ? t_f - t_mem : 0;
            o->terms.qlimited = t_q > t_bw;
        }
    }
    o->terms.launch_s = launch;
    o->terms.allreduce_s = ar;
    o->time = worst + launch + ar;
    o->busy_mean = busy_sum / tp;
    o->comm_bytes = tp > 1 ? prof->ar_per_layer * layers * 2.0 * (tp - 1) / tp * payload : 0;
}

static double hop_time(const yk_perf_rig *rig, const yk_profile *prof, const yk_hparams *hp, double tokens)
{
    return (rig->link.lat_us + prof->f[YK_F_HOP].value) * 1e-6 + tokens * hp->n_embd * prof->act_bytes / link_bw(rig);
}

static void add_terms(yk_perf_terms *a, const yk_perf_terms *b, double k)
{
    a->weights_s += k * b->weights_s;
    a->kv_s += k * b->kv_s;
    a->compute_s += k * b->compute_s;
    a->launch_s += k * b->launch_s;
    a->allreduce_s += k * b->allreduce_s;
    a->hop_s += k * b->hop_s;
    a->qlimited = a->qlimited || b->qlimited;
}

/* A decode step of `seqs` sequences. */
static void decode_step(const yk_perf_model *m, const yk_perf_rig *rig, const yk_perf_layout *lay, const yk_profile *prof,
                        const dev_sums *ds, double seqs, double past, yk_perf_terms *t, double *comm)
{
    uint32_t pp = lay->pp;
    double t_tok = prof->f[YK_F_T_TOK].value * 1e-6;
    memset(t, 0, sizeof *t);
    stage_out so;
    bool overlap = prof->pp_overlap && pp > 1 && seqs > 1;
    /* Pipelined: m micro-batches of b sequences each circulate through the stages. */
    double mb = overlap ? fmin(seqs, pp) : 1, b = overlap ? ceil(seqs / mb) : seqs;
    double path = 0, busy = 0, tick = 0;
    *comm = 0;
    for (uint32_t s = 0; s < pp; s++) {
        stage_time(m, rig, lay, prof, ds, s, b, past, true, &so);
        double hop = s + 1 < pp ? hop_time(rig, prof, &m->hp, b) : t_tok;
        add_terms(t, &so.terms, 1);
        if (s + 1 < pp) t->hop_s += hop;
        path += so.time + hop;
        busy += so.busy_mean;
        tick = fmax(tick, so.time + hop);
        if (so.comm_bytes > *comm) *comm = so.comm_bytes;
    }
    if (pp > 1) *comm += b * m->hp.n_embd * prof->act_bytes;
    t->launch_s += t_tok;
    if (overlap) {
        t->total_s = pp * tick;
        t->wait_s = t->total_s - path;
        t->idle_frac = 1 - mb * busy / pp / t->total_s;
    } else {
        t->total_s = path;
        t->idle_frac = 1 - busy / pp / t->total_s;
    }
    if (t->idle_frac < 0) t->idle_frac = 0;
    t->bubble_s = t->idle_frac * t->total_s;
    t->tok_s = seqs / t->total_s;
}

/* Prefill of `prompt` tokens of one sequence, in equal micro-batches of at most prof->ubatch. */
static void prefill(const yk_perf_model *m, const yk_perf_rig *rig, const yk_perf_layout *lay, const yk_profile *prof,
                    const dev_sums *ds, double prompt, yk_perf_terms *t)
{
    uint32_t pp = lay->pp;
    double t_tok = prof->f[YK_F_T_TOK].value * 1e-6;
    double n_ub = ceil(prompt / prof->ubatch), u = prompt / n_ub;
    double past = prompt / 2; /* causal attention: on average half the prompt is before a token */
    memset(t, 0, sizeof *t);
    stage_out so, slow_so = {0};
    double path = 0, busy = 0, tick = -1;
    uint32_t slow = 0;
    for (uint32_t s = 0; s < pp; s++) {
        stage_time(m, rig, lay, prof, ds, s, u, past, false, &so);
        double hop = s + 1 < pp ? hop_time(rig, prof, &m->hp, u) : 0;
        add_terms(t, &so.terms, 1);
        t->hop_s += hop;
        path += so.time + hop;
        busy += so.busy_mean;
        if (so.time + hop > tick) tick = so.time + hop, slow = s, slow_so = so;
    }
    /* The first micro-batch crosses every stage; the others follow one bottleneck tick apart. */
    add_terms(t, &slow_so.terms, n_ub - 1);
    if (slow + 1 < pp) t->hop_s += (n_ub - 1) * hop_time(rig, prof, &m->hp, u);
    t->launch_s += n_ub * t_tok;
    t->total_s = path + (n_ub - 1) * tick + n_ub * t_tok;
    t->idle_frac = 1 - n_ub * busy / pp / t->total_s;
    if (t->idle_frac < 0) t->idle_frac = 0;
    t->bubble_s = t->idle_frac * t->total_s;
    t->tok_s = prompt / t->total_s;
}

yk_status yk_perf_predict(const yk_perf_model *m, const yk_perf_rig *rig, const yk_perf_layout *lay,
                          const yk_profile *prof, const yk_perf_work *w, yk_perf_result *out, yk_err *err)
{
    const yk_hparams *hp = &m->hp;
    uint32_t n = rig->n_dev;
    memset(out, 0, sizeof *out);
    if (n < 1 || n > YK_PERF_MAX_DEV || lay->tp * lay->pp != n || lay->layer_end[lay->pp - 1] != hp->n_layer)
        return yk_err_set(err, YK_E_INVALID, "layout does not match the %u devices or the %u layers", n, hp->n_layer);
    if (!w->n_seq || !w->n_ctx || !w->n_prompt)
        return yk_err_set(err, YK_E_INVALID, "workload: context, sequences and prompt must be at least 1");
    for (uint32_t d = 0; d < n; d++)
        if (!(rig->dev[d].bw_gbs > 0) || !(rig->dev[d].tflops > 0) || !rig->dev[d].units)
            return yk_err_set(err, YK_E_INVALID, "device %u (%s): bandwidth, TFLOPS and units must be > 0", d, rig->dev[d].name);
    dev_sums *ds = malloc(n * sizeof *ds);
    if (!ds) return yk_err_set(err, YK_E_NOMEM, "out of memory");
    sum_devices(m, rig, lay, prof, ds);
    out->n_dev = n;
    out->fits = true;

    /* Memory account per device. */
    double ub = fmin(prof->ubatch, (double)w->n_ctx * w->n_seq);
    for (uint32_t d = 0; d < n; d++) {
        yk_perf_mem *mm = &out->mem[d];
        uint32_t s = d / lay->tp;
        double fs = (double)lay->ffn_cols[d] / hp->n_ff, vs = (double)lay->vocab_rows[d] / hp->n_vocab;
        mm->weights = ds[d].held;
        mm->kv = (uint64_t)llround(ds[d].layers * yk_perf_kv_token_bytes(hp, lay->kv_heads[d], prof->kv_bytes) *
                                   (double)w->n_ctx * w->n_seq);
        /* Activations of a micro-batch, the logits of the last stage, and without flash attention the
         * score matrix of one layer (micro-batch x context x heads, f32). */
        double buf = 4.0 * ub * (4.0 * hp->n_embd + 2.0 * hp->n_ff * fs);
        if (s == lay->pp - 1) buf += 4.0 * w->n_seq * hp->n_vocab * vs;
        if (!prof->flash_attn) buf += 4.0 * ub * w->n_ctx * lay->q_heads[d];
        mm->buffers = (uint64_t)llround(buf);
        mm->overhead = (uint64_t)llround((prof->ctx_mib + prof->engine_mib) * MIB);
        mm->used = mm->weights + mm->kv + mm->buffers + mm->overhead;
        mm->capacity = (uint64_t)llround(dev_capacity(rig, d, prof->mem_frac));
        mm->fits = mm->used <= mm->capacity;
        if (!mm->fits && out->fits) {
            out->fits = false;
            snprintf(out->why, sizeof out->why,
                     "device %u (%s) needs %.1f GiB (weights %.1f, KV cache %.1f, buffers %.1f, runtime %.1f) but has %.1f GiB "
                     "usable: %.1f GiB short",
                     d, rig->dev[d].desc, mm->used / GIB, mm->weights / GIB, mm->kv / GIB, mm->buffers / GIB,
                     mm->overhead / GIB, mm->capacity / GIB, (mm->used - mm->capacity) / GIB);
        }
    }

    double comm;
    decode_step(m, rig, lay, prof, ds, 1, w->n_past, &out->decode1, &out->comm_bytes_tok);
    decode_step(m, rig, lay, prof, ds, w->n_seq, w->n_past, &out->decode, &comm);
    prefill(m, rig, lay, prof, ds, w->n_prompt, &out->prefill);
    out->ttft_s = out->prefill.total_s;
    free(ds);
    return YK_OK;
}

/* ---- recommendation ---- */

/* Worst used/capacity over the devices: below 1 fits. */
static double pressure(const yk_perf_result *r)
{
    double p = 0;
    for (uint32_t d = 0; d < r->n_dev; d++)
        p = fmax(p, r->mem[d].capacity ? (double)r->mem[d].used / r->mem[d].capacity : 1e9);
    return p;
}

static bool better(const yk_perf_option *a, const yk_perf_option *b)
{
    if (!b->valid) return a->valid;
    if (!a->valid) return false;
    if (a->res.fits != b->res.fits) return a->res.fits;
    if (!a->res.fits) return pressure(&a->res) < pressure(&b->res);
    double ra = a->res.decode.tok_s, rb = b->res.decode.tok_s;
    if (fabs(ra - rb) > 0.005 * fmax(ra, rb)) return ra > rb;
    double sa = a->res.decode1.tok_s, sb = b->res.decode1.tok_s;
    if (fabs(sa - sb) > 0.005 * fmax(sa, sb)) return sa > sb;
    return a->lay.tp < b->lay.tp;
}

yk_status yk_perf_recommend(const yk_perf_model *m, const yk_perf_rig *rig, const yk_profile *prof,
                            const yk_perf_work *w, yk_perf_option *best, uint32_t *n_tried, yk_err *err)
{
    memset(best, 0, sizeof *best);
    *n_tried = 0;
    uint32_t n = rig->n_dev;
    yk_perf_option *cand = malloc(sizeof *cand);
    if (!cand) return yk_err_set(err, YK_E_NOMEM, "out of memory");
    yk_err first = {0};
    for (uint32_t tp = 1; tp <= n; tp++) {
        if (n % tp) continue;
        memset(cand, 0, sizeof *cand);
        yk_err e;
        if (yk_perf_layout_make(m, rig, prof, tp, n / tp, NULL, &cand->lay, &e) != YK_OK) {
            if (!first.msg[0]) first = e;
            continue;
        }
        yk_status st = yk_perf_predict(m, rig, &cand->lay, prof, w, &cand->res, err);
        if (st != YK_OK) {
            free(cand);
            return st;
        }
        cand->valid = true;
        (*n_tried)++;
        if (better(cand, best)) *best = *cand;
    }
    free(cand);
    if (!best->valid)
        return yk_err_set(err, YK_E_INVALID, "no layout of %u devices works for %s with %s: %s", n, m->name, prof->name, first.msg);
    return YK_OK;
}

/* ---- fitting ---- */

static double e2e_s(const yk_perf_result *r, uint32_t n_gen)
{
    return r->ttft_s + (n_gen > 1 ? (n_gen - 1) * r->decode.total_s : 0);
}

static yk_status predict_layout(const yk_perf_obs *o, const yk_perf_rig *rig, uint32_t tp, uint32_t pp,
                                const yk_profile *prof, yk_perf_result *res, yk_err *err)
{
    yk_perf_layout lay;
    yk_status st = yk_perf_layout_make(o->model, rig, prof, tp, pp, NULL, &lay, err);
    if (st == YK_OK) st = yk_perf_predict(o->model, rig, &lay, prof, &o->work, res, err);
    return st;
}

yk_status yk_perf_obs_predict(const yk_perf_obs *o, const yk_profile *prof, double *pred, yk_err *err)
{
    yk_perf_result *res = malloc(sizeof *res);
    if (!res) return yk_err_set(err, YK_E_NOMEM, "out of memory");
    yk_status st = predict_layout(o, &o->rig, o->tp, o->pp, prof, res, err);
    if (st == YK_OK) {
        switch (o->metric) {
        case YK_METRIC_DECODE: *pred = res->decode.tok_s; break;
        case YK_METRIC_PREFILL: *pred = res->prefill.tok_s; break;
        case YK_METRIC_E2E_MS: *pred = e2e_s(res, o->n_gen) * 1e3; break;
        case YK_METRIC_SPEEDUP: {
            double multi = e2e_s(res, o->n_gen);
            yk_perf_rig one = o->rig;
            one.n_dev = 1;
            st = predict_layout(o, &one, 1, 1, prof, res, err);
            if (st == YK_OK) *pred = e2e_s(res, o->n_gen) / multi;
            break;
        }
        default: st = yk_err_set(err, YK_E_INVALID, "observation %s: unknown metric", o->label);
        }
    }
    free(res);
    return st;
}

static yk_status objective(yk_profile *prof, const yk_perf_obs *obs, size_t n, double *sum, yk_err *err)
{
    *sum = 0;
    for (size_t i = 0; i < n; i++) {
        double p;
        yk_status st = yk_perf_obs_predict(&obs[i], prof, &p, err);
        if (st != YK_OK) return st;
        if (!(p > 0) || !(obs[i].value > 0))
            return yk_err_set(err, YK_E_INVALID, "observation %s: prediction %g or value %g is not positive", obs[i].label, p, obs[i].value);
        double e = log(p / obs[i].value);
        *sum += e * e;
    }
    return YK_OK;
}

yk_status yk_perf_fit(yk_profile *prof, const yk_perf_obs *obs, size_t n, double *rms_log, yk_err *err)
{
    if (!n) return yk_err_set(err, YK_E_INVALID, "profile %s: no observations to fit", prof->name);
    enum { POINTS = 9, ROUNDS = 12, SWEEPS = 6 };
    double width[YK_F_COUNT];
    size_t n_free = 0;
    for (int k = 0; k < YK_F_COUNT; k++) {
        width[k] = prof->f[k].hi - prof->f[k].lo;
        if (prof->f[k].fit) {
            n_free++;
            /* Start from the middle of the range, so the result does not depend on stored values. */
            prof->f[k].value = 0.5 * (prof->f[k].lo + prof->f[k].hi);
        }
    }
    if (n_free >= n)
        return yk_err_set(err, YK_E_INVALID, "profile %s: %zu free factors for %zu observations: fix some factors", prof->name,
                          n_free, n);
    double best;
    yk_status st = objective(prof, obs, n, &best, err);
    /* Coordinate-wise grid search: each factor in turn takes the best of POINTS values spread over a
     * window around its current value; windows halve every round. */
    for (int round = 0; round < ROUNDS && st == YK_OK; round++) {
        for (int sweep = 0; sweep < SWEEPS && st == YK_OK; sweep++) {
            for (int k = 0; k < YK_F_COUNT && st == YK_OK; k++) {
                yk_factor *fa = &prof->f[k];
                if (!fa->fit) continue;
                double lo = fmax(fa->lo, fa->value - width[k] / 2), hi = fmin(fa->hi, fa->value + width[k] / 2);
                double keep = fa->value;
                for (int i = 0; i < POINTS; i++) {
                    fa->value = lo + (hi - lo) * i / (POINTS - 1);
                    double o;
                    st = objective(prof, obs, n, &o, err);
                    if (st != YK_OK) break;
                    if (o < best - 1e-12) best = o, keep = fa->value;
                }
                fa->value = keep;
            }
        }
        for (int k = 0; k < YK_F_COUNT; k++) width[k] *= 0.5;
    }
    if (st == YK_OK && rms_log) *rms_log = sqrt(best / n);
    return st;
}
