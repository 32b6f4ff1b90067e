/* test_signals.c: the yoke command line when a signal ends it, run as a child process.
 *
 * - SIGTERM and SIGINT while mkmodel or quantize writes OUT (sent as soon as the temporary file
 *   appears beside OUT): the process ends by that signal, OUT keeps its old bytes, and no
 *   temporary is left.
 * - SIGBUS: yoke chat on a copy of a model, with the weights read from the map; after the first
 *   reply the copy is truncated to nothing, and the second message makes the engine read pages
 *   that are gone: yoke prints "FILE changed while in use" naming the copy and exits 1.
 * Models come from yoke mkmodel, so nothing here needs ../shared. */
#include "scratch.h"
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[512];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Runs argv (yoke and its arguments, NULL-terminated) with stdout and stderr to /dev/null. */
static pid_t spawn(char *const argv[])
{
    fflush(NULL); /* or the child would print our buffered lines again */
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Starts argv writing to out (which holds "old bytes"), sends sig when out's temporary appears, and
 * checks how the process ended and what is left. */
static void interrupt(const char *what, char *const argv[], const char *name, int sig)
{
    char out[700], prefix[300];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    snprintf(prefix, sizeof prefix, "%s.tmp.", name);
    FILE *f = fopen(out, "wb");
    fputs("old bytes", f);
    fclose(f);
    pid_t pid = spawn(argv);
    int waited = 0, status = 0;
    bool seen = false;
    while (waited < 60000 && !(seen = tu_count_prefix(dir, prefix) > 0)) {
        if (waitpid(pid, &status, WNOHANG) == pid) break; /* ended before writing */
        sleep_ms(1);
        waited++;
    }
    CHECK(seen, "%s: the temporary beside OUT appeared", what);
    if (seen) {
        kill(pid, sig);
        waitpid(pid, &status, 0);
    }
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sig, "%s: ended by signal %d (status %#x)", what, sig, status);
    CHECK(tu_file_holds(out, "old bytes"), "%s: OUT keeps its old bytes", what);
    CHECK(tu_count_prefix(dir, prefix) == 0, "%s: no temporary left", what);
    unlink(out);
}

static int run_status(char *const argv[])
{
    int status;
    pid_t pid = spawn(argv);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void bus(const char *model)
{
    char copy[700];
    snprintf(copy, sizeof copy, "%s/copy.gguf", dir);
    size_t n;
    void *bytes = tu_read_file(model, &n);
    FILE *f = fopen(copy, "wb");
    CHECK(bytes && f && fwrite(bytes, 1, n, f) == n && fclose(f) == 0, "copy the model");
    free(bytes);

    int in[2], out[2], err[2];
    if (pipe(in) || pipe(out) || pipe(err)) {
        CHECK(0, "pipes: %s", strerror(errno));
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0), dup2(out[1], 1), dup2(err[1], 2);
        close(in[1]), close(out[0]), close(err[0]);
        execl(tu_yoke(), tu_yoke(), "chat", "-m", copy, "--chat-template", "llama2", "--temp", "0", "-n", "4",
              "--no-copy-weights", (char *)NULL);
        _exit(127);
    }
    close(in[0]), close(out[1]), close(err[1]);
    /* the first turn: the model is mapped and has been read once the reply line comes */
    ssize_t w = write(in[1], "hello\n", 6);
    char c = 0;
    size_t got = 0;
    while (read(out[0], &c, 1) == 1 && c != '\n') got++;
    CHECK(w == 6 && c == '\n', "first reply (%zu bytes)", got);
    CHECK(truncate(copy, 0) == 0, "truncate the copy: %s", strerror(errno));
    w = write(in[1], "again\n", 6);
    close(in[1]);
    char msg[4096];
    size_t m = 0;
    ssize_t r;
    while (m < sizeof msg - 1 && (r = read(err[0], msg + m, sizeof msg - 1 - m)) > 0) m += (size_t)r;
    msg[m] = 0;
    int status;
    waitpid(pid, &status, 0);
    close(out[0]), close(err[0]);
    char want[800];
    snprintf(want, sizeof want, "yoke chat: %s changed while in use", copy);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(msg, want), "SIGBUS: status %#x, stderr: %s", status, msg);
    unlink(copy);
}

int main(void)
{
    if (access(tu_yoke(), X_OK) != 0) tu_skip("test_signals", "the yoke binary is not built");
    if (!tu_tmp_dir(dir, sizeof dir)) {
        printf("test_signals: cannot make a scratch folder\n");
        return 1;
    }
    char *y = (char *)tu_yoke();
    char out[700], model[700];
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    snprintf(model, sizeof model, "%s/model.gguf", dir);

    /* a Q4_K model of this shape takes seconds on one thread: the signal comes while it is written */
    char *mk[] = {y, "mkmodel", "-o", out, "--layers", "2", "--embd", "1024", "--ff", "2048", "--type", "Q4_K",
                  "--threads", "1", NULL};
    interrupt("mkmodel, SIGTERM", mk, "out.gguf", SIGTERM);
    interrupt("mkmodel, SIGINT", mk, "out.gguf", SIGINT);
    char *mk_f32[] = {y, "mkmodel", "-o", model, "--layers", "2", "--embd", "1024", "--ff", "2048", NULL};
    CHECK(run_status(mk_f32) == 0, "an F32 model to quantize");
    char *qz[] = {y, "quantize", model, out, "Q4_K_M", "--threads", "1", NULL};
    interrupt("quantize, SIGTERM", qz, "out.gguf", SIGTERM);
    unlink(model);

    char *mk_small[] = {y, "mkmodel", "-o", model, NULL};
    CHECK(run_status(mk_small) == 0, "a small model to chat with");
    bus(model);
    unlink(model);
    CHECK(tu_count_prefix(dir, "") == 2, "the scratch folder is empty: %d entries", tu_count_prefix(dir, ""));
    tu_rm_dir(dir);
    return tu_done("test_signals");
}
