/* perf_calib.c: calibration rows (yoke/perf.h): reading a measurements file into observations the
 * fitter and `yoke plan --validate` use, and the rigs of GPUs and CPU devices.
 *
 * The reader is strict: a missing column, an unknown GPU, link, model or metric, or a malformed
 * number is an error naming the file, the line and the column. */
#include "yoke/perf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void yk_perf_rig_gpus(yk_perf_rig *rig, const yk_hw_dev *devs, uint32_t n, const yk_hw_link *link, bool p2p)
{
    memset(rig, 0, sizeof *rig);
    YK_ASSERT(n <= YK_PERF_MAX_DEV);
    rig->n_dev = n;
    for (uint32_t i = 0; i < n; i++) {
        rig->dev[i] = devs[i];
        rig->host[i] = -1;
    }
    rig->link = *link;
    rig->p2p = p2p;
}

void yk_perf_rig_cpu(yk_perf_rig *rig, const yk_hw_dev *host, uint32_t n_dev, uint32_t threads, const yk_hw_link *link)
{
    memset(rig, 0, sizeof *rig);
    YK_ASSERT(n_dev <= YK_PERF_MAX_DEV && threads > 0);
    rig->n_dev = n_dev;
    for (uint32_t i = 0; i < n_dev; i++) {
        rig->dev[i] = *host;
        rig->dev[i].kind = YK_DEV_CPU;
        rig->dev[i].units = threads;
        rig->dev[i].tflops = host->tflops * threads / (host->units ? host->units : 1);
        rig->host[i] = 0;
    }
    rig->link = *link;
    rig->p2p = true;
}

bool yk_profile_explains(const yk_profile *p, const char *engine)
{
    size_t n = strlen(engine);
    for (const char *s = p->calib; *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && !strncasecmp(s, engine, n)) return true;
        if (!e) break;
        s = e + 1;
    }
    return false;
}

void yk_perf_calib_free(yk_perf_calib *c)
{
    for (size_t i = 0; i < c->n; i++) yk_perf_model_free(&c->models[i]);
    free(c->obs);
    free(c->models);
    free(c->engine);
    free(c->group);
    memset(c, 0, sizeof *c);
}

enum { C_GROUP, C_ENGINE, C_GPU, C_NGPU, C_LINK, C_MODEL, C_QUANT, C_BYTES, C_METRIC, C_VALUE, C_COUNT };
static const char *const col_names[C_COUNT] = {"group", "engine", "gpu", "n_gpus", "link", "model", "quant",
                                                "model_bytes", "metric", "value"};

static const yk_profile *profile_of(const yk_hw_table *t, const char *engine)
{
    for (size_t i = 0; i < t->n_profiles; i++)
        if (yk_profile_explains(&t->profiles[i], engine)) return &t->profiles[i];
    return NULL;
}

/* The model of a row: a preset and a mix, scaled to the measured bytes when known. */
static yk_status row_model(yk_perf_model *m, const char *model, const char *quant, double bytes, const char *where, yk_err *err)
{
    char name[64];
    snprintf(name, sizeof name, "%s", model);
    size_t nl = strlen(name);
    if (nl > 6 && !strcmp(name + nl - 6, "-shape")) name[nl - 6] = 0;
    if (!yk_preset_find(name) && !strncmp(name, "llama3.1-", 9)) {
        char alt[64];
        snprintf(alt, sizeof alt, "llama3-%s", name + 9);
        snprintf(name, sizeof name, "%s", alt);
    }
    if (!yk_preset_find(name)) return yk_err_set(err, YK_E_FORMAT, "%s: model '%s' is not a preset", where, model);
    char spec[96];
    snprintf(spec, sizeof spec, "%s:%s", name, quant);
    yk_err e;
    if (yk_perf_model_preset(m, spec, &e) != YK_OK) {
        if (!(bytes > 0))
            return yk_err_set(err, YK_E_FORMAT, "%s: quant '%s' is not a known mix and model_bytes is missing", where, quant);
        snprintf(spec, sizeof spec, "%s:Q4_0", name);
        yk_status st = yk_perf_model_preset(m, spec, err);
        if (st != YK_OK) return st;
        snprintf(m->type_name, sizeof m->type_name, "%.15s", quant);
    }
    if (bytes > 0) yk_perf_model_scale_bytes(m, (uint64_t)bytes);
    snprintf(m->name, sizeof m->name, "%s:%s", model, quant);
    return YK_OK;
}

