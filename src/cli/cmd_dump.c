/* cmd_dump.c: yoke dump FILE.gguf TENSOR [--rows N]
 *
 * Writes the tensor's rows (ne[0] values each, rows in storage order over ne[1..3]) dequantised to
 * little-endian float32 on stdout, row by row, so memory use is one row. --rows N stops after the
 * first N rows. Refuses to write binary to a terminal. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: yoke dump FILE.gguf TENSOR [--rows N]\n"
               "  writes the tensor's rows dequantised to little-endian float32 on stdout\n"
               "  --rows N   only the first N rows (default: all)\n");
}

int yk_cmd_dump(int argc, char **argv)
{
    const char *cmd = argv[0], *path = NULL, *name = NULL;
    int64_t max_rows = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--rows")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || !cli_int(cmd, "--rows", v, 0, INT64_MAX, &max_rows)) return 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_fail(cmd, "unknown flag '%s' (yoke dump --help)", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else if (!name) {
            name = argv[i];
        } else {
            return cli_fail(cmd, "unexpected argument '%s' (yoke dump --help)", argv[i]);
        }
    }
    if (!path || !name) {
        usage(stderr);
        return 1;
    }
    if (isatty(STDOUT_FILENO)) return cli_fail(cmd, "refusing to write binary float32 to a terminal: redirect stdout");

    yk_gguf g;
    yk_err err = {0};
    cli_watch_mapped(path);
    if (yk_gguf_open(&g, path, &err) != YK_OK) return cli_fail(cmd, "%s", err.msg);
    int rc = 0;
    float *row = NULL;
    const yk_gguf_tensor *t = yk_gguf_find_tensor(&g, name);
    if (!t) {
        rc = cli_fail(cmd, "%s: no tensor named '%s'", path, name);
        goto done;
    }
    if (!yk_type_supported(t->type)) {
        rc = cli_fail(cmd, "%s: tensor '%s' has type %s, which yoke cannot dequantise", path, name, yk_type_name(t->type));
        goto done;
    }
    int64_t ne0 = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3]; /* bounded by the reader's size checks */
    size_t rb = yk_row_bytes(t->type, ne0);
    if (max_rows >= 0 && max_rows < rows) rows = max_rows;
    row = malloc((size_t)(ne0 > 0 ? ne0 : 1) * sizeof *row);
    if (!row) {
        rc = cli_fail(cmd, "out of memory for a row of %lld values", (long long)ne0);
        goto done;
    }
    for (int64_t r = 0; r < rows; r++) {
        yk_dequantize_row(t->type, (const uint8_t *)t->data + (size_t)r * rb, row, ne0);
        if (fwrite(row, sizeof *row, (size_t)ne0, stdout) != (size_t)ne0) {
            rc = cli_write_error(cmd, "standard output", errno);
            goto done;
        }
    }
    if (fflush(stdout) != 0) rc = cli_write_error(cmd, "standard output", errno);
done:
    free(row);
    yk_gguf_close(&g);
    return rc;
}
