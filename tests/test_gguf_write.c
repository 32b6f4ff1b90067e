/* test_gguf_write.c: the streaming GGUF writer.
 *
 * 1. Round trips: every golden model and vocabulary file is read, written back through the writer
 *    (kvs copied in order, tensors declared in order, their bytes streamed in uneven pieces that
 *    cross tensor boundaries) and compared byte for byte with the original.
 * 2. A file with a value of every type, arrays of every element type (empty ones, strings holding
 *    NUL bytes), a custom alignment and tensors of several types, read back value by value.
 * 3. Misuse: duplicate names, bad alignment, bad shapes, too many or too few bytes; each gives an
 *    error, and close leaves nothing behind: no file at the path, no temporary beside it.
 * Part 1 skips (visibly) without shared/; parts 2 and 3 always run. */
#include "scratch.h"
#include "test.h"

#include <dirent.h>
#include <unistd.h>

/* Writes g to path as the writer would, streaming data in pieces of `piece` bytes. */
static yk_status rewrite(const yk_gguf *g, const char *path, uint64_t piece, yk_err *err)
{
    yk_gguf_writer *w;
    yk_status st = yk_gguf_writer_open(&w, path, err);
    if (st) return st;
    for (uint64_t i = 0; !st && i < g->n_kv; i++) st = yk_gguf_writer_copy_kv(w, g, &g->kv[i], err);
    for (uint64_t i = 0; !st && i < g->n_tensors; i++) {
        const yk_gguf_tensor *t = &g->tensors[i];
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        st = yk_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, err);
    }
    if (!st) st = yk_gguf_writer_begin_data(w, err);
    /* The data as one stream (tensor bytes back to back, without the padding): pieces cross tensors. */
    uint64_t total = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) total += g->tensors[i].nbytes;
    uint8_t *all = malloc(total ? total : 1);
    uint64_t at = 0;
    for (uint64_t i = 0; all && i < g->n_tensors; i++) {
        memcpy(all + at, g->tensors[i].data, g->tensors[i].nbytes);
        at += g->tensors[i].nbytes;
    }
    for (uint64_t o = 0; !st && all && o < total; o += piece)
        st = yk_gguf_writer_write(w, all + o, total - o < piece ? total - o : piece, err);
    free(all);
    yk_status st2 = yk_gguf_writer_close(w, st ? NULL : err);
    return st ? st : st2;
}

static void round_trip(const char *path, uint64_t piece)
{
    yk_gguf g;
    yk_err err = {0};
    yk_status st = yk_gguf_open(&g, path, &err);
    CHECK(st == YK_OK, "%s", err.msg);
    if (st) return;
    char out[512];
    tu_tmp_path(out, sizeof out, ".gguf");
    st = rewrite(&g, out, piece, &err);
    CHECK(st == YK_OK, "%s: rewrite: %s", path, err.msg);
    size_t n1 = 0, n2 = 0;
    uint8_t *a = tu_read_file(path, &n1), *b = tu_read_file(out, &n2);
    size_t diff = 0;
    while (a && b && diff < n1 && diff < n2 && a[diff] == b[diff]) diff++;
    CHECK(a && b && n1 == n2 && diff == n1, "%s: round trip identical (sizes %zu/%zu, first difference at %zu)", path, n1,
          n2, diff);
    free(a);
    free(b);
    unlink(out);
    yk_gguf_close(&g);
}

static void round_trips(void)
{
    const char *sub[] = {"golden/models", "golden/vocab"};
    uint64_t pieces[] = {1000003, 4093, 1 << 20};
    int n = 0;
    for (int s = 0; s < 2; s++) {
        char dir[1024];
        if (!tu_shared_path(dir, sizeof dir, sub[s])) {
            printf("test_gguf_write: round trips SKIPPED: needs ../shared/golden (absent)\n");
            return;
        }
        DIR *d = opendir(dir);
        CHECK(d != NULL, "open %s", dir);
        for (struct dirent *e; d && (e = readdir(d));) {
            size_t len = strlen(e->d_name);
            if (len < 6 || strcmp(e->d_name + len - 5, ".gguf")) continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            round_trip(path, pieces[n % 3]);
            n++;
        }
        if (d) closedir(d);
    }
    CHECK(n > 0, "%d golden files round-tripped", n);
    printf("  %d golden files round-tripped\n", n);
}

