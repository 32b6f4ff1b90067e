/* cmd_tokenize.c: yoke tokenize -m FILE (-p TEXT | -f FILE) [--no-bos] [--ids] [--special]
 *
 * Prints the token ids of TEXT (or of FILE's text, less one trailing newline, as yoke run -f reads
 * it) under the model's tokenizer: one line per token with its piece
 * (escaped: \n, \t, \xNN for bytes that are not whole UTF-8), or with --ids only the ids on one
 * line, space separated (the form `yoke run --tokens` and `yoke logits --tokens` read). */
#include "cli.h"
#include "yoke/tokenizer.h"

#include <stdlib.h>
#include <string.h>

static int usage(FILE *f)
{
    fprintf(f,
            "usage: yoke tokenize -m FILE (-p TEXT | -f FILE) [--no-bos] [--ids] [--special]\n"
            "  -m FILE     GGUF model (or vocabulary-only) file\n"
            "  -p TEXT     the text (UTF-8)\n"
            "  -f FILE     the text from a file (- for standard input), less one trailing newline\n"
            "  --no-bos    do not add BOS/EOS even when the model asks for them\n"
            "  --ids       print only the ids, space separated\n"
            "  --special   match control tokens written in the text (\"<|im_start|>\")\n");
    return f == stderr ? 1 : 0;
}

/* Prints a piece between quotes: printable UTF-8 as it is, the rest escaped. */
static void print_piece(yk_str s)
{
    putchar('\'');
    for (size_t i = 0; i < s.len;) {
        unsigned char c = (unsigned char)s.ptr[i];
        size_t ok = c >= 0x80 ? yk_utf8_check(s.ptr + i, s.len - i) : 0;
        if (c >= 0x80 && ok > 0) { /* a run of whole characters */
            size_t l = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            fwrite(s.ptr + i, 1, l, stdout);
            i += l;
            continue;
        }
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\\') fputs("\\\\", stdout);
        else if (c == '\'') fputs("\\'", stdout);
        else if (c < 0x20 || c >= 0x7F) printf("\\x%02x", c);
        else putchar(c);
        i++;
    }
    putchar('\'');
}

int yk_cmd_tokenize(int argc, char **argv)
{
    const char *cmd = argv[0], *model = NULL, *text = NULL, *file = NULL;
    bool bos = true, ids_only = false, special = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout);
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(text = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--no-bos")) bos = false;
        else if (!strcmp(a, "--ids")) ids_only = true;
        else if (!strcmp(a, "--special")) special = true;
        else {
            cli_fail(cmd, "unknown flag '%s'", a);
            return usage(stderr);
        }
    }
    if (!model) return cli_fail(cmd, "-m FILE is required (yoke tokenize --help)");
    if (!text == !file) return cli_fail(cmd, "give the text as -p TEXT or -f FILE (one of them; yoke tokenize --help)");
    char *owned, what[4200];
    size_t len;
    if (!cli_prompt_text(cmd, file, &text, &len, &owned, what, sizeof what)) return 1;

    yk_err err = {0};
    yk_gguf g;
    yk_tokenizer t;
    yk_status st = yk_gguf_open(&g, model, &err);
    if (!st) {
        st = yk_tokenizer_load(&t, &g, &err);
        yk_gguf_close(&g);
    }
    if (st) {
        free(owned);
        return cli_fail(cmd, "%s", err.msg);
    }

    int32_t *ids = NULL;
    size_t n = 0;
    st = yk_tokenizer_encode(&t, text, len, bos, special, &ids, &n, &err);
    free(owned);
    if (st) {
        yk_tokenizer_free(&t);
        return cli_fail(cmd, "%s: %s", what, err.msg);
    }
    if (ids_only) {
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
        putchar('\n');
    } else {
        for (size_t i = 0; i < n; i++) {
            printf("%7d  ", ids[i]);
            print_piece(yk_tokenizer_piece(&t, ids[i], true));
            putchar('\n');
        }
    }
    free(ids);
    yk_tokenizer_free(&t);
    return 0;
}
