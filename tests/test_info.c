/* test_info.c: `yoke info` (run as a process through tu_yoke()) on golden files and on a file with
 * awkward strings. The --json output must parse (a strict JSON validator below, UTF-8 checked) and
 * hold the figures of the golden README (parameters, vocabulary, layers); the human output must
 * hold the same figures and one aligned row per tensor. Errors go to stderr with exit status 1.
 * Golden parts skip visibly without shared/. */
#include "test.h"

#include <sys/wait.h>
#include <unistd.h>

/* Runs a shell command, returns its stdout (and exit status). */
static char *run(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t k;
    while (out && (k = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 4096) out = realloc(out, cap *= 2);
    }
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (out) out[n] = 0;
    return out;
}

/* ---- a strict JSON validator (RFC 8259 grammar, UTF-8 checked in strings) ---- */

typedef struct { const char *p; int depth; } js;

static void ws(js *j) { while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r') j->p++; }
static bool value(js *j);

static bool string(js *j)
{
    if (*j->p != '"') return false;
    for (j->p++;;) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') { j->p++; return true; }
        if (c < 0x20) return false;
        if (c == '\\') {
            j->p++;
            if (strchr("\"\\/bfnrt", *j->p) && *j->p) { j->p++; continue; }
            if (*j->p != 'u') return false;
            for (int i = 1; i <= 4; i++) if (!strchr("0123456789abcdefABCDEF", j->p[i]) || !j->p[i]) return false;
            j->p += 5;
            continue;
        }
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || (len > 1 && c < 0xc2)) return false;
        for (int i = 1; i < len; i++) if (((unsigned char)j->p[i] & 0xc0) != 0x80) return false;
        j->p += len;
    }
}