/* ---- every value type ---- */

static void all_types(void)
{
    char path[512];
    tu_tmp_path(path, sizeof path, ".gguf");
    yk_err err = {0};
    yk_gguf_writer *w;
    CHECK(yk_gguf_writer_open(&w, path, &err) == YK_OK, "%s", err.msg);
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    uint32_t u32 = 4000000000u, align = 64;
    int32_t i32 = -2000000000;
    float f32 = 1.5f;
    bool bo = true;
    uint64_t u64 = 18000000000000000000ull;
    int64_t i64 = -9000000000000000000ll;
    double f64 = -2.25e300;
    yk_status st = YK_OK;
    st |= yk_gguf_writer_add_kv(w, "general.alignment", YK_GGUF_U32, &align, &err);
    st |= yk_gguf_writer_add_kv(w, "t.u8", YK_GGUF_U8, &u8, &err);
    st |= yk_gguf_writer_add_kv(w, "t.i8", YK_GGUF_I8, &i8, &err);
    st |= yk_gguf_writer_add_kv(w, "t.u16", YK_GGUF_U16, &u16, &err);
    st |= yk_gguf_writer_add_kv(w, "t.i16", YK_GGUF_I16, &i16, &err);
    st |= yk_gguf_writer_add_kv(w, "t.u32", YK_GGUF_U32, &u32, &err);
    st |= yk_gguf_writer_add_kv(w, "t.i32", YK_GGUF_I32, &i32, &err);
    st |= yk_gguf_writer_add_kv(w, "t.f32", YK_GGUF_F32, &f32, &err);
    st |= yk_gguf_writer_add_kv(w, "t.bool", YK_GGUF_BOOL, &bo, &err);
    st |= yk_gguf_writer_add_kv(w, "t.str", YK_GGUF_STRING, "h\xc3\xa9llo", &err);
    st |= yk_gguf_writer_add_str(w, "t.empty", "", &err);
    st |= yk_gguf_writer_add_kv(w, "t.u64", YK_GGUF_U64, &u64, &err);
    st |= yk_gguf_writer_add_kv(w, "t.i64", YK_GGUF_I64, &i64, &err);
    st |= yk_gguf_writer_add_kv(w, "t.f64", YK_GGUF_F64, &f64, &err);
    int32_t ai[5] = {-1, 2, -3, 4, 2147483647};
    float af[3] = {0.5f, -1e30f, 3.25f};
    bool ab[3] = {true, false, true};
    double ad[2] = {1e-300, -7};
    const char *as[4] = {"<s>", "", "\xe2\x96\x81the", "x"};
    yk_str an[2] = {{"a\0b", 3}, {"\0", 1}};
    st |= yk_gguf_writer_add_arr(w, "a.i32", YK_GGUF_I32, ai, 5, &err);
    st |= yk_gguf_writer_add_arr(w, "a.f32", YK_GGUF_F32, af, 3, &err);
    st |= yk_gguf_writer_add_arr(w, "a.bool", YK_GGUF_BOOL, ab, 3, &err);
    st |= yk_gguf_writer_add_arr(w, "a.f64", YK_GGUF_F64, ad, 2, &err);
    st |= yk_gguf_writer_add_arr(w, "a.str", YK_GGUF_STRING, as, 4, &err);
    st |= yk_gguf_writer_add_arr(w, "a.empty", YK_GGUF_U8, NULL, 0, &err);
    st |= yk_gguf_writer_add_arr(w, "a.empty_str", YK_GGUF_STRING, NULL, 0, &err);
    st |= yk_gguf_writer_add_arr_strs(w, "a.nul", an, 2, &err);
    uint8_t a8[3] = {1, 2, 255};
    uint16_t a16[2] = {65535, 1};
    int16_t ai16[2] = {-32768, 5};
    int8_t ai8[2] = {-128, 127};
    uint32_t a32[1] = {4294967295u};
    uint64_t a64[2] = {UINT64_MAX, 3};
    int64_t ai64[2] = {INT64_MIN, 9};
    st |= yk_gguf_writer_add_arr(w, "a.u8", YK_GGUF_U8, a8, 3, &err);
    st |= yk_gguf_writer_add_arr(w, "a.i8", YK_GGUF_I8, ai8, 2, &err);
    st |= yk_gguf_writer_add_arr(w, "a.u16", YK_GGUF_U16, a16, 2, &err);
    st |= yk_gguf_writer_add_arr(w, "a.i16", YK_GGUF_I16, ai16, 2, &err);
    st |= yk_gguf_writer_add_arr(w, "a.u32", YK_GGUF_U32, a32, 1, &err);
    st |= yk_gguf_writer_add_arr(w, "a.u64", YK_GGUF_U64, a64, 2, &err);
    st |= yk_gguf_writer_add_arr(w, "a.i64", YK_GGUF_I64, ai64, 2, &err);
    CHECK(st == YK_OK, "kvs: %s", err.msg);
    int64_t ne_a[2] = {64, 3}, ne_b[1] = {5}, ne_c[3] = {2, 0, 4}, ne_d[4] = {256, 1, 2, 1};
    st |= yk_gguf_writer_add_tensor(w, "a", YK_TYPE_Q8_0, 2, ne_a, &err);
    st |= yk_gguf_writer_add_tensor(w, "b", YK_TYPE_F32, 1, ne_b, &err);
    st |= yk_gguf_writer_add_tensor(w, "empty", YK_TYPE_F16, 3, ne_c, &err);
    st |= yk_gguf_writer_add_tensor(w, "d", YK_TYPE_Q4_K, 4, ne_d, &err);
    st |= yk_gguf_writer_begin_data(w, &err);
    /* Bytes: a = 3 rows * 68, b = 20, empty = 0, d = 2 * 144. Written one byte at a time for a. */
    uint8_t data[204 + 20 + 288];
    tu_rng rng = {7};
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(tu_uniform(&rng) * 256);
    for (size_t i = 0; i < 204; i++) st |= yk_gguf_writer_write(w, data + i, 1, &err);
    st |= yk_gguf_writer_write(w, data + 204, sizeof data - 204, &err);
    CHECK(st == YK_OK, "tensors: %s", err.msg);
    CHECK(yk_gguf_writer_close(w, &err) == YK_OK, "close: %s", err.msg);

    yk_gguf g;
    st = yk_gguf_open(&g, path, &err);
    CHECK(st == YK_OK, "read back: %s", err.msg);
    if (st) return;
    CHECK(g.alignment == 64 && g.data_offset % 64 == 0, "alignment 64");
    CHECK(g.n_kv == 29 && g.n_tensors == 4, "counts %llu %llu", (unsigned long long)g.n_kv, (unsigned long long)g.n_tensors);
    const yk_gguf_kv *kv;
    kv = yk_gguf_find_kv(&g, "t.u8"); CHECK(kv && kv->type == YK_GGUF_U8 && kv->data[0] == 200, "u8");
    kv = yk_gguf_find_kv(&g, "t.i8"); CHECK(kv && kv->type == YK_GGUF_I8 && (int8_t)kv->data[0] == -100, "i8");
    int64_t v;
    uint64_t u;
    uint32_t v32;
    float f;
    double d;
    bool b;
    yk_str s;
    CHECK(yk_gguf_get_i64(&g, "t.u16", &v) && v == 60000, "u16");
    CHECK(yk_gguf_get_i64(&g, "t.i16", &v) && v == -30000, "i16");
    CHECK(yk_gguf_get_u32(&g, "t.u32", &v32) && v32 == 4000000000u, "u32");
    CHECK(yk_gguf_get_i64(&g, "t.i32", &v) && v == -2000000000, "i32");
    CHECK(!yk_gguf_get_u32(&g, "t.i32", &v32), "negative refused as u32");
    CHECK(yk_gguf_get_f32(&g, "t.f32", &f) && f == 1.5f, "f32");
    CHECK(yk_gguf_get_bool(&g, "t.bool", &b) && b, "bool");
    CHECK(yk_gguf_get_str(&g, "t.str", &s) && yk_str_eq(s, "h\xc3\xa9llo"), "string");
    CHECK(yk_gguf_get_str(&g, "t.empty", &s) && s.len == 0, "empty string");
    CHECK(yk_gguf_get_u64(&g, "t.u64", &u) && u == 18000000000000000000ull, "u64");
    CHECK(!yk_gguf_get_i64(&g, "t.u64", &v), "u64 above INT64_MAX refused as i64");
    CHECK(!yk_gguf_get_u32(&g, "t.u64", &v32), "u64 refused as u32");
    CHECK(yk_gguf_get_i64(&g, "t.i64", &v) && v == -9000000000000000000ll, "i64");
    kv = yk_gguf_find_kv(&g, "t.f64");
    CHECK(kv && yk_gguf_kv_f64(kv, &d) && d == -2.25e300, "f64");
    CHECK(!yk_gguf_get_f32(&g, "t.str", &f) && !yk_gguf_get_str(&g, "t.f32", &s), "type mismatch refused");
    kv = yk_gguf_find_kv(&g, "a.i32");
    CHECK(kv && kv->arr_type == YK_GGUF_I32 && kv->arr_n == 5 && yk_gguf_arr_i64(kv, 4, &v) && v == 2147483647 &&
          yk_gguf_arr_i64(kv, 2, &v) && v == -3 && !yk_gguf_arr_i64(kv, 5, &v), "i32 array");
    kv = yk_gguf_find_kv(&g, "a.f32");
    CHECK(kv && yk_gguf_arr_f64(kv, 1, &d) && d == (double)-1e30f && !yk_gguf_arr_str(kv, 0, &s), "f32 array");
    kv = yk_gguf_find_kv(&g, "a.bool");
    CHECK(kv && kv->arr_type == YK_GGUF_BOOL && yk_gguf_arr_i64(kv, 0, &v) && v == 1 && yk_gguf_arr_i64(kv, 1, &v) && v == 0,
          "bool array");
    kv = yk_gguf_find_kv(&g, "a.f64");
    CHECK(kv && yk_gguf_arr_f64(kv, 0, &d) && d == 1e-300, "f64 array");
    kv = yk_gguf_find_kv(&g, "a.str");
    CHECK(kv && kv->arr_n == 4 && yk_gguf_arr_str(kv, 0, &s) && yk_str_eq(s, "<s>") && yk_gguf_arr_str(kv, 1, &s) &&
          s.len == 0 && yk_gguf_arr_str(kv, 2, &s) && yk_str_eq(s, "\xe2\x96\x81the") && yk_gguf_arr_str(kv, 3, &s) &&
          yk_str_eq(s, "x"), "string array");
    kv = yk_gguf_find_kv(&g, "a.empty");
    CHECK(kv && kv->arr_n == 0 && !yk_gguf_arr_i64(kv, 0, &v), "empty array");
    kv = yk_gguf_find_kv(&g, "a.empty_str");
    CHECK(kv && kv->arr_n == 0 && kv->arr_type == YK_GGUF_STRING && !yk_gguf_arr_str(kv, 0, &s), "empty string array");
    kv = yk_gguf_find_kv(&g, "a.nul");
    CHECK(kv && yk_gguf_arr_str(kv, 0, &s) && s.len == 3 && !memcmp(s.ptr, "a\0b", 3) && yk_gguf_arr_str(kv, 1, &s) &&
          s.len == 1 && s.ptr[0] == 0, "strings with NUL bytes");
    kv = yk_gguf_find_kv(&g, "a.u8"); CHECK(kv && yk_gguf_arr_i64(kv, 2, &v) && v == 255, "u8 array");
    kv = yk_gguf_find_kv(&g, "a.i8"); CHECK(kv && yk_gguf_arr_i64(kv, 0, &v) && v == -128, "i8 array");
    kv = yk_gguf_find_kv(&g, "a.u16"); CHECK(kv && yk_gguf_arr_i64(kv, 0, &v) && v == 65535, "u16 array");
    kv = yk_gguf_find_kv(&g, "a.i16"); CHECK(kv && yk_gguf_arr_i64(kv, 0, &v) && v == -32768, "i16 array");
    kv = yk_gguf_find_kv(&g, "a.u32"); CHECK(kv && yk_gguf_arr_i64(kv, 0, &v) && v == 4294967295ll, "u32 array");
    kv = yk_gguf_find_kv(&g, "a.u64");
    CHECK(kv && !yk_gguf_arr_i64(kv, 0, &v) && yk_gguf_arr_f64(kv, 0, &d) && d == 18446744073709551615.0 &&
          yk_gguf_arr_i64(kv, 1, &v) && v == 3, "u64 array");
    kv = yk_gguf_find_kv(&g, "a.i64"); CHECK(kv && yk_gguf_arr_i64(kv, 0, &v) && v == INT64_MIN, "i64 array");

    const yk_gguf_tensor *t = yk_gguf_find_tensor(&g, "a");
    CHECK(t && t->type == YK_TYPE_Q8_0 && t->nbytes == 204 && !memcmp(t->data, data, 204), "tensor a");
    t = yk_gguf_find_tensor(&g, "b");
    CHECK(t && t->offset == 256 && t->nbytes == 20 && !memcmp(t->data, data + 204, 20), "tensor b at 256");
    t = yk_gguf_find_tensor(&g, "empty");
    CHECK(t && t->n_dims == 3 && t->ne[1] == 0 && t->ne[2] == 4 && t->nbytes == 0, "empty tensor");
    t = yk_gguf_find_tensor(&g, "d");
    CHECK(t && t->n_dims == 4 && t->ne[2] == 2 && t->nbytes == 288 && !memcmp(t->data, data + 224, 288) &&
          t->offset % 64 == 0, "tensor d");
    CHECK(g.size == g.data_offset + t->offset + 320, "file ends padded to 64");
    /* Padding bytes are zero. */
    const uint8_t *pad = g.map + g.data_offset + 204;
    bool zero = true;
    for (int i = 0; i < 52; i++) zero &= pad[i] == 0;
    CHECK(zero, "padding is zero");
    yk_gguf_close(&g);
    unlink(path);
}

