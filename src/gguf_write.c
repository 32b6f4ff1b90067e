/* gguf_write.c: the streaming GGUF v3 writer.
 *
 * Design: metadata and tensor infos are small, so they are collected in memory (the metadata
 * already encoded as it will appear in the file) while the caller declares them. begin_data writes
 * the header, the metadata, the tensor infos (offsets computed from the sizes and the alignment)
 * and the padding; from then on the caller streams tensor bytes in declaration order, in pieces of
 * any size, and the writer inserts the zero padding after each tensor. Nothing of the tensor data
 * is kept, so memory does not grow with the model. Key and tensor names are checked for duplicates
 * with hash sets as they are declared. The first error is kept (sticky): later calls return it.
 * The bytes go to a yk_outfile (yoke/outfile.h): a temporary file beside the path, renamed onto it
 * by a successful close and removed by a failed one, so the path keeps its old bytes until the new
 * file is complete; a device or a pipe is written straight through and never removed. */
#include "yoke/gguf.h"
#include "yoke/outfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ALIGNMENT 32

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

/* A set of names (pointers owned by the caller of name_set_add), open addressing, grows at 1/2. */
typedef struct {
    const char **slot;
    size_t *len;
    size_t cap, n;
} name_set;

typedef struct {
    char *name;
    yk_type type;
    uint32_t n_dims;
    int64_t ne[YK_GGUF_MAX_DIMS];
    uint64_t nbytes, offset;
} tensor_decl;

struct yk_gguf_writer {
    yk_outfile out;
    FILE *f;              /* out.f */
    char *path;
    yk_err err;           /* err.status != YK_OK once something failed (sticky) */
    bytes meta;           /* the encoded key/value pairs */
    uint64_t n_kv;
    name_set keys;        /* point into meta's copies below */
    char **key_copies;
    size_t n_key_copies, cap_key_copies;
    tensor_decl *tensors;
    uint64_t n_tensors, cap_tensors;
    name_set tensor_names;
    uint64_t alignment;
    bool data_begun;
    uint64_t cur;         /* tensor being written */
    uint64_t done;        /* bytes of it written */
};

/* ---- errors ---- */

static yk_status wfail(yk_gguf_writer *w, yk_err *err, yk_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static yk_status wfail(yk_gguf_writer *w, yk_err *err, yk_status st, const char *fmt, ...)
{
    char what[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (w->err.status == YK_OK) yk_err_set(&w->err, st, "%s: %s", w->path, what);
    if (err) *err = w->err;
    return w->err.status;
}

/* Returns the sticky error (copied to err) if there is one. */
static yk_status sticky(yk_gguf_writer *w, yk_err *err)
{
    if (w->err.status && err) *err = w->err;
    return w->err.status;
}

/* ---- byte buffer ---- */

static bool put(bytes *b, const void *p, size_t n)
{
    if (n > SIZE_MAX - b->n) return false;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) {
            if (cap > SIZE_MAX / 2) return false;
            cap *= 2;
        }
        uint8_t *q = realloc(b->p, cap);
        if (!q) return false;
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    return true;
}

static bool put_u32(bytes *b, uint32_t v) { return put(b, &v, 4); }
static bool put_u64(bytes *b, uint64_t v) { return put(b, &v, 8); }
static bool put_str(bytes *b, const char *s, uint64_t n) { return put_u64(b, n) && put(b, s, (size_t)n); }

/* ---- name sets ---- */

static uint64_t hash_name(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static size_t set_find(const name_set *s, const char *p, size_t n)
{
    for (size_t h = hash_name(p, n) & (s->cap - 1);; h = (h + 1) & (s->cap - 1))
        if (!s->slot[h] || (s->len[h] == n && memcmp(s->slot[h], p, n) == 0)) return h;
}

/* Adds p (kept by pointer); returns 1 if added, 0 if already present, -1 on no memory. */
static int set_add(name_set *s, const char *p, size_t n)
{
    if (2 * (s->n + 1) > s->cap) {
        name_set g = {0};
        g.cap = s->cap ? 2 * s->cap : 64;
        g.slot = calloc(g.cap, sizeof *g.slot);
        g.len = calloc(g.cap, sizeof *g.len);
        if (!g.slot || !g.len) {
            free(g.slot);
            free(g.len);
            return -1;
        }
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i]) {
                size_t h = set_find(&g, s->slot[i], s->len[i]);
                g.slot[h] = s->slot[i];
                g.len[h] = s->len[i];
            }
        g.n = s->n;
        free(s->slot);
        free(s->len);
        *s = g;
    }
    size_t h = set_find(s, p, n);
    if (s->slot[h]) return 0;
    s->slot[h] = p;
    s->len[h] = n;
    s->n++;
    return 1;
}

