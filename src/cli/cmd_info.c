/* cmd_info.c: yoke info FILE.gguf [--json] -- describe a GGUF file: architecture and its
 * hyper-parameters (the "<arch>.*" keys), tokenizer, tensors, bytes per type, parameter count.
 * The numbers come from yk_gguf_summarize and yk_gguf_kv_text; this file only lays them out. */
#include "cli.h"

#include <errno.h>

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: yoke info FILE.gguf [--json]\n"
               "  Describes a GGUF file: architecture and hyper-parameters, tokenizer and vocabulary size,\n"
               "  every tensor (name, type, shape, bytes, offset), bytes per type, parameter count.\n"
               "  --json   one JSON object instead of the table\n");
}

/* A kv's value as text, in a buffer large enough for any rendering (freed by the caller). */
static char *value_text(const yk_gguf_kv *kv, bool json)
{
    size_t n = 8 * (size_t)kv->nbytes + 256; /* every rendering takes at most 8 chars per stored byte */
    char *buf = malloc(n);
    if (buf) yk_gguf_kv_text(kv, json, 16, buf, n);
    return buf;
}

/* "1.19 MB": decimal units, as the rest of yoke prints sizes. */
static const char *human_bytes(uint64_t b, char *buf, size_t n)
{
    const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1000 && u < 5) v /= 1000, u++;
    snprintf(buf, n, u ? "%.3g %s" : "%.0f %s", v, units[u]);
    return buf;
}

static const char *human_count(uint64_t c, char *buf, size_t n)
{
    const char *units[] = {"", " K", " M", " B", " T"};
    double v = (double)c;
    int u = 0;
    while (v >= 1000 && u < 4) v /= 1000, u++;
    snprintf(buf, n, u ? "%.4g%s" : "%.0f%s", v, units[u]);
    return buf;
}

static void shape_text(const yk_gguf_tensor *t, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (uint32_t d = 0; d < t->n_dims && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* True if key is "<arch>.something". */
static bool is_arch_key(yk_str key, yk_str arch)
{
    return arch.len && key.len > arch.len + 1 && !memcmp(key.ptr, arch.ptr, arch.len) && key.ptr[arch.len] == '.';
}

/* Prints a quoted JSON string (or null when absent). */
static void put_json_str(FILE *o, const char *p, uint64_t len, bool present)
{
    size_t n = 6 * (size_t)len + 3; /* \u00XX per byte at most, and the quotes */
    char *b = present ? calloc(1, n) : NULL;
    if (b && yk_json_str(b, n, p, len)) fputs(b, o);
    else fputs("null", o);
    free(b);
}

static void print_json(FILE *o, const yk_gguf *g, const yk_gguf_summary *s)
{
    fprintf(o, "{\n  \"file\": ");
    put_json_str(o, g->path, strlen(g->path), true);
    fprintf(o, ",\n  \"size\": %llu,\n  \"version\": %u,\n  \"alignment\": %llu,\n"
               "  \"data_offset\": %llu,\n  \"n_kv\": %llu,\n  \"architecture\": ",
            (unsigned long long)g->size, g->version, (unsigned long long)g->alignment,
            (unsigned long long)g->data_offset, (unsigned long long)g->n_kv);
    put_json_str(o, s->arch.ptr, s->arch.len, s->arch.len > 0);
    fprintf(o, ",\n  \"name\": ");
    put_json_str(o, s->name.ptr, s->name.len, s->name.len > 0);
    fprintf(o, ",\n  \"hparams\": {");
    int k = 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const yk_gguf_kv *kv = &g->kv[i];
        if (!is_arch_key(kv->key, s->arch)) continue;
        fprintf(o, "%s\n    ", k++ ? "," : "");
        put_json_str(o, kv->key.ptr + s->arch.len + 1, kv->key.len - s->arch.len - 1, true);
        char *v = value_text(kv, true);
        fprintf(o, ": %s", v ? v : "null");
        free(v);
    }
    fprintf(o, "%s},\n  \"tokenizer\": {\"model\": ", k ? "\n  " : "");
    put_json_str(o, s->tok_model.ptr, s->tok_model.len, s->tok_model.len > 0);
    fprintf(o, ", \"pre\": ");
    put_json_str(o, s->tok_pre.ptr, s->tok_pre.len, s->tok_pre.len > 0);
    fprintf(o, ", \"n_vocab\": %llu},\n", (unsigned long long)s->n_vocab);
    fprintf(o, "  \"n_params\": %llu,\n  \"tensor_bytes\": %llu,\n  \"types\": [",
            (unsigned long long)s->n_params, (unsigned long long)s->tensor_bytes);
    k = 0;
    for (int t = 0; t < YK_TYPE_COUNT; t++)
        if (s->type_count[t])
            fprintf(o, "%s\n    {\"type\": \"%s\", \"tensors\": %llu, \"bytes\": %llu}", k++ ? "," : "", yk_type_name(t),
                    (unsigned long long)s->type_count[t], (unsigned long long)s->type_bytes[t]);
    fprintf(o, "%s],\n  \"tensors\": [", k ? "\n  " : "");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const yk_gguf_tensor *t = &g->tensors[i];
        char shape[128];
        shape_text(t, shape, sizeof shape);
        fprintf(o, "%s\n    {\"name\": ", i ? "," : "");
        put_json_str(o, t->name.ptr, t->name.len, true);
        fprintf(o, ", \"type\": \"%s\", \"shape\": %s, \"bytes\": %llu, \"offset\": %llu}", yk_type_name(t->type), shape,
                (unsigned long long)t->nbytes, (unsigned long long)(g->data_offset + t->offset));
    }
    fprintf(o, "%s]\n}\n", g->n_tensors ? "\n  " : "");
}

