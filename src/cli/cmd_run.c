/* cmd_run.c: yoke run -m FILE (-p TEXT | -f FILE | --tokens "ID ...") -n N: generate text from a
 * prompt, streaming it, with one stats line at the end. -f reads the prompt from a file ("-":
 * standard input) as llama.cpp's -f does: the whole file, less one trailing newline. */
#include "generate.h"

#include <stdlib.h>
#include <string.h>

int yk_cmd_run(int argc, char **argv)
{
    const char *cmd = argv[0], *prompt = NULL, *tokens = NULL, *file = NULL;
    bool no_bos = false;
    session_opts so;
    gen_opts go;
    session_opts_init(&so);
    gen_opts_init(&go);
    for (int i = 1; i < argc; i++) {
        int r = session_flag(cmd, &so, argc, argv, &i);
        if (!r) r = gen_flag(cmd, &go, argc, argv, &i);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--prompt")) {
            if (!(prompt = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) {
            if (!(file = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "--tokens")) {
            if (!(tokens = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "--no-bos")) {
            no_bos = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: yoke run -m FILE (-p TEXT | -f FILE | --tokens \"ID ...\") [-n N] [flags]\n"
                   "  -f FILE              the prompt from a file (- for standard input), less one trailing newline\n");
            session_usage(stdout);
            gen_usage(stdout);
            return 0;
        } else {
            return cli_fail(cmd, "unknown flag %s (yoke run --help)", argv[i]);
        }
    }
    if ((prompt != NULL) + (tokens != NULL) + (file != NULL) != 1)
        return cli_fail(cmd, "give the prompt as -p TEXT, -f FILE or --tokens \"ID ...\" (one of them)");
    /* the prompt's text, its length (a file may hold NUL bytes), and what to call it in messages */
    char *text, what[4200];
    size_t plen;
    if (!cli_prompt_text(cmd, file, &prompt, &plen, &text, what, sizeof what)) return 1;
    session s;
    int rc = session_open(cmd, &s, &so, &argc, &argv);
    if (rc) {
        free(text);
        return rc == 2 ? 0 : 1;
    }

    yk_err err = {0};
    yk_tokenizer tok;
    yk_sampler smp;
    int32_t *ids = NULL;
    size_t n = 0;
    bool have_tok = false, have_smp = false;
    if (yk_tokenizer_load(&tok, &s.model.gguf, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    have_tok = true;
    if (tokens) {
        int k = cli_parse_ids(cmd, tokens, &ids);
        if (k < 0) {
            rc = 1;
            goto done;
        }
        n = (size_t)k;
    } else if (yk_tokenizer_encode(&tok, prompt, plen, !no_bos, false, &ids, &n, &err)) {
        rc = cli_fail(cmd, "%s: %s", what, err.msg);
        goto done;
    }
    if (yk_sampler_init(&smp, &go.sp, (int32_t)s.model.hp.n_vocab, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    have_smp = true;
    if (!go.print_ids && prompt) fwrite(prompt, 1, plen, stdout);
    uint32_t pos = 0;
    gen_result res = {0};
    rc = gen_run(cmd, &s, &tok, &smp, &go, ids, (uint32_t)n, &pos, stdout, &res);
    if (!rc) gen_print_stats(cmd, &s, &res, stderr);
done:
    free(ids);
    free(text);
    if (have_smp) yk_sampler_free(&smp);
    if (have_tok) yk_tokenizer_free(&tok);
    session_close(&s);
    return rc;
}