/* ---- open ---- */

yk_status yk_gguf_writer_open(yk_gguf_writer **out, const char *path, yk_err *err)
{
    *out = NULL;
    yk_gguf_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return yk_err_set(err, YK_E_NOMEM, "%s: no memory", path);
    }
    w->alignment = DEFAULT_ALIGNMENT;
    yk_status st = yk_outfile_open(&w->out, path, err);
    if (st) {
        free(w->path);
        free(w);
        return st;
    }
    w->f = w->out.f;
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    *out = w;
    return YK_OK;
}

const char *yk_gguf_writer_temp(const yk_gguf_writer *w)
{
    return w->out.temp;
}

/* ---- metadata ---- */

/* Starts a kv: checks the state and the key, records it, encodes key and type. */
static yk_status begin_kv(yk_gguf_writer *w, const char *key, size_t klen, uint32_t type, yk_err *err)
{
    if (sticky(w, err)) return w->err.status;
    if (w->data_begun) return wfail(w, err, YK_E_INVALID, "kv '%.*s': metadata after begin_data", (int)klen, key);
    char *copy = malloc(klen + 1);
    if (!copy) return wfail(w, err, YK_E_NOMEM, "kv: no memory");
    memcpy(copy, key, klen);
    copy[klen] = 0;
    if (w->n_key_copies == w->cap_key_copies) {
        size_t cap = w->cap_key_copies ? 2 * w->cap_key_copies : 64;
        char **q = realloc(w->key_copies, cap * sizeof *q);
        if (!q) {
            free(copy);
            return wfail(w, err, YK_E_NOMEM, "kv: no memory");
        }
        w->key_copies = q;
        w->cap_key_copies = cap;
    }
    w->key_copies[w->n_key_copies++] = copy;
    int added = set_add(&w->keys, copy, klen);
    if (added < 0) return wfail(w, err, YK_E_NOMEM, "kv: no memory");
    if (added == 0) return wfail(w, err, YK_E_INVALID, "kv '%s': duplicate key", copy);
    if (!put_str(&w->meta, key, klen) || !put_u32(&w->meta, type)) return wfail(w, err, YK_E_NOMEM, "kv: no memory");
    w->n_kv++;
    return YK_OK;
}

/* Records general.alignment when it is declared: an integer, a nonzero power of two. */
static yk_status note_alignment(yk_gguf_writer *w, const char *key, size_t klen, uint32_t type, const void *value,
                                yk_err *err)
{
    if (klen != 17 || memcmp(key, "general.alignment", 17) != 0) return YK_OK;
    yk_gguf_kv kv = {.type = (yk_gguf_vtype)type, .data = value};
    int64_t a;
    if (!yk_gguf_kv_i64(&kv, &a) || a <= 0 || (a & (a - 1)))
        return wfail(w, err, YK_E_INVALID, "general.alignment: must be an integer power of two");
    w->alignment = (uint64_t)a;
    return YK_OK;
}

yk_status yk_gguf_writer_add_kv(yk_gguf_writer *w, const char *key, yk_gguf_vtype type, const void *value, yk_err *err)
{
    if (type == YK_GGUF_STRING) return yk_gguf_writer_add_str(w, key, (const char *)value, err);
    if ((unsigned)type >= YK_GGUF_VTYPE_COUNT || type == YK_GGUF_ARRAY)
        return wfail(w, err, YK_E_INVALID, "kv '%s': value type %d is not a scalar type", key, (int)type);
    size_t klen = strlen(key);
    uint8_t b;
    if (type == YK_GGUF_BOOL) {
        b = *(const bool *)value ? 1 : 0;
        value = &b;
    }
    yk_status st = note_alignment(w, key, klen, type, value, err);
    if (st || (st = begin_kv(w, key, klen, type, err))) return st;
    if (!put(&w->meta, value, yk_gguf_vtype_size(type))) return wfail(w, err, YK_E_NOMEM, "kv: no memory");
    return YK_OK;
}

