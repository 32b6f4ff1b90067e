/* hw.c: the hardware table and engine profiles (yoke/hw.h): parsing the data files, lookups with
 * suggestions, and the device and link specs of the command line.
 *
 * Design: the table is three growable arrays filled from text. Built-in text comes from the data
 * files embedded at build time (data_embed.h); users' files are parsed the same way and replace rows
 * of the same kind and name. Parsing is strict: an unknown kind or key, a malformed number or a
 * missing field is an error naming the file, the line and the field, never a silent default.
 * Profiles may inherit factors (value "inherit") from another profile, resolved after each load. */
#include "yoke/hw.h"

#include "data_embed.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const factor_names[YK_F_COUNT] = {
    [YK_F_ETA_BW] = "eta_bw", [YK_F_QRATE] = "qrate", [YK_F_ETA_F] = "eta_f", [YK_F_T_LAYER] = "t_layer_us",
    [YK_F_T_TOK] = "t_tok_us", [YK_F_HOP] = "hop_us", [YK_F_AR_SCALE] = "ar_scale", [YK_F_QMAC] = "qmac", [YK_F_HMAC] = "hmac",
};

static const char *const tp_names[YK_TP_KIND_COUNT] = {"megatron", "rowsplit", "none"};

const char *yk_factor_name(yk_factor_id id)
{
    return (unsigned)id < YK_F_COUNT ? factor_names[id] : NULL;
}

/* ---- small parsing helpers ---- */

/* Where a field came from, for messages. */
typedef struct {
    const char *file;
    int line;
} src_pos;

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcasecmp(s, "yes") || !strcmp(s, "1") || !strcasecmp(s, "true")) *out = true;
    else if (!strcasecmp(s, "no") || !strcmp(s, "0") || !strcasecmp(s, "false")) *out = false;
    else return false;
    return true;
}

static bool copy_str(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n) return false;
    memcpy(dst, src, len + 1);
    return true;
}

/* ---- the table's arrays ---- */

/* Grows arr by one element (the table holds tens of rows: no capacity doubling needed). */
#define GROW(arr, count)                                                                       \
    do {                                                                                       \
        void *p_ = realloc((arr), ((count) + 1) * sizeof *(arr));                              \
        if (!p_) return NULL;                                                                  \
        (arr) = p_;                                                                            \
    } while (0)

static yk_hw_dev *dev_slot(yk_hw_table *t, const char *name)
{
    for (size_t i = 0; i < t->n_devs; i++)
        if (!strcasecmp(t->devs[i].name, name)) return &t->devs[i];
    GROW(t->devs, t->n_devs);
    return &t->devs[t->n_devs++];
}

static yk_hw_link *link_slot(yk_hw_table *t, const char *name)
{
    for (size_t i = 0; i < t->n_links; i++)
        if (!strcasecmp(t->links[i].name, name)) return &t->links[i];
    GROW(t->links, t->n_links);
    return &t->links[t->n_links++];
}

static yk_profile *profile_slot(yk_hw_table *t, const char *name, bool create)
{
    for (size_t i = 0; i < t->n_profiles; i++)
        if (!strcasecmp(t->profiles[i].name, name)) return &t->profiles[i];
    if (!create) return NULL;
    GROW(t->profiles, t->n_profiles);
    yk_profile *p = &t->profiles[t->n_profiles++];
    memset(p, 0, sizeof *p);
    return p;
}

/* ---- record parsers ---- */

static yk_status bad(yk_err *err, src_pos at, const char *fmt, const char *a, const char *b)
{
    char what[512];
    snprintf(what, sizeof what, fmt, a, b);
    return yk_err_set(err, YK_E_FORMAT, "%s:%d: %s", at.file, at.line, what);
}

