/* generate.c: see generate.h. */
#include "generate.h"
#include "predict.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void gen_opts_init(gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->n_predict = 128;
    o->sp = yk_sampler_defaults();
}

void gen_usage(FILE *f)
{
    fprintf(f, "  -n N                 tokens to generate (default 128; -1: until end of generation)\n"
               "  --temp T             temperature (default 0.8; 0 = greedy)\n"
               "  --top-k K, --top-p P, --min-p P    filters (defaults 40, 0.95, 0.05; 0/1/0 = off)\n"
               "  --repeat-penalty R, --repeat-last-n N   repetition penalty (default 1 = off) and its window (64)\n"
               "  --seed S             sampler seed (same seed, same text)\n"
               "  --ignore-eos         keep generating after an end-of-generation token\n"
               "  --print-ids          print token ids instead of text\n");
}

int gen_flag(const char *cmd, gen_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    int64_t n;
    double x;
#define VALUE() if (!(v = cli_value(cmd, argc, argv, i))) return -1
    if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
        VALUE();
        if (!cli_int(cmd, a, v, -1, 1 << 24, &n)) return -1;
        o->n_predict = (int)n;
    } else if (!strcmp(a, "--temp")) {
        VALUE();
        if (!cli_float(cmd, a, v, 0, 100, &x)) return -1;
        o->sp.temp = (float)x;
    } else if (!strcmp(a, "--top-k")) {
        VALUE();
        if (!cli_int(cmd, a, v, 0, 1 << 24, &n)) return -1;
        o->sp.top_k = (int32_t)n;
    } else if (!strcmp(a, "--top-p") || !strcmp(a, "--min-p")) {
        VALUE();
        if (!cli_float(cmd, a, v, 0, 1, &x)) return -1;
        if (a[2] == 't') {
            if (x <= 0) return cli_fail(cmd, "--top-p %s: must be in (0, 1]", v), -1;
            o->sp.top_p = (float)x;
        } else {
            o->sp.min_p = (float)x;
        }
    } else if (!strcmp(a, "--repeat-penalty")) {
        VALUE();
        if (!cli_float(cmd, a, v, 1e-3, 1e3, &x)) return -1;
        o->sp.repeat_penalty = (float)x;
    } else if (!strcmp(a, "--repeat-last-n")) {
        VALUE();
        if (!cli_int(cmd, a, v, 0, 1 << 20, &n)) return -1;
        o->sp.repeat_last_n = (int32_t)n;
    } else if (!strcmp(a, "--seed")) {
        VALUE();
        if (!cli_int(cmd, a, v, 0, INT64_MAX, &n)) return -1;
        o->sp.seed = (uint64_t)n;
    } else if (!strcmp(a, "--ignore-eos")) {
        o->ignore_eos = true;
    } else if (!strcmp(a, "--print-ids")) {
        o->print_ids = true;
    } else {
        return 0;
    }
#undef VALUE
    return 1;
}

