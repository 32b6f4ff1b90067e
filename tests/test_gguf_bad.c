/* test_gguf_bad.c: the reader on corrupt input.
 *
 * A small good file is written with the writer (kvs of several types incl. arrays of strings,
 * three tensors); its structural offsets are taken from the reader. A table of corrupt variants
 * patches or cuts it (wrong magic, versions, huge counts and lengths, nested arrays, unknown types,
 * bad shapes and offsets, tensors whose data overlap, duplicates, bad alignment, ...); every variant
 * must fail with YK_E_FORMAT or YK_E_UNSUPPORTED and a message "NAME: offset N: ..." naming the
 * field (both tensors, for an overlap). Every prefix of the
 * file cut inside the header and tensor infos, and at each tensor's end, must fail cleanly too. A few
 * variants of a golden file follow when shared/ is present. Buffers are malloc'd to their exact
 * size so that ASan (make MODE=asan test) catches any read past the end. */
#include "test.h"

#include <unistd.h>

typedef struct {
    uint8_t *p;
    size_t n;
} buf;

static buf copy(const buf *b)
{
    buf c = {malloc(b->n ? b->n : 1), b->n};
    memcpy(c.p, b->p, b->n);
    return c;
}

static void put32(buf *b, uint64_t off, uint32_t v) { memcpy(b->p + off, &v, 4); }
static void put64(buf *b, uint64_t off, uint64_t v) { memcpy(b->p + off, &v, 8); }

/* Opens b (cut to its length in a fresh allocation) and checks the error. */
static void expect_bad(const buf *b, const char *what, const char *field)
{
    uint8_t *exact = malloc(b->n ? b->n : 1);
    memcpy(exact, b->p, b->n);
    yk_gguf g;
    yk_err err = {0};
    yk_status st = yk_gguf_open_buffer(&g, exact, b->n, "bad.gguf", &err);
    unsigned long long off = 0;
    int prefix = sscanf(err.msg, "bad.gguf: offset %llu:", &off) == 1;
    CHECK((st == YK_E_FORMAT || st == YK_E_UNSUPPORTED) && prefix && off <= b->n && strstr(err.msg, field),
          "%s: status %d, message '%s' (wanted field '%s')", what, st, err.msg, field);
    if (st == YK_OK) yk_gguf_close(&g);
    CHECK(g.kv == NULL && g.index == NULL, "%s: closed after failure", what);
    free(exact);
}

/* Offsets of the fields of the good file, found with the reader. */
typedef struct {
    uint64_t key_len[6], key[6], type[6], value[6];
    uint64_t t_name_len[3], t_ndims[3], t_ne[3], t_type[3], t_off[3];
    uint64_t end_infos, data_offset, size;
} layout;

static buf make_good(layout *L)
{
    char path[512];
    tu_tmp_path(path, sizeof path, ".gguf");
    yk_err err = {0};
    yk_gguf_writer *w;
    yk_status st = yk_gguf_writer_open(&w, path, &err);
    uint32_t seven = 7, al = 32;
    const char *toks[3] = {"<s>", "ab", "c"};
    float sc[3] = {1, 2, 3};
    st |= yk_gguf_writer_add_str(w, "general.architecture", "llama", &err);
    st |= yk_gguf_writer_add_kv(w, "general.alignment", YK_GGUF_U32, &al, &err);
    st |= yk_gguf_writer_add_kv(w, "a.one", YK_GGUF_U32, &seven, &err);
    st |= yk_gguf_writer_add_str(w, "a.two", "hello", &err);
    st |= yk_gguf_writer_add_arr(w, "tokens", YK_GGUF_STRING, toks, 3, &err);
    st |= yk_gguf_writer_add_arr(w, "scores", YK_GGUF_F32, sc, 3, &err);
    int64_t ne1[2] = {64, 2}, ne2[1] = {8}, ne3[3] = {4, 2, 2};
    st |= yk_gguf_writer_add_tensor(w, "t.one", YK_TYPE_Q8_0, 2, ne1, &err);
    st |= yk_gguf_writer_add_tensor(w, "t.two", YK_TYPE_F32, 1, ne2, &err);
    st |= yk_gguf_writer_add_tensor(w, "t.thr", YK_TYPE_F16, 3, ne3, &err);
    st |= yk_gguf_writer_begin_data(w, &err);
    uint8_t data[136 + 32 + 32];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 37 + 11);
    st |= yk_gguf_writer_write(w, data, sizeof data, &err);
    st |= yk_gguf_writer_close(w, &err);
    CHECK(st == YK_OK, "good file: %s", err.msg);
    buf b = {0};
    b.p = tu_read_file(path, &b.n);
    unlink(path);

    yk_gguf g;
    st = yk_gguf_open_buffer(&g, b.p, b.n, "good", &err);
    CHECK(st == YK_OK && g.n_kv == 6 && g.n_tensors == 3, "good file opens: %s", err.msg);
    if (st) exit(tu_done("test_gguf_bad"));
    for (int i = 0; i < 6; i++) {
        L->key[i] = (uint64_t)((const uint8_t *)g.kv[i].key.ptr - g.map);
        L->key_len[i] = L->key[i] - 8;
        L->type[i] = L->key[i] + g.kv[i].key.len;
        L->value[i] = g.kv[i].offset;
    }
    for (int i = 0; i < 3; i++) {
        const yk_gguf_tensor *t = &g.tensors[i];
        uint64_t name = (uint64_t)((const uint8_t *)t->name.ptr - g.map);
        L->t_name_len[i] = name - 8;
        L->t_ndims[i] = name + t->name.len;
        L->t_ne[i] = L->t_ndims[i] + 4;
        L->t_type[i] = L->t_ne[i] + 8 * t->n_dims;
        L->t_off[i] = L->t_type[i] + 4;
    }
    L->end_infos = L->t_off[2] + 8;
    L->data_offset = g.data_offset;
    L->size = g.size;
    CHECK(g.data_offset > L->end_infos && g.data_offset % 32 == 0, "good file has padding before the data");
    yk_gguf_close(&g);
    return b;
}