static yk_status parse_dev(yk_hw_table *t, char **f, int nf, yk_dev_kind kind, src_pos at, yk_err *err)
{
    if (nf < 2 || !*f[1]) return bad(err, at, "%s row without a name%s", f[0], "");
    yk_hw_dev d = {0};
    if (!copy_str(d.name, sizeof d.name, f[1])) return bad(err, at, "name '%s' is too long%s", f[1], "");
    d.kind = kind;
    bool have_mem = false, have_bw = false;
    for (int i = 2; i < nf; i++) {
        char *eq = strchr(f[i], '=');
        if (!eq) return bad(err, at, "field '%s' is not key=value%s", f[i], "");
        *eq = 0;
        const char *k = f[i], *v = eq + 1;
        bool ok = true;
        if (!strcmp(k, "desc")) ok = copy_str(d.desc, sizeof d.desc, v);
        else if (!strcmp(k, "aliases")) ok = copy_str(d.aliases, sizeof d.aliases, v);
        else if (!strcmp(k, "mem_gib")) ok = have_mem = parse_num(v, 0.001, 1e6, &d.mem_gib);
        else if (!strcmp(k, "bw_gbs")) ok = have_bw = parse_num(v, 0.001, 1e6, &d.bw_gbs);
        else if (!strcmp(k, "tflops")) ok = parse_num(v, 0, 1e6, &d.tflops);
        else if (!strcmp(k, "unit_bw_gbs")) ok = parse_num(v, 0, 1e6, &d.unit_bw_gbs);
        else if (!strcmp(k, "price")) ok = parse_num(v, 0, 1e9, &d.price_usd);
        else if (!strcmp(k, "p2p")) ok = parse_bool(v, &d.p2p);
        else if (!strcmp(k, "link")) ok = copy_str(d.link, sizeof d.link, v);
        else if (!strcmp(k, "units")) {
            double u;
            ok = parse_num(v, 1, 1e6, &u) && u == floor(u);
            d.units = ok ? (uint32_t)u : 0;
        } else return bad(err, at, "unknown key '%s' in a %s row", k, f[0]);
        if (!ok) return bad(err, at, "bad value '%s' for key '%s'", v, k);
    }
    if (!have_mem || !have_bw) return bad(err, at, "%s '%s' needs mem_gib and bw_gbs", f[0], d.name);
    if (!d.units) d.units = 1;
    if (!d.desc[0]) copy_str(d.desc, sizeof d.desc, d.name);
    if (!d.link[0]) copy_str(d.link, sizeof d.link, kind == YK_DEV_CPU ? "inproc" : "pcie4");
    yk_hw_dev *slot = dev_slot(t, d.name);
    if (!slot) return yk_err_set(err, YK_E_NOMEM, "%s:%d: out of memory", at.file, at.line);
    *slot = d;
    return YK_OK;
}

static yk_status parse_link(yk_hw_table *t, char **f, int nf, src_pos at, yk_err *err)
{
    if (nf < 2 || !*f[1]) return bad(err, at, "link row without a name%s%s", "", "");
    yk_hw_link l = {0};
    if (!copy_str(l.name, sizeof l.name, f[1])) return bad(err, at, "name '%s' is too long%s", f[1], "");
    bool have_bw = false;
    for (int i = 2; i < nf; i++) {
        char *eq = strchr(f[i], '=');
        if (!eq) return bad(err, at, "field '%s' is not key=value%s", f[i], "");
        *eq = 0;
        const char *k = f[i], *v = eq + 1;
        bool ok;
        if (!strcmp(k, "desc")) ok = copy_str(l.desc, sizeof l.desc, v);
        else if (!strcmp(k, "bw_gbs")) ok = have_bw = parse_num(v, 1e-6, 1e6, &l.bw_gbs);
        else if (!strcmp(k, "lat_us")) ok = parse_num(v, 0, 1e7, &l.lat_us);
        else if (!strcmp(k, "ar_us")) ok = parse_num(v, 0, 1e7, &l.ar_us);
        else if (!strcmp(k, "ar_step_us")) ok = parse_num(v, 0, 1e7, &l.ar_step_us);
        else if (!strcmp(k, "pcie")) ok = parse_bool(v, &l.pcie);
        else return bad(err, at, "unknown key '%s' in a %s row", k, f[0]);
        if (!ok) return bad(err, at, "bad value '%s' for key '%s'", v, k);
    }
    if (!have_bw) return bad(err, at, "link '%s' needs bw_gbs%s", l.name, "");
    if (!l.desc[0]) copy_str(l.desc, sizeof l.desc, l.name);
    yk_hw_link *slot = link_slot(t, l.name);
    if (!slot) return yk_err_set(err, YK_E_NOMEM, "%s:%d: out of memory", at.file, at.line);
    *slot = l;
    return YK_OK;
}

