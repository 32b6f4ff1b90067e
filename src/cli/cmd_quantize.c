/* cmd_quantize.c: yoke quantize IN.gguf OUT.gguf TYPE [--threads N]
 *
 * Converts a model to a quantisation mix (Q4_K_M, Q8_0, F16, ...; see yk_mix). Metadata is copied
 * (general.file_type and general.quantization_version are set for the mix); tensors are written in
 * the order and with the types the reference engine's quantiser would give them (quant_mix.c), each
 * dequantised to f32 when needed and quantised row by row on a thread pool, streamed to OUT one
 * chunk of rows at a time, so memory use is bounded by the chunk, not the model. Tensors whose row
 * length does not fit the chosen type's block fall back to a compatible type, said on stderr.
 * OUT is written to a temporary file beside it and renamed into place once complete
 * (yoke/outfile.h): an error, Ctrl-C or SIGTERM leaves OUT as it was and no temporary behind. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_VALUES (16 << 20) /* f32 values converted per pool job: 64 MB */

static void usage(FILE *f)
{
    fprintf(f, "usage: yoke quantize IN.gguf OUT.gguf TYPE [--threads N]\n"
               "  TYPE: a mix: ");
    for (int m = 0; m < YK_MIX_COUNT; m++) fprintf(f, "%s%s", m ? ", " : "", yk_mix_name((yk_mix)m));
    fprintf(f, "\n  --threads N   threads for quantisation (default: all online CPUs)\n");
}

typedef struct {
    const yk_gguf_tensor *t;
    char *name;
    yk_type type; /* output type */
} plan_entry;

static int cmp_plan(const void *a, const void *b)
{
    return yk_mix_tensor_order(((const plan_entry *)a)->name, ((const plan_entry *)b)->name);
}

typedef struct {
    const plan_entry *e;
    int64_t ne0, r0, r1; /* rows of this chunk */
    uint8_t *out;
    float **tmp;         /* one row buffer per thread */
} convert_job;

