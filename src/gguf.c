/* gguf.c: the GGUF reader (versions 2 and 3).
 *
 * Design: the file is mapped read-only (MAP_PRIVATE, PROT_READ) and parsed once by a cursor that
 * checks every read against the bytes left. Counts read from the file (n_kv, n_tensors, array
 * lengths, string lengths) are checked against the bytes they need before anything is allocated,
 * so every allocation is bounded by a small multiple of the file size. The tensor data section is
 * never touched at open: only its bounds are checked, and that no two tensors share bytes. After
 * parsing, key and tensor names sit in two open-addressing hash tables (duplicates are an error),
 * and each array of strings gets a table of element offsets so that yk_gguf_arr_str is O(1).
 *
 * Layout (all little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv, n_kv x (string key,
 * u32 value type, value), n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 type,
 * u64 offset), padding to the alignment, data. A string is a u64 length and that many bytes; an
 * array is a u32 element type, a u64 count and the elements. */
#include "yoke/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_DEFAULT_ALIGNMENT 32

struct yk_gguf_index {
    bool mapped;         /* g->map is our own mmap */
    uint64_t kv_mask;    /* table size - 1 (a power of two) */
    uint64_t *kv_slot;   /* kv index + 1; 0 = empty */
    uint64_t t_mask;
    uint64_t *t_slot;    /* tensor index + 1; 0 = empty */
};

static const struct {
    const char *name;
    size_t size;
} vtypes[YK_GGUF_VTYPE_COUNT] = {
    [YK_GGUF_U8] = {"u8", 1},    [YK_GGUF_I8] = {"i8", 1},     [YK_GGUF_U16] = {"u16", 2},
    [YK_GGUF_I16] = {"i16", 2},  [YK_GGUF_U32] = {"u32", 4},   [YK_GGUF_I32] = {"i32", 4},
    [YK_GGUF_F32] = {"f32", 4},  [YK_GGUF_BOOL] = {"bool", 1}, [YK_GGUF_STRING] = {"string", 0},
    [YK_GGUF_ARRAY] = {"array", 0}, [YK_GGUF_U64] = {"u64", 8}, [YK_GGUF_I64] = {"i64", 8},
    [YK_GGUF_F64] = {"f64", 8},
};

const char *yk_gguf_vtype_name(uint32_t t) { return t < YK_GGUF_VTYPE_COUNT ? vtypes[t].name : "?"; }
size_t yk_gguf_vtype_size(uint32_t t) { return t < YK_GGUF_VTYPE_COUNT ? vtypes[t].size : 0; }

