/* base.c: error messages, the type layout table, small utilities shared by every module. */
#include "yoke/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

yk_status yk_err_set(yk_err *err, yk_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

const char *yk_status_name(yk_status s)
{
    static const char *names[YK_STATUS_COUNT] = {
        "ok", "i/o error", "format error", "unsupported", "invalid argument",
        "out of memory", "out of range", "communication error", "device error",
    };
    return (unsigned)s < YK_STATUS_COUNT ? names[s] : "unknown status";
}

void yk_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "yoke: internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
    abort();
}

/* Block layouts from the GGUF/ggml type definitions (public format documentation). */
static const yk_type_layout layouts[YK_TYPE_COUNT] = {
    [YK_TYPE_F32]     = {"F32", 1, 4},
    [YK_TYPE_F16]     = {"F16", 1, 2},
    [YK_TYPE_Q4_0]    = {"Q4_0", 32, 18},
    [YK_TYPE_Q4_1]    = {"Q4_1", 32, 20},
    [YK_TYPE_Q5_0]    = {"Q5_0", 32, 22},
    [YK_TYPE_Q5_1]    = {"Q5_1", 32, 24},
    [YK_TYPE_Q8_0]    = {"Q8_0", 32, 34},
    [YK_TYPE_Q8_1]    = {"Q8_1", 32, 36},
    [YK_TYPE_Q2_K]    = {"Q2_K", 256, 84},
    [YK_TYPE_Q3_K]    = {"Q3_K", 256, 110},
    [YK_TYPE_Q4_K]    = {"Q4_K", 256, 144},
    [YK_TYPE_Q5_K]    = {"Q5_K", 256, 176},
    [YK_TYPE_Q6_K]    = {"Q6_K", 256, 210},
    [YK_TYPE_Q8_K]    = {"Q8_K", 256, 292},
    [YK_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66},
    [YK_TYPE_IQ2_XS]  = {"IQ2_XS", 256, 74},
    [YK_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98},
    [YK_TYPE_IQ1_S]   = {"IQ1_S", 256, 50},
    [YK_TYPE_IQ4_NL]  = {"IQ4_NL", 32, 18},
    [YK_TYPE_IQ3_S]   = {"IQ3_S", 256, 110},
    [YK_TYPE_IQ2_S]   = {"IQ2_S", 256, 82},
    [YK_TYPE_IQ4_XS]  = {"IQ4_XS", 256, 136},
    [YK_TYPE_I8]      = {"I8", 1, 1},
    [YK_TYPE_I16]     = {"I16", 1, 2},
    [YK_TYPE_I32]     = {"I32", 1, 4},
    [YK_TYPE_I64]     = {"I64", 1, 8},
    [YK_TYPE_F64]     = {"F64", 1, 8},
    [YK_TYPE_IQ1_M]   = {"IQ1_M", 256, 56},
    [YK_TYPE_BF16]    = {"BF16", 1, 2},
};

const yk_type_layout *yk_type_layout_of(uint32_t t)
{
    if (t >= YK_TYPE_COUNT || layouts[t].name == NULL) return NULL;
    return &layouts[t];
}

const char *yk_type_name(uint32_t t)
{
    const yk_type_layout *l = yk_type_layout_of(t);
    return l ? l->name : "?";
}

int yk_type_from_name(const char *name)
{
    for (int t = 0; t < YK_TYPE_COUNT; t++)
        if (layouts[t].name && strcasecmp(layouts[t].name, name) == 0) return t;
    return -1;
}

size_t yk_row_bytes(yk_type t, int64_t n)
{
    const yk_type_layout *l = yk_type_layout_of(t);
    if (!l || n < 0 || n % l->block) return 0;
    return (size_t)(n / l->block) * (size_t)l->block_bytes;
}

double yk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
