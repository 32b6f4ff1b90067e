/* test_plan_cli.c: `yoke plan` end to end: the default plan, --json parsed by a strict JSON reader
 * written here (structure and the top-level keys the issue asks for), --compare, --list, --validate
 * (median error <= 10%), the binary working from another directory (embedded data), and every error
 * path with its exit status and message. */
#include "test.h"

#include <ctype.h>
#include <sys/wait.h>
#include <unistd.h>

/* A file's bytes with a NUL after them ("" if unreadable). */
static char *read_text(const char *path)
{
    size_t n = 0;
    char *raw = tu_read_file(path, &n);
    char *s = calloc(1, n + 1);
    if (raw && s) memcpy(s, raw, n);
    free(raw);
    return s;
}

/* Runs the yoke binary with args (a shell fragment) from directory dir (NULL: here); captures
 * stdout and stderr into malloc'ed strings; returns the exit status. */
static int run(const char *dir, const char *args, char **out, char **err)
{
    char o[256], e[256], cmd[4096], yoke[2048];
    tu_tmp_path(o, sizeof o, ".out");
    tu_tmp_path(e, sizeof e, ".err");
    const char *y = tu_yoke();
    if (y[0] != '/' && dir) {
        char cwd[1024];
        snprintf(yoke, sizeof yoke, "%s/%s", getcwd(cwd, sizeof cwd) ? cwd : ".", y);
    } else snprintf(yoke, sizeof yoke, "%s", y);
    snprintf(cmd, sizeof cmd, "%s%s%s%s plan %s >%s 2>%s", dir ? "cd " : "", dir ? dir : "", dir ? " && " : "", yoke, args, o, e);
    int st = system(cmd);
    *out = read_text(o);
    *err = read_text(e);
    unlink(o);
    unlink(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- a strict JSON reader: validates the grammar, records top-level keys and their values ---- */

typedef struct {
    const char *p;
    int depth;
    char keys[64][32];
    const char *vals[64];
    int n_keys;
} json;

static void ws(json *j)
{
    while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r') j->p++;
}

static bool value(json *j);

static bool string(json *j, char *out, size_t n)
{
    if (*j->p != '"') return false;
    size_t k = 0;
    for (j->p++; *j->p != '"'; j->p++) {
        if (!*j->p || (unsigned char)*j->p < 0x20) return false;
        if (*j->p == '\\') {
            j->p++;
            if (*j->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)j->p[i])) return false;
                j->p += 4;
            } else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) return false;
        }
        if (out && k + 1 < n) out[k++] = *j->p;
    }
    if (out) out[k] = 0;
    j->p++;
    return true;
}

static bool number(json *j)
{
    const char *s = j->p;
    if (*j->p == '-') j->p++;
    if (!isdigit((unsigned char)*j->p)) return false;
    if (*j->p == '0' && isdigit((unsigned char)j->p[1])) return false;
    while (isdigit((unsigned char)*j->p)) j->p++;
    if (*j->p == '.') {
        j->p++;
        if (!isdigit((unsigned char)*j->p)) return false;
        while (isdigit((unsigned char)*j->p)) j->p++;
    }
    if (*j->p == 'e' || *j->p == 'E') {
        j->p++;
        if (*j->p == '+' || *j->p == '-') j->p++;
        if (!isdigit((unsigned char)*j->p)) return false;
        while (isdigit((unsigned char)*j->p)) j->p++;
    }
    return j->p > s;
}

static bool value(json *j)
{
    ws(j);
    if (*j->p == '{') {
        bool top = j->depth == 0;
        j->depth++;
        j->p++;
        ws(j);
        if (*j->p == '}') return j->p++, j->depth--, true;
        for (;;) {
            ws(j);
            char key[32];
            if (!string(j, key, sizeof key)) return false;
            ws(j);
            if (*j->p++ != ':') return false;
            ws(j);
            if (top && j->n_keys < 64) {
                snprintf(j->keys[j->n_keys], sizeof j->keys[0], "%s", key);
                j->vals[j->n_keys++] = j->p;
            }
            if (!value(j)) return false;
            ws(j);
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p++ != '}') return false;
            j->depth--;
            return true;
        }
    }
    if (*j->p == '[') {
        j->p++;
        ws(j);
        if (*j->p == ']') return j->p++, true;
        for (;;) {
            if (!value(j)) return false;
            ws(j);
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            return *j->p++ == ']';
        }
    }
    if (*j->p == '"') return string(j, NULL, 0);
    if (!strncmp(j->p, "true", 4)) return j->p += 4, true;
    if (!strncmp(j->p, "false", 5)) return j->p += 5, true;
    if (!strncmp(j->p, "null", 4)) return j->p += 4, true;
    return number(j);
}

