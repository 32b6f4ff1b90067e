/* test_bench.c: the bench's arithmetic on synthetic numbers, and `yoke bench --json` on a tiny
 * model: the schema (keys of every result) is stable and the figures are positive. No speed
 * assertions: speed targets live in bench/ and docs/PERF.md. */
#include "gen_model.h"
#include "test.h"
#include "yoke/bench.h"

static bool has_key(const char *json, const char *key)
{
    char k[96];
    snprintf(k, sizeof k, "\"%s\": ", key);
    return strstr(json, k) != NULL;
}

static double num_after(const char *s, const char *key)
{
    char k[96];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(s, k);
    return p ? strtod(p + strlen(k), NULL) : -1;
}

int main(void)
{
    /* medians: odd count takes the middle, even the mean of the middle two; input not reordered */
    double v[] = {5, 1, 4, 2, 3};
    yk_summary s = yk_summarize(v, 5);
    CHECK(s.median == 3 && s.min == 1 && s.max == 5 && s.n == 5, "odd summary %g %g %g", s.median, s.min, s.max);
    CHECK(v[0] == 5 && v[4] == 3, "input left as it was");
    double w[] = {10, 40, 20, 30};
    s = yk_summarize(w, 4);
    CHECK(s.median == 25 && s.min == 10 && s.max == 40, "even summary %g", s.median);
    s = yk_summarize(w, 0);
    CHECK(s.n == 0 && s.median == 0, "empty summary");
    /* 128 tokens in 4 s = 32 tok/s; 2.5 GB per token at 32 tok/s = 80 GB/s */
    CHECK(yk_tok_per_s(128, 4) == 32, "tok/s");
    CHECK(yk_tok_per_s(128, 0) == 0, "tok/s of zero time");
    CHECK(fabs(yk_gb_per_s(2.5e9, 32) - 80) < 1e-9, "GB/s");
    /* the bandwidth probe measures something plausible (between 0.1 GB/s and 10 TB/s) */
    yk_pool *pool = yk_pool_create(2);
    double bw = yk_read_bandwidth(pool, (size_t)64 << 20, 2);
    CHECK(bw > 0.1 && bw < 10000, "read bandwidth %g GB/s", bw);
    yk_pool_destroy(pool);

    /* yoke bench --json on a generated model, two layouts */
    char path[256], cmd[1024];
    tu_tmp_path(path, sizeof path, ".gguf");
    gen_shape shape = {"llama", 2, 64, 4, 2, 16, 128, 64, 64, 10000.0f, false, 7, 0};
    CHECK(gen_model_write(path, &shape), "model written");
    snprintf(cmd, sizeof cmd, "%s bench -m %s -p 8 -n 4 -r 3 -t 2 --tp 1,2 --json --bw 10 2>/dev/null", tu_yoke(), path);
    FILE *f = popen(cmd, "r");
    static char out[1 << 16];
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    int rc = f ? pclose(f) : -1;
    CHECK(rc == 0, "yoke bench exit status %d", rc);
    CHECK(out[0] == '[' && strstr(out, "]\n"), "a JSON list: %.80s", out);
    const char *keys[] = {"layout", "tp", "pp", "prefill_tok_s", "prefill_tok_s_min", "prefill_tok_s_max", "decode_tok_s",
                          "decode_tok_s_min", "decode_tok_s_max", "decode_gb_s", "read_bw_gb_s", "bw_fraction", "threads"};
    const char *second = strstr(out, "{\"layout\": \"tp2_pp1\"");
    CHECK(strstr(out, "\"tp1_pp1\"") && second, "both layouts reported");
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) CHECK(has_key(out, keys[i]) && (!second || has_key(second, keys[i])), "key %s", keys[i]);
    double pf = num_after(out, "prefill_tok_s"), dc = num_after(out, "decode_tok_s");
    double bytes1 = num_after(out, "decode_gb_s") / dc; /* GB of weights per decode step, one sequence */
    double lo = num_after(out, "decode_tok_s_min"), hi = num_after(out, "decode_tok_s_max");
    CHECK(pf > 0 && dc > 0 && lo <= dc && dc <= hi, "figures: prefill %g decode %g (%g-%g)", pf, dc, lo, hi);

    /* the planner's prediction is beside each measurement */
    double pd = num_after(out, "predicted_decode_tok_s"), pp = num_after(out, "predicted_prefill_tok_s");
    CHECK(pd > 0 && pp > 0, "predicted figures: decode %g prefill %g", pd, pp);

    /* --seqs 3: three sequences at once, the planner's 3-sequence figure beside them; a sequence's
     * step is one token of each, so the weights' GB/s is the decode tok/s over 3 */
    snprintf(cmd, sizeof cmd, "%s bench -m %s -p 8 -n 4 -r 2 -t 2 --seqs 3 --json --bw 10 2>/dev/null", tu_yoke(), path);
    f = popen(cmd, "r");
    n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    rc = f ? pclose(f) : -1;
    CHECK(rc == 0 && num_after(out, "seqs") == 3, "bench --seqs 3: exit %d, %.200s", rc, out);
    double d3 = num_after(out, "decode_tok_s"), g3 = num_after(out, "decode_gb_s"), p3 = num_after(out, "predicted_decode_tok_s");
    double bytes3 = g3 / (d3 / 3); /* GB per step of 3 tokens: the same weights, read once */
    CHECK(d3 > 0 && p3 > pd, "3 sequences: measured %g tok/s, predicted %g (one sequence: %g)", d3, p3, pd);
    /* 1%: the JSON prints 4 decimals of figures near 1 */
    CHECK(bytes1 > 0 && fabs(bytes3 - bytes1) <= 0.01 * bytes1, "GB per step: %g with 3 sequences, %g with one", bytes3, bytes1);

    /* --calibrate fits the yoke-cpu profile to four layouts and writes a file the planner loads */
    char cal[256], svg[256];
    tu_tmp_path(cal, sizeof cal, ".tsv");
    tu_tmp_path(svg, sizeof svg, ".svg");
    snprintf(cmd, sizeof cmd, "%s bench -m %s -p 8 -n 4 -r 2 -t 2 --tp 1,2 --pp 1,2 --bw 10 --calibrate %s --plot %s >/dev/null 2>&1", tu_yoke(),
             path, cal, svg);
    CHECK(system(cmd) == 0, "bench --calibrate");
    size_t nc = 0;
    char *txt = tu_read_file(cal, &nc);
    CHECK(txt && strstr(txt, "profile\tyoke-cpu") && strstr(txt, "factor\tyoke-cpu\teta_bw") && strstr(txt, "cpu\tthis-cpu"),
          "calibrated profile written: %.200s", txt ? txt : "(none)");
    free(txt);
    txt = tu_read_file(svg, &nc);
    CHECK(txt && strstr(txt, "<svg") && strstr(txt, "decode, measured") && strstr(txt, "decode, predicted"), "plot written");
    free(txt);
    snprintf(cmd, sizeof cmd, "%s plan --hw %s --model %s --gpus 1xcpu >/dev/null 2>&1", tu_yoke(), cal, path);
    CHECK(system(cmd) == 0, "yoke plan loads the calibrated profile");
    remove(cal);
    remove(svg);

    /* bad flags fail with a message naming the flag */
    snprintf(cmd, sizeof cmd, "%s bench -m %s --tp 0 2>&1", tu_yoke(), path);
    f = popen(cmd, "r");
    n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    rc = f ? pclose(f) : -1;
    CHECK(rc != 0 && strstr(out, "--tp"), "--tp 0 refused: %s", out);
    remove(path);
    return tu_done("test_bench");
}