static void convert_task(void *p, int ith, int nth)
{
    convert_job *j = p;
    int64_t lo, hi;
    yk_split_range(j->r1 - j->r0, 1, ith, nth, &lo, &hi);
    size_t rb_in = yk_row_bytes(j->e->t->type, j->ne0), rb_out = yk_row_bytes(j->e->type, j->ne0);
    for (int64_t r = j->r0 + lo; r < j->r0 + hi; r++) {
        const uint8_t *src = (const uint8_t *)j->e->t->data + (size_t)r * rb_in;
        const float *row = (const float *)src;
        if (j->e->t->type != YK_TYPE_F32) {
            yk_dequantize_row(j->e->t->type, src, j->tmp[ith], j->ne0);
            row = j->tmp[ith];
        }
        yk_quantize_row(j->e->type, row, j->out + (size_t)(r - j->r0) * rb_out, j->ne0);
    }
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int get_int(const yk_gguf *g, const char *arch, const char *suffix, int dflt)
{
    char key[256];
    uint32_t v;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return yk_gguf_get_u32(g, key, &v) && v <= 1000000 ? (int)v : dflt;
}

int yk_cmd_quantize(int argc, char **argv)
{
    const char *cmd = argv[0], *in = NULL, *out = NULL, *mix_name = NULL;
    int64_t threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--threads")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_int(cmd, "--threads", v, 1, 1024, &threads)) return 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_fail(cmd, "unknown flag '%s' (yoke quantize --help)", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else if (!mix_name) {
            mix_name = argv[i];
        } else {
            return cli_fail(cmd, "unexpected argument '%s' (yoke quantize --help)", argv[i]);
        }
    }
    if (!in || !out || !mix_name) {
        usage(stderr);
        return 1;
    }
    int mix = yk_mix_from_name(mix_name);
    if (mix < 0) return cli_fail(cmd, "unknown type '%s' (yoke quantize --help lists the mixes)", mix_name);
    if (same_file(in, out)) return cli_fail(cmd, "OUT is the same file as IN (%s): choose another name", in);

    yk_gguf g;
    yk_err err = {0};
    cli_watch_mapped(in);
    if (yk_gguf_open(&g, in, &err) != YK_OK) return cli_fail(cmd, "%s", err.msg);
    int rc = 1;
    plan_entry *plan = calloc(g.n_tensors ? g.n_tensors : 1, sizeof *plan);
    yk_pool *pool = NULL;
    yk_gguf_writer *w = NULL;
    uint8_t *chunk = NULL;
    float **tmp = calloc((size_t)threads, sizeof *tmp);
    if (!plan || !tmp) {
        cli_fail(cmd, "out of memory");
        goto done;
    }

    /* model facts for the rules */
    yk_str arch_s = {"", 0};
    yk_gguf_get_str(&g, "general.architecture", &arch_s);
    char arch[128];
    snprintf(arch, sizeof arch, "%.*s", (int)(arch_s.len < 100 ? arch_s.len : 100), arch_s.ptr);
    yk_mix_model model = {0};
    model.n_layer = get_int(&g, arch, "block_count", 0);
    int n_head = get_int(&g, arch, "attention.head_count", 0), n_kv = get_int(&g, arch, "attention.head_count_kv", 0);
    model.n_gqa = n_head > 0 && n_kv > 0 ? n_head / n_kv : 1;
    model.n_expert = get_int(&g, arch, "expert_count", 0);
    model.falcon = !strcmp(arch, "falcon");
    model.is_70b = (!strcmp(arch, "llama") || !strcmp(arch, "qwen2")) && model.n_layer == 80;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const yk_gguf_tensor *t = &g.tensors[i];
        plan[i].t = t;
        plan[i].name = malloc(t->name.len + 1);
        if (!plan[i].name) {
            cli_fail(cmd, "out of memory");
            goto done;
        }
        memcpy(plan[i].name, t->name.ptr, t->name.len);
        plan[i].name[t->name.len] = 0;
        if (strstr(plan[i].name, "attn_v.weight") || strstr(plan[i].name, "attn_qkv.weight") ||
            strstr(plan[i].name, "attn_kv_b.weight"))
            model.n_attn_v++;
        if (!strcmp(plan[i].name, "output.weight")) model.has_output = true;
    }
    qsort(plan, g.n_tensors, sizeof *plan, cmp_plan);

    /* types, fallbacks and feasibility, before anything is written */
    yk_mix_state st = {0};
    int64_t max_ne0 = 1;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        plan_entry *e = &plan[i];
        yk_type wanted;
        e->type = yk_mix_tensor_type((yk_mix)mix, &model, &st, e->name, e->t->ne, e->t->n_dims, e->t->type, &wanted);
        if (e->type != wanted)
            fprintf(stderr, "yoke quantize: %s: rows of %lld values are not a multiple of the %s block (%d): using %s\n",
                    e->name, (long long)e->t->ne[0], yk_type_name(wanted), yk_type_layout_of(wanted)->block,
                    yk_type_name(e->type));
        if (e->type == e->t->type) continue;
        if (!yk_type_supported(e->t->type)) {
            cli_fail(cmd, "%s: tensor '%s' has type %s, which yoke cannot dequantise", in, e->name, yk_type_name(e->t->type));
            goto done;
        }
        if (!yk_type_quantizable(e->type)) {
            cli_fail(cmd, "%s: yoke cannot quantise to %s (tensor '%s')", in, yk_type_name(e->type), e->name);
            goto done;
        }
        if (e->t->ne[0] > max_ne0) max_ne0 = e->t->ne[0];
    }

    if (cli_writer_open(&w, out, &err) != YK_OK) {
        cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    for (uint64_t i = 0; i < g.n_kv; i++) {
        const yk_gguf_kv *kv = &g.kv[i];
        if (yk_str_eq(kv->key, "general.file_type") || yk_str_eq(kv->key, "general.quantization_version")) continue;
        if (yk_gguf_writer_copy_kv(w, &g, kv, &err) != YK_OK) goto werr;
    }
    uint32_t qv = 2, ft = yk_mix_file_type((yk_mix)mix);
    if (yk_gguf_writer_add_kv(w, "general.quantization_version", YK_GGUF_U32, &qv, &err) != YK_OK ||
        yk_gguf_writer_add_kv(w, "general.file_type", YK_GGUF_U32, &ft, &err) != YK_OK)
        goto werr;
    for (uint64_t i = 0; i < g.n_tensors; i++)
        if (yk_gguf_writer_add_tensor(w, plan[i].name, plan[i].type, plan[i].t->n_dims, plan[i].t->ne, &err) != YK_OK)
            goto werr;
    if (yk_gguf_writer_begin_data(w, &err) != YK_OK) goto werr;

    pool = yk_pool_create((int)threads);
    for (int i = 0; i < threads; i++) tmp[i] = malloc((size_t)max_ne0 * sizeof(float));
    for (int i = 0; i < threads; i++)
        if (!tmp[i] || !pool) {
            cli_fail(cmd, "out of memory for %lld threads", (long long)threads);
            goto done;
        }
    uint64_t bytes_in = 0, bytes_out = 0;
    int count[YK_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const plan_entry *e = &plan[i];
        bytes_in += e->t->nbytes;
        count[e->type]++;
        if (e->type == e->t->type) {
            if (yk_gguf_writer_write(w, e->t->data, e->t->nbytes, &err) != YK_OK) goto werr;
            bytes_out += e->t->nbytes;
            continue;
        }
        int64_t ne0 = e->t->ne[0];
        size_t rb_in = yk_row_bytes(e->t->type, ne0);
        int64_t rows = rb_in ? (int64_t)(e->t->nbytes / rb_in) : 0;
        int64_t per = CHUNK_VALUES / (ne0 > 0 ? ne0 : 1);
        if (per < 1) per = 1;
        size_t rb_out = yk_row_bytes(e->type, ne0);
        uint8_t *nc = realloc(chunk, rb_out * (size_t)(per < rows ? per : rows) + 1);
        if (!nc) {
            cli_fail(cmd, "out of memory converting '%s'", e->name);
            goto done;
        }
        chunk = nc;
        for (int64_t r0 = 0; r0 < rows; r0 += per) {
            convert_job j = {e, ne0, r0, r0 + per < rows ? r0 + per : rows, chunk, tmp};
            yk_pool_run(pool, convert_task, &j);
            if (yk_gguf_writer_write(w, chunk, rb_out * (size_t)(j.r1 - j.r0), &err) != YK_OK) goto werr;
        }
        bytes_out += rb_out * (size_t)rows;
    }
    yk_gguf_writer *wc = w;
    w = NULL;
    if (cli_writer_close(wc, &err) != YK_OK) {
        cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    printf("%s -> %s (%s): %llu tensors, %.1f MB -> %.1f MB:", in, out, yk_mix_name((yk_mix)mix),
           (unsigned long long)g.n_tensors, bytes_in / 1e6, bytes_out / 1e6);
    for (int t = 0; t < YK_TYPE_COUNT; t++)
        if (count[t]) printf(" %s x%d", yk_type_name(t), count[t]);
    printf("\n");
    rc = 0;
    goto done;
werr:
    cli_fail(cmd, "%s", err.msg);
done:
    if (w) cli_writer_discard(w); /* removes the temporary: OUT keeps its old bytes */
    yk_pool_destroy(pool);
    free(chunk);
    if (tmp)
        for (int i = 0; i < threads; i++) free(tmp[i]);
    free(tmp);
    if (plan)
        for (uint64_t i = 0; i < g.n_tensors; i++) free(plan[i].name);
    free(plan);
    yk_gguf_close(&g);
    return rc;
}