/* Parses a whole document; true if valid with nothing after it. */
static bool parse(json *j, const char *s)
{
    memset(j, 0, sizeof *j);
    j->p = s;
    if (!value(j)) return false;
    ws(j);
    return *j->p == 0;
}

static const char *key(const json *j, const char *k)
{
    for (int i = 0; i < j->n_keys; i++)
        if (!strcmp(j->keys[i], k)) return j->vals[i];
    return NULL;
}

static double num(const json *j, const char *k)
{
    const char *v = key(j, k);
    return v ? strtod(v, NULL) : NAN;
}

/* ---- tests ---- */

static void test_default(void)
{
    char *out, *err;
    int rc = run(NULL, "", &out, &err);
    CHECK(rc == 0, "yoke plan: exit %d, %s", rc, err);
    CHECK(strstr(out, "llama3-70b:Q4_K_M") && strstr(out, "RTX 4090") && strstr(out, "PCIe 4.0") && strstr(out, "tok/s") &&
              strstr(out, "all-reduce") && strstr(out, "llama-server") && strstr(out, "--tensor-parallel-size") &&
              strstr(out, "peer-to-peer"),
          "default plan output:\n%s", out);
    free(out);
    free(err);
    /* From another directory: the data files are compiled in. */
    rc = run("/", "--list", &out, &err);
    CHECK(rc == 0 && strstr(out, "rtx4090") && strstr(out, "nvlink4") && strstr(out, "llama.cpp-layer"), "--list from /: %d %s", rc, err);
    free(out);
    free(err);
}

static void test_json(void)
{
    char *out, *err;
    json j;
    int rc = run(NULL, "--model llama3-8b:Q8_0 --gpus 2x3090 --engine vllm --seqs 8 --json", &out, &err);
    CHECK(rc == 0 && parse(&j, out), "json parses: %d %s\n%s", rc, err, out);
    CHECK(key(&j, "fits") && !strncmp(key(&j, "fits"), "true", 4), "fits");
    CHECK(num(&j, "decode_tok_s") > 10 && num(&j, "decode_tok_s") < 1000, "decode_tok_s %g", num(&j, "decode_tok_s"));
    CHECK(num(&j, "decode_tok_s_seqs") > num(&j, "decode_tok_s"), "8 sequences give more tokens per second in total");
    CHECK(num(&j, "prefill_tok_s") > num(&j, "decode_tok_s"), "prefill_tok_s %g", num(&j, "prefill_tok_s"));
    static const char *const keys[] = {"model", "layout", "memory", "decode", "prefill", "speedup", "price_usd", "layouts"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) CHECK(key(&j, keys[i]) != NULL, "key %s", keys[i]);
    free(out);
    free(err);
    /* Not fitting is an answer, not an error: fits false, a reason, suggestions. */
    rc = run(NULL, "--model llama3-70b:Q8_0 --gpus 2x4090 --json", &out, &err);
    CHECK(rc == 0 && parse(&j, out) && !strncmp(key(&j, "fits"), "false", 5) && strstr(out, "short") && strstr(out, "fit (") &&
              strstr(out, "Q4_K_M"),
          "does not fit: %s", out);
    free(out);
    free(err);
    rc = run(NULL, "--compare \"2x4090,1x6000ada,2x3090,1xa6000\" --json", &out, &err);
    CHECK(rc == 0 && parse(&j, out) && key(&j, "options") && key(&j, "decode_tok_s") && key(&j, "prefill_tok_s") && key(&j, "fits"),
          "compare json: %s", err);
    free(out);
    free(err);
    rc = run(NULL, "--validate --json", &out, &err);
    if (rc == 0) {
        CHECK(parse(&j, out) && num(&j, "median_abs_error") <= 0.10 && num(&j, "n") >= 22, "validate: median %g over %g rows",
              num(&j, "median_abs_error"), num(&j, "n"));
    } else CHECK(strstr(err, "no calibration file") != NULL, "validate without the shared data: %s", err);
    free(out);
    free(err);
}

