/* cmd_plan.c: yoke plan: will a model fit these devices, how to split it, how fast, at what cost.
 *
 * Reads the hardware table and engine profiles (built in, $YOKE_DATA, --hw FILE), describes the
 * model (a preset with a type, or a GGUF header), builds the rig, and asks the performance model
 * (yoke/perf.h) for the best layout, the baseline of the smallest set of devices that fits, and the
 * terms of every prediction. --compare prints one line per rig; --validate prints the model against
 * the calibration rows; --fit refits the profiles' factors. Every error names the flag and field. */
#include "cli.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define GIB 1073741824.0

static const char *const CMD = "plan";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: yoke plan [--model NAME:TYPE | -m FILE.gguf] [--gpus LIST] [--gpu SPEC]... [--link LINK]\n"
            "                 [--p2p yes|no] [--engine NAME] [--ctx N] [--seqs N] [--prompt N]\n"
            "                 [--tp N --pp M [--split r1,r2,...]] [--compare \"LIST;LIST\"] [--json]\n"
            "                 [--hw FILE]... | --validate [FILE] [--json] | --fit [FILE] | --list\n"
            "\n"
            "Predicts from a physical model whether a model fits, the best split (tensor parallel, pipeline\n"
            "parallel or both, uneven for mixed devices), decode and prefill speed with the terms that set\n"
            "them, and the cost. Without arguments: llama3-70b:Q4_K_M on 2x4090 over PCIe 4.\n"
            "\n"
            "  --model NAME:TYPE  a preset (llama3-70b, llama2-13b, mixtral-8x7b, ...) and a type or mix\n"
            "                     (Q4_K_M, Q8_0, F16, ...); -m FILE.gguf reads only the file's header\n"
            "  --gpus LIST        devices: 2x4090 | 4090,3090 | 8xh100-sxm | 2xa100-40 | cpu\n"
            "  --gpu SPEC         another device: name=X,vram=GiB,bw=GB/s,tflops=T,price=USD[,count=N]\n"
            "  --link LINK        pcie3 pcie4 pcie5 nvlink3 nvlink4 nvswitch eth10g eth100g inproc shm tcp,\n"
            "                     or bw=GB/s,lat=us (default: the devices' usual link)\n"
            "  --p2p yes|no       peer-to-peer over PCIe works (default: from the device table)\n"
            "  --engine NAME      yoke (default), llama.cpp-layer, llama.cpp-tensor, vllm, trtllm\n"
            "  --ctx N            context length per sequence (default 4096)\n"
            "  --seqs N           concurrent sequences (default 1)\n"
            "  --prompt N         prompt tokens for prefill and time to first token (default 512)\n"
            "  --tp N --pp M      force a layout; --split r1,r2,... uneven ratios, one per device\n"
            "  --compare LISTS    rigs side by side, separated by ';' or by ',' between counted items:\n"
            "                     \"2x4090,1x6000ada,2x3090,1xa6000\"\n"
            "  --json             everything as JSON (decode_tok_s, prefill_tok_s, fits at the top level)\n"
            "  --hw FILE          add or override devices, links and profiles (format: docs/PLAN.md)\n"
            "  --validate [FILE]  every calibration row: prediction, measurement, error; median per profile\n"
            "                     (FILE defaults to $YOKE_SHARED or ../shared /calibration/measurements.tsv)\n"
            "  --fit [FILE]       refit the profiles' free factors to the calibration rows and print them\n"
            "  --list             known devices, links and engine profiles\n");
}

typedef struct {
    const char *model;
    const char *gpus;
    const char *customs[YK_PERF_MAX_DEV];
    int n_custom;
    const char *link;
    int p2p; /* -1: from the table */
    const char *engine;
    int64_t ctx, seqs, prompt;
    int64_t tp, pp;
    const char *split;
    const char *compare;
    bool json, validate, fit, list;
    const char *calib;
    const char *hw[16];
    int n_hw;
} opts;

/* ---- JSON output helpers ---- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* A number JSON accepts (no inf/nan). */
static void json_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

/* ---- model and rig ---- */

static bool looks_like_path(const char *s)
{
    struct stat st;
    size_t n = strlen(s);
    return strchr(s, '/') || (n > 5 && !strcasecmp(s + n - 5, ".gguf")) || stat(s, &st) == 0;
}

static yk_status load_model(const char *spec, yk_perf_model *m, yk_err *err)
{
    if (looks_like_path(spec)) return yk_perf_model_gguf(m, spec, err);
    return yk_perf_model_preset(m, spec, err);
}

/* Builds the rig from a device list (may be NULL), custom devices, link and p2p options. */
static yk_status make_rig(const yk_hw_table *t, const opts *o, const char *list, bool with_customs, yk_perf_rig *rig, yk_err *err)
{
    yk_hw_dev devs[YK_PERF_MAX_DEV];
    size_t n = 0;
    yk_status st;
    if (list) {
        st = yk_hw_parse_devs(t, "--gpus", list, devs, YK_PERF_MAX_DEV, &n, err);
        if (st != YK_OK) return st;
    }
    for (int i = 0; with_customs && i < o->n_custom; i++) {
        yk_hw_dev d;
        uint32_t count;
        st = yk_hw_parse_custom("--gpu", o->customs[i], &d, &count, err);
        if (st != YK_OK) return st;
        if (n + count > YK_PERF_MAX_DEV) return yk_err_set(err, YK_E_INVALID, "--gpu: more than %d devices", YK_PERF_MAX_DEV);
        for (uint32_t k = 0; k < count; k++) devs[n++] = d;
    }
    if (!n) return yk_err_set(err, YK_E_INVALID, "--gpus: no devices");
    for (size_t i = 1; i < n; i++)
        if (devs[i].kind != devs[0].kind)
            return yk_err_set(err, YK_E_INVALID, "--gpus: %s and %s mix CPU and GPU devices in one plan", devs[0].desc, devs[i].desc);
    yk_hw_link link;
    if (o->link) {
        st = yk_hw_parse_link(t, "--link", o->link, &link, err);
        if (st != YK_OK) return st;
    } else {
        /* The devices' usual link; with several, the slowest of them. */
        const yk_hw_link *best = NULL;
        for (size_t i = 0; i < n; i++) {
            const yk_hw_link *l = yk_hw_find_link(t, devs[i].link);
            if (!l) return yk_err_set(err, YK_E_INVALID, "device %s names unknown link '%s' (pass --link)", devs[i].name, devs[i].link);
            if (!best || l->bw_gbs < best->bw_gbs) best = l;
        }
        link = *best;
    }
    bool p2p = true;
    for (size_t i = 0; i < n; i++) p2p = p2p && devs[i].p2p;
    if (o->p2p >= 0) p2p = o->p2p;
    if (devs[0].kind == YK_DEV_CPU) {
        /* CPU devices listed separately are separate hosts unless one host row is split. */
        yk_perf_rig_gpus(rig, devs, (uint32_t)n, &link, p2p);
        for (size_t i = 0; i < n; i++) rig->host[i] = (int32_t)i;
    } else yk_perf_rig_gpus(rig, devs, (uint32_t)n, &link, p2p);
    return YK_OK;
}