bool yk_str_eq(yk_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

/* ---- parsing cursor ---- */

typedef struct {
    const uint8_t *p;
    uint64_t size;
    uint64_t pos;
    const char *name; /* file name for messages */
    yk_err *err;
} cursor;

static yk_status fail(const cursor *c, uint64_t off, yk_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static yk_status fail(const cursor *c, uint64_t off, yk_status st, const char *fmt, ...)
{
    if (!c->err) return st;
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return yk_err_set(c->err, st, "%s: offset %llu: %s", c->name, (unsigned long long)off, what);
}

/* A printable copy of a name from the file (at most ~60 bytes, odd bytes as \xNN) for messages. */
static const char *shown(yk_str s, char *buf, size_t n)
{
    size_t o = 0;
    for (uint64_t i = 0; i < s.len && o + 5 < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (o > 60) {
            o += (size_t)snprintf(buf + o, n - o, "...");
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\') buf[o++] = (char)ch;
        else o += (size_t)snprintf(buf + o, n - o, "\\x%02x", ch);
    }
    buf[o < n ? o : n - 1] = 0;
    return buf;
}

static uint64_t left(const cursor *c) { return c->size - c->pos; }

/* Ensures n more bytes exist; field names what is being read. */
static yk_status need(const cursor *c, uint64_t n, const char *field)
{
    if (n > left(c))
        return fail(c, c->pos, YK_E_FORMAT, "%s: needs %llu bytes but the file ends after %llu (truncated)",
                    field, (unsigned long long)n, (unsigned long long)left(c));
    return YK_OK;
}

static uint32_t peek_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t peek_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static yk_status read_u32(cursor *c, uint32_t *v, const char *field)
{
    yk_status st = need(c, 4, field);
    if (st) return st;
    *v = peek_u32(c->p + c->pos);
    c->pos += 4;
    return YK_OK;
}

static yk_status read_u64(cursor *c, uint64_t *v, const char *field)
{
    yk_status st = need(c, 8, field);
    if (st) return st;
    *v = peek_u64(c->p + c->pos);
    c->pos += 8;
    return YK_OK;
}

static yk_status read_str(cursor *c, yk_str *s, const char *field)
{
    uint64_t at = c->pos, len;
    if (left(c) < 8) {
        /* the field label is only built on this error path: strings are read by the 100 000 */
        char f[256];
        snprintf(f, sizeof f, "%s length", field);
        return need(c, 8, f);
    }
    len = peek_u64(c->p + c->pos);
    c->pos += 8;
    if (len > left(c))
        return fail(c, at, YK_E_FORMAT, "%s: string length %llu exceeds the %llu bytes left in the file",
                    field, (unsigned long long)len, (unsigned long long)left(c));
    s->ptr = (const char *)c->p + c->pos;
    s->len = len;
    c->pos += len;
    return YK_OK;
}

/* ---- hash tables ---- */

static uint64_t hash_bytes(const char *p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (uint64_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* Table size for n entries: a power of two >= 2n (at least 8). n is bounded by the file size. */
static uint64_t table_size(uint64_t n)
{
    uint64_t s = 8;
    while (s < 2 * n) s *= 2;
    return s;
}

/* Finds name in a table of indices into an array of names (name_at gives element i). Returns the
 * slot holding it, or the empty slot where it would go. */
typedef yk_str (*name_fn)(const yk_gguf *g, uint64_t i);
static yk_str kv_name(const yk_gguf *g, uint64_t i) { return g->kv[i].key; }
static yk_str tensor_name(const yk_gguf *g, uint64_t i) { return g->tensors[i].name; }

static uint64_t *probe(const yk_gguf *g, uint64_t *slots, uint64_t mask, name_fn name_at, const char *p,
                       uint64_t n)
{
    for (uint64_t h = hash_bytes(p, n) & mask;; h = (h + 1) & mask) {
        if (slots[h] == 0) return &slots[h];
        yk_str s = name_at(g, slots[h] - 1);
        if (s.len == n && (n == 0 || memcmp(s.ptr, p, n) == 0)) return &slots[h];
    }
}

/* ---- values ---- */

/* Reads a value of type t (not an array) at the cursor; fills its byte size. */
static yk_status skip_scalar(cursor *c, uint32_t t, const char *field)
{
    if (t == YK_GGUF_STRING) {
        yk_str s;
        return read_str(c, &s, field);
    }
    yk_status st = need(c, vtypes[t].size, field);
    if (st) return st;
    c->pos += vtypes[t].size;
    return YK_OK;
}

static yk_status parse_kv(cursor *c, yk_gguf *g, uint64_t i)
{
    yk_gguf_kv *kv = &g->kv[i];
    char field[160], nm[256];
    snprintf(field, sizeof field, "kv[%llu] key", (unsigned long long)i);
    yk_status st = read_str(c, &kv->key, field);
    if (st) return st;
    snprintf(field, sizeof field, "kv '%s'", shown(kv->key, nm, sizeof nm));

    uint64_t at = c->pos;
    uint32_t t;
    char f2[200];
    snprintf(f2, sizeof f2, "%s value type", field);
    if ((st = read_u32(c, &t, f2))) return st;
    if (t >= YK_GGUF_VTYPE_COUNT)
        return fail(c, at, YK_E_FORMAT, "%s: value type: %u is not a GGUF value type", field, t);
    kv->type = (yk_gguf_vtype)t;
    kv->offset = c->pos;
    if (t != YK_GGUF_ARRAY) {
        kv->data = c->p + c->pos;
        if ((st = skip_scalar(c, t, field))) return st;
        kv->nbytes = c->pos - kv->offset;
        return YK_OK;
    }

    uint32_t et;
    uint64_t n;
    snprintf(f2, sizeof f2, "%s array element type", field);
    at = c->pos;
    if ((st = read_u32(c, &et, f2))) return st;
    if (et == YK_GGUF_ARRAY)
        return fail(c, at, YK_E_UNSUPPORTED, "%s: array element type: arrays of arrays are not supported", field);
    if (et >= YK_GGUF_VTYPE_COUNT)
        return fail(c, at, YK_E_FORMAT, "%s: array element type: %u is not a GGUF value type", field, et);
    at = c->pos;
    snprintf(f2, sizeof f2, "%s array length", field);
    if ((st = read_u64(c, &n, f2))) return st;
    kv->arr_type = (yk_gguf_vtype)et;
    kv->arr_n = n;
    kv->data = c->p + c->pos;
    /* Each element takes at least its fixed size (8 bytes of length for a string). */
    uint64_t min_elem = et == YK_GGUF_STRING ? 8 : vtypes[et].size;
    if (n > left(c) / min_elem)
        return fail(c, at, YK_E_FORMAT, "%s array length: %llu elements of %s cannot fit in the %llu bytes left",
                    field, (unsigned long long)n, vtypes[et].name, (unsigned long long)left(c));
    if (et != YK_GGUF_STRING) {
        c->pos += n * min_elem;
    } else if (n > 0) {
        uint64_t *off = malloc(n * sizeof *off); /* n <= bytes left / 8: bounded by the file size */
        if (!off) return fail(c, at, YK_E_NOMEM, "%s: no memory for %llu string offsets", field, (unsigned long long)n);
        kv->str_off = off;
        snprintf(f2, sizeof f2, "%s element", field);
        for (uint64_t k = 0; k < n; k++) {
            off[k] = c->pos - (uint64_t)(kv->data - c->p);
            yk_str s;
            if ((st = read_str(c, &s, f2))) return st;
        }
    }
    kv->nbytes = c->pos - kv->offset;
    return YK_OK;
}

/* ---- tensor infos ---- */

static yk_status parse_tensor_info(cursor *c, yk_gguf *g, uint64_t i)
{
    yk_gguf_tensor *t = &g->tensors[i];
    char field[200], nm[256];
    snprintf(field, sizeof field, "tensor[%llu] name", (unsigned long long)i);
    yk_status st = read_str(c, &t->name, field);
    if (st) return st;
    snprintf(field, sizeof field, "tensor '%s'", shown(t->name, nm, sizeof nm));
    char f2[240];

    uint64_t at = c->pos;
    snprintf(f2, sizeof f2, "%s n_dims", field);
    if ((st = read_u32(c, &t->n_dims, f2))) return st;
    if (t->n_dims > YK_GGUF_MAX_DIMS)
        return fail(c, at, YK_E_FORMAT, "%s n_dims: %u dimensions (at most %d)", field, t->n_dims, YK_GGUF_MAX_DIMS);
    uint64_t count = 1;
    for (int d = 0; d < YK_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        at = c->pos;
        snprintf(f2, sizeof f2, "%s ne[%u]", field, d);
        if ((st = read_u64(c, &ne, f2))) return st;
        if (ne > (uint64_t)INT64_MAX)
            return fail(c, at, YK_E_FORMAT, "%s ne[%u]: %llu is negative as int64", field, d, (unsigned long long)ne);
        if (!yk_mul_u64(count, ne, &count) || count > (uint64_t)INT64_MAX)
            return fail(c, at, YK_E_FORMAT, "%s ne[%u]: the element count overflows 64 bits", field, d);
        t->ne[d] = (int64_t)ne;
    }

    uint32_t type;
    at = c->pos;
    snprintf(f2, sizeof f2, "%s type", field);
    if ((st = read_u32(c, &type, f2))) return st;
    const yk_type_layout *l = yk_type_layout_of(type);
    if (!l) return fail(c, at, YK_E_UNSUPPORTED, "%s type: unknown tensor type id %u", field, type);
    t->type = (yk_type)type;
    if (t->ne[0] % l->block)
        return fail(c, at, YK_E_FORMAT, "%s type: ne[0] = %lld is not a multiple of the %s block size %d", field,
                    (long long)t->ne[0], l->name, l->block);
    /* nbytes = ne[0]/block*block_bytes * ne[1]*ne[2]*ne[3]: each factor <= count, products checked. */
    uint64_t rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2]; /* <= count: no overflow */
    rows *= (uint64_t)t->ne[3];
    uint64_t row_bytes;
    if (!yk_mul_u64((uint64_t)t->ne[0] / (uint64_t)l->block, (uint64_t)l->block_bytes, &row_bytes) ||
        !yk_mul_u64(row_bytes, rows, &t->nbytes))
        return fail(c, at, YK_E_FORMAT, "%s: the byte size overflows 64 bits", field);

    snprintf(f2, sizeof f2, "%s offset", field);
    return read_u64(c, &t->offset, f2);
}

/* ---- open ---- */

static yk_status check_tensors(yk_gguf *g, cursor *c, uint64_t *info_at);

static yk_status parse(yk_gguf *g, cursor *c)
{
    yk_status st;
    if ((st = need(c, 4, "magic"))) return st;
    if (memcmp(c->p, "GGUF", 4) != 0)
        return fail(c, 0, YK_E_FORMAT, "magic: %02x %02x %02x %02x is not \"GGUF\"", c->p[0], c->p[1], c->p[2], c->p[3]);
    c->pos = 4;
    if ((st = read_u32(c, &g->version, "version"))) return st;
    if (g->version != 2 && g->version != 3)
        return fail(c, 4, YK_E_UNSUPPORTED, "version: GGUF version %u is not supported (2 and 3 are)", g->version);
    if ((st = read_u64(c, &g->n_tensors, "n_tensors"))) return st;
    if ((st = read_u64(c, &g->n_kv, "n_kv"))) return st;

    /* A kv takes at least 13 bytes (key length, value type, one byte of value); a tensor info at
     * least 24 (name length, n_dims, type, offset). Checked before allocating. */
    if (g->n_kv > left(c) / 13)
        return fail(c, 16, YK_E_FORMAT, "n_kv: %llu key/value pairs cannot fit in the %llu bytes left",
                    (unsigned long long)g->n_kv, (unsigned long long)left(c));
    if (g->n_tensors > left(c) / 24)
        return fail(c, 8, YK_E_FORMAT, "n_tensors: %llu tensor infos cannot fit in the %llu bytes left",
                    (unsigned long long)g->n_tensors, (unsigned long long)left(c));

    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return fail(c, 16, YK_E_NOMEM, "n_kv: no memory for the tables");
    yk_gguf_index *ix = g->index;
    uint64_t ks = table_size(g->n_kv), ts = table_size(g->n_tensors);
    ix->kv_mask = ks - 1;
    ix->t_mask = ts - 1;
    ix->kv_slot = calloc(ks, sizeof *ix->kv_slot);
    ix->t_slot = calloc(ts, sizeof *ix->t_slot);
    if (!ix->kv_slot || !ix->t_slot) return fail(c, 16, YK_E_NOMEM, "n_kv: no memory for the hash tables");

    for (uint64_t i = 0; i < g->n_kv; i++) {
        uint64_t at = c->pos;
        if ((st = parse_kv(c, g, i))) return st;
        yk_str k = g->kv[i].key;
        uint64_t *slot = probe(g, ix->kv_slot, ix->kv_mask, kv_name, k.ptr, k.len);
        if (*slot) {
            char nm[256];
            return fail(c, at, YK_E_FORMAT, "kv[%llu] key: duplicate key '%s' (first as kv[%llu])",
                        (unsigned long long)i, shown(k, nm, sizeof nm), (unsigned long long)(*slot - 1));
        }
        *slot = i + 1;
    }

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const yk_gguf_kv *al = yk_gguf_find_kv(g, "general.alignment");
    if (al) {
        int64_t a;
        if (!yk_gguf_kv_i64(al, &a))
            return fail(c, al->offset, YK_E_FORMAT, "general.alignment: type %s is not an integer",
                        yk_gguf_vtype_name(al->type));
        if (a <= 0 || (a & (a - 1)))
            return fail(c, al->offset, YK_E_FORMAT, "general.alignment: %lld is not a nonzero power of two", (long long)a);
        g->alignment = (uint64_t)a;
    }

    /* File offset of each tensor info's offset field, for messages (bounded: n_tensors <= size/24). */
    uint64_t *info_at = malloc((g->n_tensors ? g->n_tensors : 1) * sizeof *info_at);
    if (!info_at) return fail(c, 8, YK_E_NOMEM, "n_tensors: no memory");
    st = check_tensors(g, c, info_at);
    free(info_at);
    return st;
}

/* A tensor's data range, for the overlap check. */
typedef struct {
    uint64_t start, end, i;
} range;

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* No two tensors may share bytes of the data section (the reference engine lays them out one after
 * the other; a file where writing one tensor would change another is corrupt or hostile). Sorts
 * the ranges by start: each must begin at or after the end of the one before. Empty tensors take no
 * bytes and are skipped. */
static yk_status check_overlaps(yk_gguf *g, cursor *c, const uint64_t *info_at)
{
    range *r = malloc(g->n_tensors * sizeof *r); /* n_tensors >= 1 and <= size / 24: bounded */
    if (!r) return fail(c, 8, YK_E_NOMEM, "n_tensors: no memory for the overlap check");
    uint64_t n = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].nbytes) r[n++] = (range){g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].nbytes, i};
    qsort(r, n, sizeof *r, cmp_range);
    yk_status st = YK_OK;
    for (uint64_t k = 1; k < n && !st; k++) {
        if (r[k].start >= r[k - 1].end) continue;
        const yk_gguf_tensor *a = &g->tensors[r[k - 1].i], *b = &g->tensors[r[k].i];
        char na[256], nb[256];
        st = fail(c, info_at[r[k].i], YK_E_FORMAT,
                  "tensor '%s' offset: data [%llu, +%llu bytes) overlaps tensor '%s' data [%llu, +%llu bytes)",
                  shown(b->name, nb, sizeof nb), (unsigned long long)b->offset, (unsigned long long)b->nbytes,
                  shown(a->name, na, sizeof na), (unsigned long long)a->offset, (unsigned long long)a->nbytes);
    }
    free(r);
    return st;
}

/* Parses the tensor infos and checks each tensor's data against the data section. */
static yk_status check_tensors(yk_gguf *g, cursor *c, uint64_t *info_at)
{
    yk_status st;
    yk_gguf_index *ix = g->index;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        uint64_t at = c->pos;
        if ((st = parse_tensor_info(c, g, i))) return st;
        info_at[i] = c->pos - 8;
        yk_str nmstr = g->tensors[i].name;
        uint64_t *slot = probe(g, ix->t_slot, ix->t_mask, tensor_name, nmstr.ptr, nmstr.len);
        if (*slot) {
            char nm[256];
            return fail(c, at, YK_E_FORMAT, "tensor[%llu] name: duplicate tensor '%s' (first as tensor[%llu])",
                        (unsigned long long)i, shown(nmstr, nm, sizeof nm), (unsigned long long)(*slot - 1));
        }
        *slot = i + 1;
    }

    /* Data section: end of the tensor infos rounded up to the alignment. */
    uint64_t end_infos = c->pos, pad = (g->alignment - end_infos % g->alignment) % g->alignment;
    g->data_offset = end_infos + pad; /* pad < alignment <= 2^63, end_infos <= size: no overflow */
    if (g->n_tensors == 0) {
        if (g->data_offset > g->size) g->data_offset = g->size; /* files without tensors may end unpadded */
        return YK_OK;
    }
    if (g->data_offset > g->size)
        return fail(c, end_infos, YK_E_FORMAT, "data section: the padding to %llu bytes runs past the end of the file",
                    (unsigned long long)g->alignment);
    uint64_t data_size = g->size - g->data_offset;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        yk_gguf_tensor *t = &g->tensors[i];
        char nm[256];
        if (t->offset % g->alignment)
            return fail(c, info_at[i], YK_E_FORMAT, "tensor '%s' offset: %llu is not a multiple of the alignment %llu",
                        shown(t->name, nm, sizeof nm), (unsigned long long)t->offset, (unsigned long long)g->alignment);
        uint64_t end;
        if (!yk_add_u64(t->offset, t->nbytes, &end) || end > data_size)
            return fail(c, info_at[i], YK_E_FORMAT,
                        "tensor '%s' offset: data [%llu, +%llu bytes) lies outside the %llu-byte data section",
                        shown(t->name, nm, sizeof nm), (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                        (unsigned long long)data_size);
        t->data = g->map + g->data_offset + t->offset;
    }
    return check_overlaps(g, c, info_at);
}

