/* yoke/base.h: status codes, error messages and the tensor element types shared by every module.
 *
 * Error convention (see ../shared/STYLE.md): library functions never print and never exit. A
 * function that can fail returns yk_status and, when it fails, fills a yk_err whose message names
 * the file, the byte offset, the field or the flag at fault. The CLI prints err.msg and exits 1. */
#ifndef YOKE_BASE_H
#define YOKE_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum {
    YK_OK = 0,
    YK_E_IO,          /* open/read/write/mmap failed */
    YK_E_FORMAT,      /* malformed input file or data */
    YK_E_UNSUPPORTED, /* well-formed but not supported (type, architecture, version) */
    YK_E_INVALID,     /* bad argument, flag or request */
    YK_E_NOMEM,       /* allocation failed */
    YK_E_RANGE,       /* a size or index out of range (context full, prompt too long) */
    YK_E_COMM,        /* a peer failed or disagreed (MPI rank died, plan mismatch) */
    YK_E_DEVICE,      /* a device call failed (CUDA, NCCL) */
    YK_STATUS_COUNT
} yk_status;

typedef struct {
    yk_status status;
    char msg[1024];
} yk_err;

/* Fills err (if not NULL) with a printf-formatted message and returns status. */
yk_status yk_err_set(yk_err *err, yk_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *yk_status_name(yk_status s);

/* Always-on assertion for broken invariants (not for bad input): NDEBUG does not remove it. */
#define YK_ASSERT(cond)                                                                        \
    do {                                                                                       \
        if (!(cond)) yk_assert_fail(#cond, __FILE__, __LINE__);                                \
    } while (0)
_Noreturn void yk_assert_fail(const char *expr, const char *file, int line);

/* Element types of tensors. The values are the GGUF/ggml type ids, so they can be stored in and
 * read from GGUF files as they are. Appended only. */
typedef enum {
    YK_TYPE_F32     = 0,
    YK_TYPE_F16     = 1,
    YK_TYPE_Q4_0    = 2,
    YK_TYPE_Q4_1    = 3,
    YK_TYPE_Q5_0    = 6,
    YK_TYPE_Q5_1    = 7,
    YK_TYPE_Q8_0    = 8,
    YK_TYPE_Q8_1    = 9,
    YK_TYPE_Q2_K    = 10,
    YK_TYPE_Q3_K    = 11,
    YK_TYPE_Q4_K    = 12,
    YK_TYPE_Q5_K    = 13,
    YK_TYPE_Q6_K    = 14,
    YK_TYPE_Q8_K    = 15,
    YK_TYPE_IQ2_XXS = 16,
    YK_TYPE_IQ2_XS  = 17,
    YK_TYPE_IQ3_XXS = 18,
    YK_TYPE_IQ1_S   = 19,
    YK_TYPE_IQ4_NL  = 20,
    YK_TYPE_IQ3_S   = 21,
    YK_TYPE_IQ2_S   = 22,
    YK_TYPE_IQ4_XS  = 23,
    YK_TYPE_I8      = 24,
    YK_TYPE_I16     = 25,
    YK_TYPE_I32     = 26,
    YK_TYPE_I64     = 27,
    YK_TYPE_F64     = 28,
    YK_TYPE_IQ1_M   = 29,
    YK_TYPE_BF16    = 30,
    YK_TYPE_COUNT   = 31
} yk_type;

/* Storage layout of a type: a row of n elements (n a multiple of block) takes n/block*block_bytes.
 * Known for every GGUF type id, also those yoke cannot compute with, so that files holding them
 * can still be described (yoke info) and their byte ranges checked. */
typedef struct {
    const char *name;   /* "Q4_K" */
    int32_t block;      /* elements per block */
    int32_t block_bytes;/* bytes per block */
} yk_type_layout;

/* Returns the layout of t, or NULL for an id that is not a GGUF type. */
const yk_type_layout *yk_type_layout_of(uint32_t t);
/* Name of the type ("Q4_K"), or "?" for an unknown id. */
const char *yk_type_name(uint32_t t);
/* Type id for a name (case-insensitive), or -1. */
int yk_type_from_name(const char *name);
/* Bytes of a row of n elements; 0 if t is unknown or n is not a multiple of the block. */
size_t yk_row_bytes(yk_type t, int64_t n);

/* Overflow-checked arithmetic: return false (and leave *out unspecified) on overflow. */
static inline bool yk_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }
static inline bool yk_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }

/* Monotonic clock in seconds. */
double yk_now(void);

#endif
