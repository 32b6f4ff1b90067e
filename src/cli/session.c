/* session.c: model + plan + engine set-up shared by the commands that run a model. */
#include "session.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void session_opts_init(session_opts *o)
{
    memset(o, 0, sizeof *o);
    o->copy_weights = -1;
}

void session_usage(FILE *f)
{
    fprintf(f,
            "  -m FILE              model (GGUF)\n"
            "  --devices LIST       devices by plan rank: cpu:N (N CPU devices, threads divided among\n"
            "                       them), cuda:I (GPU I), cuda:IxK (K logical devices on GPU I), e.g.\n"
            "                       cpu:1,cuda:0 --pp 2; default: CPU devices, as many as --tp x --pp\n"
            "  --tp N, --pp M       tensor-parallel group size, pipeline stages (devices = N x M)\n"
            "  --split r1,r2,...    uneven ratios for the split dimension (--split-tp, --split-pp for both)\n"
            "  --micro-batch N      tokens per pipeline micro-batch in prefill\n"
            "  -t N                 threads over all devices (default: one per core)\n"
            "  -c N                 context length of each sequence (KV cache positions; default min(training, 4096))\n"
            "  --parallel N, -np N  KV slots: sequences decoded together, each with its own context of -c\n"
            "                       positions (default 1; the cache takes N times the memory)\n"
            "  --batch N            most tokens per forward pass (default 512)\n"
            "  --copy-weights, --no-copy-weights   devices keep their own copy of their slice (default with >1 device)\n"
            "  --kv-type f16|f32    KV cache element type (default f32; f16 halves its memory)\n"
            "  --comm-quant q8      send all-reduce payloads as 8-bit blocks (3.8x less traffic, small logit error)\n"
            "  --show-plan          print which device holds what and the traffic per token\n");
}

int session_flag(const char *cmd, session_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    int64_t n;
#define VALUE() if (!(v = cli_value(cmd, argc, argv, i))) return -1
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        VALUE();
        o->model_path = v;
    } else if (!strcmp(a, "--devices")) {
        VALUE();
        yk_device_spec specs[64];
        int nd;
        yk_err err;
        if (yk_devices_parse(v, specs, 64, &nd, &err)) {
            cli_fail(cmd, "%s", err.msg);
            return -1;
        }
        o->devices = v;
    } else if (!strcmp(a, "--tp") || !strcmp(a, "--pp")) {
        VALUE();
        if (!cli_int(cmd, a, v, 1, 64, &n)) return -1;
        *(a[2] == 't' ? &o->tp : &o->pp) = (int)n;
    } else if (!strcmp(a, "--split") || !strcmp(a, "-ts")) {
        VALUE();
        o->split = v;
    } else if (!strcmp(a, "--split-tp")) {
        VALUE();
        o->split_tp = v;
    } else if (!strcmp(a, "--split-pp")) {
        VALUE();
        o->split_pp = v;
    } else if (!strcmp(a, "--micro-batch")) {
        VALUE();
        if (!cli_int(cmd, a, v, 1, 1 << 20, &n)) return -1;
        o->micro_batch = (uint32_t)n;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        VALUE();
        if (!cli_int(cmd, a, v, 1, 1024, &n)) return -1;
        o->threads = (int)n;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size") || !strcmp(a, "--ctx")) {
        VALUE();
        if (!cli_int(cmd, a, v, 1, 1 << 24, &n)) return -1;
        o->eo.n_ctx = (uint32_t)n;
    } else if (!strcmp(a, "--parallel") || !strcmp(a, "-np")) {
        VALUE();
        if (!cli_int(cmd, a, v, 1, 4096, &n)) return -1;
        o->eo.n_seq = (uint32_t)n;
    } else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) {
        VALUE();
        if (!cli_int(cmd, a, v, 1, 1 << 16, &n)) return -1;
        o->eo.n_batch = (uint32_t)n;
    } else if (!strcmp(a, "--copy-weights")) {
        o->copy_weights = 1;
    } else if (!strcmp(a, "--no-copy-weights")) {
        o->copy_weights = 0;
    } else if (!strcmp(a, "--kv-type") || !strcmp(a, "-ctk")) {
        VALUE();
        if (!strcasecmp(v, "f16")) o->eo.kv_f16 = true;
        else if (!strcasecmp(v, "f32")) o->eo.kv_f16 = false;
        else {
            cli_fail(cmd, "%s %s: expected f32 or f16", a, v);
            return -1;
        }
    } else if (!strcmp(a, "--comm-quant")) {
        VALUE();
        if (!strcmp(v, "q8")) o->eo.comm_quant = YK_COMM_Q8;
        else if (!strcmp(v, "f32") || !strcmp(v, "none")) o->eo.comm_quant = YK_COMM_F32;
        else {
            cli_fail(cmd, "--comm-quant %s: expected q8 or f32", v);
            return -1;
        }
    } else if (!strcmp(a, "--show-plan")) {
        o->show_plan = true;
    } else {
        return 0;
    }
#undef VALUE
    return 1;
}