typedef enum { PATCH32, PATCH64, PATCHSTR, CUT } op_kind;
typedef struct {
    const char *what;
    const char *field;  /* must appear in the message */
    op_kind op;
    const uint64_t *at; /* field offset in the layout */
    uint64_t delta;     /* added to *at */
    uint64_t value;     /* patch value, or cut length relative to *at + delta */
    const char *str;    /* PATCHSTR: bytes written at *at + delta */
} variant;

int main(void)
{
    layout L;
    buf good = make_good(&L);
    static const uint64_t zero = 0;
    const uint64_t *Z = &zero;
    const uint64_t huge = 0x7fffffffffffff00ull;
    variant table[] = {
        {"wrong magic", "magic", PATCHSTR, Z, 0, 0, "GGML"},
        {"version 1", "version", PATCH32, Z, 4, 1, NULL},
        {"version 4", "version", PATCH32, Z, 4, 4, NULL},
        {"version 0", "version", PATCH32, Z, 4, 0, NULL},
        {"n_tensors huge", "n_tensors", PATCH64, Z, 8, huge, NULL},
        {"n_tensors too many for the file", "n_tensors", PATCH64, Z, 8, 40, NULL},
        {"n_kv huge", "n_kv", PATCH64, Z, 16, UINT64_MAX, NULL},
        {"n_kv one too many", "tensor[0] name", PATCH64, Z, 16, 7, NULL}, /* kv[6] eats tensor[0]'s bytes */
        {"key length huge", "kv[0] key: string length", PATCH64, &L.key_len[0], 0, UINT64_MAX, NULL},
        {"key length past the end", "kv[2] key", PATCH64, &L.key_len[2], 0, 100000, NULL},
        {"unknown value type", "value type", PATCH32, &L.type[2], 0, 13, NULL},
        {"value type huge", "value type", PATCH32, &L.type[2], 0, 0xffffffffu, NULL},
        {"string value length huge", "kv 'a.two'", PATCH64, &L.value[3], 0, huge, NULL},
        {"nested array", "array element type", PATCH32, &L.value[4], 0, YK_GGUF_ARRAY, NULL},
        {"unknown array element type", "array element type", PATCH32, &L.value[5], 0, 77, NULL},
        {"array length huge", "array length", PATCH64, &L.value[5], 4, UINT64_MAX / 2, NULL},
        {"array length past the end", "array length", PATCH64, &L.value[5], 4, 1000, NULL},
        {"string array length huge", "array length", PATCH64, &L.value[4], 4, huge, NULL},
        {"string element length huge", "kv 'tokens' element", PATCH64, &L.value[4], 12, UINT64_MAX, NULL},
        {"duplicate key", "duplicate key 'a.one'", PATCHSTR, &L.key[3], 2, 0, "one"}, /* "a.two" -> "a.one" */
        {"alignment 0", "general.alignment", PATCH32, &L.value[1], 0, 0, NULL},
        {"alignment 3", "general.alignment", PATCH32, &L.value[1], 0, 3, NULL},
        {"alignment 2^31+1", "general.alignment", PATCH32, &L.value[1], 0, 0x80000001u, NULL},
        {"alignment of type f32", "general.alignment", PATCH32, &L.type[1], 0, YK_GGUF_F32, NULL},
        {"tensor name length huge", "tensor[1] name", PATCH64, &L.t_name_len[1], 0, huge, NULL},
        {"duplicate tensor", "duplicate tensor 't.one'", PATCHSTR, &L.t_name_len[2], 10, 0, "one"}, /* "t.thr" -> "t.one" */
        {"n_dims 5", "n_dims", PATCH32, &L.t_ndims[0], 0, 5, NULL},
        {"n_dims huge", "n_dims", PATCH32, &L.t_ndims[0], 0, 0xffffffffu, NULL},
        {"dim negative", "ne[0]", PATCH64, &L.t_ne[1], 0, 1ull << 63, NULL},
        {"dims overflow", "ne[2]", PATCH64, &L.t_ne[2], 16, 1ull << 62, NULL},
        {"dims overflow int64", "ne[1]", PATCH64, &L.t_ne[0], 8, 1ull << 57, NULL},
        {"bytes overflow", "byte size overflows", PATCH64, &L.t_ne[1], 0, 1ull << 62, NULL},
        {"ne[0] not a block multiple", "block size", PATCH64, &L.t_ne[0], 0, 48, NULL},
        {"unknown tensor type", "unknown tensor type id 99", PATCH32, &L.t_type[0], 0, 99, NULL},
        {"removed tensor type 4", "unknown tensor type id 4", PATCH32, &L.t_type[1], 0, 4, NULL},
        {"tensor offset past the end", "tensor 't.two' offset", PATCH64, &L.t_off[1], 0, 1 << 20, NULL},
        {"tensor offset huge", "tensor 't.thr' offset", PATCH64, &L.t_off[2], 0, 0xffffffffffffffe0ull, NULL},
        {"tensor runs past the end", "tensor 't.thr' offset", PATCH64, &L.t_off[2], 0, 224, NULL}, /* its data ends the file at 192 + 32 */
        {"misaligned tensor offset", "not a multiple of the alignment", PATCH64, &L.t_off[1], 0, 144, NULL},
        /* t.one takes [0, 136), t.two [160, 192), t.thr [192, 224): moved onto each other */
        {"tensor inside another", "tensor 't.two' offset: data [128, +32 bytes) overlaps tensor 't.one' data [0, +136 bytes)",
         PATCH64, &L.t_off[1], 0, 128, NULL},
        {"two tensors at one offset", "tensor 't.thr' offset: data [160, +32 bytes) overlaps tensor 't.two' data [160, +32 bytes)",
         PATCH64, &L.t_off[2], 0, 160, NULL},
        {"tensor over the first", "tensor 't.thr' offset: data [0, +32 bytes) overlaps tensor 't.one' data [0, +136 bytes)",
         PATCH64, &L.t_off[2], 0, 0, NULL},
        {"truncated: empty", "magic", CUT, Z, 0, 0, NULL},
        {"truncated: in magic", "magic", CUT, Z, 0, 3, NULL},
        {"truncated: after magic", "version", CUT, Z, 4, 0, NULL},
        {"truncated: in n_tensors", "n_tensors", CUT, Z, 8, 5, NULL},
        {"truncated: after header", "n_", CUT, Z, 24, 0, NULL},
        {"truncated: in a key", "kv[2] key", CUT, &L.key[2], 0, 2, NULL},
        {"truncated: before a value type", "kv 'a.one' value type", CUT, &L.type[2], 0, 0, NULL},
        {"truncated: in a u32 value", "kv 'a.one'", CUT, &L.value[2], 0, 3, NULL},
        {"truncated: in a string array", "kv 'tokens' array length", CUT, &L.value[4], 12, 9, NULL},
        {"truncated: in an f32 array", "array length", CUT, &L.value[5], 12, 5, NULL},
        {"truncated: before tensor infos", "tensor[0] name", CUT, &L.t_name_len[0], 0, 0, NULL},
        {"truncated: in n_dims", "n_dims", CUT, &L.t_ndims[1], 0, 2, NULL},
        {"truncated: in dims", "ne[1]", CUT, &L.t_ne[2], 8, 4, NULL},
        {"truncated: in type", "type", CUT, &L.t_type[2], 0, 1, NULL},
        {"truncated: in offset", "offset", CUT, &L.t_off[2], 0, 7, NULL},
        {"truncated: in the padding", "data section", CUT, &L.end_infos, 0, 1, NULL},
        {"truncated: in the data", "tensor 't.thr' offset", CUT, &L.size, 0, (uint64_t)-1, NULL},
    };
    size_t n_variants = sizeof table / sizeof *table;
    CHECK(n_variants >= 25, "table has %zu variants", n_variants);
    for (size_t i = 0; i < n_variants; i++) {
        const variant *v = &table[i];
        buf b = copy(&good);
        uint64_t at = *v->at + v->delta;
        if (v->op == PATCH32) put32(&b, at, (uint32_t)v->value);
        else if (v->op == PATCH64) put64(&b, at, v->value);
        else if (v->op == PATCHSTR) memcpy(b.p + at, v->str, strlen(v->str));
        else b.n = (size_t)(at + v->value);
        expect_bad(&b, v->what, v->field);
        free(b.p);
    }

    /* Every cut inside the header, metadata, tensor infos and padding fails cleanly, and so does a
     * cut one byte short of each tensor's end. */
    int clean = 0, total = 0;
    for (size_t cut = 0; cut < L.data_offset; cut++) {
        uint8_t *exact = malloc(cut ? cut : 1);
        memcpy(exact, good.p, cut);
        yk_gguf g;
        yk_err err = {0};
        yk_status st = yk_gguf_open_buffer(&g, exact, cut, "cut.gguf", &err);
        clean += st == YK_E_FORMAT && strncmp(err.msg, "cut.gguf: offset ", 17) == 0;
        total++;
        if (st == YK_OK) yk_gguf_close(&g);
        free(exact);
    }
    CHECK(clean == total, "%d of %d cuts before the data fail with a clean format error", clean, total);
    yk_gguf gg;
    yk_err err = {0};
    CHECK(yk_gguf_open_buffer(&gg, good.p, good.n, "good", &err) == YK_OK, "good reopens");
    for (uint64_t i = 0; i < gg.n_tensors; i++) {
        buf b = copy(&good);
        b.n = (size_t)(gg.data_offset + gg.tensors[i].offset + gg.tensors[i].nbytes - 1);
        char what[64];
        snprintf(what, sizeof what, "cut inside tensor %llu", (unsigned long long)i);
        expect_bad(&b, what, "offset");
        free(b.p);
    }
    yk_gguf_close(&gg);
    free(good.p);

    /* Variants of a golden file (a real vocabulary of 512 strings, 48 tensors). */
    char path[1024];
    if (!tu_shared_path(path, sizeof path, "golden/models/stories260K.gguf")) {
        printf("test_gguf_bad: golden variants SKIPPED: needs ../shared/golden (absent)\n");
        return tu_done("test_gguf_bad");
    }
    buf gold = {0};
    gold.p = tu_read_file(path, &gold.n);
    CHECK(gold.p != NULL, "read %s", path);
    if (!gold.p) return tu_done("test_gguf_bad");
    CHECK(yk_gguf_open_buffer(&gg, gold.p, gold.n, "golden", &err) == YK_OK, "golden opens: %s", err.msg);
    const yk_gguf_kv *tok = yk_gguf_find_kv(&gg, "tokenizer.ggml.tokens");
    uint64_t tok_len_at = tok->offset + 4, tok_elem = tok->offset + 12 + tok->str_off[300];
    /* The offset field of the last tensor info: after name, n_dims, dims and type. */
    const yk_gguf_tensor *lt = &gg.tensors[gg.n_tensors - 1];
    uint64_t lt_off_at = (uint64_t)((const uint8_t *)lt->name.ptr - gg.map) + lt->name.len + 4 + 8 * lt->n_dims + 4;
    uint64_t lt_offset = lt->offset;
    yk_gguf_close(&gg);
    struct { const char *what, *field; uint64_t at, value; int width; } gv[] = {
        {"golden: token count huge", "array length", tok_len_at, UINT64_MAX / 8, 8},
        {"golden: token count one too many", "kv", tok_len_at, 0, 0},
        {"golden: token 300 length huge", "kv 'tokenizer.ggml.tokens' element", tok_elem, UINT64_MAX - 3, 8},
        {"golden: last tensor past the end", "offset", lt_off_at, lt_offset + 1024 * 1024, 8},
        {"golden: truncated by half", "offset", 0, 0, -1},
    };
    for (size_t i = 0; i < sizeof gv / sizeof *gv; i++) {
        buf b = copy(&gold);
        if (gv[i].width == 8) put64(&b, gv[i].at, gv[i].value);
        else if (gv[i].width == 0) { uint64_t n; memcpy(&n, b.p + gv[i].at, 8); put64(&b, gv[i].at, n + 1); }
        else b.n /= 2;
        expect_bad(&b, gv[i].what, gv[i].field);
        free(b.p);
    }
    free(gold.p);
    return tu_done("test_gguf_bad");
}