yk_status yk_gguf_writer_add_str(yk_gguf_writer *w, const char *key, const char *value, yk_err *err)
{
    size_t klen = strlen(key);
    yk_status st = begin_kv(w, key, klen, YK_GGUF_STRING, err);
    if (st) return st;
    if (!put_str(&w->meta, value, strlen(value))) return wfail(w, err, YK_E_NOMEM, "kv: no memory");
    return YK_OK;
}

/* Encodes an array header: element type and count. */
static yk_status begin_arr(yk_gguf_writer *w, const char *key, yk_gguf_vtype et, uint64_t n, yk_err *err)
{
    if ((unsigned)et >= YK_GGUF_VTYPE_COUNT || et == YK_GGUF_ARRAY)
        return wfail(w, err, YK_E_INVALID, "kv '%s': array element type %d is not supported", key, (int)et);
    yk_status st = begin_kv(w, key, strlen(key), YK_GGUF_ARRAY, err);
    if (st) return st;
    if (!put_u32(&w->meta, et) || !put_u64(&w->meta, n)) return wfail(w, err, YK_E_NOMEM, "kv: no memory");
    return YK_OK;
}

yk_status yk_gguf_writer_add_arr(yk_gguf_writer *w, const char *key, yk_gguf_vtype et, const void *values, uint64_t n,
                                 yk_err *err)
{
    yk_status st = begin_arr(w, key, et, n, err);
    if (st) return st;
    bool ok = true;
    if (et == YK_GGUF_STRING) {
        const char *const *s = values;
        for (uint64_t i = 0; ok && i < n; i++) ok = put_str(&w->meta, s[i], strlen(s[i]));
    } else if (et == YK_GGUF_BOOL) {
        const bool *v = values;
        for (uint64_t i = 0; ok && i < n; i++) {
            uint8_t b = v[i] ? 1 : 0;
            ok = put(&w->meta, &b, 1);
        }
    } else {
        uint64_t nb;
        ok = yk_mul_u64(n, yk_gguf_vtype_size(et), &nb) && nb <= SIZE_MAX && put(&w->meta, values, (size_t)nb);
    }
    return ok ? YK_OK : wfail(w, err, YK_E_NOMEM, "kv '%s': no memory for %llu elements", key, (unsigned long long)n);
}

yk_status yk_gguf_writer_add_arr_strs(yk_gguf_writer *w, const char *key, const yk_str *values, uint64_t n, yk_err *err)
{
    yk_status st = begin_arr(w, key, YK_GGUF_STRING, n, err);
    if (st) return st;
    for (uint64_t i = 0; i < n; i++)
        if (!put_str(&w->meta, values[i].ptr, values[i].len))
            return wfail(w, err, YK_E_NOMEM, "kv '%s': no memory", key);
    return YK_OK;
}

yk_status yk_gguf_writer_copy_kv(yk_gguf_writer *w, const yk_gguf *src, const yk_gguf_kv *kv, yk_err *err)
{
    /* The value's encoding is copied as it is: v2 and v3 encode values the same way. */
    yk_status st = note_alignment(w, kv->key.ptr, (size_t)kv->key.len, kv->type, kv->data, err);
    if (st || (st = begin_kv(w, kv->key.ptr, (size_t)kv->key.len, kv->type, err))) return st;
    if (kv->offset > src->size || kv->nbytes > src->size - kv->offset)
        return wfail(w, err, YK_E_INVALID, "kv '%.*s': not inside %s", (int)kv->key.len, kv->key.ptr, src->path);
    if (!put(&w->meta, src->map + kv->offset, (size_t)kv->nbytes)) return wfail(w, err, YK_E_NOMEM, "kv: no memory");
    return YK_OK;
}