/* ---- misuse ---- */

/* Nothing at path, and no temporary file beside it (path.tmp.*). */
static bool gone(const char *path)
{
    char d[512], prefix[600];
    const char *slash = strrchr(path, '/');
    snprintf(d, sizeof d, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    snprintf(prefix, sizeof prefix, "%s.tmp.", slash ? slash + 1 : path);
    return access(path, F_OK) != 0 && tu_count_prefix(d, prefix) == 0;
}

static void misuse(void)
{
    char path[512];
    yk_err err = {0};
    yk_gguf_writer *w;
    uint32_t one = 1, three = 3, zero = 0;
    int64_t ne[2] = {32, 2}, bad[2] = {33, 2}, neg[2] = {32, -1}, huge[4] = {INT64_MAX, 2, 1, 1};
    uint8_t buf[300] = {0};

    struct { const char *what, *expect; } cases[] = {
        {"duplicate key", "duplicate key"}, {"alignment 0", "general.alignment"}, {"alignment 3", "general.alignment"},
        {"duplicate tensor", "duplicate tensor"}, {"bad block", "block size"}, {"negative dim", "ne[1]"},
        {"overflow", "overflow"}, {"too many bytes", "past the last tensor"}, {"too few bytes", "of 128 bytes written"},
        {"kv after data", "after begin_data"}, {"nested array", "array element type"}, {"5 dims", "dimensions"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        tu_tmp_path(path, sizeof path, ".gguf");
        CHECK(yk_gguf_writer_open(&w, path, &err) == YK_OK, "open: %s", err.msg);
        yk_err e1 = {0}, e2 = {0};
        yk_status st = YK_OK;
        switch (c) {
        case 0: yk_gguf_writer_add_kv(w, "k", YK_GGUF_U32, &one, &e1); st = yk_gguf_writer_add_kv(w, "k", YK_GGUF_U32, &one, &e1); break;
        case 1: st = yk_gguf_writer_add_kv(w, "general.alignment", YK_GGUF_U32, &zero, &e1); break;
        case 2: st = yk_gguf_writer_add_kv(w, "general.alignment", YK_GGUF_U32, &three, &e1); break;
        case 3: yk_gguf_writer_add_tensor(w, "t", YK_TYPE_F32, 2, ne, &e1); st = yk_gguf_writer_add_tensor(w, "t", YK_TYPE_F32, 2, ne, &e1); break;
        case 4: st = yk_gguf_writer_add_tensor(w, "t", YK_TYPE_Q8_0, 2, bad, &e1); break;
        case 5: st = yk_gguf_writer_add_tensor(w, "t", YK_TYPE_F32, 2, neg, &e1); break;
        case 6: st = yk_gguf_writer_add_tensor(w, "t", YK_TYPE_F32, 4, huge, &e1); break;
        case 7:
            yk_gguf_writer_add_tensor(w, "t", YK_TYPE_F16, 2, ne, &e1);
            yk_gguf_writer_begin_data(w, &e1);
            st = yk_gguf_writer_write(w, buf, 129, &e1);
            break;
        case 8:
            yk_gguf_writer_add_tensor(w, "t", YK_TYPE_F16, 2, ne, &e1);
            yk_gguf_writer_begin_data(w, &e1);
            yk_gguf_writer_write(w, buf, 100, &e1);
            break;
        case 9: yk_gguf_writer_begin_data(w, &e1); st = yk_gguf_writer_add_kv(w, "k", YK_GGUF_U32, &one, &e1); break;
        case 10: st = yk_gguf_writer_add_arr(w, "k", YK_GGUF_ARRAY, buf, 1, &e1); break;
        case 11: { int64_t ne5[5] = {1, 1, 1, 1, 1}; st = yk_gguf_writer_add_tensor(w, "t", YK_TYPE_F32, 5, ne5, &e1); break; }
        }
        yk_status cs = yk_gguf_writer_close(w, &e2);
        bool at_call = c == 8 ? st == YK_OK : st != YK_OK; /* too few bytes is only known at close */
        CHECK(at_call && cs != YK_OK && strstr(e2.msg, cases[c].expect) && strstr(e2.msg, path),
              "%s: status %d/%d message '%s'", cases[c].what, st, cs, e2.msg);
        CHECK(gone(path), "%s: nothing left behind", cases[c].what);
    }
    CHECK(yk_gguf_writer_open(&w, "/nonexistent/dir/x.gguf", &err) == YK_E_IO && w == NULL &&
          strstr(err.msg, "/nonexistent/dir/x.gguf"), "unwritable path: %s", err.msg);
}

int main(void)
{
    all_types();
    misuse();
    round_trips();
    return tu_done("test_gguf_write");
}