static yk_status parse_profile(yk_hw_table *t, char **f, int nf, src_pos at, yk_err *err)
{
    if (nf < 2 || !*f[1]) return bad(err, at, "profile row without a name%s%s", "", "");
    yk_profile *old = profile_slot(t, f[1], false);
    yk_profile p;
    if (old) p = *old; /* settings replace, factors stay until their own lines */
    else {
        memset(&p, 0, sizeof p);
        p.ar_per_layer = 2;
        p.act_bytes = 2;
        p.kv_bytes = 2;
        p.ubatch = 512;
        p.mem_frac = 1;
        p.f[YK_F_ETA_BW].value = 0.7;
        p.f[YK_F_ETA_F].value = 0.5;
        p.f[YK_F_AR_SCALE].value = 1;
        for (int i = 0; i < YK_F_COUNT; i++) p.f[i].lo = p.f[i].hi = p.f[i].value;
    }
    if (!copy_str(p.name, sizeof p.name, f[1])) return bad(err, at, "name '%s' is too long%s", f[1], "");
    for (int i = 2; i < nf; i++) {
        char *eq = strchr(f[i], '=');
        if (!eq) return bad(err, at, "field '%s' is not key=value%s", f[i], "");
        *eq = 0;
        const char *k = f[i], *v = eq + 1;
        bool ok = true;
        double x;
        if (!strcmp(k, "desc")) ok = copy_str(p.desc, sizeof p.desc, v);
        else if (!strcmp(k, "calib")) ok = copy_str(p.calib, sizeof p.calib, v);
        else if (!strcmp(k, "device")) {
            if (!strcmp(v, "gpu")) p.device = YK_DEV_GPU;
            else if (!strcmp(v, "cpu")) p.device = YK_DEV_CPU;
            else ok = false;
        } else if (!strcmp(k, "tp")) {
            ok = false;
            for (int j = 0; j < YK_TP_KIND_COUNT; j++)
                if (!strcmp(v, tp_names[j])) p.tp = (yk_tp_kind)j, ok = true;
        } else if (!strcmp(k, "ar_per_layer")) {
            ok = parse_num(v, 0, 64, &x) && x == floor(x);
            p.ar_per_layer = (uint32_t)x;
        } else if (!strcmp(k, "act_bytes")) ok = parse_num(v, 0.125, 8, &p.act_bytes);
        else if (!strcmp(k, "kv_bytes")) ok = parse_num(v, 0.125, 8, &p.kv_bytes);
        else if (!strcmp(k, "embd_on_device")) ok = parse_bool(v, &p.embd_on_device);
        else if (!strcmp(k, "ubatch")) {
            ok = parse_num(v, 1, 1 << 20, &x) && x == floor(x);
            p.ubatch = (uint32_t)x;
        } else if (!strcmp(k, "flash_attn")) ok = parse_bool(v, &p.flash_attn);
        else if (!strcmp(k, "pp_overlap")) ok = parse_bool(v, &p.pp_overlap);
        else if (!strcmp(k, "tp_even")) ok = parse_bool(v, &p.tp_even);
        else if (!strcmp(k, "ctx_mib")) ok = parse_num(v, 0, 1e6, &p.ctx_mib);
        else if (!strcmp(k, "engine_mib")) ok = parse_num(v, 0, 1e6, &p.engine_mib);
        else if (!strcmp(k, "mem_frac")) ok = parse_num(v, 0.01, 1, &p.mem_frac);
        else if (!strcmp(k, "inherit")) {
            ok = copy_str(p.inherit, sizeof p.inherit, v);
        } else return bad(err, at, "unknown key '%s' in a %s row", k, f[0]);
        if (!ok) return bad(err, at, "bad value '%s' for key '%s'", v, k);
    }
    yk_profile *slot = old ? old : profile_slot(t, p.name, true);
    if (!slot) return yk_err_set(err, YK_E_NOMEM, "%s:%d: out of memory", at.file, at.line);
    *slot = p;
    return YK_OK;
}

static yk_status parse_factor(yk_hw_table *t, char **f, int nf, src_pos at, yk_err *err)
{
    if (nf != 5) return bad(err, at, "a factor row has 5 fields: factor PROFILE NAME VALUE fit=LO:HI|fixed%s%s", "", "");
    yk_profile *p = profile_slot(t, f[1], false);
    if (!p) return bad(err, at, "factor for unknown profile '%s' (its profile row must come first)%s", f[1], "");
    int id = -1;
    for (int i = 0; i < YK_F_COUNT; i++)
        if (!strcmp(f[2], factor_names[i])) id = i;
    if (id < 0) return bad(err, at, "unknown factor '%s'%s", f[2], "");
    yk_factor fa = {0};
    bool inherit = !strcmp(f[3], "inherit");
    if (!inherit && !parse_num(f[3], 0, 1e9, &fa.value)) return bad(err, at, "bad value '%s' for factor '%s'", f[3], f[2]);
    if (!strcmp(f[4], "fixed")) {
        fa.lo = fa.hi = fa.value;
    } else if (!strncmp(f[4], "fit=", 4)) {
        char *colon = strchr(f[4] + 4, ':');
        if (!colon) return bad(err, at, "bad range '%s' for factor '%s' (fit=LO:HI)", f[4], f[2]);
        *colon = 0;
        if (!parse_num(f[4] + 4, 0, 1e9, &fa.lo) || !parse_num(colon + 1, 0, 1e9, &fa.hi) || fa.lo > fa.hi)
            return bad(err, at, "bad range for factor '%s'%s (fit=LO:HI with LO <= HI)", f[2], "");
        if (inherit) return bad(err, at, "factor '%s' cannot both inherit and be fitted%s", f[2], "");
        if (fa.value < fa.lo || fa.value > fa.hi) return bad(err, at, "factor '%s' value %s is outside its range", f[2], f[3]);
        fa.fit = true;
    } else return bad(err, at, "factor '%s': last field '%s' is neither fit=LO:HI nor fixed", f[2], f[4]);
    p->inherits[id] = inherit;
    if (inherit && !p->inherit[0]) return bad(err, at, "factor '%s' inherits but profile '%s' names no parent (inherit=)", f[2], p->name);
    p->f[id] = fa;
    return YK_OK;
}

