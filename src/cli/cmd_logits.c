/* cmd_logits.c: yoke logits -m FILE --tokens "ID ..." [--tokens "ID ..." ...] -o OUT.f32: evaluates
 * every sequence (one per --tokens, each in its own KV slot) in one batch and writes their rows,
 * sequence after sequence in the order given, as little-endian float32 n_vocab wide (the layout of
 * shared/golden/logits for one sequence). */
#include "session.h"
#include "yoke/outfile.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_SEQS = 64 };

int yk_cmd_logits(int argc, char **argv)
{
    const char *cmd = argv[0], *tokens[MAX_SEQS], *out_path = NULL;
    int n_seqs = 0;
    session_opts so;
    session_opts_init(&so);
    for (int i = 1; i < argc; i++) {
        int r = session_flag(cmd, &so, argc, argv, &i);
        if (r < 0) return 1;
        if (r > 0) continue;
        if (!strcmp(argv[i], "--tokens")) {
            if (n_seqs == MAX_SEQS) return cli_fail(cmd, "--tokens: at most %d sequences", MAX_SEQS);
            if (!(tokens[n_seqs++] = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "-o")) {
            if (!(out_path = cli_value(cmd, argc, argv, &i))) return 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: yoke logits -m FILE --tokens \"ID ...\" [--tokens \"ID ...\" ...] -o OUT.f32 [flags]\n"
                   "  every --tokens is a sequence of its own; all are evaluated in one batch, and the\n"
                   "  logits of every token are written, sequence after sequence in the order given\n");
            session_usage(stdout);
            return 0;
        } else {
            return cli_fail(cmd, "unknown flag %s (yoke logits --help)", argv[i]);
        }
    }
    if (!n_seqs) return cli_fail(cmd, "--tokens \"ID ...\" is required");
    if (!out_path) return cli_fail(cmd, "-o OUT.f32 is required");
    /* the batch: every sequence's tokens, in its own slot from position 0, every row wanted */
    int32_t *ids = NULL;
    uint32_t *seq = NULL, *pos = NULL, n = 0;
    int rc = 0;
    for (int q = 0; q < n_seqs && !rc; q++) {
        int32_t *one;
        int k = cli_parse_ids(cmd, tokens[q], &one);
        if (k < 0) {
            rc = 1;
            break;
        }
        if (k == 0) rc = cli_fail(cmd, "--tokens (sequence %d): no ids given", q + 1);
        int32_t *ni = realloc(ids, (n + (uint32_t)k) * sizeof *ids);
        uint32_t *ns = ni ? realloc(seq, (n + (uint32_t)k) * sizeof *seq) : NULL;
        uint32_t *np = ns ? realloc(pos, (n + (uint32_t)k) * sizeof *pos) : NULL;
        if (ni) ids = ni;
        if (ns) seq = ns;
        if (np) pos = np;
        if (!rc && !np) rc = cli_fail(cmd, "out of memory for the tokens");
        for (int t = 0; !rc && t < k; t++, n++) ids[n] = one[t], seq[n] = (uint32_t)q, pos[n] = (uint32_t)t;
        free(one);
    }
    uint8_t *want = rc ? NULL : malloc(n);
    if (!rc && !want) rc = cli_fail(cmd, "out of memory for the tokens");
    if (rc) {
        free(ids), free(seq), free(pos), free(want);
        return rc;
    }
    memset(want, 1, n);
    session_opts so_n = so;
    if (so_n.eo.n_seq < (uint32_t)n_seqs) so_n.eo.n_seq = (uint32_t)n_seqs;
    session s;
    rc = session_open(cmd, &s, &so_n, &argc, &argv);
    if (rc) {
        free(ids), free(seq), free(pos), free(want);
        return rc == 2 ? 0 : 1;
    }
    uint32_t V = s.model.hp.n_vocab;
    float *logits = malloc((size_t)n * V * sizeof(float));
    yk_err err = {0};
    yk_batch b = {.n = n, .ids = ids, .seq = seq, .pos = pos, .want = want};
    yk_outfile out;
    if (!logits) {
        rc = cli_fail(cmd, "out of memory for %u x %u logits", n, V);
    } else if (yk_engine_decode(s.engine, &b, logits, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
    } else {
        if (s.plan.n_dev > 1) {
            yk_dev_stats st[64];
            if (!yk_engine_stats(s.engine, st, &err)) session_print_device_stats(&s, st, (uint64_t)n, stderr);
        }
        if (yk_outfile_open(&out, out_path, &err)) {
            rc = cli_fail(cmd, "%s", err.msg);
        } else if (fwrite(logits, sizeof(float), (size_t)n * V, out.f) != (size_t)n * V) {
            yk_outfile_discard(&out);
            rc = cli_fail(cmd, "%s: cannot write", out_path);
        } else if (yk_outfile_commit(&out, &err)) {
            rc = cli_fail(cmd, "%s", err.msg);
        }
    }
    free(logits);
    free(ids), free(seq), free(pos), free(want);
    session_close(&s);
    return rc;
}
