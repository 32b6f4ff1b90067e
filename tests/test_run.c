/* test_run.c: yoke run and yoke logits through the CLI: the golden greedy text of stories260K,
 * the same ids split across devices, same seed same text, prompts and chat scripts read with -f
 * (a file or standard input) giving what -p and a pipe give, and clear errors for bad input. */
#include "test.h"

#include <sys/wait.h>

static char out[1 << 16];

static int run(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void)
{
    if (!tu_shared_dir()) tu_skip("test_run", "../shared/golden is absent: no model with a tokenizer to run");
    char model[512], cmd[4096];
    static char first[sizeof out];
    tu_shared_path(model, sizeof model, "golden/models/stories260K.gguf");
    const char *y = tu_yoke();

    /* the reference engine's greedy continuation (golden/greedy/stories260K.once-upon-a-time.txt) */
    const char *expect = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw";
    snprintf(cmd, sizeof cmd, "%s run -m %s -p 'Once upon a time' -n 32 --temp 0 2>/dev/null", y, model);
    CHECK(run(cmd) == 0 && !strcmp(out, expect), "greedy text: '%s'", out);
    const char *ids = "432 383 286 261 376 298 315 421 395 317 426 338 401 396 267 337 410 408 419 292 411 322 265 282 295 433 426 385 328 432 358 394";
    snprintf(cmd, sizeof cmd, "%s run -m %s --tokens '1 403 407 261 378' -n 32 --temp 0 --print-ids 2>/dev/null", y, model);
    CHECK(run(cmd) == 0 && !strcmp(out, ids), "greedy ids: '%s'", out);
    static const char *splits[] = {"--tp 2", "--tp 3 --split 1,2,1", "--pp 2", "--tp 2 --pp 2", "--devices cpu:4"};
    for (size_t i = 0; i < sizeof splits / sizeof *splits; i++) {
        snprintf(cmd, sizeof cmd, "%s run -m %s --tokens '1 403 407 261 378' -n 32 --temp 0 --print-ids %s 2>/dev/null", y, model, splits[i]);
        CHECK(run(cmd) == 0 && !strcmp(out, ids), "greedy ids with %s: '%s'", splits[i], out);
    }
    /* -f: the prompt from a file (its trailing newline dropped, as llama.cpp's -f does) or from
     * standard input: the same text; tokenize -f: the same ids as -p */
    char pfile[512], sfile[512];
    tu_tmp_path(pfile, sizeof pfile, ".txt");
    tu_tmp_path(sfile, sizeof sfile, ".txt");
    FILE *pf = fopen(pfile, "w"), *sf = fopen(sfile, "w");
    CHECK(pf && sf && fputs("Once upon a time\n", pf) >= 0 && fputs("Tell me a story\nAnd another\n", sf) >= 0 &&
              fclose(pf) == 0 && fclose(sf) == 0, "prompt files");
    snprintf(cmd, sizeof cmd, "%s run -m %s -f %s -n 32 --temp 0 2>/dev/null", y, model, pfile);
    CHECK(run(cmd) == 0 && !strcmp(out, expect), "-f FILE: greedy text: '%s'", out);
    snprintf(cmd, sizeof cmd, "%s run -m %s -f - -n 32 --temp 0 < %s 2>/dev/null", y, model, pfile);
    CHECK(run(cmd) == 0 && !strcmp(out, expect), "-f -: greedy text: '%s'", out);
    snprintf(cmd, sizeof cmd, "%s tokenize -m %s -f %s --ids", y, model, pfile);
    CHECK(run(cmd) == 0 && !strcmp(out, "1 403 407 261 378\n"), "tokenize -f FILE: '%s'", out);
    snprintf(cmd, sizeof cmd, "%s chat -m %s -f %s --chat-template llama2 --temp 0 -n 12 2>/dev/null", y, model, sfile);
    CHECK(run(cmd) == 0, "chat -f ran: %s", out);
    snprintf(first, sizeof first, "%s", out);
    snprintf(cmd, sizeof cmd, "%s chat -m %s --chat-template llama2 --temp 0 -n 12 < %s 2>/dev/null", y, model, sfile);
    CHECK(run(cmd) == 0 && !strcmp(out, first) && strchr(out, '\n') != strrchr(out, '\n'),
          "chat -f SCRIPT replies as chat on standard input does: '%s' / '%s'", first, out);
    remove(pfile), remove(sfile);

    /* the stats line */
    snprintf(cmd, sizeof cmd, "%s run -m %s -p 'Once upon a time' -n 8 --temp 0 2>&1 >/dev/null", y, model);
    CHECK(run(cmd) == 0 && strstr(out, "tok/s") && strstr(out, "GB/s"), "stats line: %s", out);

    /* sampling: the same seed gives the same text, another seed (almost surely) another */
    snprintf(cmd, sizeof cmd, "%s run -m %s -p 'Once upon a time' -n 48 --seed 7 --temp 1 2>/dev/null", y, model);
    CHECK(run(cmd) == 0, "seeded run");
    snprintf(first, sizeof first, "%s", out);
    CHECK(run(cmd) == 0 && !strcmp(out, first), "same seed, same text");
    snprintf(cmd, sizeof cmd, "%s run -m %s -p 'Once upon a time' -n 48 --seed 8 --temp 1 2>/dev/null", y, model);
    CHECK(run(cmd) == 0 && strcmp(out, first), "another seed, another text");

    /* chat: two turns on standard input, greedy: two replies, deterministic; a model without a
     * template asks for --chat-template */
    snprintf(cmd, sizeof cmd, "printf 'Tell me a story\\nAnd another\\n' | %s chat -m %s --chat-template llama2 --temp 0 -n 12 2>/dev/null", y, model);
    CHECK(run(cmd) == 0, "chat ran: %s", out);
    int lines = 0;
    for (const char *p = out; *p; p++) lines += *p == '\n';
    CHECK(lines == 2, "two replies: '%s'", out);
    snprintf(first, sizeof first, "%s", out);
    CHECK(run(cmd) == 0 && !strcmp(out, first), "greedy chat is deterministic");
    snprintf(cmd, sizeof cmd, "echo hi | %s chat -m %s 2>&1", y, model);
    CHECK(run(cmd) == 1 && strstr(out, "--chat-template"), "no template: %s", out);
    snprintf(cmd, sizeof cmd, "echo hi | %s chat -m %s --chat-template nosuch 2>&1", y, model);
    CHECK(run(cmd) == 1 && strstr(out, "nosuch"), "unknown template: %s", out);

    /* bad input: a clear message naming what is wrong, exit status 1 */
    static const struct { const char *args, *says; } bad[] = {
        {"run -p hi", "-m FILE"},
        {"run -m /nonexistent.gguf -p hi", "/nonexistent.gguf"},
        {"run -m MODEL -p hi --tp 9", "--tp 9"},
        {"run -m MODEL -p hi --pp 6", "--pp 6"},
        {"run -m MODEL -p hi --tp 2 --split 1,x", "--split"},
        {"run -m MODEL -p 'Once upon a time there was' -c 4", "context"},
        {"run -m MODEL -p $'\\xff\\xfe bad'", "UTF-8"},
        {"run -m MODEL --tokens '1 99999'", "99999"},
        {"run -m MODEL -p hi --temp -1", "--temp"},
        {"run -m MODEL -p hi --bogus", "--bogus"},
        {"logits -m MODEL --tokens '1 2'", "-o"},
        {"run -m MODEL -p hi --devices gpu:2", "--devices"},
        {"run -m MODEL -p hi --kv-type q4", "--kv-type"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[2048];
        const char *m = strstr(bad[i].args, "MODEL");
        if (m) snprintf(args, sizeof args, "%.*s%s%s", (int)(m - bad[i].args), bad[i].args, model, m + 5);
        else snprintf(args, sizeof args, "%s", bad[i].args);
        snprintf(cmd, sizeof cmd, "bash -c \"%s %s\" 2>&1 >/dev/null", y, args);
        int rc = run(cmd);
        CHECK(rc == 1 && strstr(out, bad[i].says), "'%s': exit %d, message: %s", bad[i].args, rc, out);
    }
    return tu_done("test_run");
}
