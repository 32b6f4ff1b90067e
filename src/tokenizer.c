/* tokenizer.c: the tokenizer's driver: special-token matching, encoding, pieces and the streaming
 * detokenizer. Tables live in tokenizer_vocab.c, loading in tokenizer_load.c, the two algorithms in
 * tokenizer_spm.c and tokenizer_bpe.c.
 *
 * Encoding follows the reference engine (llama.cpp) step by step, so that its test vectors pass
 * token for token:
 *   1. special tokens are cut out of the text first. The reference takes the special tokens one
 *      at a time, longest first, and splits every remaining raw fragment at each non-overlapping
 *      occurrence, left to right. Here one pass over the text finds every occurrence with a trie,
 *      the occurrences are sorted by (priority, position) and accepted when they do not overlap
 *      an earlier accepted one: the same fragments, in O(text x longest special token).
 *   2. each raw fragment goes to SPM (with the space prefix at the start and after a special
 *      token) or to the pre-tokenizer + byte-level BPE. */
#include "tokenizer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t yk_utf8_check(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
        } else
            return i;
        if (len - i <= need) return i;
        if (p[i + 1] < lo || p[i + 1] > hi) return i;
        for (size_t k = 2; k <= need; k++)
            if ((p[i + k] & 0xC0) != 0x80) return i;
        i += need + 1;
    }
    return len;
}


static bool is_ascii_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}


/* ---- special tokens in a text --------------------------------------------------------------- */

typedef struct {
    size_t start, len;
    int32_t id; /* -1: raw text */
} tk_frag;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Splits s into raw fragments and special tokens (see the file comment). *frags is malloc'd. */
static yk_status partition(const yk_tokenizer *t, const char *s, size_t n, bool parse_special, tk_frag **frags,
                           size_t *n_frags, yk_err *err)
{
    const yk_tok_impl *im = t->impl;
    uint64_t *occ = NULL; /* (priority << 32 | position) */
    size_t n_occ = 0, cap_occ = 0;
    uint8_t *state = NULL;
    uint64_t *acc = NULL; /* accepted: (position << 32 | priority) */
    size_t n_acc = 0;
    tk_frag *out = NULL;
    yk_status st = YK_OK;
    *frags = NULL;
    *n_frags = 0;
    if (n == 0) return YK_OK;

    /* 1. every occurrence of every eligible special token */
    for (size_t i = 0; im->n_special && i < n; i++) {
        int32_t node = im->trie_root[(uint8_t)s[i]];
        for (size_t j = i + 1; node >= 0; j++) {
            int32_t k = im->trie[node * 4 + 3];
            if (k >= 0) {
                uint16_t a = t->attr[im->special[k]];
                if (parse_special || !(a & (YK_TOKEN_CONTROL | YK_TOKEN_UNKNOWN))) {
                    if (n_occ == cap_occ) {
                        cap_occ = cap_occ ? 2 * cap_occ : 64;
                        uint64_t *p = realloc(occ, cap_occ * sizeof *occ);
                        if (!p) goto nomem;
                        occ = p;
                    }
                    occ[n_occ++] = (uint64_t)k << 32 | i;
                }
            }
            if (j == n) break;
            int32_t c = im->trie[node * 4 + 0];
            while (c >= 0 && im->trie[c * 4 + 2] != (uint8_t)s[j]) c = im->trie[c * 4 + 1];
            node = c;
        }
    }

    if (n_occ == 0) {
        out = malloc(sizeof *out);
        if (!out) goto nomem;
        out[0] = (tk_frag){0, n, -1};
        *frags = out;
        *n_frags = 1;
        free(occ);
        return YK_OK;
    }

    /* 2. accept in priority order, left to right, never overlapping what is already taken */
    qsort(occ, n_occ, sizeof *occ, cmp_u64);
    state = calloc(n, 1); /* 0 raw, 1 special token, 2 whitespace stripped next to one */
    acc = malloc(n_occ * sizeof *acc);
    if (!state || !acc) goto nomem;
    for (size_t q = 0; q < n_occ; q++) {
        uint32_t k = (uint32_t)(occ[q] >> 32);
        size_t pos = (uint32_t)occ[q];
        int32_t id = im->special[k];
        size_t len = im->text_off[id + 1] - im->text_off[id];
        bool free_span = true;
        for (size_t j = pos; j < pos + len && free_span; j++) free_span = state[j] == 0;
        if (!free_span) continue;
        memset(state + pos, 1, len);
        acc[n_acc++] = (uint64_t)pos << 32 | k;
        if (t->attr[id] & YK_TOKEN_LSTRIP)
            for (size_t j = pos; j > 0 && state[j - 1] == 0 && is_ascii_space(s[j - 1]); j--) state[j - 1] = 2;
        if (t->attr[id] & YK_TOKEN_RSTRIP)
            for (size_t j = pos + len; j < n && state[j] == 0 && is_ascii_space(s[j]); j++) state[j] = 2;
    }

    /* 3. fragments in text order */
    qsort(acc, n_acc, sizeof *acc, cmp_u64);
    out = malloc((2 * n_acc + 1) * sizeof *out);
    if (!out) goto nomem;
    size_t nf = 0, a = 0;
    for (size_t i = 0; i < n;) {
        if (state[i] == 1) {
            int32_t id = im->special[(uint32_t)acc[a++]];
            size_t len = im->text_off[id + 1] - im->text_off[id];
            out[nf++] = (tk_frag){i, len, id};
            i += len;
        } else if (state[i] == 2) {
            i++;
        } else {
            size_t j = i;
            while (j < n && state[j] == 0) j++;
            out[nf++] = (tk_frag){i, j - i, -1};
            i = j;
        }
    }
    *frags = out;
    *n_frags = nf;
    out = NULL;
    goto done;
nomem:
    st = yk_err_set(err, YK_E_NOMEM, "out of memory matching special tokens in %zu bytes of text", n);
done:
    free(occ);
    free(state);
    free(acc);
    free(out);
    return st;
}