static void test_text(void)
{
    char *out, *err;
    int rc = run(NULL, "--compare \"2x4090,1x6000ada,2x3090,1xa6000\"", &out, &err);
    CHECK(rc == 0 && strstr(out, "2x RTX 4090") && strstr(out, "1x RTX A6000") && strstr(out, "* "), "compare: %s%s", out, err);
    free(out);
    free(err);
    rc = run(NULL, "--gpus 4090,3090 --engine llama.cpp-layer --seqs 4", &out, &err);
    CHECK(rc == 0 && strstr(out, "split 0.") && strstr(out, "bubble") && strstr(out, "-ts ") && strstr(out, "identical GPUs"),
          "mixed: %s", out);
    free(out);
    free(err);
    rc = run(NULL, "--gpus cpu --model llama3.2-1b:Q4_0", &out, &err);
    CHECK(rc == 0 && strstr(out, "yoke-cpu"), "cpu: %s", err);
    free(out);
    free(err);
    rc = run(NULL, "--model llama3-70b:F16 --gpus 1x4090", &out, &err);
    CHECK(rc == 0 && strstr(out, "DOES NOT FIT") && strstr(out, "suggestion: 6 x RTX 4090"), "impossible: %s", out);
    free(out);
    free(err);
    char buf[1024];
    const char *g = tu_shared_path(buf, sizeof buf, "golden/models/rand-llama-gqa-Q4_K_M.gguf");
    if (g) {
        char args[1200];
        snprintf(args, sizeof args, "-m %s --gpus cpu --json", g);
        json j;
        rc = run(NULL, args, &out, &err);
        CHECK(rc == 0 && parse(&j, out) && strstr(out, "\"weight_bytes\": 851072"), "gguf: %s %s", err, out);
        free(out);
        free(err);
    }
}