/* ---- tensors ---- */

yk_status yk_gguf_writer_add_tensor(yk_gguf_writer *w, const char *name, yk_type type, uint32_t n_dims, const int64_t *ne,
                                    yk_err *err)
{
    if (sticky(w, err)) return w->err.status;
    if (w->data_begun) return wfail(w, err, YK_E_INVALID, "tensor '%s': declared after begin_data", name);
    const yk_type_layout *l = yk_type_layout_of(type);
    if (!l) return wfail(w, err, YK_E_INVALID, "tensor '%s': unknown type id %d", name, (int)type);
    if (n_dims > YK_GGUF_MAX_DIMS) return wfail(w, err, YK_E_INVALID, "tensor '%s': %u dimensions (at most 4)", name, n_dims);
    tensor_decl t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    uint64_t count = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0 || !yk_mul_u64(count, (uint64_t)ne[d], &count) || count > (uint64_t)INT64_MAX)
            return wfail(w, err, YK_E_INVALID, "tensor '%s': ne[%u] = %lld is negative or overflows", name, d, (long long)ne[d]);
        t.ne[d] = ne[d];
    }
    if (t.ne[0] % l->block)
        return wfail(w, err, YK_E_INVALID, "tensor '%s': ne[0] = %lld is not a multiple of the %s block size %d", name,
                     (long long)t.ne[0], l->name, l->block);
    uint64_t rows = (uint64_t)(t.ne[1] * t.ne[2] * t.ne[3]); /* <= count */
    uint64_t row_bytes;
    if (!yk_mul_u64((uint64_t)t.ne[0] / (uint64_t)l->block, (uint64_t)l->block_bytes, &row_bytes) ||
        !yk_mul_u64(row_bytes, rows, &t.nbytes))
        return wfail(w, err, YK_E_INVALID, "tensor '%s': byte size overflows", name);
    if (w->n_tensors == w->cap_tensors) {
        uint64_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        tensor_decl *q = realloc(w->tensors, cap * sizeof *q);
        if (!q) return wfail(w, err, YK_E_NOMEM, "tensor '%s': no memory", name);
        w->tensors = q;
        w->cap_tensors = cap;
    }
    if (!(t.name = strdup(name))) return wfail(w, err, YK_E_NOMEM, "tensor '%s': no memory", name);
    w->tensors[w->n_tensors++] = t;
    int added = set_add(&w->tensor_names, t.name, strlen(t.name));
    if (added < 0) return wfail(w, err, YK_E_NOMEM, "tensor '%s': no memory", name);
    if (added == 0) return wfail(w, err, YK_E_INVALID, "tensor '%s': duplicate tensor name", name);
    return YK_OK;
}

/* ---- data ---- */

static yk_status write_bytes(yk_gguf_writer *w, const void *p, size_t n, yk_err *err)
{
    if (n && fwrite(p, 1, n, w->f) != n) return wfail(w, err, YK_E_IO, "write failed: %s", strerror(errno));
    return YK_OK;
}

static yk_status write_zeros(yk_gguf_writer *w, uint64_t n, yk_err *err)
{
    static const uint8_t zeros[4096];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        yk_status st = write_bytes(w, zeros, k, err);
        if (st) return st;
        n -= k;
    }
    return YK_OK;
}

static uint64_t pad_of(uint64_t x, uint64_t a) { return (a - x % a) % a; }

/* Skips to the next tensor that still needs bytes (zero-size tensors need none). */
static void skip_empty(yk_gguf_writer *w)
{
    while (w->cur < w->n_tensors && w->tensors[w->cur].nbytes == 0) w->cur++;
}