static yk_status resolve_inheritance(yk_hw_table *t, yk_err *err)
{
    /* Parents may inherit too: resolve in as many passes as there are profiles, so chains settle
     * and a cycle cannot loop forever. */
    for (size_t pass = 0; pass < t->n_profiles; pass++) {
        for (size_t i = 0; i < t->n_profiles; i++) {
            yk_profile *child = &t->profiles[i];
            if (!child->inherit[0]) continue;
            const yk_profile *parent = yk_hw_find_profile(t, child->inherit);
            if (!parent)
                return yk_err_set(err, YK_E_FORMAT, "profile '%s' inherits from unknown profile '%s'", child->name, child->inherit);
            for (int k = 0; k < YK_F_COUNT; k++)
                if (child->inherits[k]) {
                    child->f[k].value = child->f[k].lo = child->f[k].hi = parent->f[k].value;
                    child->f[k].fit = false;
                }
        }
    }
    return YK_OK;
}

static yk_status parse_text(yk_hw_table *t, const char *text, size_t n, const char *name, yk_err *err)
{
    char *buf = malloc(n + 1);
    if (!buf) return yk_err_set(err, YK_E_NOMEM, "%s: out of memory", name);
    memcpy(buf, text, n);
    buf[n] = 0;
    yk_status st = YK_OK;
    int line = 0;
    char *save = NULL;
    size_t nf_cap = 16;
    char **f = malloc(nf_cap * sizeof *f);
    if (!f) {
        free(buf);
        return yk_err_set(err, YK_E_NOMEM, "%s: out of memory", name);
    }
    for (char *s = buf; s && st == YK_OK; s = save) {
        char *nl = strchr(s, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl) *nl = 0;
        line++;
        size_t len = strlen(s);
        if (len && s[len - 1] == '\r') s[--len] = 0;
        if (!len || s[0] == '#') continue;
        int nf = 0;
        for (char *p = s;;) {
            char *tab = strchr(p, '\t');
            if (tab) *tab = 0;
            if (p[0] == '#') break;
            if ((size_t)nf == nf_cap) {
                char **g = realloc(f, 2 * nf_cap * sizeof *f);
                if (!g) {
                    st = yk_err_set(err, YK_E_NOMEM, "%s: out of memory", name);
                    break;
                }
                f = g;
                nf_cap *= 2;
            }
            f[nf++] = p;
            if (!tab) break;
            p = tab + 1;
        }
        if (st != YK_OK) break;
        /* Trailing empty fields (tab before a comment) are dropped. */
        while (nf > 0 && !*f[nf - 1]) nf--;
        if (!nf) continue;
        src_pos at = {name, line};
        if (!strcmp(f[0], "gpu")) st = parse_dev(t, f, nf, YK_DEV_GPU, at, err);
        else if (!strcmp(f[0], "cpu")) st = parse_dev(t, f, nf, YK_DEV_CPU, at, err);
        else if (!strcmp(f[0], "link")) st = parse_link(t, f, nf, at, err);
        else if (!strcmp(f[0], "profile")) st = parse_profile(t, f, nf, at, err);
        else if (!strcmp(f[0], "factor")) st = parse_factor(t, f, nf, at, err);
        else st = bad(err, at, "unknown record kind '%s' (gpu, cpu, link, profile, factor)%s", f[0], "");
    }
    free(f);
    free(buf);
    return st;
}

void yk_hw_free(yk_hw_table *t)
{
    free(t->devs);
    free(t->links);
    free(t->profiles);
    memset(t, 0, sizeof *t);
}

yk_status yk_hw_load_text(yk_hw_table *t, const char *text, size_t n, const char *name, yk_err *err)
{
    /* Load into a copy first so that a failing file leaves t as it was, then resolve inheritance
     * over the whole table (parents may come from earlier loads). */
    yk_hw_table c = {0};
    yk_status st = YK_OK;
    if (t->n_devs) {
        c.devs = malloc(t->n_devs * sizeof *c.devs);
        if (!c.devs) return yk_err_set(err, YK_E_NOMEM, "%s: out of memory", name);
        memcpy(c.devs, t->devs, t->n_devs * sizeof *c.devs);
        c.n_devs = t->n_devs;
    }
    if (t->n_links) {
        c.links = malloc(t->n_links * sizeof *c.links);
        if (!c.links) {
            yk_hw_free(&c);
            return yk_err_set(err, YK_E_NOMEM, "%s: out of memory", name);
        }
        memcpy(c.links, t->links, t->n_links * sizeof *c.links);
        c.n_links = t->n_links;
    }
    if (t->n_profiles) {
        c.profiles = malloc(t->n_profiles * sizeof *c.profiles);
        if (!c.profiles) {
            yk_hw_free(&c);
            return yk_err_set(err, YK_E_NOMEM, "%s: out of memory", name);
        }
        memcpy(c.profiles, t->profiles, t->n_profiles * sizeof *c.profiles);
        c.n_profiles = t->n_profiles;
    }
    st = parse_text(&c, text, n, name, err);
    if (st == YK_OK && (st = resolve_inheritance(&c, err)) != YK_OK && err) {
        /* the table was whole before this file: the file is what broke it */
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        yk_err_set(err, st, "%s: %s", name, msg);
    }
    if (st != YK_OK) {
        yk_hw_free(&c);
        return st;
    }
    yk_hw_free(t);
    *t = c;
    return YK_OK;
}

