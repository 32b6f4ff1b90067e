/* cmd_bench.c: yoke bench: prefill and decode speed of a model for each layout asked, as medians
 * (with min and max) over repetitions after a warm-up, with the GB/s of weights read and the
 * fraction of this machine's measured read bandwidth. */
#include "session.h"
#include "plot.h"
#include "predict.h"
#include "yoke/bench.h"
#include "yoke/quant.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int tp, pp;
    yk_summary prefill, decode;  /* tok/s */
    double gb_s, bw_frac;        /* decode: weights read per second, fraction of read bandwidth */
    double comm_bytes_tok;       /* decode: bytes sent per token, all devices */
    int threads;
    bool ok;
    char err[1024];
    yk_dev_stats dev[64];
    uint64_t dev_tokens;
    bool predicted;
    double pred_decode, pred_prefill;  /* the planner's tok/s for this layout */
} bench_result;

static int parse_list(const char *cmd, const char *flag, const char *s, int *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 64) {
            cli_fail(cmd, "%s %s: expected a comma-separated list of integers in [1, 64]", flag, s);
            return -1;
        }
        out[n++] = (int)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) {
            cli_fail(cmd, "%s: unexpected '%c'", flag, *s);
            return -1;
        }
    }
    return n;
}

static int argmax(const float *v, uint32_t n)
{
    uint32_t b = 0;
    for (uint32_t i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return (int)b;
}

static void progress(const char *what, int tp, int pp, int rep, int reps)
{
    if (!isatty(2)) return;
    int width = 20, done = reps ? width * rep / reps : width;
    fprintf(stderr, "\r  tp %d pp %d %-8s [", tp, pp, what);
    for (int i = 0; i < width; i++) fputc(i < done ? '#' : '.', stderr);
    fprintf(stderr, "] %d/%d ", rep, reps);
    fflush(stderr);
}

/* Runs one layout: warm-up, then reps x (prefill of seqs prompts of n_prompt tokens, each in its
 * own slot, in one batch; decode of n_gen steps, each one token of every sequence). */
static void bench_layout(session *s, bench_result *r, int n_prompt, int n_gen, int reps, int seqs, uint64_t seed)
{
    uint32_t V = s->model.hp.n_vocab, np = (uint32_t)n_prompt, ns = (uint32_t)seqs, n = np * ns;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    uint32_t *seq = malloc((size_t)n * sizeof *seq), *pos = malloc((size_t)n * sizeof *pos);
    uint8_t *want = malloc(n);
    float *logits = malloc((size_t)ns * V * sizeof(float));
    double *pf = calloc((size_t)reps, sizeof(double)), *dc = calloc((size_t)reps, sizeof(double));
    yk_err err = {0};
    r->ok = ids && seq && pos && want && logits && pf && dc;
    uint64_t x = seed;
    for (uint32_t i = 0; r->ok && i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((x >> 33) % V);
        seq[i] = i / np;
        pos[i] = i % np;
        want[i] = pos[i] == np - 1;
    }
    yk_batch prompts = {.n = n, .ids = ids, .seq = seq, .pos = pos, .want = want};
    /* warm-up: touches every weight page and the KV cache */
    yk_batch warm = {.n = np < 16 ? np : 16, .ids = ids};
    r->ok = r->ok && yk_engine_decode(s->engine, &warm, logits, &err) == YK_OK;
    yk_engine_reset_stats(s->engine);
    int32_t step[64];
    yk_batch next = {.n = ns, .ids = step, .seq = seq, .want = want}; /* seq[0..ns) are 0..ns-1 after this */
    for (int rep = 0; r->ok && rep < reps; rep++) {
        progress("prefill", r->tp, r->pp, rep, reps);
        for (uint32_t q = 0; q < ns; q++) yk_engine_seq_clear(s->engine, q);
        for (uint32_t i = 0; i < n; i++) seq[i] = i / np, want[i] = pos[i] == np - 1;
        double t0 = yk_now();
        r->ok = yk_engine_decode(s->engine, &prompts, logits, &err) == YK_OK;
        pf[rep] = yk_tok_per_s(n, yk_now() - t0);
        progress("decode", r->tp, r->pp, rep, reps);
        for (uint32_t q = 0; q < ns; q++) seq[q] = q, want[q] = 1;
        t0 = yk_now();
        for (int i = 0; r->ok && i < n_gen; i++) {
            for (uint32_t q = 0; q < ns; q++) step[q] = argmax(logits + (size_t)q * V, V);
            r->ok = yk_engine_decode(s->engine, &next, logits, &err) == YK_OK;
        }
        dc[rep] = yk_tok_per_s((double)n_gen * ns, yk_now() - t0);
    }
    if (isatty(2)) fprintf(stderr, "\r%60s\r", "");
    if (r->ok) {
        r->prefill = yk_summarize(pf, reps);
        r->decode = yk_summarize(dc, reps);
        /* each decode step reads the weights once, whatever the number of sequences */
        r->gb_s = yk_gb_per_s((double)yk_model_weight_bytes(&s->model), r->decode.median / ns);
        if (s->plan.n_dev > 1 && !yk_engine_stats(s->engine, r->dev, &err)) {
            double bytes = 0;
            for (int d = 0; d < s->plan.n_dev; d++) bytes += r->dev[d].comm_bytes;
            r->dev_tokens = (uint64_t)reps * (uint64_t)(n + (uint64_t)n_gen * ns);
            r->comm_bytes_tok = bytes / (double)r->dev_tokens;
        }
    } else {
        snprintf(r->err, sizeof r->err, "%s", err.msg);
    }
    free(ids), free(seq), free(pos), free(want);
    free(logits);
    free(pf);
    free(dc);
}

/* Speedup against the number of devices, decode and prefill, relative to the first layout. */
static bool write_plot(const char *cmd, const char *path, const bench_result *r, int n)
{
    double x[64], dec[64], pre[64], pdec[64], ppre[64];
    bool have_pred = true;
    const char *lab[64];
    char labels[64][16];
    int k = 0;
    for (int i = 0; i < n && k < 64; i++) {
        if (!r[i].ok || !r[0].ok) continue;
        x[k] = r[i].tp * r[i].pp;
        dec[k] = r[i].decode.median / r[0].decode.median;
        pre[k] = r[i].prefill.median / r[0].prefill.median;
        have_pred &= r[i].predicted && r[0].predicted;
        pdec[k] = have_pred ? r[i].pred_decode / r[0].pred_decode : 0;
        ppre[k] = have_pred ? r[i].pred_prefill / r[0].pred_prefill : 0;
        snprintf(labels[k], sizeof labels[k], "tp%d pp%d", r[i].tp, r[i].pp);
        lab[k] = labels[k];
        k++;
    }
    plot_series s[4] = {
        {"decode, measured", "#1f77b4", false, k, x, dec, lab},
        {"prefill, measured", "#d62728", false, k, x, pre, NULL},
        {"decode, predicted", "#1f77b4", true, k, x, pdec, NULL},
        {"prefill, predicted", "#d62728", true, k, x, ppre, NULL},
    };
    if (!plot_svg(path, "yoke bench: speedup against devices", "devices", "speedup vs first layout", s, have_pred ? 4 : 2)) {
        cli_fail(cmd, "--plot %s: cannot write the file", path);
        return false;
    }
    return true;
}

/* --calibrate: fits the yoke-cpu profile's factors to this run's measurements (decode and prefill
 * of every layout) and writes it, with this machine's CPU row, to a file the planner loads. */
static bool write_calibration(const char *cmd, const char *path, const predictor *pred, const bench_result *r, int n, int threads,
                              uint32_t n_ctx, uint32_t n_prompt, uint32_t n_gen, double bw, const char *cpu)
{
    if (!pred->ok) {
        cli_fail(cmd, "--calibrate: %s", pred->why);
        return false;
    }
    yk_perf_obs *obs = calloc(128, sizeof *obs); /* 21 kB each: not on the stack */
    if (!obs) {
        cli_fail(cmd, "--calibrate: out of memory");
        return false;
    }
    size_t k = 0;
    for (int i = 0; i < n && k + 2 <= 128; i++) {
        if (!r[i].ok) continue;
        int nd = r[i].tp * r[i].pp, per = threads / nd > 0 ? threads / nd : 1;
        for (int metric = 0; metric < 2; metric++) {
            yk_perf_obs *o = &obs[k++];
            memset(o, 0, sizeof *o);
            o->model = &pred->model;
            yk_perf_rig_cpu(&o->rig, &pred->host, (uint32_t)nd, (uint32_t)per, pred->link);
            o->tp = (uint32_t)r[i].tp;
            o->pp = (uint32_t)r[i].pp;
            o->work = (yk_perf_work){.n_ctx = n_ctx, .n_seq = 1, .n_prompt = n_prompt, .n_past = n_prompt + n_gen / 2};
            o->metric = metric ? YK_METRIC_PREFILL : YK_METRIC_DECODE;
            o->value = metric ? r[i].prefill.median : r[i].decode.median;
            snprintf(o->label, sizeof o->label, "tp%d pp%d %s", r[i].tp, r[i].pp, metric ? "prefill" : "decode");
        }
    }
    yk_profile prof = *pred->prof;
    yk_err err = {0};
    double rms = 0;
    bool ok = false;
    FILE *f = NULL;
    if (yk_perf_fit(&prof, obs, k, &rms, &err)) {
        cli_fail(cmd, "--calibrate: %s (measure more layouts, e.g. --tp 1,2 --pp 1,2)", err.msg);
        goto done;
    }
    if (!(f = fopen(path, "w"))) {
        cli_fail(cmd, "--calibrate: cannot write %s", path);
        goto done;
    }
    fprintf(f, "# yoke bench --calibrate: the yoke-cpu profile fitted to %zu measurements on %s\n", k, cpu);
    fprintf(f, "# (rms log error %.3f). Load it with: yoke plan --hw %s, or put it under $YOKE_DATA/profiles/\n", rms, path);
    fprintf(f, "cpu\tthis-cpu\tdesc=this machine (%s)\tmem_gib=%.1f\tbw_gbs=%.2f\ttflops=%.3f\tunits=%u\tunit_bw_gbs=%.2f\tprice=0\tp2p=yes\tlink=inproc\n",
            cpu, pred->host.mem_gib, bw, pred->host.tflops, pred->host.units, pred->host.unit_bw_gbs);
    yk_profile_write(f, &prof);
    if (fclose(f)) {
        cli_fail(cmd, "--calibrate: cannot write %s", path);
        goto done;
    }
    fprintf(stderr, "yoke bench: wrote %s (yoke-cpu fitted to %zu measurements, rms log error %.3f)\n", path, k, rms);
    for (size_t i = 0; i < k; i++) {
        double p = 0;
        if (!yk_perf_obs_predict(&obs[i], &prof, &p, &err))
            fprintf(stderr, "  %-22s measured %10.2f  fitted model %10.2f  (%+.1f%%)\n", obs[i].label, obs[i].value, p, 100 * (p / obs[i].value - 1));
    }
    ok = true;
done:
    free(obs);
    return ok;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: yoke bench -m FILE [-p 512] [-n 128] [-r 5] [-t THREADS] [--tp 1,2] [--pp 1,2] [--seqs N] [--json|--csv] [--bw GB/s]\n"
               "       [--plot OUT.svg] [--hw FILE] [--calibrate [OUT.tsv]]\n"
               "  measures prefill (-p tokens in one batch) and decode (-n tokens one at a time) for every\n"
               "  layout --tp x --pp asked, as the median, min and max over -r repetitions after a warm-up,\n"
               "  beside the planner's prediction for the same layout on this machine (--hw FILE: extra hardware rows or a\n"
               "  calibrated profile); --seqs N runs N sequences at once (N prompts in one batch, then steps of one\n"
               "  token each) and reports tok/s over all of them; --calibrate fits the yoke-cpu profile to the\n"
               "  measurements and writes it (default yoke-cpu.tsv)\n");
    session_usage(f);
}