static yk_status parse_row(yk_perf_calib *c, size_t idx, char **col, const yk_hw_table *t, const char *where, yk_err *err)
{
    yk_perf_obs *o = &c->obs[idx];
    memset(o, 0, sizeof *o);
    snprintf(c->engine[idx], sizeof c->engine[idx], "%s", col[C_ENGINE]);
    snprintf(c->group[idx], sizeof c->group[idx], "%s", col[C_GROUP]);
    const yk_profile *prof = profile_of(t, col[C_ENGINE]);
    if (!prof) return yk_err_set(err, YK_E_FORMAT, "%s: no profile explains engine '%s' (add it to a profile's calib=)", where, col[C_ENGINE]);
    const yk_hw_dev *dev = yk_hw_find_dev(t, col[C_GPU]);
    if (!dev) {
        char sug[256];
        yk_hw_suggest(t, 0, col[C_GPU], sug, sizeof sug);
        return yk_err_set(err, YK_E_FORMAT, "%s: unknown gpu '%s' (closest: %s)", where, col[C_GPU], sug);
    }
    char *end;
    errno = 0;
    long n = strtol(col[C_NGPU], &end, 10);
    if (errno || *end || n < 1 || n > YK_PERF_MAX_DEV)
        return yk_err_set(err, YK_E_FORMAT, "%s: n_gpus '%s' is not 1 to %d", where, col[C_NGPU], YK_PERF_MAX_DEV);
    const char *lname = strcmp(col[C_LINK], "-") ? col[C_LINK] : dev->link;
    const yk_hw_link *link = yk_hw_find_link(t, lname);
    if (!link) return yk_err_set(err, YK_E_FORMAT, "%s: unknown link '%s'", where, lname);
    double bytes = 0;
    if (strcmp(col[C_BYTES], "-") && *col[C_BYTES]) {
        errno = 0;
        bytes = strtod(col[C_BYTES], &end);
        if (errno || *end || !(bytes > 0)) return yk_err_set(err, YK_E_FORMAT, "%s: model_bytes '%s' is not a positive number", where, col[C_BYTES]);
    }
    errno = 0;
    o->value = strtod(col[C_VALUE], &end);
    if (errno || *end || !(o->value > 0) || !isfinite(o->value))
        return yk_err_set(err, YK_E_FORMAT, "%s: value '%s' is not a positive number", where, col[C_VALUE]);
    yk_status st = row_model(&c->models[idx], col[C_MODEL], col[C_QUANT], bytes, where, err);
    if (st != YK_OK) return st;
    yk_hw_dev devs[YK_PERF_MAX_DEV];
    for (long i = 0; i < n; i++) devs[i] = *dev;
    yk_perf_rig_gpus(&o->rig, devs, (uint32_t)n, link, dev->p2p);
    o->tp = prof->tp == YK_TP_NONE ? 1 : (uint32_t)n;
    o->pp = prof->tp == YK_TP_NONE ? (uint32_t)n : 1;
    o->work = (yk_perf_work){.n_ctx = 4096, .n_seq = 1, .n_prompt = 128, .n_past = 64};
    const char *met = col[C_METRIC];
    if (!strncmp(met, "tg", 2)) {
        o->metric = YK_METRIC_DECODE; /* tg128 from an empty cache: 64 tokens cached on average */
    } else if (!strncmp(met, "pp", 2) && isdigit((unsigned char)met[2])) {
        o->metric = YK_METRIC_PREFILL;
        long p = strtol(met + 2, &end, 10);
        if (*end || p < 1 || p > 1 << 20) return yk_err_set(err, YK_E_FORMAT, "%s: metric '%s' is not ppN", where, met);
        o->work.n_prompt = (uint32_t)p;
    } else if (!strcmp(met, "e2e_ms") || !strcmp(met, "speedup")) {
        /* 128 prompt tokens, 20 generated (the header of the calibration file). */
        o->metric = !strcmp(met, "e2e_ms") ? YK_METRIC_E2E_MS : YK_METRIC_SPEEDUP;
        o->n_gen = 20;
        o->work.n_past = 138;
    } else return yk_err_set(err, YK_E_FORMAT, "%s: unknown metric '%s' (tg, ppN, e2e_ms, speedup)", where, met);
    snprintf(o->label, sizeof o->label, "%s %ldx%s %s %s %s", col[C_GROUP], n, dev->name, col[C_MODEL], col[C_QUANT], met);
    return YK_OK;
}

yk_status yk_perf_calib_load(yk_perf_calib *c, const char *path, const yk_hw_table *t, yk_err *err)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) return yk_err_set(err, YK_E_IO, "%s: %s", path, strerror(errno));
    yk_status st = YK_OK;
    int idx[C_COUNT];
    bool have_header = false;
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    int lineno = 0;
    ssize_t len;
    while (st == YK_OK && (len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        char *fields[64];
        int nf = 0;
        for (char *p = line; nf < 64;) {
            fields[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = 0;
            p = tab + 1;
        }
        char where[512];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (!have_header) {
            for (int k = 0; k < C_COUNT; k++) {
                idx[k] = -1;
                for (int i = 0; i < nf; i++)
                    if (!strcmp(fields[i], col_names[k])) idx[k] = i;
                if (idx[k] < 0 && k != C_BYTES && k != C_LINK) {
                    st = yk_err_set(err, YK_E_FORMAT, "%s: header has no column '%s'", where, col_names[k]);
                    break;
                }
            }
            have_header = true;
            continue;
        }
        char *col[C_COUNT];
        for (int k = 0; k < C_COUNT; k++) {
            if (idx[k] < 0) col[k] = "-";
            else if (idx[k] >= nf) {
                st = yk_err_set(err, YK_E_FORMAT, "%s: row has %d columns, '%s' is column %d", where, nf, col_names[k], idx[k] + 1);
                break;
            } else col[k] = fields[idx[k]];
        }
        if (st != YK_OK) break;
        if (c->n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            yk_perf_obs *o = realloc(c->obs, nc * sizeof *o);
            if (o) c->obs = o;
            yk_perf_model *m = realloc(c->models, nc * sizeof *m);
            if (m) c->models = m;
            char(*e)[32] = realloc(c->engine, nc * sizeof *e);
            if (e) c->engine = e;
            char(*g)[16] = realloc(c->group, nc * sizeof *g);
            if (g) c->group = g;
            if (!o || !m || !e || !g) {
                st = yk_err_set(err, YK_E_NOMEM, "%s: out of memory", path);
                break;
            }
            cap = nc;
        }
        memset(&c->models[c->n], 0, sizeof c->models[c->n]);
        st = parse_row(c, c->n, col, t, where, err);
        c->n++;
    }
    free(line);
    fclose(f);
    if (st == YK_OK && !have_header) st = yk_err_set(err, YK_E_FORMAT, "%s: no header line", path);
    if (st != YK_OK) {
        yk_perf_calib_free(c);
        return st;
    }
    for (size_t i = 0; i < c->n; i++) c->obs[i].model = &c->models[i];
    return YK_OK;
}