static yk_status load_path(yk_hw_table *t, const char *path, yk_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return yk_err_set(err, YK_E_IO, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    yk_status st = YK_OK;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *g = realloc(buf, cap * 2);
        if (!g) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = g;
        cap *= 2;
    }
    if (!buf) st = yk_err_set(err, YK_E_NOMEM, "%s: out of memory", path);
    else if (ferror(f)) st = yk_err_set(err, YK_E_IO, "%s: read error", path);
    fclose(f);
    if (st == YK_OK) st = yk_hw_load_text(t, buf, n, path, err);
    free(buf);
    return st;
}

yk_status yk_hw_load_file(yk_hw_table *t, const char *path, yk_err *err)
{
    return load_path(t, path, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every *.tsv of dir in name order; a missing dir is not an error. */
static yk_status load_dir(yk_hw_table *t, const char *dir, yk_err *err)
{
    DIR *d = opendir(dir);
    if (!d) return YK_OK;
    char **names = NULL;
    size_t n = 0;
    yk_status st = YK_OK;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".tsv")) continue;
        char **g = realloc(names, (n + 1) * sizeof *names);
        char *s = g ? malloc(strlen(dir) + len + 2) : NULL;
        if (!s) {
            if (g) names = g;
            st = yk_err_set(err, YK_E_NOMEM, "%s: out of memory", dir);
            break;
        }
        names = g;
        sprintf(s, "%s/%s", dir, e->d_name);
        names[n++] = s;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && st == YK_OK; i++) st = load_path(t, names[i], err);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

yk_status yk_hw_load_default(yk_hw_table *t, yk_err *err)
{
    /* All built-in files are parsed as one text so that a profile may inherit from one defined in a
     * later file. */
    size_t total = 0;
    for (const yk_data_blob *b = yk_data_blobs; b->path; b++) total += strlen(b->text) + 1;
    char *all = malloc(total + 1);
    if (!all) return yk_err_set(err, YK_E_NOMEM, "built-in data: out of memory");
    size_t off = 0;
    for (const yk_data_blob *b = yk_data_blobs; b->path; b++) {
        size_t len = strlen(b->text);
        memcpy(all + off, b->text, len);
        off += len;
        all[off++] = '\n';
    }
    yk_status st = yk_hw_load_text(t, all, off, "built-in data (data/*.tsv)", err);
    free(all);
    if (st != YK_OK) return st;
    const char *dir = getenv("YOKE_DATA");
    if (dir && *dir) {
        st = load_dir(t, dir, err);
        if (st == YK_OK) {
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/profiles", dir);
            st = load_dir(t, sub, err);
        }
    }
    return st;
}

/* ---- lookups ---- */

/* Lower-cases and drops a leading "nvidia", "geforce", "rtx" word and spaces/dashes around them. */
static void norm_name(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < n; i++) {
        char c = (char)tolower((unsigned char)in[i]);
        if (c == ' ' || c == '_') c = '-';
        out[j++] = c;
    }
    out[j] = 0;
    static const char *const drop[] = {"nvidia-", "nvidia", "geforce-", "geforce", "rtx-", "rtx"};
    for (bool again = true; again;) {
        again = false;
        for (size_t k = 0; k < sizeof drop / sizeof *drop; k++) {
            size_t dl = strlen(drop[k]);
            if (!strncmp(out, drop[k], dl) && out[dl]) {
                memmove(out, out + dl, strlen(out + dl) + 1);
                again = true;
            }
        }
    }
}