/* Parses g->map; mapped says whether close must unmap it (it then will, even on failure). */
static yk_status open_common(yk_gguf *g, const char *name, bool mapped, yk_err *err)
{
    cursor c = {g->map, g->size, 0, name, err};
    g->path = strdup(name);
    g->index = calloc(1, sizeof *g->index);
    if (!g->path || !g->index) {
        if (mapped) munmap((void *)g->map, (size_t)g->size);
        return yk_err_set(err, YK_E_NOMEM, "%s: no memory", name);
    }
    g->index->mapped = mapped;
    return parse(g, &c);
}

yk_status yk_gguf_open_buffer(yk_gguf *g, const void *buf, uint64_t size, const char *name, yk_err *err)
{
    memset(g, 0, sizeof *g);
    g->map = buf;
    g->size = size;
    yk_status st = open_common(g, name ? name : "(buffer)", false, err);
    if (st) yk_gguf_close(g);
    return st;
}

yk_status yk_gguf_open(yk_gguf *g, const char *path, yk_err *err)
{
    memset(g, 0, sizeof *g);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return yk_err_set(err, YK_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return yk_err_set(err, YK_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return yk_err_set(err, YK_E_FORMAT, "%s: offset 0: magic: the file is empty", path);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return yk_err_set(err, YK_E_IO, "%s: cannot map: %s", path, strerror(e));
    g->map = m;
    g->size = (uint64_t)st.st_size;
    yk_status s = open_common(g, path, true, err);
    if (s) yk_gguf_close(g);
    return s;
}

void yk_gguf_close(yk_gguf *g)
{
    if (!g) return;
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) free((void *)g->kv[i].str_off);
    if (g->index) {
        if (g->index->mapped && g->map) munmap((void *)g->map, (size_t)g->size);
        free(g->index->kv_slot);
        free(g->index->t_slot);
        free(g->index);
    }
    free(g->kv);
    free(g->tensors);
    free(g->path);
    memset(g, 0, sizeof *g);
}

/* ---- lookups ---- */

const yk_gguf_kv *yk_gguf_find_kv(const yk_gguf *g, const char *key)
{
    if (!g->index || !g->index->kv_slot) return NULL;
    uint64_t *s = probe(g, g->index->kv_slot, g->index->kv_mask, kv_name, key, strlen(key));
    return *s ? &g->kv[*s - 1] : NULL;
}

const yk_gguf_tensor *yk_gguf_find_tensor(const yk_gguf *g, const char *name)
{
    if (!g->index || !g->index->t_slot) return NULL;
    uint64_t *s = probe(g, g->index->t_slot, g->index->t_mask, tensor_name, name, strlen(name));
    return *s ? &g->tensors[*s - 1] : NULL;
}

/* ---- values ---- */

/* Integer value of type t at p (bool counts as 0/1). Unsigned 64-bit values above INT64_MAX are
 * reported through *u with *is_big set. */
static bool int_at(uint32_t t, const uint8_t *p, int64_t *v, uint64_t *u, bool *is_big)
{
    *is_big = false;
    switch (t) {
    case YK_GGUF_U8: case YK_GGUF_BOOL: *v = p[0]; return true;
    case YK_GGUF_I8: *v = (int8_t)p[0]; return true;
    case YK_GGUF_U16: { uint16_t x; memcpy(&x, p, 2); *v = x; return true; }
    case YK_GGUF_I16: { int16_t x; memcpy(&x, p, 2); *v = x; return true; }
    case YK_GGUF_U32: { uint32_t x; memcpy(&x, p, 4); *v = x; return true; }
    case YK_GGUF_I32: { int32_t x; memcpy(&x, p, 4); *v = x; return true; }
    case YK_GGUF_I64: { int64_t x; memcpy(&x, p, 8); *v = x; return true; }
    case YK_GGUF_U64: {
        uint64_t x;
        memcpy(&x, p, 8);
        if (x > (uint64_t)INT64_MAX) {
            *is_big = true;
            *u = x;
        } else {
            *v = (int64_t)x;
        }
        return true;
    }
    default: return false;
    }
}

static bool num_at(uint32_t t, const uint8_t *p, double *out)
{
    if (t == YK_GGUF_F32) { float f; memcpy(&f, p, 4); *out = f; return true; }
    if (t == YK_GGUF_F64) { memcpy(out, p, 8); return true; }
    int64_t v; uint64_t u; bool big;
    if (!int_at(t, p, &v, &u, &big)) return false;
    *out = big ? (double)u : (double)v;
    return true;
}

bool yk_gguf_kv_i64(const yk_gguf_kv *kv, int64_t *out)
{
    int64_t v; uint64_t u; bool big;
    if (!kv || kv->type == YK_GGUF_BOOL || !int_at(kv->type, kv->data, &v, &u, &big) || big) return false;
    *out = v;
    return true;
}

bool yk_gguf_kv_f64(const yk_gguf_kv *kv, double *out)
{
    return kv && kv->type != YK_GGUF_STRING && kv->type != YK_GGUF_ARRAY && num_at(kv->type, kv->data, out);
}

bool yk_gguf_get_u64(const yk_gguf *g, const char *key, uint64_t *out)
{
    const yk_gguf_kv *kv = yk_gguf_find_kv(g, key);
    int64_t v; uint64_t u; bool big;
    if (!kv || kv->type == YK_GGUF_BOOL || !int_at(kv->type, kv->data, &v, &u, &big)) return false;
    if (big) { *out = u; return true; }
    if (v < 0) return false;
    *out = (uint64_t)v;
    return true;
}

bool yk_gguf_get_u32(const yk_gguf *g, const char *key, uint32_t *out)
{
    uint64_t v;
    if (!yk_gguf_get_u64(g, key, &v) || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

bool yk_gguf_get_i64(const yk_gguf *g, const char *key, int64_t *out)
{
    return yk_gguf_kv_i64(yk_gguf_find_kv(g, key), out);
}

bool yk_gguf_get_f32(const yk_gguf *g, const char *key, float *out)
{
    const yk_gguf_kv *kv = yk_gguf_find_kv(g, key);
    double d;
    if (!kv || (kv->type != YK_GGUF_F32 && kv->type != YK_GGUF_F64) || !num_at(kv->type, kv->data, &d)) return false;
    *out = (float)d;
    return true;
}

bool yk_gguf_get_bool(const yk_gguf *g, const char *key, bool *out)
{
    const yk_gguf_kv *kv = yk_gguf_find_kv(g, key);
    if (!kv || kv->type != YK_GGUF_BOOL) return false;
    *out = kv->data[0] != 0;
    return true;
}

bool yk_gguf_get_str(const yk_gguf *g, const char *key, yk_str *out)
{
    const yk_gguf_kv *kv = yk_gguf_find_kv(g, key);
    if (!kv || kv->type != YK_GGUF_STRING) return false;
    out->len = peek_u64(kv->data);
    out->ptr = (const char *)kv->data + 8;
    return true;
}

bool yk_gguf_arr_str(const yk_gguf_kv *kv, uint64_t i, yk_str *out)
{
    if (!kv || kv->type != YK_GGUF_ARRAY || kv->arr_type != YK_GGUF_STRING || i >= kv->arr_n) return false;
    const uint8_t *p = kv->data + kv->str_off[i];
    out->len = peek_u64(p);
    out->ptr = (const char *)p + 8;
    return true;
}

bool yk_gguf_arr_f64(const yk_gguf_kv *kv, uint64_t i, double *out)
{
    if (!kv || kv->type != YK_GGUF_ARRAY || i >= kv->arr_n) return false;
    size_t sz = vtypes[kv->arr_type].size;
    return sz && num_at(kv->arr_type, kv->data + i * sz, out);
}

bool yk_gguf_arr_i64(const yk_gguf_kv *kv, uint64_t i, int64_t *out)
{
    if (!kv || kv->type != YK_GGUF_ARRAY || i >= kv->arr_n) return false;
    size_t sz = vtypes[kv->arr_type].size;
    int64_t v; uint64_t u; bool big;
    if (!sz || !int_at(kv->arr_type, kv->data + i * sz, &v, &u, &big) || big) return false;
    *out = v;
    return true;
}