static const yk_profile *find_profile(const yk_hw_table *t, const char *engine, yk_dev_kind kind, yk_err *err)
{
    const yk_profile *p = yk_hw_profile_for(t, engine, kind);
    if (!p) {
        char sug[256];
        yk_hw_suggest(t, 2, engine, sug, sizeof sug);
        yk_err_set(err, YK_E_INVALID, "--engine: unknown engine '%s'; closest known: %s", engine, sug);
    }
    return p;
}

static double rig_price(const yk_perf_rig *r)
{
    double p = 0;
    for (uint32_t i = 0; i < r->n_dev; i++) p += r->dev[i].price_usd;
    return p;
}

/* "2x RTX 4090" or "RTX 4090 + RTX 3090". */
static void rig_desc(const yk_perf_rig *r, char *out, size_t n)
{
    size_t off = 0;
    out[0] = 0;
    for (uint32_t i = 0; i < r->n_dev;) {
        uint32_t j = i;
        while (j < r->n_dev && !strcmp(r->dev[j].name, r->dev[i].name)) j++;
        int w = snprintf(out + off, n > off ? n - off : 0, "%s%ux %s", off ? " + " : "", j - i, r->dev[i].desc);
        if (w > 0) off += (size_t)w;
        if (off >= n) break;
        i = j;
    }
}

/* ---- the plan of one rig ---- */

typedef struct {
    yk_perf_rig rig;
    const yk_profile *prof;
    yk_perf_option best;
    yk_perf_option all[YK_PERF_MAX_DEV];
    uint32_t n_all;
    bool forced;
    /* Baseline: the smallest leading set of devices that fits. */
    bool have_base;
    uint32_t base_n;
    yk_perf_option base;
    double speedup, efficiency;
    char suggest[3][200];
    int n_suggest;
} plan;

static yk_status recommend_all(const yk_perf_model *m, plan *p, const yk_perf_work *w, yk_err *err)
{
    p->n_all = 0;
    for (uint32_t tp = 1; tp <= p->rig.n_dev; tp++) {
        if (p->rig.n_dev % tp) continue;
        yk_perf_option *o = &p->all[p->n_all];
        memset(o, 0, sizeof *o);
        yk_err e;
        if (yk_perf_layout_make(m, &p->rig, p->prof, tp, p->rig.n_dev / tp, NULL, &o->lay, &e) != YK_OK) {
            snprintf(o->note, sizeof o->note, "%.255s", e.msg);
            o->lay.tp = tp;
            o->lay.pp = p->rig.n_dev / tp;
            p->n_all++;
            continue;
        }
        yk_status st = yk_perf_predict(m, &p->rig, &o->lay, p->prof, w, &o->res, err);
        if (st != YK_OK) return st;
        o->valid = true;
        p->n_all++;
    }
    uint32_t tried;
    return yk_perf_recommend(m, &p->rig, p->prof, w, &p->best, &tried, err);
}

/* Does the model fit on `n` devices like rig's first one? */
static bool fits_on(const yk_perf_model *m, const yk_perf_rig *rig, uint32_t n, const yk_profile *prof, const yk_perf_work *w,
                    yk_perf_option *out)
{
    yk_perf_rig r = *rig;
    r.n_dev = n;
    for (uint32_t i = 0; i < n; i++) {
        r.dev[i] = rig->dev[i < rig->n_dev ? i : 0];
        r.host[i] = rig->host[i < rig->n_dev ? i : 0];
    }
    uint32_t tried;
    yk_err e;
    if (yk_perf_recommend(m, &r, prof, w, out, &tried, &e) != YK_OK) return false;
    return out->res.fits;
}

