/* gguf_info.c: what `yoke info` shows of a GGUF file, as data and text, without printing.
 *
 * yk_gguf_summarize adds up parameters and bytes per type and picks out the architecture and the
 * tokenizer keys; yk_gguf_kv_text renders one metadata value for people or as JSON. JSON strings
 * are escaped and made valid UTF-8 (file strings are arbitrary bytes), so the output of
 * `yoke info --json` always parses. */
#include "yoke/gguf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void yk_gguf_summarize(const yk_gguf *g, yk_gguf_summary *s)
{
    memset(s, 0, sizeof *s);
    s->arch.ptr = s->name.ptr = s->tok_model.ptr = s->tok_pre.ptr = "";
    yk_gguf_get_str(g, "general.architecture", &s->arch);
    yk_gguf_get_str(g, "general.name", &s->name);
    yk_gguf_get_str(g, "tokenizer.ggml.model", &s->tok_model);
    yk_gguf_get_str(g, "tokenizer.ggml.pre", &s->tok_pre);
    const yk_gguf_kv *tokens = yk_gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (tokens && tokens->type == YK_GGUF_ARRAY) s->n_vocab = tokens->arr_n;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const yk_gguf_tensor *t = &g->tensors[i];
        /* The reader checked that the element count and the byte size fit in 64 bits. */
        s->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        s->tensor_bytes += t->nbytes;
        s->type_count[t->type]++;
        s->type_bytes[t->type] += t->nbytes;
    }
}

/* ---- text building ---- */

typedef struct {
    char *p;
    size_t n, len;
    bool ok;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    if (!t->ok) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->p + t->len, t->n - t->len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= t->n - t->len) {
        t->ok = false;
        t->len = t->n - 1;
        return;
    }
    t->len += (size_t)k;
}

/* Length of a valid UTF-8 sequence at p (n bytes left), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p, uint64_t n)
{
    unsigned c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static void add_json_str(text *t, const char *s, uint64_t len)
{
    add(t, "\"");
    const unsigned char *p = (const unsigned char *)s;
    for (uint64_t i = 0; i < len && t->ok;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') add(t, "\\%c", c);
        else if (c == '\n') add(t, "\\n");
        else if (c == '\t') add(t, "\\t");
        else if (c == '\r') add(t, "\\r");
        else if (c < 0x20) add(t, "\\u%04x", c);
        else {
            size_t k = utf8_len(p + i, len - i);
            if (k == 0) {
                add(t, "\\ufffd");
                i++;
                continue;
            }
            add(t, "%.*s", (int)k, (const char *)p + i);
            i += k;
            continue;
        }
        i++;
    }
    add(t, "\"");
}

bool yk_json_str(char *buf, size_t n, const char *s, uint64_t len)
{
    if (n == 0) return false;
    size_t used = strnlen(buf, n - 1);
    text t = {buf, n, used, true};
    add_json_str(&t, s, len);
    return t.ok;
}

/* Human form of a string: printable bytes as they are, control bytes as \xNN. */
static void add_plain_str(text *t, const char *s, uint64_t len)
{
    for (uint64_t i = 0; i < len && t->ok; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) add(t, "\\x%02x", c);
        else add(t, "%c", c);
    }
}

/* Shortest decimal form of a float/double that reads back to the same value. */
static void add_float(text *t, double v, bool is_f32, bool json)
{
    if (!isfinite(v)) {
        add(t, "%s", json ? "null" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    char b[40];
    if (v == floor(v) && fabs(v) < 1e15) { /* integral: 500000 rather than 5e+05 */
        add(t, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (is_f32 ? strtof(b, NULL) == (float)v : strtod(b, NULL) == v) break;
    }
    add(t, "%s", b);
}

/* One scalar element of type ty at p. */
static void add_scalar(text *t, uint32_t ty, const uint8_t *p, bool json)
{
    switch (ty) {
    case YK_GGUF_U8: add(t, "%u", p[0]); break;
    case YK_GGUF_I8: add(t, "%d", (int8_t)p[0]); break;
    case YK_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); add(t, "%u", v); break; }
    case YK_GGUF_I16: { int16_t v; memcpy(&v, p, 2); add(t, "%d", v); break; }
    case YK_GGUF_U32: { uint32_t v; memcpy(&v, p, 4); add(t, "%u", v); break; }
    case YK_GGUF_I32: { int32_t v; memcpy(&v, p, 4); add(t, "%d", v); break; }
    case YK_GGUF_U64: { uint64_t v; memcpy(&v, p, 8); add(t, "%llu", (unsigned long long)v); break; }
    case YK_GGUF_I64: { int64_t v; memcpy(&v, p, 8); add(t, "%lld", (long long)v); break; }
    case YK_GGUF_F32: { float v; memcpy(&v, p, 4); add_float(t, v, true, json); break; }
    case YK_GGUF_F64: { double v; memcpy(&v, p, 8); add_float(t, v, false, json); break; }
    case YK_GGUF_BOOL: add(t, "%s", p[0] ? "true" : "false"); break;
    default: add(t, "null"); break;
    }
}

bool yk_gguf_kv_text(const yk_gguf_kv *kv, bool json, uint64_t max_elems, char *buf, size_t n)
{
    if (n == 0) return false;
    text t = {buf, n, 0, true};
    buf[0] = 0;
    if (kv->type == YK_GGUF_STRING) {
        uint64_t len;
        memcpy(&len, kv->data, 8);
        if (json) add_json_str(&t, (const char *)kv->data + 8, len);
        else add_plain_str(&t, (const char *)kv->data + 8, len);
    } else if (kv->type != YK_GGUF_ARRAY) {
        add_scalar(&t, kv->type, kv->data, json);
    } else if (kv->arr_n > max_elems) {
        if (json) add(&t, "{\"type\": \"%s\", \"n\": %llu}", yk_gguf_vtype_name(kv->arr_type), (unsigned long long)kv->arr_n);
        else add(&t, "[%llu x %s]", (unsigned long long)kv->arr_n, yk_gguf_vtype_name(kv->arr_type));
    } else {
        add(&t, "[");
        size_t sz = yk_gguf_vtype_size(kv->arr_type);
        for (uint64_t i = 0; i < kv->arr_n && t.ok; i++) {
            if (i) add(&t, ", ");
            yk_str s;
            if (yk_gguf_arr_str(kv, i, &s)) add_json_str(&t, s.ptr, s.len);
            else add_scalar(&t, kv->arr_type, kv->data + i * sz, json);
        }
        add(&t, "]");
    }
    return t.ok;
}
