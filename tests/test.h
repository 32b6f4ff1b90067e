/* test.h: the tests' tiny harness. Each tests/test_<topic>.c is one executable; its checks are
 * always on (no NDEBUG). A test binary exits 0 when every check passed, 1 when one failed, and 77
 * when it skipped (it says why on stdout). tests/run.sh prints the tally. */
#ifndef YOKE_TEST_H
#define YOKE_TEST_H

#include "yoke.h"
#include "yoke/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int tu_checks, tu_failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        tu_checks++;                                                                           \
        if (!(cond)) {                                                                         \
            tu_failures++;                                                                     \
            printf("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                           \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
        }                                                                                      \
    } while (0)

/* Ends the test: prints the check tally and returns the exit status. */
int tu_done(const char *name);
/* Skips the whole test visibly (exit 77). */
_Noreturn void tu_skip(const char *name, const char *why);

/* The shared input folder (../shared beside the checkout, or $YOKE_SHARED), or NULL if absent. */
const char *tu_shared_dir(void);
/* Path to a file under shared/ (static buffer per call site: copy if you need two). */
const char *tu_shared_path(char *buf, size_t n, const char *rel);
/* Path to the yoke binary under test ($YOKE or build/release/yoke). */
const char *tu_yoke(void);
/* Reads a whole file; returns NULL on error. *n receives its size. Free with free(). */
void *tu_read_file(const char *path, size_t *n);
/* Seeded deterministic random numbers: uniform in [0,1) and normal(0,1). */
typedef struct { uint64_t s; } tu_rng;
double tu_uniform(tu_rng *r);
double tu_normal(tu_rng *r);
/* Relative L2 error ||a-b|| / ||b|| in float64. */
double tu_rel_l2(const float *a, const float *b, size_t n);
/* A temporary file path unique to this process (under $TMPDIR or /tmp). */
const char *tu_tmp_path(char *buf, size_t n, const char *suffix);

/* An engine over devices made from a device list ("cpu:2", "cuda:0", "cpu:1,cuda:0"; NULL: one
 * CPU device per plan rank), threads divided among the CPU devices. tu_engine_close frees the
 * engine and then its devices. */
yk_status tu_engine_open(yk_engine **e, const yk_model *m, const yk_plan *p, const char *devices, int threads,
                         const yk_engine_opts *o, yk_err *err);
void tu_engine_close(yk_engine *e);
/* A device whose memory is PROT_NONE outside its own operations (guard_device.c); "guard:N" as
 * tu_engine_open's device list makes N of them. */
yk_device *tu_guard_device_create(int index, int n_threads, yk_err *err);

#endif