static void suggestions(const yk_perf_model *m, plan *p, const yk_perf_work *w)
{
    yk_perf_option *o = malloc(sizeof *o);
    if (!o) return;
    p->n_suggest = 0;
    /* More devices of the first kind. */
    for (uint32_t n = p->rig.n_dev + 1; n <= YK_PERF_MAX_DEV; n++)
        if (fits_on(m, &p->rig, n, p->prof, w, o)) {
            snprintf(p->suggest[p->n_suggest++], sizeof p->suggest[0], "%u x %s fit (%.1f tok/s decode)", n,
                     p->rig.dev[0].desc, o->res.decode1.tok_s);
            break;
        }
    /* Fewer bits, for presets. */
    const char *colon = strrchr(m->name, ':');
    if (colon && !strchr(m->name, '/')) {
        static const char *const mixes[] = {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"};
        for (size_t i = 0; i < sizeof mixes / sizeof *mixes; i++) {
            char spec[128];
            snprintf(spec, sizeof spec, "%.*s:%s", (int)(colon - m->name), m->name, mixes[i]);
            yk_perf_model mm;
            yk_err e;
            if (yk_perf_model_preset(&mm, spec, &e) != YK_OK) continue;
            bool ok = mm.weight_bytes < m->weight_bytes && fits_on(&mm, &p->rig, p->rig.n_dev, p->prof, w, o);
            if (ok)
                snprintf(p->suggest[p->n_suggest++], sizeof p->suggest[0], "%s (%.1f GB of weights) fits these devices (%.1f tok/s)",
                         mixes[i], mm.weight_bytes / 1e9, o->res.decode1.tok_s);
            yk_perf_model_free(&mm);
            if (ok) break;
        }
    }
    /* Shorter context, when the KV cache is a real part of the need. */
    if (w->n_ctx > 512) {
        yk_perf_work ww = *w;
        for (ww.n_ctx = w->n_ctx / 2; ww.n_ctx >= 512; ww.n_ctx /= 2) {
            if (ww.n_past > ww.n_ctx) ww.n_past = ww.n_ctx;
            if (ww.n_prompt > ww.n_ctx) ww.n_prompt = ww.n_ctx;
            if (fits_on(m, &p->rig, p->rig.n_dev, p->prof, &ww, o)) {
                snprintf(p->suggest[p->n_suggest++], sizeof p->suggest[0], "--ctx %u fits these devices", ww.n_ctx);
                break;
            }
        }
    }
    free(o);
}

static yk_status make_plan(const yk_perf_model *m, const opts *o, const yk_perf_work *w, plan *p, yk_err *err)
{
    yk_status st;
    if (o->tp || o->pp || o->split) {
        uint32_t n = p->rig.n_dev;
        if ((o->tp && n % o->tp) || (o->pp && n % o->pp))
            return yk_err_set(err, YK_E_INVALID, "--%s %lld does not divide the %u devices", o->tp && n % o->tp ? "tp" : "pp",
                              (long long)(o->tp && n % o->tp ? o->tp : o->pp), n);
        uint32_t tp = o->tp ? (uint32_t)o->tp : o->pp ? n / (uint32_t)o->pp : 1;
        uint32_t pp = o->pp ? (uint32_t)o->pp : n / tp;
        if (!o->tp && !o->pp) tp = p->prof->tp == YK_TP_NONE ? 1 : n, pp = n / tp;
        double ratios[YK_PERF_MAX_DEV];
        if (o->split) {
            uint32_t k = 0;
            const char *s = o->split;
            while (*s) {
                char *end;
                double v = strtod(s, &end);
                if (end == s || k >= n || !(v > 0) || !isfinite(v))
                    return yk_err_set(err, YK_E_INVALID, "--split: '%s' must be %u ratios > 0 separated by commas (item %u)", o->split, n, k + 1);
                ratios[k++] = v;
                s = end;
                if (*s == ',') s++;
                else if (*s) return yk_err_set(err, YK_E_INVALID, "--split: unexpected '%s' in '%s'", s, o->split);
            }
            if (k != n) return yk_err_set(err, YK_E_INVALID, "--split: %u ratios for %u devices", k, n);
        }
        if (tp * pp != n)
            return yk_err_set(err, YK_E_INVALID, "--tp %u x --pp %u = %u devices, but %u are given", tp, pp, tp * pp, n);
        memset(&p->best, 0, sizeof p->best);
        st = yk_perf_layout_make(m, &p->rig, p->prof, tp, pp, o->split ? ratios : NULL, &p->best.lay, err);
        if (st != YK_OK) return st;
        st = yk_perf_predict(m, &p->rig, &p->best.lay, p->prof, w, &p->best.res, err);
        if (st != YK_OK) return st;
        p->best.valid = true;
        p->forced = true;
        p->n_all = 0;
    } else {
        st = recommend_all(m, p, w, err);
        if (st != YK_OK) return st;
    }
    /* Baseline: the smallest leading set of the rig's devices that fits. */
    p->have_base = false;
    for (uint32_t n = 1; n <= p->rig.n_dev; n++) {
        if (n == p->rig.n_dev) {
            if (p->best.res.fits) p->base = p->best, p->have_base = true, p->base_n = n;
            break;
        }
        if (fits_on(m, &p->rig, n, p->prof, w, &p->base)) {
            p->have_base = true;
            p->base_n = n;
            break;
        }
    }
    if (p->have_base) {
        p->speedup = p->best.res.decode.tok_s / p->base.res.decode.tok_s;
        p->efficiency = p->speedup / ((double)p->rig.n_dev / p->base_n);
    }
    p->n_suggest = 0;
    if (!p->best.res.fits) suggestions(m, p, w);
    return YK_OK;
}

/* ---- text report ---- */

static void layout_desc(const yk_perf_layout *l, uint32_t n, char *out, size_t sz)
{
    size_t off = (size_t)snprintf(out, sz, "TP %u x PP %u", l->tp, l->pp);
    bool even = true;
    for (uint32_t i = 1; i < n; i++) even = even && fabs(l->ratio[i] - l->ratio[0]) < 1e-9 * l->ratio[0];
    if (!even && off < sz) {
        double tot = 0;
        for (uint32_t i = 0; i < n; i++) tot += l->ratio[i];
        off += (size_t)snprintf(out + off, sz - off, ", split ");
        for (uint32_t i = 0; i < n && off < sz; i++)
            off += (size_t)snprintf(out + off, sz - off, "%s%.2f", i ? "," : "", l->ratio[i] / tot);
    }
}

static void print_terms(FILE *f, const char *what, const yk_perf_terms *t, uint32_t pp, const char *unit)
{
    fprintf(f, "  %-22s %8.1f %s  (%.2f ms per step)\n", what, t->tok_s, unit, t->total_s * 1e3);
    fprintf(f, "    weights %.2f ms%s, KV cache %.2f, compute %.2f, launches+fixed %.2f, all-reduce %.2f, hops %.2f",
            t->weights_s * 1e3, t->qlimited ? " (quantised-kernel limit)" : "", t->kv_s * 1e3, t->compute_s * 1e3,
            t->launch_s * 1e3, t->allreduce_s * 1e3, t->hop_s * 1e3);
    if (t->wait_s > 0) fprintf(f, ", waiting %.2f", t->wait_s * 1e3);
    fputc('\n', f);
    if (pp > 1) fprintf(f, "    bubble: each device idles %.0f%% of the step (%.2f ms)\n", t->idle_frac * 100, t->bubble_s * 1e3);
}

static void print_commands(FILE *f, const yk_perf_model *m, const plan *p, const yk_perf_work *w)
{
    const yk_perf_layout *l = &p->best.lay;
    uint32_t n = p->rig.n_dev;
    const yk_hparams *hp = &m->hp;
    char file[300], ratios[256] = "";
    if (strchr(m->name, '/') || strstr(m->name, ".gguf")) snprintf(file, sizeof file, "%s", m->name);
    else {
        const char *colon = strchr(m->name, ':');
        snprintf(file, sizeof file, "%.*s.%s.gguf", colon ? (int)(colon - m->name) : (int)strlen(m->name), m->name,
                 colon ? colon + 1 : "F16");
    }
    double tot = 0;
    for (uint32_t i = 0; i < n; i++) tot += l->ratio[i];
    size_t off = 0;
    for (uint32_t i = 0; i < n && off < sizeof ratios; i++)
        off += (size_t)snprintf(ratios + off, sizeof ratios - off, "%s%.0f", i ? "," : "", 100 * l->ratio[i] / tot);
    bool even = true;
    for (uint32_t i = 1; i < n; i++) even = even && fabs(l->ratio[i] - l->ratio[0]) < 1e-9 * l->ratio[0];
    /* yoke's own command, as `yoke run` takes it: with both TP and PP, the ratios become the stages'
     * shares (--split-pp) and the first stage's proportions inside a group (--split-tp) */
    char split[600] = "", devs[300] = "";
    if (!even && l->tp > 1 && l->pp > 1) {
        char tpr[256] = "", ppr[256] = "";
        size_t o1 = 0, o2 = 0;
        for (uint32_t t = 0; t < l->tp && o1 < sizeof tpr; t++)
            o1 += (size_t)snprintf(tpr + o1, sizeof tpr - o1, "%s%.0f", t ? "," : "", 100 * l->ratio[t] / tot);
        for (uint32_t st = 0; st < l->pp && o2 < sizeof ppr; st++) {
            double share = 0;
            for (uint32_t t = 0; t < l->tp; t++) share += l->ratio[st * l->tp + t];
            o2 += (size_t)snprintf(ppr + o2, sizeof ppr - o2, "%s%.0f", st ? "," : "", 100 * share / tot);
        }
        snprintf(split, sizeof split, " --split-tp %s --split-pp %s", tpr, ppr);
    } else if (!even) {
        snprintf(split, sizeof split, " --split %s", ratios);
    }
    if (p->rig.dev[0].kind == YK_DEV_GPU) {
        size_t o = (size_t)snprintf(devs, sizeof devs, " --devices ");
        for (uint32_t i = 0; i < n && o < sizeof devs; i++) o += (size_t)snprintf(devs + o, sizeof devs - o, "%scuda:%u", i ? "," : "", i);
    }
    fprintf(f, "equivalent commands:\n");
    fprintf(f, "  yoke:      yoke run -m %s%s --tp %u --pp %u%s -c %u\n", file, devs, l->tp, l->pp, split, w->n_ctx);
    if (p->rig.dev[0].kind == YK_DEV_GPU) {
        fprintf(f, "  llama.cpp: llama-server -m %s -ngl 999 -sm %s%s%s -c %u -np %u\n", file, l->tp > 1 ? "row" : "layer",
                n > 1 ? " -ts " : "", n > 1 ? ratios : "", w->n_ctx * w->n_seq, w->n_seq);
        fprintf(f, "  vLLM:      vllm serve %s --tensor-parallel-size %u --pipeline-parallel-size %u --max-model-len %u "
                   "--max-num-seqs %u\n", file, l->tp, l->pp, w->n_ctx, w->n_seq);
    }
    fprintf(f, "catches:\n");
    bool any = false;
    if (n > 1 && p->rig.dev[0].kind == YK_DEV_GPU) {
        if (l->tp == 1 && l->pp > 1) {
            fprintf(f, "  - llama.cpp's -sm layer is pipeline parallel: one sequence's decode visits the GPUs in turn, so it "
                       "runs at about one GPU's speed; -sm row splits every matrix (tensor parallel)\n");
            any = true;
        }
        bool mixed = false;
        for (uint32_t i = 1; i < n; i++) mixed = mixed || strcmp(p->rig.dev[i].name, p->rig.dev[0].name);
        if (mixed) {
            fprintf(f, "  - vLLM wants identical GPUs: with mixed cards its even split is paced by the slowest and the smallest\n");
            any = true;
        }
        if (l->tp > 1 && (hp->n_head % l->tp || (hp->n_head_kv % l->tp && l->tp % hp->n_head_kv))) {
            fprintf(f, "  - vLLM's --tensor-parallel-size must divide the %u attention heads and the %u KV heads: %u does not\n",
                    hp->n_head, hp->n_head_kv, l->tp);
            any = true;
        }
        if (p->rig.link.pcie && !p->rig.p2p) {
            fprintf(f, "  - no peer-to-peer between these GPUs (stock GeForce cards such as the RTX 4090): transfers are staged "
                       "through host memory at half the link bandwidth, and vLLM's custom all-reduce is off\n");
            any = true;
        }
    }
    if (!any) fprintf(f, "  - none known for this rig\n");
}

static void print_plan(FILE *f, const yk_perf_model *m, const plan *p, const yk_perf_work *w)
{
    const yk_hparams *hp = &m->hp;
    const yk_perf_result *r = &p->best.res;
    char rd[256], ld[256];
    rig_desc(&p->rig, rd, sizeof rd);
    fprintf(f, "model:   %s: %s, %u layers, hidden %u, %u/%u heads, %.2f B parameters, %.2f GB of weights\n", m->name, hp->arch,
            hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, m->n_params / 1e9, m->weight_bytes / 1e9);
    fprintf(f, "devices: %s over %s, %s\n", rd, p->rig.link.desc,
            p->rig.link.pcie ? (p->rig.p2p ? "peer-to-peer" : "no peer-to-peer") : "direct");
    for (uint32_t i = 0; i < p->rig.n_dev; i++) {
        bool seen = false;
        for (uint32_t j = 0; j < i; j++) seen = seen || !strcmp(p->rig.dev[j].name, p->rig.dev[i].name);
        if (!seen)
            fprintf(f, "         %s: %.1f GiB, %.0f GB/s, %.3g TFLOPS, %u units, $%.0f\n", p->rig.dev[i].desc, p->rig.dev[i].mem_gib,
                    p->rig.dev[i].bw_gbs, p->rig.dev[i].tflops, p->rig.dev[i].units, p->rig.dev[i].price_usd);
    }
    fprintf(f, "engine:  %s: %s; context %u, %u sequence%s, prompt %u\n\n", p->prof->name, p->prof->desc, w->n_ctx, w->n_seq,
            w->n_seq == 1 ? "" : "s", w->n_prompt);
    layout_desc(&p->best.lay, p->rig.n_dev, ld, sizeof ld);
    fprintf(f, "layout:  %s%s\n", ld, p->forced ? " (as asked)" : " (recommended)");
    fprintf(f, "memory per device (GiB):\n  %-3s %-16s %8s %8s %8s %8s %8s %8s %8s  %s\n", "dev", "device", "weights", "KV",
            "buffers", "runtime", "used", "usable", "free", "fits");
    for (uint32_t d = 0; d < r->n_dev; d++) {
        const yk_perf_mem *mm = &r->mem[d];
        uint32_t s = d / p->best.lay.tp;
        fprintf(f, "  %-3u %-16.16s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f  %s  (layers %u-%u, %u KV heads, %u FFN columns)\n", d,
                p->rig.dev[d].desc, mm->weights / GIB, mm->kv / GIB, mm->buffers / GIB, mm->overhead / GIB, mm->used / GIB,
                mm->capacity / GIB, ((double)mm->capacity - (double)mm->used) / GIB, mm->fits ? "yes" : "NO",
                s ? p->best.lay.layer_end[s - 1] : 0, p->best.lay.layer_end[s] - 1, p->best.lay.kv_heads[d], p->best.lay.ffn_cols[d]);
    }
    if (!r->fits) {
        fprintf(f, "\nDOES NOT FIT: %s.\n", r->why);
        for (int i = 0; i < p->n_suggest; i++) fprintf(f, "  suggestion: %s\n", p->suggest[i]);
        if (!p->n_suggest) fprintf(f, "  suggestion: more or larger devices, or a smaller model\n");
        fprintf(f, "(the speeds below assume it would fit)\n");
    }
    fprintf(f, "\npredicted speed:\n");
    print_terms(f, "decode, 1 sequence", &r->decode1, p->best.lay.pp, "tok/s");
    if (w->n_seq > 1) {
        char what[64];
        snprintf(what, sizeof what, "decode, %u sequences", w->n_seq);
        print_terms(f, what, &r->decode, p->best.lay.pp, "tok/s");
    }
    char what[64];
    snprintf(what, sizeof what, "prefill, %u tokens", w->n_prompt);
    print_terms(f, what, &r->prefill, p->best.lay.pp, "tok/s");
    fprintf(f, "  time to first token:   %8.0f ms\n", r->ttft_s * 1e3);
    fprintf(f, "  traffic per token:     %8.1f KB sent per device\n", r->comm_bytes_tok / 1e3);
    if (p->have_base) {
        char bd[256];
        yk_perf_rig br = p->rig;
        br.n_dev = p->base_n;
        rig_desc(&br, bd, sizeof bd);
        fprintf(f, "\nagainst %s (%s): speedup %.2fx, efficiency %.0f%%%s\n", bd,
                p->base_n == 1 ? "one device" : "the smallest set that fits", p->speedup, p->efficiency * 100,
                p->base_n == p->rig.n_dev ? " (no smaller set fits)" : "");
    } else if (r->fits) fprintf(f, "\n");
    double price = rig_price(&p->rig);
    if (price > 0)
        fprintf(f, "cost:    $%.0f of devices: $%.0f per decode tok/s (1 sequence)%s", price, price / r->decode1.tok_s,
                w->n_seq > 1 ? "" : "\n");
    if (price > 0 && w->n_seq > 1) fprintf(f, ", $%.0f per tok/s at %u sequences\n", price / r->decode.tok_s, w->n_seq);
    if (p->n_all > 1) {
        fprintf(f, "\nlayouts considered:\n");
        for (uint32_t i = 0; i < p->n_all; i++) {
            const yk_perf_option *o = &p->all[i];
            if (!o->valid) {
                fprintf(f, "  TP %u x PP %u: not possible: %s\n", o->lay.tp, o->lay.pp, o->note);
                continue;
            }
            fprintf(f, "  TP %u x PP %u: %s, decode %.1f tok/s (1 seq)", o->lay.tp, o->lay.pp, o->res.fits ? "fits" : "does not fit",
                    o->res.decode1.tok_s);
            if (w->n_seq > 1) fprintf(f, ", %.1f tok/s (%u seqs)", o->res.decode.tok_s, w->n_seq);
            fprintf(f, ", prefill %.0f tok/s\n", o->res.prefill.tok_s);
        }
    }
    fprintf(f, "\n");
    print_commands(f, m, p, w);
    if (!p->prof->calib[0])
        fprintf(f, "note: profile %s is not fitted to measurements of its own (see docs/PLAN.md)\n", p->prof->name);
}

/* ---- JSON report ---- */

static void json_terms(FILE *f, const yk_perf_terms *t)
{
    fprintf(f, "{\"tok_s\": ");
    json_num(f, t->tok_s);
    fprintf(f, ", \"step_ms\": ");
    json_num(f, t->total_s * 1e3);
    const struct { const char *k; double v; } kv[] = {
        {"weights_ms", t->weights_s * 1e3}, {"kv_ms", t->kv_s * 1e3},        {"compute_ms", t->compute_s * 1e3},
        {"launch_ms", t->launch_s * 1e3},   {"allreduce_ms", t->allreduce_s * 1e3}, {"hops_ms", t->hop_s * 1e3},
        {"wait_ms", t->wait_s * 1e3},       {"bubble_ms", t->bubble_s * 1e3}, {"idle_frac", t->idle_frac},
    };
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) {
        fprintf(f, ", \"%s\": ", kv[i].k);
        json_num(f, kv[i].v);
    }
    fprintf(f, ", \"quantised_kernel_limited\": %s}", t->qlimited ? "true" : "false");
}