int gen_run(const char *cmd, session *s, const yk_tokenizer *tok, yk_sampler *smp, const gen_opts *o, const int32_t *ids,
            uint32_t n, uint32_t *pos, FILE *out, gen_result *res)
{
    int32_t *keep_ids = res->ids;
    uint32_t keep_cap = res->ids_cap;
    memset(res, 0, sizeof *res);
    res->ids = keep_ids;
    res->ids_cap = keep_cap;
    uint32_t V = s->model.hp.n_vocab, ctx = yk_engine_n_ctx(s->engine);
    if (n == 0) return cli_fail(cmd, "the prompt is empty");
    if ((uint64_t)*pos + n > ctx)
        return cli_fail(cmd, "the prompt has %u tokens%s, more than the context of %u (raise it with -c)", n,
                        *pos ? " beyond what was said before" : "", ctx);
    float *logits = malloc((size_t)V * sizeof(float));
    if (!logits) return cli_fail(cmd, "out of memory");
    yk_err err = {0};
    yk_detok dt;
    if (yk_detok_init(&dt, tok, false, false, &err)) {
        free(logits);
        return cli_fail(cmd, "%s", err.msg);
    }
    int rc = 0;
    /* prefill: the whole prompt in batches */
    double t0 = yk_now();
    if (yk_engine_forward(s->engine, ids, n, *pos, YK_LOGITS_LAST, logits, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    res->prompt_s = yk_now() - t0;
    res->n_prompt = n;
    *pos += n;
    for (uint32_t i = 0; i < n; i++) yk_sampler_accept(smp, ids[i]);
    /* decode: one token at a time */
    t0 = yk_now();
    for (int g = 0; o->n_predict < 0 || g < o->n_predict; g++) {
        int32_t id = yk_sampler_sample(smp, logits);
        yk_sampler_accept(smp, id);
        res->last_id = id;
        if (!o->ignore_eos && yk_tokenizer_is_eog(tok, id)) {
            res->stopped_eog = true;
            break;
        }
        if (o->print_ids) {
            fprintf(out, "%s%d", res->n_gen ? " " : "", id);
        } else {
            yk_str piece = yk_detok_push(&dt, id);
            fwrite(piece.ptr, 1, piece.len, out);
        }
        errno = 0;
        if (fflush(out) != 0 || ferror(out)) { /* a full disk, /dev/full: no point generating on */
            rc = cli_write_error(cmd, out == stdout ? "standard output" : "the output", errno);
            goto done;
        }
        if (res->ids && res->n_gen < res->ids_cap) res->ids[res->n_gen] = id;
        res->n_gen++;
        if (*pos >= ctx) {
            fprintf(stderr, "\n[context of %u tokens is full]\n", ctx);
            break;
        }
        if (o->n_predict >= 0 && g + 1 >= o->n_predict) break;
        if (yk_engine_forward(s->engine, &id, 1, *pos, YK_LOGITS_LAST, logits, &err)) {
            rc = cli_fail(cmd, "%s", err.msg);
            goto done;
        }
        *pos += 1;
    }
    res->gen_s = yk_now() - t0;
    if (!o->print_ids) {
        yk_str rest = yk_detok_flush(&dt);
        fwrite(rest.ptr, 1, rest.len, out);
    }
    errno = 0;
    if (fflush(out) != 0 || ferror(out)) rc = cli_write_error(cmd, out == stdout ? "standard output" : "the output", errno);
done:
    yk_detok_free(&dt);
    free(logits);
    return rc;
}

void gen_print_stats(const char *cmd, session *s, const gen_result *r, FILE *f)
{
    double wbytes = (double)yk_model_weight_bytes(&s->model);
    double pt = r->prompt_s > 0 ? r->n_prompt / r->prompt_s : 0, dt = r->gen_s > 0 ? r->n_gen / r->gen_s : 0;
    fprintf(f, "\n[%d device%s tp %d x pp %d | prompt %u tok, %.2f tok/s | decode %u tok, %.2f tok/s, %.1f ms/tok | %.2f GB/s of weights]\n",
            s->plan.n_dev, s->plan.n_dev > 1 ? "s" : "", s->plan.tp, s->plan.pp, r->n_prompt, pt, r->n_gen, dt,
            dt > 0 ? 1e3 / dt : 0, wbytes * dt / 1e9);
    /* the planner's figures for the same layout (this machine's bandwidth from the hardware table;
     * yoke bench measures it and --calibrate fits the profile) */
    predictor pred;
    yk_perf_result pr;
    const char *other = session_not_cpu(s);
    predictor_init(&pred, s->model_path, 0, getenv("YOKE_HW"), s->mpi != NULL);
    if (other)
        fprintf(f, "yoke %s: warning: no prediction: the planner's run-time model covers CPU devices; this layout has %s devices\n",
                cmd, other);
    else if (predictor_layout(&pred, s->plan.tp, s->plan.pp, s->threads, yk_engine_n_ctx(s->engine), 1, r->n_prompt,
                         r->n_prompt + r->n_gen / 2, &pr))
        fprintf(f, "[predicted: prompt %.2f tok/s, decode %.2f tok/s (%s, %.0f GB/s)]\n", pr.prefill.tok_s, pr.decode1.tok_s,
                pred.host.desc, pred.host.bw_gbs);
    else /* a malformed $YOKE_HW says its file and line here rather than dropping the line unsaid */
        fprintf(f, "yoke %s: warning: no prediction: %s\n", cmd, pred.why);
    predictor_free(&pred);
    if (s->plan.n_dev > 1) {
        yk_dev_stats st[64];
        yk_err err;
        if (!yk_engine_stats(s->engine, st, &err)) session_print_device_stats(s, st, (uint64_t)r->n_prompt + r->n_gen, f);
    }
}
