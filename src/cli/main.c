/* main.c: the yoke command dispatcher. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "yoke %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_write_error(const char *cmd, const char *what, int e)
{
    if (e) return cli_fail(cmd, "write error on %s: %s", what, strerror(e));
    return cli_fail(cmd, "write error on %s", what);
}

bool cli_int(const char *cmd, const char *flag, const char *val, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end || v < lo || v > hi) {
        cli_fail(cmd, "%s: '%s' is not an integer in [%lld, %lld]", flag, val, (long long)lo, (long long)hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_float(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(v) || v < lo || v > hi) {
        cli_fail(cmd, "%s: '%s' is not a number in [%g, %g]", flag, val, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_fail(cmd, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

char *cli_read_text(const char *cmd, const char *path, size_t *n)
{
    bool std_in = !strcmp(path, "-");
    FILE *f = std_in ? stdin : fopen(path, "rb");
    if (!f) {
        cli_fail(cmd, "-f %s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - 1 - len, f);
        if (len < cap - 1) break; /* end of file or an error */
        char *grown = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    int e = errno;
    bool bad = ferror(f);
    if (!std_in) fclose(f);
    if (!buf || bad) {
        if (!buf) cli_fail(cmd, "-f %s: cannot read: out of memory", path);
        else cli_fail(cmd, "-f %s: cannot read: %s", path, strerror(e));
        free(buf);
        return NULL;
    }
    if (len > 0 && buf[len - 1] == '\n') len--;
    buf[len] = 0;
    *n = len;
    return buf;
}

bool cli_prompt_text(const char *cmd, const char *file, const char **text, size_t *len, char **owned, char *what, size_t what_n)
{
    *owned = NULL;
    *len = *text ? strlen(*text) : 0;
    snprintf(what, what_n, "-p");
    if (!file) return true;
    if (!(*owned = cli_read_text(cmd, file, len))) return false;
    *text = *owned;
    snprintf(what, what_n, "-f %s", file);
    return true;
}

/* Parses space- or comma-separated ids; returns the count, or -1 with a message. */
int cli_parse_ids(const char *cmd, const char *s, int32_t **out)
{
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return -1;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) {
            cli_fail(cmd, "--tokens: '%.20s' at character %zu is not a token id", p, (size_t)(p - s));
            free(ids);
            return -1;
        }
        if (n == cap) {
            int32_t *grown = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!grown) {
                free(ids);
                return -1;
            }
            ids = grown;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    *out = ids;
    return (int)n;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: yoke COMMAND [ARGS]   (yoke COMMAND --help for a command's flags)\n\ncommands:\n");
#define X(name, help) fprintf(f, "  %-10s %s\n", #name, help);
    YK_COMMANDS(X)
#undef X
}

/* Flushes and closes standard output, so that a write error the command did not see (printf into a
 * full disk, stdout on /dev/full) still gives a message and a non-zero status. A command that
 * failed already said why, and keeps its status. */
static int close_stdout(const char *cmd, int rc)
{
    errno = 0;
    int e = fflush(stdout) != 0 ? errno : 0;
    bool bad = e || ferror(stdout);
    if (fclose(stdout) != 0 && !bad) {
        bad = true;
        e = errno;
    }
    return bad && rc == 0 ? cli_write_error(cmd, "standard output", e) : rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return close_stdout("help", argc < 2 ? 1 : 0);
    }
    cli_signals_init(argv[1]);
    /* the model file every command that runs one takes as -m (info, dump and quantize, which take
     * it as an argument, name theirs themselves) */
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) cli_watch_mapped(argv[i + 1]);
#define X(name, help) if (!strcmp(argv[1], #name)) return close_stdout(argv[1], yk_cmd_##name(argc - 1, argv + 1));
    YK_COMMANDS(X)
#undef X
    fprintf(stderr, "yoke: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 1;
}