static bool dev_matches(const yk_hw_dev *d, const char *want_norm)
{
    char buf[64];
    norm_name(d->name, buf, sizeof buf);
    if (!strcmp(buf, want_norm)) return true;
    char al[sizeof d->aliases];
    memcpy(al, d->aliases, sizeof al);
    for (char *save = NULL, *a = strtok_r(al, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        norm_name(a, buf, sizeof buf);
        if (!strcmp(buf, want_norm)) return true;
    }
    return false;
}

const yk_hw_dev *yk_hw_find_dev(const yk_hw_table *t, const char *name)
{
    char want[64];
    norm_name(name, want, sizeof want);
    if (!want[0]) return NULL;
    for (size_t i = t->n_devs; i-- > 0;)
        if (dev_matches(&t->devs[i], want)) return &t->devs[i];
    return NULL;
}

const yk_hw_link *yk_hw_find_link(const yk_hw_table *t, const char *name)
{
    for (size_t i = 0; i < t->n_links; i++)
        if (!strcasecmp(t->links[i].name, name)) return &t->links[i];
    return NULL;
}

const yk_profile *yk_hw_find_profile(const yk_hw_table *t, const char *name)
{
    for (size_t i = 0; i < t->n_profiles; i++)
        if (!strcasecmp(t->profiles[i].name, name)) return &t->profiles[i];
    return NULL;
}

const yk_profile *yk_hw_profile_for(const yk_hw_table *t, const char *engine, yk_dev_kind kind)
{
    if (kind == YK_DEV_CPU) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s-cpu", engine);
        const yk_profile *p = yk_hw_find_profile(t, buf);
        if (p) return p;
    }
    return yk_hw_find_profile(t, engine);
}

/* Levenshtein distance of two short strings (truncated at 63 characters). */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63) la = 63;
    if (lb > 63) lb = 63;
    int prev[64], cur[64];
    for (int j = 0; j <= lb; j++) prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof prev);
    }
    return prev[lb];
}