static void test_errors(void)
{
    static const struct { const char *args, *want; } cases[] = {
        {"--gpus 2x4909", "--gpus: unknown device '4909'; closest known: rtx4090"},
        {"--gpus 2x", "--gpus: item 1 '2x' names no device"},
        {"--gpus 4090,,3090", "--gpus: item 2"},
        {"--gpu name=x,vram=24", "--gpu: missing field bw"},
        {"--gpu name=x,vram=abc,bw=1,tflops=1", "--gpu: bad value 'abc' for field 'vram'"},
        {"--link pcie9", "--link: unknown link 'pcie9'"},
        {"--link bw=10", "--link: missing field lat"},
        {"--engine vlm", "--engine: unknown engine 'vlm'; closest known: vllm"},
        {"--model llama3-70b", "--model: 'llama3-70b' has no type"},
        {"--model llama9:Q4_K_M", "--model: unknown preset 'llama9'"},
        {"--model llama3-70b:Q4_X", "--model: unknown type 'Q4_X'"},
        {"-m /nonexistent/m.gguf", "/nonexistent/m.gguf"},
        {"--tp 3", "--tp 3 does not divide the 2 devices"},
        {"--tp 2 --pp 2", "--tp 2 x --pp 2 = 4 devices, but 2 are given"},
        {"--pp 2 --split 1,0", "--split"},
        {"--pp 2 --split 1000,1", "zero of the 80 layers"},
        {"--pp 2 --split 1,2,3", "--split: '1,2,3' must be 2 ratios"},
        {"--engine llama.cpp-layer --tp 2", "no tensor parallelism"},
        {"--engine vllm --gpus 4090,3090 --tp 2", "identical GPUs"},
        {"--engine vllm --gpus 3x4090 --tp 3", "divide the 64 attention heads"},
        {"--gpus 2xcpu,4090", "mix CPU and GPU"},
        {"--ctx 0", "--ctx: '0' is not an integer"},
        {"--ctx 100 --prompt 200", "--prompt 200 is longer than --ctx 100"},
        {"--seqs", "--seqs needs a value"},
        {"--p2p maybe", "--p2p: 'maybe'"},
        {"--hw /nonexistent.tsv", "--hw: /nonexistent.tsv"},
        {"--validate /nonexistent.tsv", "--validate: /nonexistent.tsv"},
        {"--compare \";\"", "--compare"},
        {"--bogus", "unknown flag '--bogus'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out, *err;
        int rc = run(NULL, cases[i].args, &out, &err);
        CHECK(rc == 1 && !strncmp(err, "yoke plan: ", 11) && strstr(err, cases[i].want) && !*out, "'%s': exit %d, stderr: %s",
              cases[i].args, rc, err);
        free(out);
        free(err);
    }
    /* A malformed --hw file: the error names the file and line. */
    char path[256];
    tu_tmp_path(path, sizeof path, ".tsv");
    FILE *f = fopen(path, "w");
    fputs("gpu\tx\tmem_gib=1\tbw_gbs=oops\n", f);
    fclose(f);
    char args[512], *out, *err;
    snprintf(args, sizeof args, "--hw %s", path);
    int rc = run(NULL, args, &out, &err);
    CHECK(rc == 1 && strstr(err, path) && strstr(err, ":1: bad value 'oops' for key 'bw_gbs'"), "%s", err);
    free(out);
    free(err);
    /* A good one adds a card usable at once. */
    f = fopen(path, "w");
    fputs("gpu\tmycard\tmem_gib=96\tbw_gbs=1500\ttflops=400\tunits=100\tprice=5000\tlink=pcie5\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--hw %s --gpus 1xmycard --json", path);
    json j;
    rc = run(NULL, args, &out, &err);
    CHECK(rc == 0 && parse(&j, out) && !strncmp(key(&j, "fits"), "true", 4), "custom card: %s", err);
    free(out);
    free(err);
    unlink(path);
    rc = run(NULL, "--help", &out, &err);
    CHECK(rc == 0 && strstr(out, "--compare"), "help");
    free(out);
    free(err);
}

/* The yoke command line that plan prints for a TP x PP layout with uneven ratios runs as printed
 * (model and GPU list swapped for a small model on CPU devices): it used to print --ctx and a
 * --split that yoke run refused. */
static void test_printed_command(void)
{
    char *out, *err, model[256], cmd[4096];
    int rc = run(NULL, "--gpus 4x4090 --model llama3-70b:Q4_K_M --tp 2 --pp 2 --split 1,1,2,2", &out, &err);
    const char *line = out ? strstr(out, "yoke run -m ") : NULL;
    CHECK(rc == 0 && line, "plan prints a yoke run line (rc %d)", rc);
    if (rc || !line) goto done;
    char args[1024];
    const char *eol = strchr(line, '\n');
    snprintf(args, sizeof args, "%.*s", eol ? (int)(eol - line) : (int)strlen(line), line);
    CHECK(strstr(args, " --devices cuda:0,cuda:1,cuda:2,cuda:3 ") != NULL, "GPU list in %s", args);
    /* skip "yoke run -m FILE" and the --devices list: the rest are the layout flags */
    const char *flags = strstr(args, " --tp ");
    CHECK(flags != NULL, "layout flags in %s", args);
    if (!flags) goto done;
    tu_tmp_path(model, sizeof model, ".gguf");
    snprintf(cmd, sizeof cmd, "%s mkmodel -o %s --layers 4 --embd 64 --heads 4 --kv-heads 2 --ff 128 --vocab 300 >/dev/null 2>&1 && "
             "%s run -m %s %s -n 2 -p Once -t 2 >/dev/null 2>&1", tu_yoke(), model, tu_yoke(), model, flags);
    int st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the printed layout runs: yoke run -m MODEL%s", flags);
    unlink(model);
done:
    free(out);
    free(err);
}

int main(void)
{
    if (access(tu_yoke(), X_OK) != 0) tu_skip("test_plan_cli", "the yoke binary is not built");
    test_default();
    test_json();
    test_text();
    test_errors();
    test_printed_command();
    return tu_done("test_plan_cli");
}