static void print_human(FILE *o, const yk_gguf *g, const yk_gguf_summary *s)
{
    char h1[64], h2[64];
    fprintf(o, "file          %s\n", g->path);
    fprintf(o, "size          %llu bytes (%s), GGUF v%u, %llu metadata keys, %llu tensors, alignment %llu, data at %llu\n",
            (unsigned long long)g->size, human_bytes(g->size, h1, sizeof h1), g->version, (unsigned long long)g->n_kv,
            (unsigned long long)g->n_tensors, (unsigned long long)g->alignment, (unsigned long long)g->data_offset);
    if (s->name.len) fprintf(o, "name          %.*s\n", (int)s->name.len, s->name.ptr);
    fprintf(o, "architecture  %.*s\n", s->arch.len ? (int)s->arch.len : 1, s->arch.len ? s->arch.ptr : "-");
    size_t w = 0;
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (is_arch_key(g->kv[i].key, s->arch) && g->kv[i].key.len - s->arch.len - 1 > w)
            w = g->kv[i].key.len - s->arch.len - 1;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const yk_gguf_kv *kv = &g->kv[i];
        if (!is_arch_key(kv->key, s->arch)) continue;
        char *v = value_text(kv, false);
        fprintf(o, "  %-*.*s  %s\n", (int)w, (int)(kv->key.len - s->arch.len - 1), kv->key.ptr + s->arch.len + 1,
                v ? v : "?");
        free(v);
    }
    if (s->tok_model.len)
        fprintf(o, "tokenizer     %.*s (pre: %.*s), %llu tokens\n", (int)s->tok_model.len, s->tok_model.ptr,
                s->tok_pre.len ? (int)s->tok_pre.len : 1, s->tok_pre.len ? s->tok_pre.ptr : "-",
                (unsigned long long)s->n_vocab);
    else
        fprintf(o, "tokenizer     none\n");
    fprintf(o, "parameters    %llu (%s)\n", (unsigned long long)s->n_params, human_count(s->n_params, h1, sizeof h1));
    fprintf(o, "tensor bytes  %llu (%s)\n", (unsigned long long)s->tensor_bytes, human_bytes(s->tensor_bytes, h1, sizeof h1));
    fprintf(o, "bytes per type\n");
    for (int t = 0; t < YK_TYPE_COUNT; t++)
        if (s->type_count[t])
            fprintf(o, "  %-8s %6llu tensors %14llu bytes (%s, %.1f%%)\n", yk_type_name(t),
                    (unsigned long long)s->type_count[t], (unsigned long long)s->type_bytes[t],
                    human_bytes(s->type_bytes[t], h2, sizeof h2),
                    s->tensor_bytes ? 100.0 * (double)s->type_bytes[t] / (double)s->tensor_bytes : 0.0);
    if (!g->n_tensors) return;
    /* The tensor table: column widths from the data. */
    size_t wn = 4, ws = 5;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        char shape[128];
        shape_text(&g->tensors[i], shape, sizeof shape);
        if (g->tensors[i].name.len > wn) wn = (size_t)g->tensors[i].name.len;
        if (strlen(shape) > ws) ws = strlen(shape);
    }
    fprintf(o, "tensors\n  %-*s  %-7s  %-*s  %14s  %14s\n", (int)wn, "name", "type", (int)ws, "shape", "bytes", "offset");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const yk_gguf_tensor *t = &g->tensors[i];
        char shape[128];
        shape_text(t, shape, sizeof shape);
        fprintf(o, "  %-*.*s  %-7s  %-*s  %14llu  %14llu\n", (int)wn, (int)t->name.len, t->name.ptr, yk_type_name(t->type),
                (int)ws, shape, (unsigned long long)t->nbytes, (unsigned long long)(g->data_offset + t->offset));
    }
}

int yk_cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) return cli_fail(argv[0], "unknown flag '%s' (see yoke info --help)", argv[i]);
        else if (path) return cli_fail(argv[0], "one file at a time ('%s' and '%s')", path, argv[i]);
        else path = argv[i];
    }
    if (!path) {
        usage(stderr);
        return 1;
    }
    yk_gguf g;
    yk_err err = {0};
    cli_watch_mapped(path);
    if (yk_gguf_open(&g, path, &err)) return cli_fail(argv[0], "%s", err.msg);
    yk_gguf_summary s;
    yk_gguf_summarize(&g, &s);
    if (json) print_json(stdout, &g, &s);
    else print_human(stdout, &g, &s);
    yk_gguf_close(&g);
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) return cli_write_error(argv[0], "standard output", errno);
    return 0;
}
