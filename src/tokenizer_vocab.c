/* tokenizer_vocab.c: the tokenizer's tables: token texts and merges indexed by open-addressing
 * hash tables (text -> id, (left, right) -> rank), so that a 150k-token vocabulary with 280k merges
 * loads in tens of milliseconds with no per-token scans. Filled by tokenizer_load.c, read by the
 * encoders. */
#include "tokenizer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------------------------ */

void tk_push(tk_ids *o, int32_t id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        int32_t *v = realloc(o->v, cap * sizeof *v);
        if (!v) {
            o->oom = true;
            return;
        }
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = id;
}

/* A fast string hash: 8 bytes per multiply-xorshift step, then a final mix (the table only needs
 * the hashes to spread; they are never stored outside the process). */
static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

uint32_t tk_hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w = 0;
    bool long_key = n >= 8;
    while (n >= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    w = 0;
    if (long_key && n) memcpy(&w, s + n - 8, 8); /* the last 8 bytes, overlapping the previous word */
    else
        for (size_t i = 0; i < n; i++) w |= (uint64_t)(uint8_t)s[i] << (8 * i);
    return (uint32_t)mix64((h ^ w) * 0x94d049bb133111ebull);
}

/* The hash of the pair (a, b), from the two string hashes. */
uint32_t tk_hash_pair(const char *a, size_t na, const char *b, size_t nb)
{
    return (uint32_t)mix64(((uint64_t)tk_hash(a, na) << 32 | tk_hash(b, nb)) * 0x9e3779b97f4a7c15ull);
}

bool tk_table_init(tk_table *tb, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    tb->e = malloc(cap * sizeof *tb->e);
    if (!tb->e) return false;
    memset(tb->e, 0xff, cap * sizeof *tb->e);
    tb->mask = (uint32_t)(cap - 1);
    return true;
}

void tk_table_free(tk_table *tb)
{
    free(tb->e);
    tb->e = NULL;
}

int32_t tk_lookup(const yk_tokenizer *t, const char *s, size_t n)
{
    const yk_tok_impl *im = t->impl;
    const tk_table *tb = &im->tok_table;
    uint32_t h = tk_hash(s, n);
    for (uint32_t i = h & tb->mask;; i = (i + 1) & tb->mask) {
        int32_t id = tb->e[i].v;
        if (id < 0) return -1;
        if (tb->e[i].h != h) continue;
        size_t m;
        const char *p = tk_tok_text(im, id, &m);
        if (m == n && memcmp(p, s, n) == 0) return id;
    }
}

/* Inserts id (whose text hashes to h); a later id with the same text replaces the earlier one,
 * as in the reference engine's text -> id map. */
void tk_tok_insert(yk_tok_impl *im, int32_t id, uint32_t h)
{
    tk_table *tb = &im->tok_table;
    size_t n;
    const char *s = tk_tok_text(im, id, &n);
    for (uint32_t i = h & tb->mask;; i = (i + 1) & tb->mask) {
        int32_t o = tb->e[i].v;
        if (o < 0) {
            tb->e[i] = (tk_slot){id, h};
            return;
        }
        size_t m;
        const char *p = tk_tok_text(im, o, &m);
        if (tb->e[i].h == h && m == n && memcmp(p, s, n) == 0) {
            tb->e[i].v = id;
            return;
        }
    }
}

int32_t tk_merge_rank(const yk_tokenizer *t, const char *a, size_t na, const char *b, size_t nb)
{
    const yk_tok_impl *im = t->impl;
    const tk_table *tb = &im->merge_table;
    if (!tb->e) return -1;
    uint32_t h = tk_hash_pair(a, na, b, nb);
    for (uint32_t i = h & tb->mask;; i = (i + 1) & tb->mask) {
        int32_t r = tb->e[i].v;
        if (r < 0) return -1;
        if (tb->e[i].h != h) continue;
        const char *m = im->merge_buf + im->merge_off[r];
        uint32_t sp = im->merge_split[r], len = im->merge_off[r + 1] - im->merge_off[r];
        if (sp == na && len - sp - 1 == nb && memcmp(m, a, na) == 0 && memcmp(m + sp + 1, b, nb) == 0)
            return r;
    }
}

uint32_t tk_merge_hash(const yk_tok_impl *im, int32_t r)
{
    const char *m = im->merge_buf + im->merge_off[r];
    uint32_t sp = im->merge_split[r], len = im->merge_off[r + 1] - im->merge_off[r];
    return tk_hash_pair(m, sp, m + sp + 1, len - sp - 1);
}

/* Inserts merge r (whose pair hashes to h); a repeated pair keeps its first (lowest) rank, as in
 * the reference. */
void tk_merge_insert(yk_tok_impl *im, int32_t r, uint32_t h)
{
    tk_table *tb = &im->merge_table;
    const char *m = im->merge_buf + im->merge_off[r];
    uint32_t sp = im->merge_split[r], len = im->merge_off[r + 1] - im->merge_off[r];
    for (uint32_t i = h & tb->mask;; i = (i + 1) & tb->mask) {
        int32_t o = tb->e[i].v;
        if (o < 0) {
            tb->e[i] = (tk_slot){r, h};
            return;
        }
        const char *mo = im->merge_buf + im->merge_off[o];
        uint32_t lo = im->merge_off[o + 1] - im->merge_off[o];
        if (tb->e[i].h == h && lo == len && im->merge_split[o] == sp && memcmp(mo, m, len) == 0) return;
    }
}