static bool number(js *j)
{
    const char *s = j->p;
    if (*j->p == '-') j->p++;
    if (*j->p == '0') j->p++;
    else if (*j->p >= '1' && *j->p <= '9') while (*j->p >= '0' && *j->p <= '9') j->p++;
    else return false;
    if (*j->p == '.') {
        j->p++;
        if (!(*j->p >= '0' && *j->p <= '9')) return false;
        while (*j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (*j->p == 'e' || *j->p == 'E') {
        j->p++;
        if (*j->p == '+' || *j->p == '-') j->p++;
        if (!(*j->p >= '0' && *j->p <= '9')) return false;
        while (*j->p >= '0' && *j->p <= '9') j->p++;
    }
    return j->p > s;
}

static bool value(js *j)
{
    ws(j);
    if (++j->depth > 64) return false;
    bool ok;
    if (*j->p == '{' || *j->p == '[') {
        char close = *j->p == '{' ? '}' : ']';
        bool obj = close == '}';
        j->p++;
        ws(j);
        ok = true;
        if (*j->p == close) j->p++;
        else
            for (;;) {
                ws(j);
                if (obj) {
                    if (!string(j)) { ok = false; break; }
                    ws(j);
                    if (*j->p++ != ':') { ok = false; break; }
                }
                if (!value(j)) { ok = false; break; }
                ws(j);
                if (*j->p == ',') { j->p++; continue; }
                ok = *j->p++ == close;
                break;
            }
    } else if (*j->p == '"') ok = string(j);
    else if (!strncmp(j->p, "true", 4)) { j->p += 4; ok = true; }
    else if (!strncmp(j->p, "false", 5)) { j->p += 5; ok = true; }
    else if (!strncmp(j->p, "null", 4)) { j->p += 4; ok = true; }
    else ok = number(j);
    j->depth--;
    return ok;
}

static bool valid_json(const char *s)
{
    js j = {s, 0};
    if (!value(&j)) return false;
    ws(&j);
    return *j.p == 0;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* ---- tests ---- */

typedef struct {
    const char *model;
    const char *json_has[6];
    const char *human_has[4];
    int n_tensors;
} golden_case;

static void golden(void)
{
    char dir[1024];
    if (!tu_shared_path(dir, sizeof dir, "golden")) {
        printf("test_info: golden files SKIPPED: needs ../shared/golden (absent)\n");
        return;
    }
    /* Figures from shared/golden/README.md (parameter counts from its provenance notes). */
    const golden_case cases[] = {
        {"models/stories260K", {"\"n_params\": 292800", "\"n_vocab\": 512", "\"architecture\": \"llama\"",
          "\"block_count\": 5", "\"model\": \"llama\"", "\"shape\": [172, 64]"},
         {"parameters    292800", "llama (pre: -), 512 tokens", "F32          48 tensors", "block_count"}, 48},
        {"models/llama-2-tiny-random", {"\"n_params\": 513048", "\"n_vocab\": 32000", "\"embedding_length\": 8",
          "{\"type\": \"F16\", \"tensors\": 9", "\"shape\": [8, 32000]", "\"attention.layer_norm_rms_epsilon\": 1e-05"},
         {"parameters    513048", "32000 tokens", "F16", "[8, 32000]"}, 12},
        {"models/rand-qwen2-Q4_0", {"\"architecture\": \"qwen2\"", "\"rope.freq_base\": 1000000",
          "{\"type\": \"Q8_0\", \"tensors\": 1", "{\"type\": \"Q4_0\", \"tensors\": 14", "\"n_vocab\": 512", "\"version\": 3"},
         {"qwen2", "Q4_0", "blk.1.attn_v.bias", "1000000"}, 26},
        {"models/rand-llama-gqa-Q4_K_M", {"{\"type\": \"Q6_K\", \"tensors\": 3", "{\"type\": \"Q4_K\", \"tensors\": 13",
          "\"attention.head_count_kv\": 2", "\"n_vocab\": 512", "\"alignment\": 32", "\"feed_forward_length\": 512"},
         {"Q6_K", "Q4_K", "[256, 512]", "block_count"}, 21},
        {"vocab/ggml-vocab-llama-bpe", {"\"n_vocab\": 128256", "\"model\": \"gpt2\"", "\"pre\": \"llama-bpe\"",
          "\"tensors\": []", "\"n_params\": 0", "\"types\": []"},
         {"gpt2 (pre: llama-bpe), 128256 tokens", "0 tensors", "parameters    0", "architecture"}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const golden_case *c = &cases[i];
        char cmd[4096];
        int st;
        snprintf(cmd, sizeof cmd, "%s info --json %s/%s.gguf", tu_yoke(), dir, c->model);
        char *out = run(cmd, &st);
        CHECK(out && st == 0, "%s: exit %d", cmd, st);
        if (!out) continue;
        CHECK(valid_json(out), "%s: valid JSON", c->model);
        for (int k = 0; k < 6; k++) CHECK(strstr(out, c->json_has[k]), "%s --json has %s", c->model, c->json_has[k]);
        CHECK(count(out, "\"offset\":") == c->n_tensors, "%s: %d tensors in JSON", c->model, count(out, "\"offset\":"));
        free(out);

        snprintf(cmd, sizeof cmd, "%s info %s/%s.gguf", tu_yoke(), dir, c->model);
        out = run(cmd, &st);
        CHECK(out && st == 0, "%s: exit %d", cmd, st);
        if (!out) continue;
        for (int k = 0; k < 4; k++) CHECK(strstr(out, c->human_has[k]), "%s has '%s'", c->model, c->human_has[k]);
        /* One row per tensor, all the same length (aligned columns: right-aligned numbers last). */
        int rows = 0, widths_differ = 0;
        size_t w0 = 0;
        for (char *line = strstr(out, "\ntensors\n"); line && (line = strchr(line + 1, '\n')) && line[1];) {
            char *end = strchr(line + 1, '\n');
            size_t w = end ? (size_t)(end - line - 1) : strlen(line + 1);
            if (rows++ == 0) w0 = w;
            else widths_differ += w != w0;
        }
        CHECK(c->n_tensors == 0 || (rows == c->n_tensors + 1 && widths_differ == 0),
              "%s: %d table rows (header + %d), %d of other width", c->model, rows, c->n_tensors, widths_differ);
        free(out);
    }
}

/* A file with awkward strings and a non-finite value: the JSON must still parse. */
static void awkward(void)
{
    char path[512];
    tu_tmp_path(path, sizeof path, ".gguf");
    yk_err err = {0};
    yk_gguf_writer *w;
    yk_status st = yk_gguf_writer_open(&w, path, &err);
    float nan_v = NAN, eps = 1e-5f;
    uint32_t layers = 3;
    const char *arr[3] = {"a\"b", "\xff", "c"};
    st |= yk_gguf_writer_add_str(w, "general.architecture", "we\"ird", &err);
    st |= yk_gguf_writer_add_str(w, "general.name", "q\"uote \\ back\nslash \x01 bad\xff\xfe utf8 \xc3\xa9 \xe2\x96\x81", &err);
    st |= yk_gguf_writer_add_kv(w, "we\"ird.block_count", YK_GGUF_U32, &layers, &err);
    st |= yk_gguf_writer_add_kv(w, "we\"ird.nan", YK_GGUF_F32, &nan_v, &err);
    st |= yk_gguf_writer_add_kv(w, "we\"ird.eps", YK_GGUF_F32, &eps, &err);
    st |= yk_gguf_writer_add_arr(w, "we\"ird.list", YK_GGUF_STRING, arr, 3, &err);
    int64_t ne[2] = {32, 2};
    st |= yk_gguf_writer_add_tensor(w, "t\"\x02\xff", YK_TYPE_Q8_0, 2, ne, &err);
    st |= yk_gguf_writer_begin_data(w, &err);
    uint8_t data[68] = {0};
    st |= yk_gguf_writer_write(w, data, sizeof data, &err);
    st |= yk_gguf_writer_close(w, &err);
    CHECK(st == YK_OK, "awkward file: %s", err.msg);

    char cmd[1024];
    int code;
    snprintf(cmd, sizeof cmd, "%s info --json %s", tu_yoke(), path);
    char *out = run(cmd, &code);
    CHECK(out && code == 0, "awkward --json exit %d", code);
    if (out) {
        CHECK(valid_json(out), "awkward: valid JSON:\n%s", out);
        CHECK(strstr(out, "\"name\": \"q\\\"uote \\\\ back\\nslash \\u0001 bad\\ufffd\\ufffd utf8 \xc3\xa9 \xe2\x96\x81\""),
              "awkward: name escaped:\n%s", out);
        CHECK(strstr(out, "\"nan\": null") && strstr(out, "\"eps\": 1e-05") && strstr(out, "\"block_count\": 3") &&
              strstr(out, "\"list\": [\"a\\\"b\", \"\\ufffd\", \"c\"]"), "awkward: values:\n%s", out);
        CHECK(strstr(out, "\"name\": \"t\\\"\\u0002\\ufffd\""), "awkward: tensor name escaped");
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s info %s", tu_yoke(), path);
    out = run(cmd, &code);
    CHECK(out && code == 0 && strstr(out, "block_count") && strstr(out, "nan"), "awkward human output");
    free(out);

    /* Errors: a corrupt file and a missing one give "yoke info: ..." on stderr and status 1. */
    FILE *f = fopen(path, "r+b");
    if (f) {
        fseek(f, 4, SEEK_SET);
        fputc(9, f); /* version 9 */
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "%s info %s 2>&1 >/dev/null", tu_yoke(), path);
    out = run(cmd, &code);
    CHECK(out && code == 1 && !strncmp(out, "yoke info: ", 11) && strstr(out, "offset 4: version"), "corrupt: %s",
          out ? out : "");
    free(out);
    unlink(path);
    snprintf(cmd, sizeof cmd, "%s info %s 2>&1 >/dev/null", tu_yoke(), path);
    out = run(cmd, &code);
    CHECK(out && code == 1 && strstr(out, path), "missing file: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s info --bogus 2>&1", tu_yoke());
    out = run(cmd, &code);
    CHECK(out && code == 1 && strstr(out, "--bogus"), "unknown flag: %s", out ? out : "");
    free(out);
}

int main(void)
{
    if (access(tu_yoke(), X_OK) != 0) tu_skip("test_info", "the yoke binary is not built");
    CHECK(valid_json("{\"a\": [1, -2.5e+3, true, null, \"\\u00e9\"]}") && !valid_json("{\"a\": nan}") &&
          !valid_json("[1,]") && !valid_json("\"\x01\"") && !valid_json("\"\xff\""), "the validator itself");
    awkward();
    golden();
    return tu_done("test_info");
}