static uint32_t block_of(yk_type t) { return (uint32_t)yk_type_layout_of(t)->block; }

int session_open(const char *cmd, session *s, const session_opts *o, int *argc, char ***argv)
{
    memset(s, 0, sizeof *s);
    yk_err err = {0};
    if (!o->model_path) return cli_fail(cmd, "-m FILE is required");
    bool mpi = yk_comm_mpi_launched();
    if (mpi) {
        if (!(s->mpi = yk_comm_mpi_create(argc, argv, &err))) return cli_fail(cmd, "%s", err.msg);
        s->rank = s->mpi->rank;
    }
    if (yk_model_load(&s->model, o->model_path, &err)) {
        cli_fail(cmd, "%s", err.msg);
        goto fail;
    }
    /* The devices: --tp x --pp, or --devices LIST as --tp N, or the MPI job's size as --tp. */
    int tp = o->tp, pp = o->pp, nlist = 0;
    if (o->devices && yk_devices_parse(o->devices, s->specs, 64, &nlist, &err)) {
        cli_fail(cmd, "%s", err.msg);
        goto fail;
    }
    if (mpi && nlist && nlist != s->mpi->size) {
        cli_fail(cmd, "--devices %s names %d devices, but the MPI job has %d ranks (one device each)", o->devices, nlist, s->mpi->size);
        goto fail;
    }
    int ndev = nlist ? nlist : (mpi ? s->mpi->size : 0);
    if (!tp && !pp) tp = ndev ? ndev : 1;
    if (!tp) tp = ndev && pp && ndev % pp == 0 ? ndev / pp : 1;
    if (!pp) pp = ndev && ndev % tp == 0 ? ndev / tp : 1;
    if (ndev && tp * pp != ndev) {
        cli_fail(cmd, "--tp %d x --pp %d = %d devices, but %s %d", tp, pp, tp * pp, mpi ? "the MPI job has" : "--devices gives", ndev);
        goto fail;
    }
    double tpr[64], ppr[64];
    const char *stp = o->split_tp, *spp = o->split_pp;
    if (o->split) {
        if (tp > 1 && pp > 1) {
            cli_fail(cmd, "--split is ambiguous with both --tp and --pp: use --split-tp and --split-pp");
            goto fail;
        }
        if (tp > 1) stp = o->split;
        else spp = o->split;
    }
    if (stp && !yk_parse_ratios(stp, tp, tpr)) {
        cli_fail(cmd, "--split %s: expected %d positive ratios separated by commas (one per tensor-parallel device)", stp, tp);
        goto fail;
    }
    if (spp && !yk_parse_ratios(spp, pp, ppr)) {
        cli_fail(cmd, "--split %s: expected %d positive ratios separated by commas (one per pipeline stage)", spp, pp);
        goto fail;
    }
    const yk_layer_weights *l0 = &s->model.layers[0];
    yk_plan_opts po = {.tp = tp, .pp = pp, .pp_ratios = spp ? ppr : NULL, .tp_ratios = stp ? tpr : NULL,
                       .attn_align = block_of(l0->wo.type), .ffn_align = block_of(l0->w_down.type), .micro_batch = o->micro_batch};
    for (uint32_t l = 1; l < s->model.hp.n_layer; l++) {
        /* mixes give layers different types: align to the largest block */
        const yk_layer_weights *lw = &s->model.layers[l];
        if (block_of(lw->wo.type) > po.attn_align) po.attn_align = block_of(lw->wo.type);
        if (block_of(lw->w_down.type) > po.ffn_align) po.ffn_align = block_of(lw->w_down.type);
    }
    if (yk_plan_make(&s->plan, &s->model.hp, &po, &err)) {
        cli_fail(cmd, "%s", err.msg);
        goto fail;
    }
    s->kv_elem_bytes = o->eo.kv_f16 ? 2 : 4;
    s->model_path = o->model_path;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->threads = o->threads > 0 ? o->threads : (cores > 0 ? (int)cores : 1);
    if (!nlist) /* CPU devices, one per plan rank */
        for (int r = 0; r < s->plan.n_dev; r++) s->specs[r] = (yk_device_spec){.kind = "cpu", .index = r};
    /* Under MPI this process makes only its rank's device, with all of its threads. */
    s->n_devs = mpi ? 1 : s->plan.n_dev;
    yk_status st = yk_devices_open(mpi ? &s->specs[s->rank] : s->specs, s->n_devs, s->threads,
                                   mpi && o->copy_weights < 0 ? 0 : o->copy_weights, s->devs, &err);
    if (st) {
        s->n_devs = 0;
        cli_fail(cmd, "%s", err.msg);
        goto fail;
    }
    if (o->show_plan && s->rank == 0) session_print_plan(s, stderr);
    st = mpi ? yk_engine_create_mpi(&s->engine, &s->model, &s->plan, s->mpi, s->devs[0], &o->eo, &err)
             : yk_engine_create_local(&s->engine, &s->model, &s->plan, s->devs, &o->eo, &err);
    if (st) {
        cli_fail(cmd, "%s", err.msg);
        goto fail;
    }
    if (mpi && s->rank != 0) {
        st = yk_engine_serve(s->engine, &err);
        if (st) cli_fail(cmd, "rank %d: %s", s->rank, err.msg);
        session_close(s);
        return st ? 1 : 2;
    }
    return 0;
fail:
    if (s->mpi) yk_comm_abort(s->mpi, "start-up failed");
    session_close(s);
    return 1;
}