yk_status yk_gguf_writer_begin_data(yk_gguf_writer *w, yk_err *err)
{
    if (sticky(w, err)) return w->err.status;
    if (w->data_begun) return wfail(w, err, YK_E_INVALID, "begin_data called twice");
    w->data_begun = true;

    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        tensor_decl *t = &w->tensors[i];
        t->offset = off;
        uint64_t padded;
        if (!yk_add_u64(t->nbytes, pad_of(t->nbytes, w->alignment), &padded) || !yk_add_u64(off, padded, &off))
            return wfail(w, err, YK_E_INVALID, "tensor '%s': the data section overflows 64 bits", t->name);
    }

    bytes h = {0};
    bool ok = put(&h, "GGUF", 4) && put_u32(&h, 3) && put_u64(&h, w->n_tensors) && put_u64(&h, w->n_kv);
    yk_status st = ok ? write_bytes(w, h.p, h.n, err) : wfail(w, err, YK_E_NOMEM, "header: no memory");
    if (!st) st = write_bytes(w, w->meta.p, w->meta.n, err);
    uint64_t pos = h.n + w->meta.n;
    h.n = 0;
    for (uint64_t i = 0; !st && i < w->n_tensors; i++) {
        const tensor_decl *t = &w->tensors[i];
        ok = put_str(&h, t->name, strlen(t->name)) && put_u32(&h, t->n_dims);
        for (uint32_t d = 0; ok && d < t->n_dims; d++) ok = put_u64(&h, (uint64_t)t->ne[d]);
        ok = ok && put_u32(&h, (uint32_t)t->type) && put_u64(&h, t->offset);
        if (!ok) st = wfail(w, err, YK_E_NOMEM, "tensor infos: no memory");
    }
    if (!st) st = write_bytes(w, h.p, h.n, err);
    pos += h.n;
    free(h.p);
    /* A file without tensors ends after its metadata (as llama.cpp's vocabulary files do). */
    if (!st && w->n_tensors) st = write_zeros(w, pad_of(pos, w->alignment), err);
    free(w->meta.p);
    w->meta = (bytes){0};
    skip_empty(w);
    return st;
}

yk_status yk_gguf_writer_write(yk_gguf_writer *w, const void *data, uint64_t n, yk_err *err)
{
    if (sticky(w, err)) return w->err.status;
    if (!w->data_begun) return wfail(w, err, YK_E_INVALID, "tensor data written before begin_data");
    const uint8_t *p = data;
    while (n) {
        if (w->cur >= w->n_tensors)
            return wfail(w, err, YK_E_INVALID, "%llu bytes written past the last tensor", (unsigned long long)n);
        tensor_decl *t = &w->tensors[w->cur];
        uint64_t k = t->nbytes - w->done < n ? t->nbytes - w->done : n;
        yk_status st = write_bytes(w, p, (size_t)k, err);
        if (st) return st;
        p += k;
        n -= k;
        w->done += k;
        if (w->done == t->nbytes) {
            if ((st = write_zeros(w, pad_of(t->nbytes, w->alignment), err))) return st;
            w->cur++;
            w->done = 0;
            skip_empty(w);
        }
    }
    return YK_OK;
}

static void writer_free(yk_gguf_writer *w)
{
    for (size_t i = 0; i < w->n_key_copies; i++) free(w->key_copies[i]);
    for (uint64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->key_copies);
    free(w->tensors);
    free(w->keys.slot);
    free(w->keys.len);
    free(w->tensor_names.slot);
    free(w->tensor_names.len);
    free(w->meta.p);
    free(w->path);
    free(w);
}

yk_status yk_gguf_writer_close(yk_gguf_writer *w, yk_err *err)
{
    if (!w) return YK_OK;
    if (!w->err.status && !w->data_begun) yk_gguf_writer_begin_data(w, NULL);
    if (!w->err.status && w->cur < w->n_tensors)
        wfail(w, NULL, YK_E_INVALID, "tensor '%s': only %llu of %llu bytes written", w->tensors[w->cur].name,
              (unsigned long long)w->done, (unsigned long long)w->tensors[w->cur].nbytes);
    if (w->err.status) {
        yk_outfile_discard(&w->out); /* the temporary only: path keeps its old bytes */
    } else {
        yk_err ce = {0};
        if (yk_outfile_commit(&w->out, &ce)) w->err = ce; /* its message names the path */
    }
    yk_status st = w->err.status;
    if (st && err) *err = w->err;
    writer_free(w);
    return st;
}

void yk_gguf_writer_discard(yk_gguf_writer *w)
{
    if (!w) return;
    yk_outfile_discard(&w->out);
    writer_free(w);
}