void yk_hw_suggest(const yk_hw_table *t, int kind, const char *name, char *out, size_t n)
{
    char want[64];
    if (kind == 0) norm_name(name, want, sizeof want);
    else {
        size_t i = 0;
        for (; name[i] && i + 1 < sizeof want; i++) want[i] = (char)tolower((unsigned char)name[i]);
        want[i] = 0;
    }
    size_t count = kind == 0 ? t->n_devs : kind == 1 ? t->n_links : t->n_profiles;
    /* Best three by distance of the normalised names (devices: also their aliases), ties by order. */
    const char *best[3] = {0};
    int bd[3] = {1 << 30, 1 << 30, 1 << 30};
    for (size_t i = 0; i < count; i++) {
        const char *nm = kind == 0 ? t->devs[i].name : kind == 1 ? t->links[i].name : t->profiles[i].name;
        char buf[64];
        if (kind == 0) norm_name(nm, buf, sizeof buf);
        else snprintf(buf, sizeof buf, "%s", nm);
        for (char *c = buf; *c; c++) *c = (char)tolower((unsigned char)*c);
        int d = edit_distance(want, buf);
        if (kind == 0) {
            char al[sizeof t->devs[i].aliases];
            memcpy(al, t->devs[i].aliases, sizeof al);
            for (char *save = NULL, *a = strtok_r(al, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
                norm_name(a, buf, sizeof buf);
                int da = edit_distance(want, buf);
                if (da < d) d = da;
            }
        }
        for (int k = 0; k < 3; k++) {
            if (d < bd[k]) {
                for (int m = 2; m > k; m--) bd[m] = bd[m - 1], best[m] = best[m - 1];
                bd[k] = d;
                best[k] = nm;
                break;
            }
        }
    }
    size_t off = 0;
    if (n) out[0] = 0;
    for (int k = 0; k < 3 && best[k]; k++) {
        int w = snprintf(out + off, n > off ? n - off : 0, "%s%s", k ? ", " : "", best[k]);
        if (w > 0) off += (size_t)w;
        if (off >= n) break;
    }
}

/* ---- command-line specs ---- */

yk_status yk_hw_parse_devs(const yk_hw_table *t, const char *flag, const char *spec, yk_hw_dev *out,
                           size_t max, size_t *n, yk_err *err)
{
    *n = 0;
    size_t len = strlen(spec);
    char *buf = malloc(len + 1);
    if (!buf) return yk_err_set(err, YK_E_NOMEM, "%s: out of memory", flag);
    memcpy(buf, spec, len + 1);
    yk_status st = YK_OK;
    int item = 0;
    for (char *rest = buf, *tok; (tok = strsep(&rest, ","));) {
        item++;
        while (*tok == ' ') tok++;
        size_t tl = strlen(tok);
        while (tl && tok[tl - 1] == ' ') tok[--tl] = 0;
        if (!tl) {
            st = yk_err_set(err, YK_E_INVALID, "%s: item %d of '%s' is empty", flag, item, spec);
            break;
        }
        /* "<count>x<name>": a count only when digits are followed by 'x'. */
        long count = 1;
        char *name = tok;
        size_t d = 0;
        while (isdigit((unsigned char)tok[d])) d++;
        if (d > 0) {
            size_t x = d;
            while (tok[x] == ' ') x++;
            if (tok[x] == 'x' || tok[x] == 'X' || tok[x] == '*') {
                errno = 0;
                count = strtol(tok, NULL, 10);
                name = tok + x + 1;
                while (*name == ' ') name++;
                if (errno || count < 1 || count > 4096) {
                    st = yk_err_set(err, YK_E_INVALID, "%s: item %d '%s': count must be 1 to 4096", flag, item, tok);
                    break;
                }
            }
        }
        if (!*name) {
            st = yk_err_set(err, YK_E_INVALID, "%s: item %d '%s' names no device (e.g. 2x4090)", flag, item, tok);
            break;
        }
        const yk_hw_dev *dev = yk_hw_find_dev(t, name);
        if (!dev) {
            char sug[256];
            yk_hw_suggest(t, 0, name, sug, sizeof sug);
            st = yk_err_set(err, YK_E_INVALID, "%s: unknown device '%s'; closest known: %s (yoke plan --list shows all; "
                            "--gpu name=X,vram=GiB,bw=GB/s,tflops=T,price=USD describes another)", flag, name, sug);
            break;
        }
        if (*n + (size_t)count > max) {
            st = yk_err_set(err, YK_E_INVALID, "%s: more than %zu devices in '%s'", flag, max, spec);
            break;
        }
        for (long k = 0; k < count; k++) out[(*n)++] = *dev;
    }
    if (st == YK_OK && *n == 0) st = yk_err_set(err, YK_E_INVALID, "%s: no device in '%s'", flag, spec);
    free(buf);
    return st;
}

yk_status yk_hw_parse_custom(const char *flag, const char *spec, yk_hw_dev *out, uint32_t *count, yk_err *err)
{
    yk_hw_dev d = {0};
    d.kind = YK_DEV_GPU;
    d.units = 0;
    *count = 1;
    bool have_name = false, have_mem = false, have_bw = false, have_tf = false;
    size_t len = strlen(spec);
    char *buf = malloc(len + 1);
    if (!buf) return yk_err_set(err, YK_E_NOMEM, "%s: out of memory", flag);
    memcpy(buf, spec, len + 1);
    yk_status st = YK_OK;
    for (char *rest = buf, *tok; st == YK_OK && (tok = strsep(&rest, ","));) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            st = yk_err_set(err, YK_E_INVALID, "%s: field '%s' is not key=value (name=X,vram=24,bw=1008,tflops=165,price=1600)", flag, tok);
            break;
        }
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        bool ok = true;
        double x;
        if (!strcmp(k, "name")) ok = have_name = *v && copy_str(d.name, sizeof d.name, v);
        else if (!strcmp(k, "vram") || !strcmp(k, "mem")) ok = have_mem = parse_num(v, 0.001, 1e6, &d.mem_gib);
        else if (!strcmp(k, "bw")) ok = have_bw = parse_num(v, 0.001, 1e6, &d.bw_gbs);
        else if (!strcmp(k, "tflops")) ok = have_tf = parse_num(v, 1e-6, 1e6, &d.tflops);
        else if (!strcmp(k, "price")) ok = parse_num(v, 0, 1e9, &d.price_usd);
        else if (!strcmp(k, "units") || !strcmp(k, "sms") || !strcmp(k, "cores")) {
            ok = parse_num(v, 1, 1e6, &x) && x == floor(x);
            d.units = (uint32_t)x;
        } else if (!strcmp(k, "unit_bw")) ok = parse_num(v, 0, 1e6, &d.unit_bw_gbs);
        else if (!strcmp(k, "p2p")) ok = parse_bool(v, &d.p2p);
        else if (!strcmp(k, "link")) ok = copy_str(d.link, sizeof d.link, v);
        else if (!strcmp(k, "count")) {
            ok = parse_num(v, 1, 4096, &x) && x == floor(x);
            *count = (uint32_t)x;
        } else if (!strcmp(k, "kind")) {
            if (!strcmp(v, "gpu")) d.kind = YK_DEV_GPU;
            else if (!strcmp(v, "cpu")) d.kind = YK_DEV_CPU;
            else ok = false;
        } else {
            st = yk_err_set(err, YK_E_INVALID, "%s: unknown field '%s' (name, vram, bw, tflops, price, units, unit_bw, p2p, link, count, kind)", flag, k);
            break;
        }
        if (!ok) st = yk_err_set(err, YK_E_INVALID, "%s: bad value '%s' for field '%s'", flag, v, k);
    }
    free(buf);
    if (st != YK_OK) return st;
    if (!have_name || !have_mem || !have_bw || !have_tf)
        return yk_err_set(err, YK_E_INVALID, "%s: missing field %s in '%s' (needs name, vram, bw, tflops)", flag,
                          !have_name ? "name" : !have_mem ? "vram" : !have_bw ? "bw" : "tflops", spec);
    if (!d.units) d.units = d.kind == YK_DEV_CPU ? 1 : (uint32_t)fmax(1, round(d.tflops * 0.8)); /* ~1.25 TFLOPS/SM */
    copy_str(d.desc, sizeof d.desc, d.name);
    if (!d.link[0]) copy_str(d.link, sizeof d.link, d.kind == YK_DEV_CPU ? "inproc" : "pcie4");
    *out = d;
    return YK_OK;
}