void session_close(session *s)
{
    yk_engine_free(s->engine);
    yk_devices_close(s->devs, s->n_devs);
    yk_plan_free(&s->plan);
    yk_model_free(&s->model);
    yk_comm_destroy(s->mpi);
    memset(s, 0, sizeof *s);
}

const char *session_not_cpu(const session *s)
{
    for (int r = 0; r < s->plan.n_dev; r++)
        if (strcmp(s->specs[r].kind, "cpu")) return s->specs[r].kind;
    return NULL;
}

static void fmt_bytes(char *buf, size_t n, double b)
{
    if (b >= 1e9) snprintf(buf, n, "%.2f GB", b / 1e9);
    else if (b >= 1e6) snprintf(buf, n, "%.2f MB", b / 1e6);
    else if (b >= 1e3) snprintf(buf, n, "%.1f kB", b / 1e3);
    else snprintf(buf, n, "%.0f B", b);
}

void session_print_plan(const session *s, FILE *f)
{
    const yk_plan *p = &s->plan;
    const yk_hparams *hp = &s->model.hp;
    fprintf(f, "plan: %d device%s = tp %d x pp %d over %s; model %s, %u layers, %u heads / %u KV heads, ff %u, vocab %u\n",
            p->n_dev, p->n_dev > 1 ? "s" : "", p->tp, p->pp, s->mpi ? "MPI" : "threads (in-process)", hp->arch, hp->n_layer,
            hp->n_head, hp->n_head_kv, hp->n_ff, hp->n_vocab);
    fprintf(f, "  %-6s %-5s %-9s %-9s %-8s %-11s %-13s %10s %12s\n", "device", "stage", "layers", "q heads", "kv heads", "ffn cols",
            "vocab rows", "weights", "KV/token");
    for (int r = 0; r < p->n_dev; r++) {
        const yk_plan_dev *d = &p->dev[r];
        char w[32], kv[32], lay[24], qh[24], kvh[24], ff[24], voc[32];
        fmt_bytes(w, sizeof w, (double)yk_model_slice_bytes(&s->model, d->layer0, d->layer1, d->head0, d->head1, d->kv0, d->kv1,
                                                             d->ff0, d->ff1, d->vocab0, d->vocab1));
        fmt_bytes(kv, sizeof kv, 2.0 * (d->layer1 - d->layer0) * (d->kv1 - d->kv0) * hp->head_dim * s->kv_elem_bytes);
        snprintf(lay, sizeof lay, "%u-%u", d->layer0, d->layer1 - 1);
        snprintf(qh, sizeof qh, "%u-%u", d->head0, d->head1 - 1);
        snprintf(kvh, sizeof kvh, "%u-%u", d->kv0, d->kv1 - 1);
        snprintf(ff, sizeof ff, "%u-%u", d->ff0, d->ff1 - 1);
        if (d->vocab1 > d->vocab0) snprintf(voc, sizeof voc, "%u-%u", d->vocab0, d->vocab1 - 1);
        else snprintf(voc, sizeof voc, "-");
        fprintf(f, "  %-6d %-5d %-9s %-9s %-8s %-11s %-13s %10s %12s\n", r, d->stage, lay, qh, kvh, ff, voc, w, kv);
    }
    /* traffic per token: TP all-reduces of n_embd floats, two per layer; PP hops of n_embd floats */
    double ar = p->tp > 1 ? 2.0 * hp->n_layer * hp->n_embd * sizeof(float) : 0;
    double hop = (double)(p->pp - 1) * hp->n_embd * sizeof(float);
    char a[32], h[32];
    fmt_bytes(a, sizeof a, ar);
    fmt_bytes(h, sizeof h, hop);
    fprintf(f, "  traffic per token: all-reduce %s per device (%u all-reduces of %u floats), pipeline hops %s\n", a,
            p->tp > 1 ? 2 * hp->n_layer : 0, hp->n_embd, h);
    if (p->pp > 1)
        fprintf(f, "  note: decode of one sequence passes through the %d stages in turn, so pipeline parallelism adds capacity,\n"
                   "        not decode speed; prefill overlaps the stages with micro-batches\n", p->pp);
}

void session_print_device_stats(session *s, const yk_dev_stats *st, uint64_t tokens, FILE *f)
{
    if (s->plan.n_dev < 2 || !tokens) return;
    for (int r = 0; r < s->plan.n_dev; r++)
        fprintf(f, "    device %d (%s): compute %.3f ms/tok, communication and waiting %.3f ms/tok, %.1f kB/tok sent\n", r, st[r].name,
                1e3 * (st[r].busy_s - st[r].comm_s) / tokens, 1e3 * st[r].comm_s / tokens, st[r].comm_bytes / 1e3 / tokens);
}
