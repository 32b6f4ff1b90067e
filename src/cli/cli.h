/* cli.h: the yoke command line. One file per command (cmd_<name>.c), each defining
 * int yk_cmd_<name>(int argc, char **argv) with argv[0] the command name; it returns the exit
 * status. Errors go to stderr as "yoke <cmd>: <message>" and give a non-zero status. main flushes
 * and closes standard output after the command: a write error there is an error too. */
#ifndef YOKE_CLI_H
#define YOKE_CLI_H

#include "yoke.h"

#include <stdio.h>

#define YK_COMMANDS(X)                                                                         \
    X(info, "describe a GGUF file: architecture, tokenizer, tensors, bytes per type")          \
    X(mkmodel, "write a random-weight model of a given shape or preset")                       \
    X(quantize, "convert a GGUF model to another weight type or mix")                          \
    X(dump, "write a tensor's dequantised rows as float32 to stdout")                          \
    X(tokenize, "turn text into token ids with a model's tokenizer")                           \
    X(run, "generate text from a prompt")                                                      \
    X(chat, "chat with a model using its chat template")                                       \
    X(logits, "evaluate token ids and write the logits as float32")                            \
    X(plan, "predict fit, layout, speed and cost of a model on a set of GPUs")                 \
    X(bench, "measure prefill and decode speed, beside the prediction")

#define X(name, help) int yk_cmd_##name(int argc, char **argv);
YK_COMMANDS(X)
#undef X

/* Prints "yoke <cmd>: <msg>" to stderr and returns 1 (use: return cli_fail(...)). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "yoke <cmd>: write error on <what>: <strerror(e)>" (without the reason when e is 0) and
 * returns 1. For a write that failed (a full disk, stdout on /dev/full). */
int cli_write_error(const char *cmd, const char *what, int e);
/* Parses an integer flag value in [lo, hi]; on error prints a message naming the flag. */
bool cli_int(const char *cmd, const char *flag, const char *val, int64_t lo, int64_t hi, int64_t *out);
/* Parses a float flag value in [lo, hi]; on error prints a message naming the flag. */
bool cli_float(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out);
/* Returns argv[*i + 1] and advances *i, or prints "<flag> needs a value" and returns NULL. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

/* Reads the text a -f flag names ("-": standard input) whole, NUL-terminated, with one trailing
 * newline dropped as llama.cpp's -f does; *n receives its length (the text may hold NUL bytes).
 * On error prints "yoke <cmd>: -f <path>: cannot read: <reason>" and returns NULL. Free with free(). */
char *cli_read_text(const char *cmd, const char *path, size_t *n);
/* The prompt of -p TEXT or -f FILE (at most one given; file NULL: *text as it is): *text and *len
 * (a file may hold NUL bytes), *owned what to free (NULL for -p), and in what[] how messages name
 * it ("-p" or "-f FILE"). False (message printed) when the file cannot be read. */
bool cli_prompt_text(const char *cmd, const char *file, const char **text, size_t *len, char **owned, char *what, size_t what_n);

/* Parses space- or comma-separated token ids into a new array; returns the count or -1. */
int cli_parse_ids(const char *cmd, const char *s, int32_t **out);

/* Signals (signals.c). cli_signals_init, called by main, installs the handlers: SIGBUS, which a
 * mapped model file truncated while yoke reads it raises, prints "yoke CMD: FILE changed while in
 * use" naming the file given to cli_watch_mapped and exits 1 instead of a silent crash; SIGINT,
 * SIGTERM, SIGHUP, SIGQUIT, SIGPIPE and SIGXFSZ remove the temporary output file being written,
 * if any, and then end the process as the signal would (an ignored signal stays ignored). */
void cli_signals_init(const char *cmd);
/* Names the file a SIGBUS is blamed on (the model or input file being read through a map). */
void cli_watch_mapped(const char *path);
/* yk_gguf_writer_open, with the writer's temporary registered for removal on a signal (the
 * signals are held back between the two, so none leaves it behind). */
yk_status cli_writer_open(yk_gguf_writer **w, const char *path, yk_err *err);
/* yk_gguf_writer_close / yk_gguf_writer_discard, then no temporary to remove any more. */
yk_status cli_writer_close(yk_gguf_writer *w, yk_err *err);
void cli_writer_discard(yk_gguf_writer *w);

#endif