yk_status yk_tokenizer_encode(const yk_tokenizer *t, const char *text, size_t len, bool add_bos,
                              bool parse_special, int32_t **ids, size_t *n, yk_err *err)
{
    *ids = NULL;
    *n = 0;
    size_t bad = yk_utf8_check(text, len);
    if (bad < len)
        return yk_err_set(err, YK_E_INVALID, "text is not valid UTF-8: bad byte 0x%02X at byte offset %zu",
                          (uint8_t)text[bad], bad);
    if (len > UINT32_MAX)
        return yk_err_set(err, YK_E_RANGE, "text of %zu bytes is too long to tokenize (at most 4 GiB)", len);

    tk_ids out = {0};
    tk_frag *frags = NULL;
    size_t nf = 0;
    yk_status st = partition(t, text, len, parse_special, &frags, &nf, err);
    if (st) return st;

    if (add_bos && t->add_bos) tk_push(&out, t->bos);
    bool prev_special = true; /* SPM: the first fragment gets the space prefix */
    for (size_t f = 0; f < nf && !st; f++) {
        if (frags[f].id >= 0) {
            tk_push(&out, frags[f].id);
            prev_special = true;
        } else if (t->kind == YK_TOK_SPM) {
            st = tk_spm_encode(t, text + frags[f].start, frags[f].len, t->add_space_prefix && prev_special, &out, err);
            prev_special = false;
        } else {
            st = tk_bpe_encode(t, text + frags[f].start, frags[f].len, &out, err);
        }
    }
    if (add_bos && t->add_eos) tk_push(&out, t->eos);
    free(frags);
    if (!st && out.oom) st = yk_err_set(err, YK_E_NOMEM, "out of memory tokenizing %zu bytes", len);
    if (st) {
        free(out.v);
        return st;
    }
    *ids = out.v;
    *n = out.n;
    return YK_OK;
}

/* ---- pieces and detokenizing ---------------------------------------------------------------- */

yk_str yk_tokenizer_piece(const yk_tokenizer *t, int32_t id, bool special)
{
    yk_str s = {"", 0};
    if (id < 0 || id >= t->n_vocab) return s;
    if (!special && (t->attr[id] & (YK_TOKEN_CONTROL | YK_TOKEN_UNKNOWN))) return s;
    const yk_tok_impl *im = t->impl;
    s.ptr = im->piece_buf + im->piece_off[id];
    s.len = im->piece_off[id + 1] - im->piece_off[id];
    return s;
}