static void json_plan(FILE *f, const yk_perf_model *m, const plan *p, const yk_perf_work *w)
{
    const yk_perf_result *r = &p->best.res;
    const yk_perf_layout *l = &p->best.lay;
    char rd[256];
    rig_desc(&p->rig, rd, sizeof rd);
    fprintf(f, "{\"fits\": %s, \"decode_tok_s\": ", r->fits ? "true" : "false");
    json_num(f, r->decode1.tok_s);
    fprintf(f, ", \"decode_tok_s_seqs\": ");
    json_num(f, r->decode.tok_s);
    fprintf(f, ", \"prefill_tok_s\": ");
    json_num(f, r->prefill.tok_s);
    fprintf(f, ", \"ttft_ms\": ");
    json_num(f, r->ttft_s * 1e3);
    fprintf(f, ", \"why\": ");
    json_str(f, r->why);
    fprintf(f, ",\n \"model\": {\"name\": ");
    json_str(f, m->name);
    fprintf(f, ", \"arch\": ");
    json_str(f, m->hp.arch);
    fprintf(f, ", \"layers\": %u, \"hidden\": %u, \"heads\": %u, \"kv_heads\": %u, \"params\": %llu, \"weight_bytes\": %llu},\n",
            m->hp.n_layer, m->hp.n_embd, m->hp.n_head, m->hp.n_head_kv, (unsigned long long)m->n_params,
            (unsigned long long)m->weight_bytes);
    fprintf(f, " \"devices\": ");
    json_str(f, rd);
    fprintf(f, ", \"link\": ");
    json_str(f, p->rig.link.name);
    fprintf(f, ", \"p2p\": %s, \"engine\": ", p->rig.p2p ? "true" : "false");
    json_str(f, p->prof->name);
    fprintf(f, ", \"ctx\": %u, \"seqs\": %u, \"prompt\": %u,\n", w->n_ctx, w->n_seq, w->n_prompt);
    fprintf(f, " \"layout\": {\"tp\": %u, \"pp\": %u, \"forced\": %s, \"ratios\": [", l->tp, l->pp, p->forced ? "true" : "false");
    for (uint32_t i = 0; i < r->n_dev; i++) {
        if (i) fputs(", ", f);
        json_num(f, l->ratio[i]);
    }
    fprintf(f, "], \"layer_end\": [");
    for (uint32_t s = 0; s < l->pp; s++) fprintf(f, "%s%u", s ? ", " : "", l->layer_end[s]);
    fprintf(f, "]},\n \"memory\": [");
    for (uint32_t d = 0; d < r->n_dev; d++) {
        const yk_perf_mem *mm = &r->mem[d];
        fprintf(f, "%s{\"device\": ", d ? ", " : "");
        json_str(f, p->rig.dev[d].name);
        fprintf(f, ", \"weights\": %llu, \"kv\": %llu, \"buffers\": %llu, \"runtime\": %llu, \"used\": %llu, \"capacity\": %llu, "
                   "\"fits\": %s, \"kv_heads\": %u, \"q_heads\": %u, \"ffn_cols\": %u}",
                (unsigned long long)mm->weights, (unsigned long long)mm->kv, (unsigned long long)mm->buffers,
                (unsigned long long)mm->overhead, (unsigned long long)mm->used, (unsigned long long)mm->capacity,
                mm->fits ? "true" : "false", l->kv_heads[d], l->q_heads[d], l->ffn_cols[d]);
    }
    fprintf(f, "],\n \"decode\": ");
    json_terms(f, &r->decode1);
    fprintf(f, ",\n \"decode_seqs\": ");
    json_terms(f, &r->decode);
    fprintf(f, ",\n \"prefill\": ");
    json_terms(f, &r->prefill);
    fprintf(f, ",\n \"comm_bytes_per_token\": ");
    json_num(f, r->comm_bytes_tok);
    if (p->have_base) {
        fprintf(f, ", \"baseline_devices\": %u, \"speedup\": ", p->base_n);
        json_num(f, p->speedup);
        fprintf(f, ", \"efficiency\": ");
        json_num(f, p->efficiency);
    } else fprintf(f, ", \"baseline_devices\": null, \"speedup\": null, \"efficiency\": null");
    double price = rig_price(&p->rig);
    fprintf(f, ", \"price_usd\": ");
    json_num(f, price);
    fprintf(f, ", \"usd_per_tok_s\": ");
    if (price > 0) json_num(f, price / r->decode1.tok_s);
    else fputs("null", f);
    fprintf(f, ",\n \"suggestions\": [");
    for (int i = 0; i < p->n_suggest; i++) {
        if (i) fputs(", ", f);
        json_str(f, p->suggest[i]);
    }
    fprintf(f, "],\n \"layouts\": [");
    for (uint32_t i = 0, k = 0; i < p->n_all; i++) {
        const yk_perf_option *o = &p->all[i];
        fprintf(f, "%s{\"tp\": %u, \"pp\": %u, \"valid\": %s", k++ ? ", " : "", o->lay.tp, o->lay.pp, o->valid ? "true" : "false");
        if (o->valid) {
            fprintf(f, ", \"fits\": %s, \"decode_tok_s\": ", o->res.fits ? "true" : "false");
            json_num(f, o->res.decode1.tok_s);
            fprintf(f, ", \"prefill_tok_s\": ");
            json_num(f, o->res.prefill.tok_s);
        } else {
            fprintf(f, ", \"note\": ");
            json_str(f, o->note);
        }
        fputc('}', f);
    }
    fprintf(f, "]}");
}

