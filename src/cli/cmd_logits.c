/* cmd_logits.c: yoke logits -m FILE --tokens "ID ..." -o OUT.f32: evaluates all ids in one batch
 * and writes n_tokens x n_vocab little-endian float32 (the layout of shared/golden/logits). */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int yk_cmd_logits(int argc, char **argv)
{
    const char *cmd = argv[0], *tokens = NULL, *out_path = NULL;
    session_opts so;
    session_opts_init(&so);
    for (int i = 1; i < argc; i++) {
        int r = session_flag(cmd, &so, argc, argv, &i);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(argv[i], "--tokens")) {
            if (!(tokens = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "-o")) {
            if (!(out_path = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: yoke logits -m FILE --tokens \"ID ...\" -o OUT.f32 [flags]\n");
            session_usage(stdout);
            return 0;
        } else {
            return cli_fail(cmd, "unknown flag %s (yoke logits --help)", argv[i]);
        }
    }
    if (!tokens) return cli_fail(cmd, "--tokens \"ID ...\" is required");
    if (!out_path) return cli_fail(cmd, "-o OUT.f32 is required");
    int32_t *ids;
    int n = cli_parse_ids(cmd, tokens, &ids);
    if (n < 0) return 1;
    if (n == 0) {
        free(ids);
        return cli_fail(cmd, "--tokens: no ids given");
    }
    session s;
    int rc = session_open(cmd, &s, &so, &argc, &argv);
    if (rc) {
        free(ids);
        return rc == 2 ? 0 : 1;
    }
    uint32_t V = s.model.hp.n_vocab;
    float *logits = malloc((size_t)n * V * sizeof(float));
    yk_err err = {0};
    rc = 0;
    if (!logits) {
        rc = cli_fail(cmd, "out of memory for %d x %u logits", n, V);
    } else if (yk_engine_forward(s.engine, ids, (uint32_t)n, 0, YK_LOGITS_ALL, logits, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
    } else {
        if (s.plan.n_dev > 1) {
            yk_dev_stats st[64];
            if (!yk_engine_stats(s.engine, st, &err)) session_print_device_stats(&s, st, (uint64_t)n, stderr);
        }
        FILE *f = fopen(out_path, "wb");
        if (!f || fwrite(logits, sizeof(float), (size_t)n * V, f) != (size_t)n * V || fclose(f)) {
            rc = cli_fail(cmd, "%s: cannot write: %s", out_path, strerror(errno));
        }
    }
    free(logits);
    free(ids);
    session_close(&s);
    return rc;
}
