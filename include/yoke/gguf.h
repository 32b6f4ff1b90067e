/* yoke/gguf.h: GGUF files (versions 2 and 3), read through mmap and written by streaming.
 *
 * Reading maps the file and validates every count, length, offset and dimension against the file
 * size with overflow-checked arithmetic before use; tensor data is never read at open (a 40 GB
 * file opens in milliseconds). Strings point into the map and are not NUL-terminated. Key and tensor
 * lookups use hash tables built at open. Bad input gives YK_E_FORMAT (or YK_E_UNSUPPORTED) and a
 * message "FILE: offset N: FIELD: what is wrong". Arrays of arrays are rejected (YK_E_UNSUPPORTED):
 * no model file uses them. Multi-byte values are little-endian (the host must be too). */
#ifndef YOKE_GGUF_H
#define YOKE_GGUF_H

#include "yoke/base.h"

typedef enum {
    YK_GGUF_U8 = 0, YK_GGUF_I8 = 1, YK_GGUF_U16 = 2, YK_GGUF_I16 = 3, YK_GGUF_U32 = 4,
    YK_GGUF_I32 = 5, YK_GGUF_F32 = 6, YK_GGUF_BOOL = 7, YK_GGUF_STRING = 8, YK_GGUF_ARRAY = 9,
    YK_GGUF_U64 = 10, YK_GGUF_I64 = 11, YK_GGUF_F64 = 12,
    YK_GGUF_VTYPE_COUNT
} yk_gguf_vtype;

/* Name of a value type ("u32", "string", "array"), or "?" for an unknown id. */
const char *yk_gguf_vtype_name(uint32_t t);
/* Bytes of one value of a fixed-size type (0 for string, array and unknown ids). */
size_t yk_gguf_vtype_size(uint32_t t);

typedef struct {
    const char *ptr; /* into the map; not NUL-terminated */
    uint64_t len;
} yk_str;

typedef struct {
    yk_str key;
    yk_gguf_vtype type;
    yk_gguf_vtype arr_type;  /* element type when type == YK_GGUF_ARRAY */
    uint64_t arr_n;          /* element count when type == YK_GGUF_ARRAY */
    const uint8_t *data;     /* the value (or the first array element) in the map */
    uint64_t offset;         /* file offset of the value (for arrays: of the element type field) */
    uint64_t nbytes;         /* bytes the value takes in the file, from offset */
    const uint64_t *str_off; /* string arrays: offset of each element from data (private, built at open) */
} yk_gguf_kv;

#define YK_GGUF_MAX_DIMS 4

typedef struct {
    yk_str name;
    uint32_t n_dims;
    int64_t ne[YK_GGUF_MAX_DIMS]; /* ne[0] innermost (contiguous); unused dims are 1 */
    yk_type type;
    uint64_t offset;              /* relative to the data section */
    uint64_t nbytes;
    const void *data;             /* in the map: data section + offset */
} yk_gguf_tensor;

typedef struct yk_gguf_index yk_gguf_index; /* private hash tables */

typedef struct yk_gguf {
    char *path;
    const uint8_t *map;
    uint64_t size;
    uint32_t version;
    uint64_t n_kv;
    yk_gguf_kv *kv;
    uint64_t n_tensors;
    yk_gguf_tensor *tensors;
    uint64_t alignment;    /* general.alignment or 32 */
    uint64_t data_offset;  /* start of the data section (for a file without tensors: at most size) */
    yk_gguf_index *index;
} yk_gguf;

/* Opens and validates path. On failure g is left closed (safe to yk_gguf_close). */
yk_status yk_gguf_open(yk_gguf *g, const char *path, yk_err *err);
/* Same, for a buffer the caller keeps alive (fuzzing, tests); name is used in messages. */
yk_status yk_gguf_open_buffer(yk_gguf *g, const void *buf, uint64_t size, const char *name, yk_err *err);
/* Releases everything; g is then zeroed. Safe on a zeroed or already closed g. */
void yk_gguf_close(yk_gguf *g);

/* Lookups by name, O(1) expected. NULL if absent. */
const yk_gguf_kv *yk_gguf_find_kv(const yk_gguf *g, const char *key);
const yk_gguf_tensor *yk_gguf_find_tensor(const yk_gguf *g, const char *name);

/* Typed getters. Integer getters accept any integer value type whose value fits the target;
 * float getters accept F32 and F64. They return false if the key is absent or of another type. */
bool yk_gguf_get_u32(const yk_gguf *g, const char *key, uint32_t *out);
bool yk_gguf_get_u64(const yk_gguf *g, const char *key, uint64_t *out);
bool yk_gguf_get_i64(const yk_gguf *g, const char *key, int64_t *out);
bool yk_gguf_get_f32(const yk_gguf *g, const char *key, float *out);
bool yk_gguf_get_bool(const yk_gguf *g, const char *key, bool *out);
bool yk_gguf_get_str(const yk_gguf *g, const char *key, yk_str *out);
/* Array access: element i of an array kv (any element type; strings via yk_gguf_arr_str).
 * They return false if kv is not an array of a fitting type or i is out of range. */
bool yk_gguf_arr_str(const yk_gguf_kv *kv, uint64_t i, yk_str *out);   /* O(1) after open */
bool yk_gguf_arr_f64(const yk_gguf_kv *kv, uint64_t i, double *out);   /* numeric element as double */
bool yk_gguf_arr_i64(const yk_gguf_kv *kv, uint64_t i, int64_t *out);  /* integer (or bool) element */
/* The same for a scalar kv: the value itself. */
bool yk_gguf_kv_f64(const yk_gguf_kv *kv, double *out);
bool yk_gguf_kv_i64(const yk_gguf_kv *kv, int64_t *out);
/* Compares a yk_str with a C string. */
bool yk_str_eq(yk_str s, const char *c);