yk_status yk_hw_parse_link(const yk_hw_table *t, const char *flag, const char *spec, yk_hw_link *out, yk_err *err)
{
    if (!strchr(spec, '=')) {
        const yk_hw_link *l = yk_hw_find_link(t, spec);
        if (!l) {
            char sug[256];
            yk_hw_suggest(t, 1, spec, sug, sizeof sug);
            return yk_err_set(err, YK_E_INVALID, "%s: unknown link '%s'; closest known: %s (or bw=GB/s,lat=us)", flag, spec, sug);
        }
        *out = *l;
        return YK_OK;
    }
    yk_hw_link l = {0};
    copy_str(l.name, sizeof l.name, "custom");
    bool have_bw = false, have_lat = false, have_ar = false, have_step = false;
    size_t len = strlen(spec);
    char *buf = malloc(len + 1);
    if (!buf) return yk_err_set(err, YK_E_NOMEM, "%s: out of memory", flag);
    memcpy(buf, spec, len + 1);
    yk_status st = YK_OK;
    for (char *rest = buf, *tok; st == YK_OK && (tok = strsep(&rest, ","));) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            st = yk_err_set(err, YK_E_INVALID, "%s: field '%s' is not key=value (bw=GB/s,lat=us)", flag, tok);
            break;
        }
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        bool ok;
        if (!strcmp(k, "bw")) ok = have_bw = parse_num(v, 1e-6, 1e6, &l.bw_gbs);
        else if (!strcmp(k, "lat")) ok = have_lat = parse_num(v, 0, 1e7, &l.lat_us);
        else if (!strcmp(k, "ar")) ok = have_ar = parse_num(v, 0, 1e7, &l.ar_us);
        else if (!strcmp(k, "step")) ok = have_step = parse_num(v, 0, 1e7, &l.ar_step_us);
        else if (!strcmp(k, "pcie")) ok = parse_bool(v, &l.pcie);
        else if (!strcmp(k, "name")) ok = *v && copy_str(l.name, sizeof l.name, v);
        else {
            st = yk_err_set(err, YK_E_INVALID, "%s: unknown field '%s' (bw, lat, ar, step, pcie, name)", flag, k);
            break;
        }
        if (!ok) st = yk_err_set(err, YK_E_INVALID, "%s: bad value '%s' for field '%s'", flag, v, k);
    }
    free(buf);
    if (st != YK_OK) return st;
    if (!have_bw || !have_lat)
        return yk_err_set(err, YK_E_INVALID, "%s: missing field %s in '%s' (needs bw=GB/s,lat=us)", flag, !have_bw ? "bw" : "lat", spec);
    /* An all-reduce is two message latencies for two devices, one more per extra device. */
    if (!have_ar) l.ar_us = l.lat_us;
    if (!have_step) l.ar_step_us = l.lat_us;
    snprintf(l.desc, sizeof l.desc, "%g GB/s, %g us", l.bw_gbs, l.lat_us);
    *out = l;
    return YK_OK;
}

void yk_profile_write(FILE *f, const yk_profile *p)
{
    fprintf(f, "profile\t%s\tdesc=%s\tcalib=%s\tdevice=%s\ttp=%s\tar_per_layer=%u\tact_bytes=%g\tkv_bytes=%g\t"
               "embd_on_device=%s\tubatch=%u\tflash_attn=%s\tpp_overlap=%s\ttp_even=%s\tctx_mib=%g\tengine_mib=%g\tmem_frac=%g\n",
            p->name, p->desc, p->calib, p->device == YK_DEV_CPU ? "cpu" : "gpu", tp_names[p->tp], p->ar_per_layer,
            p->act_bytes, p->kv_bytes, p->embd_on_device ? "yes" : "no", p->ubatch, p->flash_attn ? "yes" : "no",
            p->pp_overlap ? "yes" : "no", p->tp_even ? "yes" : "no", p->ctx_mib, p->engine_mib, p->mem_frac);
    for (int i = 0; i < YK_F_COUNT; i++) {
        const yk_factor *fa = &p->f[i];
        if (fa->fit) fprintf(f, "factor\t%s\t%s\t%.6g\tfit=%g:%g\n", p->name, factor_names[i], fa->value, fa->lo, fa->hi);
        else fprintf(f, "factor\t%s\t%s\t%.6g\tfixed\n", p->name, factor_names[i], fa->value);
    }
}