yk_str yk_tokenizer_text(const yk_tokenizer *t, int32_t id)
{
    yk_str s = {"", 0};
    if (id < 0 || id >= t->n_vocab) return s;
    size_t n;
    s.ptr = tk_tok_text(t->impl, id, &n);
    s.len = n;
    return s;
}

bool yk_tokenizer_is_eog(const yk_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && (t->attr[id] & YK_TOKEN_EOG);
}

int32_t yk_tokenizer_find(const yk_tokenizer *t, const char *text, size_t len)
{
    return len ? tk_lookup(t, text, len) : -1;
}

yk_status yk_detok_init(yk_detok *d, const yk_tokenizer *t, bool from_start, bool special, yk_err *err)
{
    memset(d, 0, sizeof *d);
    d->tok = t;
    d->special = special;
    d->strip_space = from_start && t->add_space_prefix;
    /* worst case: 3 pending bytes and every byte of the piece replaced by U+FFFD (3 bytes) */
    d->cap = 3 * (t->impl->max_piece + 4) + 1;
    d->out = malloc(d->cap);
    if (!d->out) return yk_err_set(err, YK_E_NOMEM, "out of memory for the detokenizer");
    return YK_OK;
}

void yk_detok_free(yk_detok *d)
{
    free(d->out);
    d->out = NULL;
}

static void put_fffd(char *o, size_t *k)
{
    o[(*k)++] = (char)0xEF;
    o[(*k)++] = (char)0xBF;
    o[(*k)++] = (char)0xBD;
}

/* Feeds one byte through the UTF-8 assembler: complete characters go to o. */
static void feed_byte(yk_detok *d, uint8_t b, char *o, size_t *k)
{
    for (;;) {
        if (d->n_pend == 0) {
            if (b < 0x80) o[(*k)++] = (char)b;
            else if (b >= 0xC2 && b <= 0xF4) d->pend[d->n_pend++] = b;
            else put_fffd(o, k);
            return;
        }
        uint8_t lead = d->pend[0], lo = 0x80, hi = 0xBF;
        if (d->n_pend == 1) {
            if (lead == 0xE0) lo = 0xA0;
            else if (lead == 0xED) hi = 0x9F;
            else if (lead == 0xF0) lo = 0x90;
            else if (lead == 0xF4) hi = 0x8F;
        }
        if (b < lo || b > hi) {
            put_fffd(o, k); /* the incomplete character is lost; b starts afresh */
            d->n_pend = 0;
            continue;
        }
        d->pend[d->n_pend++] = b;
        int need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (d->n_pend == need) {
            memcpy(o + *k, d->pend, (size_t)need);
            *k += (size_t)need;
            d->n_pend = 0;
        }
        return;
    }
}

yk_str yk_detok_push(yk_detok *d, int32_t id)
{
    yk_str p = yk_tokenizer_piece(d->tok, id, d->special);
    size_t k = 0;
    size_t i = 0;
    if (d->strip_space && p.len > 0) {
        if (p.ptr[0] == ' ') i = 1;
        d->strip_space = false;
    }
    for (; i < p.len; i++) feed_byte(d, (uint8_t)p.ptr[i], d->out, &k);
    return (yk_str){d->out, k};
}

yk_str yk_detok_flush(yk_detok *d)
{
    size_t k = 0;
    if (d->n_pend) put_fffd(d->out, &k);
    d->n_pend = 0;
    return (yk_str){d->out, k};
}

yk_status yk_tokenizer_decode(const yk_tokenizer *t, const int32_t *ids, size_t n, bool special,
                              char **text, size_t *len, yk_err *err)
{
    *text = NULL;
    *len = 0;
    yk_detok d;
    yk_status st = yk_detok_init(&d, t, true, special, err);
    if (st) return st;
    size_t cap = 64, k = 0;
    char *buf = malloc(cap);
    for (size_t i = 0; buf && i <= n; i++) {
        yk_str s = i < n ? yk_detok_push(&d, ids[i]) : yk_detok_flush(&d);
        if (k + s.len + 1 > cap) {
            while (k + s.len + 1 > cap) cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        memcpy(buf + k, s.ptr, s.len);
        k += s.len;
    }
    yk_detok_free(&d);
    if (!buf) return yk_err_set(err, YK_E_NOMEM, "out of memory decoding %zu tokens", n);
    buf[k] = 0;
    *text = buf;
    *len = k;
    return YK_OK;
}