/* A file's summary, for `yoke info`: what it is and where its bytes go. */
typedef struct {
    yk_str arch;              /* general.architecture ("" if absent) */
    yk_str name;              /* general.name ("" if absent) */
    yk_str tok_model;         /* tokenizer.ggml.model: "llama" (SPM), "gpt2" (BPE), ... ("" if absent) */
    yk_str tok_pre;           /* tokenizer.ggml.pre ("" if absent) */
    uint64_t n_vocab;         /* length of tokenizer.ggml.tokens (0 if absent) */
    uint64_t n_params;        /* sum of the element counts of all tensors */
    uint64_t tensor_bytes;    /* sum of the tensors' bytes */
    uint64_t type_count[YK_TYPE_COUNT], type_bytes[YK_TYPE_COUNT];
} yk_gguf_summary;

void yk_gguf_summarize(const yk_gguf *g, yk_gguf_summary *s);

/* A kv's value as text in buf (always NUL-terminated; returns false if it had to be cut).
 * Numbers in full precision (floats in the shortest form that reads back the same); strings as
 * they are, or for json as a quoted, escaped JSON string (invalid UTF-8 becomes U+FFFD); arrays
 * as [a, b, ...] when they hold at most max_elems elements, else "[N x TYPE]" (json:
 * {"type": TYPE, "n": N}). JSON output is always valid JSON (NaN and infinities become null). */
bool yk_gguf_kv_text(const yk_gguf_kv *kv, bool json, uint64_t max_elems, char *buf, size_t n);

/* Appends s as a quoted JSON string to buf (of size n, holding a NUL-terminated string); returns
 * false if it did not fit (buf is then cut). */
bool yk_json_str(char *buf, size_t n, const char *s, uint64_t len);

/* Writer: streams a GGUF v3 file. Metadata and tensor infos are declared first (kept in memory:
 * they are small), then tensor data is written in declaration order (possibly in pieces) straight
 * to the file, so memory use does not grow with model size. Alignment comes from
 * general.alignment (an integer power of two) if set before yk_gguf_writer_begin_data, else 32.
 * Every tensor's data is followed by zero padding up to the alignment; the tensor infos too when
 * there is at least one tensor (a file without tensors ends right after its metadata).
 * Errors are sticky: after one, every call returns it.
 * The file is written all or nothing (yoke/outfile.h): to a temporary file beside path that a
 * successful close renames onto path; after a failure path keeps its old bytes (or stays absent)
 * and the temporary is removed. A device or a pipe at path is written straight through. */
typedef struct yk_gguf_writer yk_gguf_writer;

yk_status yk_gguf_writer_open(yk_gguf_writer **w, const char *path, yk_err *err);
/* The temporary file being written (renamed onto path by a successful close), or NULL when writing
 * straight through. For a caller that removes it if a signal ends the process mid-write. */
const char *yk_gguf_writer_temp(const yk_gguf_writer *w);
/* A scalar value: value points to the C type of `type` (uint8_t ... double, bool); for
 * YK_GGUF_STRING value is the NUL-terminated string itself. Arrays go through add_arr. */
yk_status yk_gguf_writer_add_kv(yk_gguf_writer *w, const char *key, yk_gguf_vtype type, const void *value, yk_err *err);
yk_status yk_gguf_writer_add_str(yk_gguf_writer *w, const char *key, const char *value, yk_err *err);
/* Array of n elements of elem_type; for strings, values is const char *const *. */
yk_status yk_gguf_writer_add_arr(yk_gguf_writer *w, const char *key, yk_gguf_vtype elem_type, const void *values, uint64_t n, yk_err *err);
/* Array of n strings given with their lengths (they may hold any bytes). */
yk_status yk_gguf_writer_add_arr_strs(yk_gguf_writer *w, const char *key, const yk_str *values, uint64_t n, yk_err *err);
/* Copies a kv from an open file, whatever its type (round trips, yoke quantize). */
yk_status yk_gguf_writer_copy_kv(yk_gguf_writer *w, const yk_gguf *src, const yk_gguf_kv *kv, yk_err *err);
yk_status yk_gguf_writer_add_tensor(yk_gguf_writer *w, const char *name, yk_type type, uint32_t n_dims, const int64_t *ne, yk_err *err);
/* Writes header, metadata and tensor infos; afterwards only tensor data may be written. */
yk_status yk_gguf_writer_begin_data(yk_gguf_writer *w, yk_err *err);
/* Appends bytes of the current tensor; moves to the next (with alignment padding) once complete.
 * A piece may span several tensors; writing past the last tensor is an error. */
yk_status yk_gguf_writer_write(yk_gguf_writer *w, const void *data, uint64_t n, yk_err *err);
/* Checks every tensor was written completely, flushes, syncs and closes, and renames the file into
 * place. Frees w in every case; on failure only the temporary file is removed. Calls begin_data
 * itself if it was not called. */
yk_status yk_gguf_writer_close(yk_gguf_writer *w, yk_err *err);
/* Gives up: frees w and removes the temporary file; path keeps its old bytes. Safe on NULL. */
void yk_gguf_writer_discard(yk_gguf_writer *w);

#endif
