/* cmd_chat.c: yoke chat -m FILE [-f SCRIPT]: a conversation on standard input (or in SCRIPT), one
 * user message a line, with the model's chat template (recognised from tokenizer.chat_template, or
 * --chat-template NAME).
 *
 * Each turn renders the whole conversation, tokenizes it, and evaluates only the tokens after
 * the longest prefix already in the KV cache, so earlier turns are not computed again. */
#include "generate.h"
#include "yoke/chat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    yk_chat_msg *m;
    char **owned;  /* the strings we allocated, freed at the end */
    size_t n, cap;
} history;

static bool history_add(history *h, const char *role, char *content)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        yk_chat_msg *m = realloc(h->m, cap * sizeof *m);
        char **o = m ? realloc(h->owned, cap * sizeof *o) : NULL;
        if (!m || !o) {
            if (m) h->m = m;
            return false;
        }
        h->m = m;
        h->owned = o;
        h->cap = cap;
    }
    h->m[h->n] = (yk_chat_msg){.role = role, .content = content};
    h->owned[h->n] = content;
    h->n++;
    return true;
}

int yk_cmd_chat(int argc, char **argv)
{
    const char *cmd = argv[0], *tmpl_name = NULL, *system = NULL, *script = NULL;
    session_opts so;
    gen_opts go;
    session_opts_init(&so);
    gen_opts_init(&go);
    go.n_predict = -1;
    for (int i = 1; i < argc; i++) {
        int r = session_flag(cmd, &so, argc, argv, &i);
        if (!r) r = gen_flag(cmd, &go, argc, argv, &i);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(argv[i], "--chat-template")) {
            if (!(tmpl_name = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) {
            if (!(script = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "--system") || !strcmp(argv[i], "-sys")) {
            if (!(system = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: yoke chat -m FILE [-f SCRIPT] [--chat-template NAME] [--system TEXT] [flags]\n"
                   "  one user message per line on standard input; an empty line or end of input ends the chat\n"
                   "  -f SCRIPT            the messages from a file instead (- for standard input)\n"
                   "  --chat-template NAME  one of: %s\n", yk_chat_names());
            session_usage(stdout);
            gen_usage(stdout);
            return 0;
        } else {
            return cli_fail(cmd, "unknown flag %s (yoke chat --help)", argv[i]);
        }
    }
    if (go.print_ids) return cli_fail(cmd, "--print-ids is for yoke run");
    /* the messages: standard input, or the script (opened first: a missing one costs no model load) */
    FILE *in = stdin;
    if (script && strcmp(script, "-") && !(in = fopen(script, "r")))
        return cli_fail(cmd, "-f %s: cannot read: %s", script, strerror(errno));
    session s;
    int rc = session_open(cmd, &s, &so, &argc, &argv);
    if (rc) {
        if (in != stdin) fclose(in);
        return rc == 2 ? 0 : 1;
    }

    yk_err err = {0};
    yk_chat_template tmpl;
    yk_tokenizer tok;
    yk_sampler smp;
    bool have_tok = false, have_smp = false;
    history h = {0};
    uint32_t ctx = yk_engine_n_ctx(s.engine), pos = 0;
    int32_t *cache_ids = malloc(ctx * sizeof *cache_ids); /* the ids in the KV cache, by position */
    int32_t *gen = malloc(ctx * sizeof *gen);
    char *line = NULL;
    size_t line_cap = 0;
    bool tty = isatty(fileno(in));
    if (!cache_ids || !gen) {
        rc = cli_fail(cmd, "out of memory");
        goto done;
    }
    if (yk_chat_select(&s.model.gguf, tmpl_name, &tmpl, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    if (yk_tokenizer_load(&tok, &s.model.gguf, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    have_tok = true;
    if (yk_sampler_init(&smp, &go.sp, (int32_t)s.model.hp.n_vocab, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    have_smp = true;
    if (system) {
        char *c = strdup(system);
        if (!c || !history_add(&h, "system", c)) {
            free(c);
            rc = cli_fail(cmd, "out of memory");
            goto done;
        }
    }
    if (tty) fprintf(stderr, "yoke chat: %s template; one message per line, an empty line ends\n", yk_chat_name(tmpl));
    for (;;) {
        if (tty) fprintf(stderr, "> ");
        errno = 0;
        ssize_t len = getline(&line, &line_cap, in);
        if (len <= 0) {
            int e = errno;
            if (ferror(in) && in == stdin) rc = cli_fail(cmd, "standard input: cannot read: %s", strerror(e));
            else if (ferror(in)) rc = cli_fail(cmd, "-f %s: cannot read: %s", script, strerror(e));
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) break;
        char *c = strdup(line);
        if (!c || !history_add(&h, "user", c)) {
            free(c);
            rc = cli_fail(cmd, "out of memory");
            break;
        }
        /* the whole conversation as the model's template renders it, then tokens */
        char *text;
        size_t tlen;
        int32_t *ids;
        size_t n;
        if (yk_chat_render(tmpl, h.m, h.n, true, &text, &tlen, &err)) {
            rc = cli_fail(cmd, "%s", err.msg);
            break;
        }
        yk_status st = yk_tokenizer_encode(&tok, text, tlen, true, true, &ids, &n, &err);
        free(text);
        if (st) {
            rc = cli_fail(cmd, "message: %s", err.msg);
            break;
        }
        /* evaluate only what the KV cache does not hold yet */
        uint32_t keep = 0;
        while (keep < pos && keep < n && keep + 1 < n && cache_ids[keep] == ids[keep]) keep++;
        if (n > ctx) {
            free(ids);
            rc = cli_fail(cmd, "the conversation has %zu tokens, more than the context of %u (raise it with -c)", n, ctx);
            break;
        }
        memcpy(cache_ids, ids, n * sizeof *ids);
        pos = keep;
        gen_result res = {.ids = gen, .ids_cap = ctx};
        rc = gen_run(cmd, &s, &tok, &smp, &go, ids + keep, (uint32_t)(n - keep), &pos, stdout, &res);
        free(ids);
        if (rc) break;
        fputc('\n', stdout);
        fflush(stdout); /* the reply is whole: a program on the other end of a pipe can read it */
        /* the generated ids are in the cache after the prompt */
        for (uint32_t i = 0; i < res.n_gen && n + i < ctx; i++) cache_ids[n + i] = gen[i];
        char *reply;
        size_t rlen;
        if (yk_tokenizer_decode(&tok, gen, res.n_gen, false, &reply, &rlen, &err)) {
            rc = cli_fail(cmd, "%s", err.msg);
            break;
        }
        if (!history_add(&h, "assistant", reply)) {
            free(reply);
            rc = cli_fail(cmd, "out of memory");
            break;
        }
        if (tty) gen_print_stats(cmd, &s, &res, stderr);
    }
done:
    if (in != stdin) fclose(in);
    free(line);
    for (size_t i = 0; i < h.n; i++) free(h.owned[i]);
    free(h.m);
    free(h.owned);
    free(cache_ids);
    free(gen);
    if (have_smp) yk_sampler_free(&smp);
    if (have_tok) yk_tokenizer_free(&tok);
    session_close(&s);
    return rc;
}