int yk_cmd_bench(int argc, char **argv)
{
    const char *cmd = argv[0];
    session_opts so;
    session_opts_init(&so);
    int64_t n_prompt = 512, n_gen = 128, reps = 5, seqs = 1;
    int tps[16] = {1}, pps[16] = {1}, ntp = 1, npp = 1;
    bool json = false, csv = false;
    const char *plot = NULL, *hw_file = NULL, *calibrate = NULL;
    double bw = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--tp") || !strcmp(a, "--pp")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 1;
            int n = parse_list(cmd, a, v, a[2] == 't' ? tps : pps, 16);
            if (n <= 0) return n < 0 ? 1 : cli_fail(cmd, "%s: empty list", a);
            *(a[2] == 't' ? &ntp : &npp) = n;
            continue;
        }
        int r = session_flag(cmd, &so, argc, argv, &i);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(a, "--seqs")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_int(cmd, a, v, 1, 64, &seqs)) return 1;
        } else if (!strcmp(a, "-p") || !strcmp(a, "-n") || !strcmp(a, "-r")) {
            if (!(v = cli_value(cmd, argc, argv, &i))) return 1;
            int64_t *dst = a[1] == 'p' ? &n_prompt : a[1] == 'n' ? &n_gen : &reps;
            if (!cli_int(cmd, a, v, a[1] == 'r' ? 1 : 1, a[1] == 'r' ? 1000 : 1 << 20, dst)) return 1;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--csv")) {
            csv = true;
        } else if (!strcmp(a, "--plot")) {
            if (!(plot = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--hw")) {
            if (!(hw_file = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--calibrate")) {
            /* optional value: the profile file to write */
            calibrate = i + 1 < argc && argv[i + 1][0] != '-' ? argv[++i] : "yoke-cpu.tsv";
        } else if (!strcmp(a, "--bw")) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_float(cmd, a, v, 0.001, 1e6, &bw)) return 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            return cli_fail(cmd, "unknown flag %s (yoke bench --help)", a);
        }
    }
    if (json && csv) return cli_fail(cmd, "--json and --csv exclude each other");
    if (!so.model_path) return cli_fail(cmd, "-m FILE is required");
    if (!so.eo.n_ctx) so.eo.n_ctx = (uint32_t)(n_prompt + n_gen + 16);
    if (!so.eo.n_batch) so.eo.n_batch = (uint32_t)n_prompt;
    if (so.eo.n_seq < (uint32_t)seqs) so.eo.n_seq = (uint32_t)seqs;
    if (calibrate && seqs > 1) return cli_fail(cmd, "--calibrate fits one sequence's figures: leave --seqs out");
    int threads = so.threads > 0 ? so.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;

    char cpu[256];
    yk_cpu_name(cpu, sizeof cpu);
    if (bw <= 0) {
        yk_pool *pool = yk_pool_create(threads);
        bw = pool ? yk_read_bandwidth(pool, (size_t)1 << 30, 3) : 0;
        yk_pool_destroy(pool);
    }

    static bench_result res[64];
    int nres = 0;
    bool mpi = yk_comm_mpi_launched();
    predictor pred;
    predictor_init(&pred, so.model_path, bw, hw_file, mpi);
    if (!pred.ok && !json && !csv) fprintf(stderr, "yoke bench: no prediction: %s\n", pred.why);
    for (int a = 0; a < ntp; a++)
        for (int b = 0; b < npp && nres < 64; b++) {
            bench_result *r = &res[nres++];
            memset(r, 0, sizeof *r);
            session_opts lo = so;
            /* under MPI the job's size is the device count: the first --tp and --pp values give its layout */
            lo.tp = tps[a];
            lo.pp = pps[b];
            if (mpi && ntp == 1 && npp == 1 && tps[0] == 1 && pps[0] == 1) lo.tp = lo.pp = 0; /* default: --tp = ranks */
            session s;
            int rc = session_open(cmd, &s, &lo, &argc, &argv);
            if (rc == 2) return 0; /* an MPI rank other than 0: served rank 0's layout */
            if (rc) return 1;
            r->tp = s.plan.tp;
            r->pp = s.plan.pp;
            r->threads = threads;
            /* A device with memory of its own (a GPU) measures its own read bandwidth: the
             * figure its decode GB/s is held against. */
            if (nres == 1 && s.n_devs > 0 && s.devs[0]->ops->read_bandwidth) {
                yk_err berr = {0};
                double gbps = 0;
                if (s.devs[0]->ops->read_bandwidth(s.devs[0], (size_t)1 << 31, &gbps, &berr) == YK_OK && gbps > 0) {
                    bw = gbps;
                    snprintf(cpu, sizeof cpu, "%s (%s)", s.devs[0]->name, s.devs[0]->desc);
                } else if (!json && !csv) {
                    fprintf(stderr, "yoke bench: %s: no bandwidth figure: %s\n", s.devs[0]->name, berr.msg);
                }
            }
            bench_layout(&s, r, (int)n_prompt, (int)n_gen, (int)reps, (int)seqs, 42);
            r->bw_frac = bw > 0 ? r->gb_s / bw : 0;
            yk_perf_result pr;
            /* the predictor models CPU devices; a GPU layout is measured without a prediction */
            if (!session_not_cpu(&s) && predictor_layout(&pred, r->tp, r->pp, threads, so.eo.n_ctx, (uint32_t)seqs, (uint32_t)n_prompt,
                                                            (uint32_t)(n_prompt + n_gen / 2), &pr)) {
                r->predicted = true;
                r->pred_decode = seqs > 1 ? pr.decode.tok_s : pr.decode1.tok_s;
                r->pred_prefill = pr.prefill.tok_s;
            }
            if (!json && !csv && nres == 1) {
                printf("yoke bench: %s (%s, %u layers, %.2f GB of weights), %s, %d threads, %s kernels, read bandwidth %.1f GB/s\n",
                       so.model_path, s.model.hp.arch, s.model.hp.n_layer, yk_model_weight_bytes(&s.model) / 1e9, cpu, threads,
                       yk_simd_path(), bw);
                if (seqs > 1) printf("  %lld sequences at once: tok/s count the tokens of all of them\n", (long long)seqs);
                printf("  %-9s %-8s %28s %28s %8s %7s   %s\n", "layout", "comm", "prefill tok/s (min-max)", "decode tok/s (min-max)", "GB/s",
                       "of bw", "predicted prefill / decode tok/s");
            }
            if (!json && !csv) {
                char lay[32], pf[64], dc[64];
                snprintf(lay, sizeof lay, "tp%d pp%d", r->tp, r->pp);
                if (r->ok) {
                    snprintf(pf, sizeof pf, "%.2f (%.2f-%.2f)", r->prefill.median, r->prefill.min, r->prefill.max);
                    snprintf(dc, sizeof dc, "%.2f (%.2f-%.2f)", r->decode.median, r->decode.min, r->decode.max);
                    char pv[64] = "-";
                    if (r->predicted) snprintf(pv, sizeof pv, "%.2f / %.2f", r->pred_prefill, r->pred_decode);
                    printf("  %-9s %-8s %28s %28s %8.2f %6.0f%%   %s\n", lay, s.mpi ? "mpi" : (s.plan.n_dev > 1 ? "threads" : "-"), pf, dc, r->gb_s,
                           100 * r->bw_frac, pv);
                    session_print_device_stats(&s, r->dev, r->dev_tokens, stdout);
                } else {
                    printf("  %-9s failed: %s\n", lay, r->err);
                }
                fflush(stdout);
            }
            session_close(&s);
            if (mpi) goto done;
        }
done:
    if (json) {
        printf("[");
        for (int i = 0; i < nres; i++) {
            bench_result *r = &res[i];
            printf("%s\n  {\"layout\": \"tp%d_pp%d\", \"tp\": %d, \"pp\": %d, \"devices\": %d, \"threads\": %d, \"ok\": %s, "
                   "\"seqs\": %lld, \"prefill_tokens\": %lld, \"decode_tokens\": %lld, \"repetitions\": %lld, "
                   "\"prefill_tok_s\": %.4f, \"prefill_tok_s_min\": %.4f, \"prefill_tok_s_max\": %.4f, "
                   "\"decode_tok_s\": %.4f, \"decode_tok_s_min\": %.4f, \"decode_tok_s_max\": %.4f, "
                   "\"decode_gb_s\": %.4f, \"read_bw_gb_s\": %.4f, \"bw_fraction\": %.4f, \"comm_bytes_per_token\": %.1f, "
                   "\"predicted_prefill_tok_s\": %.4f, \"predicted_decode_tok_s\": %.4f, \"cpu\": \"%s\"}",
                   i ? "," : "", r->tp, r->pp, r->tp, r->pp, r->tp * r->pp, r->threads, r->ok ? "true" : "false", (long long)seqs, (long long)n_prompt,
                   (long long)n_gen, (long long)reps, r->prefill.median, r->prefill.min, r->prefill.max, r->decode.median, r->decode.min,
                   r->decode.max, r->gb_s, bw, r->bw_frac, r->comm_bytes_tok, r->predicted ? r->pred_prefill : 0,
                   r->predicted ? r->pred_decode : 0, cpu);
        }
        printf("\n]\n");
    } else if (csv) {
        printf("layout,tp,pp,threads,prefill_tok_s,prefill_tok_s_min,prefill_tok_s_max,decode_tok_s,decode_tok_s_min,decode_tok_s_max,"
               "decode_gb_s,read_bw_gb_s,bw_fraction\n");
        for (int i = 0; i < nres; i++) {
            bench_result *r = &res[i];
            printf("tp%d_pp%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", r->tp, r->pp, r->tp, r->pp, r->threads,
                   r->prefill.median, r->prefill.min, r->prefill.max, r->decode.median, r->decode.min, r->decode.max, r->gb_s, bw,
                   r->bw_frac);
        }
    }
    int rc = 0;
    if (plot && !write_plot(cmd, plot, res, nres)) rc = 1;
    if (!rc && calibrate && !write_calibration(cmd, calibrate, &pred, res, nres, threads, so.eo.n_ctx, (uint32_t)n_prompt, (uint32_t)n_gen, bw, cpu))
        rc = 1;
    predictor_free(&pred);
    if (rc) return rc;
    for (int i = 0; i < nres; i++)
        if (!res[i].ok) return 1;
    return 0;
}
