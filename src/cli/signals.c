/* signals.c: what the command line does when a signal ends it (see cli.h).
 *
 * Design: the handlers only read what was prepared before the signal could come: a temporary
 * output file's path and a ready-made SIGBUS message, each in a static buffer behind a
 * volatile sig_atomic_t that says whether it is set, with a signal fence between filling the
 * buffer and setting the flag. They call only async-signal-safe functions (unlink, write, signal,
 * raise, _exit). This is process-wide state, as signal dispositions are: it lives here, in the
 * command line, and never in the library. The temporary is registered with the signals held
 * back, so none can come between its creation and its registration. */
#include "cli.h"

#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* Signals whose default action ends the process and that a user or the system sends while an
 * output file may be half written. */
static const int ending[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGXFSZ};

static char cmd_name[64] = "?";
static char temp_path[PATH_MAX + 64];
static volatile sig_atomic_t temp_set;
static char bus_msg[PATH_MAX + 256];
static volatile sig_atomic_t bus_len;

static void on_ending(int sig)
{
    if (temp_set) unlink(temp_path);
    signal(sig, SIG_DFL);
    raise(sig); /* delivered when the handler returns: the process ends as the signal says */
}

static void on_bus(int sig)
{
    (void)sig;
    if (temp_set) unlink(temp_path);
    static const char generic[] = "a mapped file changed while in use (truncated or rewritten)\n";
    const char *m = bus_len ? bus_msg : generic;
    size_t n = bus_len ? (size_t)bus_len : sizeof generic - 1;
    if (!bus_len) {
        ssize_t r = write(2, "yoke: ", 6);
        (void)r;
    }
    while (n > 0) {
        ssize_t w = write(2, m, n);
        if (w <= 0) break;
        m += w;
        n -= (size_t)w;
    }
    _exit(1);
}

void cli_signals_init(const char *cmd)
{
    snprintf(cmd_name, sizeof cmd_name, "%s", cmd);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_bus;
    sigaction(SIGBUS, &sa, NULL);
    sa.sa_handler = on_ending;
    for (size_t i = 0; i < sizeof ending / sizeof *ending; i++) {
        struct sigaction old;
        /* a signal the parent ignores (nohup, a shell's background job) stays ignored */
        if (sigaction(ending[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(ending[i], &sa, NULL);
    }
}

void cli_watch_mapped(const char *path)
{
    bus_len = 0;
    atomic_signal_fence(memory_order_seq_cst);
    int n = snprintf(bus_msg, sizeof bus_msg,
                     "yoke %s: %s changed while in use (truncated or rewritten while yoke was reading it)\n", cmd_name, path);
    atomic_signal_fence(memory_order_seq_cst);
    if (n > 0 && (size_t)n < sizeof bus_msg) bus_len = n;
}

/* Registers path (NULL: none) as the temporary file the handlers remove. */
static void watch_temp(const char *path)
{
    temp_set = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (!path || strlen(path) >= sizeof temp_path) return;
    strcpy(temp_path, path);
    atomic_signal_fence(memory_order_seq_cst);
    temp_set = 1;
}

yk_status cli_writer_open(yk_gguf_writer **w, const char *path, yk_err *err)
{
    sigset_t hold, old;
    sigemptyset(&hold);
    for (size_t i = 0; i < sizeof ending / sizeof *ending; i++) sigaddset(&hold, ending[i]);
    pthread_sigmask(SIG_BLOCK, &hold, &old);
    yk_status st = yk_gguf_writer_open(w, path, err);
    if (st == YK_OK) watch_temp(yk_gguf_writer_temp(*w));
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return st;
}

yk_status cli_writer_close(yk_gguf_writer *w, yk_err *err)
{
    yk_status st = yk_gguf_writer_close(w, err);
    watch_temp(NULL);
    return st;
}

void cli_writer_discard(yk_gguf_writer *w)
{
    yk_gguf_writer_discard(w);
    watch_temp(NULL);
}