/* ---- validate and fit ---- */

static const char *calib_path(const opts *o, char *buf, size_t n)
{
    if (o->calib) return o->calib;
    const char *env = getenv("YOKE_SHARED");
    const char *cands[] = {env, "../shared", "../../shared"};
    struct stat st;
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        if (!cands[i] || !*cands[i]) continue;
        snprintf(buf, n, "%s/calibration/measurements.tsv", cands[i]);
        if (stat(buf, &st) == 0) return buf;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    if (!n) return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int run_validate(const yk_hw_table *t, const opts *o)
{
    char buf[4096];
    const char *path = calib_path(o, buf, sizeof buf);
    if (!path) return cli_fail(CMD, "--validate: no calibration file: pass --validate FILE or set YOKE_SHARED");
    yk_perf_calib c;
    yk_err err;
    if (yk_perf_calib_load(&c, path, t, &err) != YK_OK) return cli_fail(CMD, "--validate: %s", err.msg);
    double *all = malloc((c.n + 1) * sizeof *all), *mine = malloc((c.n + 1) * sizeof *mine);
    if (!all || !mine) {
        free(all);
        free(mine);
        yk_perf_calib_free(&c);
        return cli_fail(CMD, "out of memory");
    }
    size_t n_all = 0;
    int rc = 0;
    FILE *f = stdout;
    if (o->json) fprintf(f, "{\"file\": "), json_str(f, path), fprintf(f, ", \"profiles\": [");
    else fprintf(f, "calibration rows: %s\n", path);
    int np = 0;
    for (size_t pi = 0; pi < t->n_profiles && !rc; pi++) {
        const yk_profile *p = &t->profiles[pi];
        size_t n_mine = 0;
        for (size_t i = 0; i < c.n; i++) n_mine += yk_profile_explains(p, c.engine[i]);
        if (!n_mine) continue;
        if (o->json) {
            fprintf(f, "%s\n {\"profile\": ", np ? "," : "");
            json_str(f, p->name);
            fprintf(f, ", \"rows\": [");
        } else {
            fprintf(f, "\nprofile %s (", p->name);
            for (int k = 0; k < YK_F_COUNT; k++)
                fprintf(f, "%s%s=%.4g%s", k ? " " : "", yk_factor_name(k), p->f[k].value, p->f[k].fit ? "*" : "");
            fprintf(f, "; * fitted)\n  %-44s %10s %10s %8s\n", "row (group devices model quant metric)", "measured", "predicted",
                    "error");
        }
        n_mine = 0;
        for (size_t i = 0; i < c.n; i++) {
            if (!yk_profile_explains(p, c.engine[i])) continue;
            double pred;
            if (yk_perf_obs_predict(&c.obs[i], p, &pred, &err) != YK_OK) {
                rc = cli_fail(CMD, "--validate: %s: %s", c.obs[i].label, err.msg);
                break;
            }
            double e = pred / c.obs[i].value - 1;
            mine[n_mine++] = fabs(e);
            all[n_all++] = fabs(e);
            if (o->json) {
                fprintf(f, "%s\n  {\"row\": ", n_mine > 1 ? "," : "");
                json_str(f, c.obs[i].label);
                fprintf(f, ", \"engine\": ");
                json_str(f, c.engine[i]);
                fprintf(f, ", \"measured\": ");
                json_num(f, c.obs[i].value);
                fprintf(f, ", \"predicted\": ");
                json_num(f, pred);
                fprintf(f, ", \"error\": ");
                json_num(f, e);
                fputc('}', f);
            } else fprintf(f, "  %-44s %10.4g %10.4g %+7.1f%%\n", c.obs[i].label, c.obs[i].value, pred, 100 * e);
        }
        if (rc) break;
        double med = median(mine, n_mine);
        if (o->json) {
            fprintf(f, "], \"median_abs_error\": ");
            json_num(f, med);
            fprintf(f, ", \"n\": %zu}", n_mine);
        } else fprintf(f, "  median |error| %.1f%% over %zu rows\n", 100 * med, n_mine);
        np++;
    }
    if (!rc) {
        double med = median(all, n_all);
        if (o->json) {
            fprintf(f, "],\n \"median_abs_error\": ");
            json_num(f, med);
            fprintf(f, ", \"n\": %zu}\n", n_all);
        } else fprintf(f, "\nall profiles: median |error| %.1f%% over %zu rows (target <= 10%%)\n", 100 * med, n_all);
    }
    free(all);
    free(mine);
    yk_perf_calib_free(&c);
    return rc;
}

static int run_fit(const yk_hw_table *t, const opts *o)
{
    char buf[4096];
    const char *path = calib_path(o, buf, sizeof buf);
    if (!path) return cli_fail(CMD, "--fit: no calibration file: pass --fit FILE or set YOKE_SHARED");
    yk_perf_calib c;
    yk_err err;
    if (yk_perf_calib_load(&c, path, t, &err) != YK_OK) return cli_fail(CMD, "--fit: %s", err.msg);
    yk_perf_obs *sel = malloc((c.n + 1) * sizeof *sel);
    int rc = sel ? 0 : cli_fail(CMD, "out of memory");
    printf("# factors fitted to %s (coordinate-wise grid search, least squares on log error)\n", path);
    for (size_t pi = 0; pi < t->n_profiles && !rc; pi++) {
        yk_profile p = t->profiles[pi];
        size_t n = 0;
        for (size_t i = 0; i < c.n; i++)
            if (yk_profile_explains(&p, c.engine[i])) sel[n++] = c.obs[i];
        bool any_free = false;
        for (int k = 0; k < YK_F_COUNT; k++) any_free = any_free || p.f[k].fit;
        if (!n || !any_free) continue;
        double rms;
        if (yk_perf_fit(&p, sel, n, &rms, &err) != YK_OK) {
            rc = cli_fail(CMD, "--fit: %s", err.msg);
            break;
        }
        printf("# %s: %zu rows, rms log error %.4f\n", p.name, n, rms);
        yk_profile_write(stdout, &p);
    }
    free(sel);
    yk_perf_calib_free(&c);
    return rc;
}

static int run_list(const yk_hw_table *t)
{
    printf("devices:\n  %-14s %-22s %8s %8s %8s %6s %8s %4s %s\n", "name", "description", "mem GiB", "GB/s", "TFLOPS", "units",
           "price", "p2p", "link");
    for (size_t i = 0; i < t->n_devs; i++) {
        const yk_hw_dev *d = &t->devs[i];
        printf("  %-14s %-22.22s %8.1f %8.0f %8.2f %6u %8.0f %4s %s%s%s\n", d->name, d->desc, d->mem_gib, d->bw_gbs, d->tflops,
               d->units, d->price_usd, d->p2p ? "yes" : "no", d->link, d->aliases[0] ? "  aka " : "", d->aliases);
    }
    printf("links:\n  %-14s %-40s %8s %8s %12s\n", "name", "description", "GB/s", "lat us", "all-reduce us");
    for (size_t i = 0; i < t->n_links; i++) {
        const yk_hw_link *l = &t->links[i];
        printf("  %-14s %-40.40s %8.2f %8.1f %5.1f+%.1f(n-1)\n", l->name, l->desc, l->bw_gbs, l->lat_us, l->ar_us, l->ar_step_us);
    }
    printf("engine profiles:\n");
    for (size_t i = 0; i < t->n_profiles; i++)
        printf("  %-18s %s%s\n", t->profiles[i].name, t->profiles[i].desc, t->profiles[i].calib[0] ? "" : " (not fitted)");
    return 0;
}

/* ---- compare ---- */

/* Splits "2x4090,1x6000ada,2x3090;4090,3090" into rigs: ';' always separates; ',' separates when
 * the next item starts with a count ("<digits>x"). */
static int split_compare(const char *s, char out[][256], int max)
{
    int n = 0;
    size_t len = 0;
    out[0][0] = 0;
    for (const char *p = s;; p++) {
        bool end = !*p || *p == ';';
        bool comma_split = false;
        if (*p == ',') {
            const char *q = p + 1;
            while (*q == ' ') q++;
            const char *d = q;
            while (isdigit((unsigned char)*d)) d++;
            comma_split = d > q && (*d == 'x' || *d == 'X');
        }
        if (end || comma_split) {
            if (len) {
                if (n + 1 >= max) return -1;
                n++;
                out[n][0] = 0;
                len = 0;
            }
            if (!*p) break;
            continue;
        }
        if (len + 1 >= 256) return -1;
        out[n][len++] = *p;
        out[n][len] = 0;
    }
    return n;
}

static int run_compare(const yk_hw_table *t, const opts *o, const yk_perf_model *m, const yk_perf_work *w)
{
    enum { MAXR = 16 };
    char specs[MAXR + 1][256];
    int n = split_compare(o->compare, specs, MAXR + 1);
    if (n <= 0) return cli_fail(CMD, "--compare: '%s' must list 1 to %d rigs (e.g. \"2x4090,1x6000ada\")", o->compare, MAXR);
    plan *plans = calloc((size_t)n, sizeof *plans);
    if (!plans) return cli_fail(CMD, "out of memory");
    yk_err err;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (make_rig(t, o, specs[i], false, &plans[i].rig, &err) != YK_OK) {
            rc = cli_fail(CMD, "--compare: rig %d '%s': %s", i + 1, specs[i], err.msg);
            break;
        }
        plans[i].prof = find_profile(t, o->engine, plans[i].rig.dev[0].kind, &err);
        if (!plans[i].prof) rc = cli_fail(CMD, "%s", err.msg);
        else if (make_plan(m, o, w, &plans[i], &err) != YK_OK) rc = cli_fail(CMD, "--compare: rig %d '%s': %s", i + 1, specs[i], err.msg);
    }
    if (!rc) {
        /* The recommendation: the fastest that fits at the asked concurrency. */
        int best = -1;
        for (int i = 0; i < n; i++)
            if (plans[i].best.res.fits && (best < 0 || plans[i].best.res.decode.tok_s > plans[best].best.res.decode.tok_s)) best = i;
        if (o->json) {
            const plan *b = best >= 0 ? &plans[best] : &plans[0];
            printf("{\"fits\": %s, \"decode_tok_s\": ", best >= 0 ? "true" : "false");
            json_num(stdout, b->best.res.decode1.tok_s);
            printf(", \"prefill_tok_s\": ");
            json_num(stdout, b->best.res.prefill.tok_s);
            printf(", \"recommended\": %d, \"options\": [\n", best);
            for (int i = 0; i < n; i++) {
                if (i) printf(",\n");
                json_plan(stdout, m, &plans[i], w);
            }
            printf("]}\n");
        } else {
            printf("model: %s (%.2f GB of weights), engine %s, context %u, %u sequence%s, prompt %u\n\n", m->name,
                   m->weight_bytes / 1e9, plans[0].prof->name, w->n_ctx, w->n_seq, w->n_seq == 1 ? "" : "s", w->n_prompt);
            printf("  %-28s %-5s %-16s %9s %9s %9s %8s %8s %9s %7s\n", "devices", "fits", "layout", "decode", "decode", "prefill",
                   "TTFT", "price", "$ per", "speedup");
            printf("  %-28s %-5s %-16s %9s %9s %9s %8s %8s %9s %7s\n", "", "", "", "tok/s", "N seqs", "tok/s", "ms", "USD", "tok/s",
                   "");
            for (int i = 0; i < n; i++) {
                const plan *p = &plans[i];
                char rd[256], ld[256], nseq[32];
                rig_desc(&p->rig, rd, sizeof rd);
                layout_desc(&p->best.lay, p->rig.n_dev, ld, sizeof ld);
                snprintf(nseq, sizeof nseq, "%.1f", p->best.res.decode.tok_s);
                double price = rig_price(&p->rig);
                printf("%s %-28.28s %-5s %-16.16s %9.1f %9s %9.0f %8.0f %8.0f %9.0f %6.2fx\n", i == best ? "*" : " ", rd,
                       p->best.res.fits ? "yes" : "NO", ld, p->best.res.decode1.tok_s, nseq, p->best.res.prefill.tok_s,
                       p->best.res.ttft_s * 1e3, price, price > 0 ? price / p->best.res.decode1.tok_s : 0,
                       p->have_base ? p->speedup : 1.0);
            }
            printf("\n* recommended: the fastest that fits at %u sequence%s. Speedup: against the smallest set of the same "
                   "devices that fits.\n", w->n_seq, w->n_seq == 1 ? "" : "s");
            for (int i = 0; i < n; i++)
                if (!plans[i].best.res.fits) {
                    char rd[256];
                    rig_desc(&plans[i].rig, rd, sizeof rd);
                    printf("  %s: %s\n", rd, plans[i].best.res.why);
                }
        }
    }
    free(plans);
    return rc;
}

