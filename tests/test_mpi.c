/* test_mpi.c: the MPI communicator, through the CLI under mpirun (2 to 4 ranks on this machine):
 * logits of every layout equal the in-process logits bit for bit (both sum all-reduces in rank
 * order); a rank killed mid-run stops the job within 10 s with a message naming the rank; ranks
 * started with different model files refuse at start-up. Skips visibly without mpirun. */
#include "gen_model.h"
#include "test.h"

#include <sys/wait.h>

/* Under the sanitizer build, leak checking is off in the MPI processes only: Open MPI's own
 * libraries and the plugins it unloads at exit leave allocations behind that are not ours (our
 * code's leaks are checked by every in-process test). */
#define MPIRUN "env ASAN_OPTIONS=detect_leaks=0 mpirun --oversubscribe --allow-run-as-root --mca mpi_yield_when_idle 1"

static int run(const char *cmd, char *out, size_t cap)
{
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool same_file(const char *a, const char *b)
{
    size_t na, nb;
    void *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    bool same = x && y && na == nb && na > 0 && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

int main(void)
{
    if (system("command -v mpirun >/dev/null 2>&1") != 0) tu_skip("test_mpi", "mpirun is not installed (apt-get install openmpi-bin)");
    static char out[1 << 16];
    char cmd[2048], model[256], model2[256], a[256], b[256];
    tu_tmp_path(model, sizeof model, ".gguf");
    tu_tmp_path(model2, sizeof model2, ".gguf");
    tu_tmp_path(a, sizeof a, ".f32");
    tu_tmp_path(b, sizeof b, ".f32");
    gen_shape shape = {"llama", 4, 96, 6, 3, 16, 192, 128, 64, 10000.0f, false, 21, 0};
    CHECK(gen_model_write(model, &shape), "model");
    shape.seed = 22;
    CHECK(gen_model_write(model2, &shape), "second model");
    const char *tokens = "1 17 33 5 99 120 64 3 8 77";
    static const struct { int np; const char *flags; } layouts[] = {
        {2, "--tp 2"}, {2, "--tp 2 --comm-quant q8"}, {2, "--pp 2"}, {3, "--tp 3"}, {3, "--tp 3 --split 1,2,1"}, {4, "--tp 2 --pp 2"}, {4, "--pp 4"},
    };
    for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++) {
        snprintf(cmd, sizeof cmd, "%s logits -m %s --tokens '%s' -o %s %s -t 1 2>&1", tu_yoke(), model, tokens, a, layouts[i].flags);
        int rc1 = run(cmd, out, sizeof out);
        CHECK(rc1 == 0, "in-process %s: %s", layouts[i].flags, out);
        snprintf(cmd, sizeof cmd, MPIRUN " -np %d %s logits -m %s --tokens '%s' -o %s %s -t 1 2>&1", layouts[i].np, tu_yoke(), model, tokens,
                 b, layouts[i].flags);
        int rc2 = run(cmd, out, sizeof out);
        CHECK(rc2 == 0, "mpirun -np %d %s: %s", layouts[i].np, layouts[i].flags, out);
        CHECK(rc1 == 0 && rc2 == 0 && same_file(a, b), "-np %d %s: MPI logits differ from in-process", layouts[i].np, layouts[i].flags);
        printf("  mpirun -np %d %-22s logits identical to in-process: %s\n", layouts[i].np, layouts[i].flags,
               rc1 == 0 && rc2 == 0 && same_file(a, b) ? "yes" : "NO");
    }

    /* three sequences in one batch (yoke logits with --tokens three times): under MPI equal to
     * in-process, and both equal, bit for bit, to each sequence run alone one after another */
    static const char *seqs[] = {"1 17 33 5", "99 120", "64 3 8 77 2"};
    static const struct { int np; const char *flags; } batch_layouts[] = {{2, "--tp 2"}, {2, "--pp 2 --micro-batch 2"}, {4, "--tp 2 --pp 2"}};
    for (size_t i = 0; i < sizeof batch_layouts / sizeof *batch_layouts; i++) {
        const char *fl = batch_layouts[i].flags;
        char *alone = NULL, c[256];
        size_t n_alone = 0;
        bool ok = true;
        for (int q = 0; q < 3 && ok; q++) {
            snprintf(cmd, sizeof cmd, "%s logits -m %s --tokens '%s' -o %s %s -t 1 2>&1", tu_yoke(), model, seqs[q], a, fl);
            ok = run(cmd, out, sizeof out) == 0;
            size_t n1;
            char *one = ok ? tu_read_file(a, &n1) : NULL;
            char *grown = one ? realloc(alone, n_alone + n1) : NULL;
            ok = grown != NULL;
            if (ok) memcpy(grown + n_alone, one, n1), alone = grown, n_alone += n1;
            free(one);
        }
        CHECK(ok, "%s: a sequence alone: %s", fl, out);
        snprintf(c, sizeof c, "--tokens '%s' --tokens '%s' --tokens '%s'", seqs[0], seqs[1], seqs[2]);
        snprintf(cmd, sizeof cmd, "%s logits -m %s %s -o %s %s -t 1 2>&1", tu_yoke(), model, c, a, fl);
        CHECK(run(cmd, out, sizeof out) == 0, "in-process batch %s: %s", fl, out);
        snprintf(cmd, sizeof cmd, MPIRUN " -np %d %s logits -m %s %s -o %s %s -t 1 2>&1", batch_layouts[i].np, tu_yoke(), model, c, b, fl);
        CHECK(run(cmd, out, sizeof out) == 0, "mpirun -np %d batch %s: %s", batch_layouts[i].np, fl, out);
        size_t na;
        char *x = tu_read_file(a, &na);
        bool same_alone = ok && x && na == n_alone && !memcmp(x, alone, na);
        CHECK(same_alone, "%s: 3 sequences in one batch differ from each alone", fl);
        CHECK(same_file(a, b), "-np %d %s: MPI batch differs from in-process", batch_layouts[i].np, fl);
        printf("  3 sequences in one batch, %-24s = each alone: %s; mpirun -np %d = in-process: %s\n", fl, same_alone ? "yes" : "NO",
               batch_layouts[i].np, same_file(a, b) ? "yes" : "NO");
        free(x);
        free(alone);
    }

    /* a rank killed on its second forward pass: the job ends, non-zero, within 10 s, naming rank 1 */
    snprintf(cmd, sizeof cmd, "YK_FAULT_KILL=1:2 timeout 30 " MPIRUN " -np 2 %s bench -m %s -p 4 -n 4 -r 1 --bw 1 -t 1 2>&1", tu_yoke(), model);
    double t0 = yk_now();
    int rc = run(cmd, out, sizeof out);
    double dt = yk_now() - t0;
    CHECK(rc != 0 && rc != 124, "killed rank: exit status %d", rc);
    CHECK(dt < 10, "killed rank: the job took %.1f s to stop", dt);
    CHECK(strstr(out, "rank 1") != NULL, "killed rank named: %s", out);

    /* ranks with different model files refuse at start-up */
    snprintf(cmd, sizeof cmd,
             "timeout 30 " MPIRUN " -np 2 sh -c 'if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then m=%s; else m=%s; fi; "
             "exec %s logits -m $m --tokens \"1 2\" -o %s -t 1' 2>&1",
             model2, model, tu_yoke(), a);
    rc = run(cmd, out, sizeof out);
    CHECK(rc != 0 && strstr(out, "rank 1 was started with a different model file"), "mismatch refused (%d): %s", rc, out);
    /* and so do different plans */
    snprintf(cmd, sizeof cmd,
             "timeout 30 " MPIRUN " -np 2 sh -c 'if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then s=3,1; else s=1,1; fi; "
             "exec %s logits -m %s --tp 2 --split $s --tokens \"1 2\" -o %s -t 1' 2>&1",
             tu_yoke(), model, a);
    rc = run(cmd, out, sizeof out);
    CHECK(rc != 0 && strstr(out, "different plan"), "plan mismatch refused (%d): %s", rc, out);
    remove(model);
    remove(model2);
    remove(a);
    remove(b);
    return tu_done("test_mpi");
}