/* ---- main ---- */

int yk_cmd_plan(int argc, char **argv)
{
    opts o = {.p2p = -1, .engine = "yoke", .ctx = 4096, .seqs = 1, .prompt = 512};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
#define VAL() \
    if (!(v = cli_value(CMD, argc, argv, &i))) return 1
        if (!strcmp(a, "--model") || !strcmp(a, "-m")) { VAL(); o.model = v; }
        else if (!strcmp(a, "--gpus")) { VAL(); o.gpus = v; }
        else if (!strcmp(a, "--gpu")) {
            VAL();
            if (o.n_custom == YK_PERF_MAX_DEV) return cli_fail(CMD, "--gpu: at most %d", YK_PERF_MAX_DEV);
            o.customs[o.n_custom++] = v;
        } else if (!strcmp(a, "--link")) { VAL(); o.link = v; }
        else if (!strcmp(a, "--p2p")) {
            VAL();
            if (!strcmp(v, "yes")) o.p2p = 1;
            else if (!strcmp(v, "no")) o.p2p = 0;
            else return cli_fail(CMD, "--p2p: '%s' is neither yes nor no", v);
        } else if (!strcmp(a, "--engine")) { VAL(); o.engine = v; }
        else if (!strcmp(a, "--ctx")) { VAL(); if (!cli_int(CMD, a, v, 1, 1 << 24, &o.ctx)) return 1; }
        else if (!strcmp(a, "--seqs")) { VAL(); if (!cli_int(CMD, a, v, 1, 1 << 16, &o.seqs)) return 1; }
        else if (!strcmp(a, "--prompt")) { VAL(); if (!cli_int(CMD, a, v, 1, 1 << 24, &o.prompt)) return 1; }
        else if (!strcmp(a, "--tp")) { VAL(); if (!cli_int(CMD, a, v, 1, YK_PERF_MAX_DEV, &o.tp)) return 1; }
        else if (!strcmp(a, "--pp")) { VAL(); if (!cli_int(CMD, a, v, 1, YK_PERF_MAX_DEV, &o.pp)) return 1; }
        else if (!strcmp(a, "--split")) { VAL(); o.split = v; }
        else if (!strcmp(a, "--compare")) { VAL(); o.compare = v; }
        else if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--list")) o.list = true;
        else if (!strcmp(a, "--hw")) {
            VAL();
            if (o.n_hw == 16) return cli_fail(CMD, "--hw: at most 16 files");
            o.hw[o.n_hw++] = v;
        } else if (!strcmp(a, "--validate") || !strcmp(a, "--fit")) {
            if (!strcmp(a, "--fit")) o.fit = true;
            else o.validate = true;
            if (i + 1 < argc && argv[i + 1][0] != '-') o.calib = argv[++i];
        } else return cli_fail(CMD, "unknown flag '%s' (yoke plan --help)", a);
#undef VAL
    }
    if (o.prompt > o.ctx) return cli_fail(CMD, "--prompt %lld is longer than --ctx %lld", (long long)o.prompt, (long long)o.ctx);

    yk_hw_table t = {0};
    yk_err err;
    if (yk_hw_load_default(&t, &err) != YK_OK) return cli_fail(CMD, "%s", err.msg);
    for (int i = 0; i < o.n_hw; i++)
        if (yk_hw_load_file(&t, o.hw[i], &err) != YK_OK) {
            yk_hw_free(&t);
            return cli_fail(CMD, "--hw: %s", err.msg);
        }
    int rc;
    if (o.list) rc = run_list(&t);
    else if (o.validate) rc = run_validate(&t, &o);
    else if (o.fit) rc = run_fit(&t, &o);
    else {
        yk_perf_model m;
        yk_perf_work w = {.n_ctx = (uint32_t)o.ctx, .n_seq = (uint32_t)o.seqs, .n_prompt = (uint32_t)o.prompt,
                          .n_past = (uint32_t)o.prompt};
        if (load_model(o.model ? o.model : "llama3-70b:Q4_K_M", &m, &err) != YK_OK) {
            yk_hw_free(&t);
            return cli_fail(CMD, "%s", err.msg);
        }
        if (o.compare) rc = run_compare(&t, &o, &m, &w);
        else {
            plan *p = calloc(1, sizeof *p);
            if (!p) rc = cli_fail(CMD, "out of memory");
            else if (make_rig(&t, &o, o.gpus ? o.gpus : o.n_custom ? NULL : "2x4090", true, &p->rig, &err) != YK_OK)
                rc = cli_fail(CMD, "%s", err.msg);
            else if (!(p->prof = find_profile(&t, o.engine, p->rig.dev[0].kind, &err))) rc = cli_fail(CMD, "%s", err.msg);
            else if (make_plan(&m, &o, &w, p, &err) != YK_OK) rc = cli_fail(CMD, "%s", err.msg);
            else {
                if (o.json) {
                    json_plan(stdout, &m, p, &w);
                    fputc('\n', stdout);
                } else print_plan(stdout, &m, p, &w);
                rc = 0;
            }
            free(p);
        }
        yk_perf_model_free(&m);
    }
    yk_hw_free(&t);
    return rc;
}
