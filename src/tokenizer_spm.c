/* tokenizer_spm.c: SentencePiece BPE (tokenizer.ggml.model "llama"), as the reference engine runs it.
 *
 * The fragment (with a leading space when the caller asks for the prefix) has every space written
 * as U+2581 and is split into UTF-8 characters. A max-heap holds every adjacent pair whose
 * concatenation is a token, keyed by that token's score (ties: the leftmost pair). The best pair is
 * merged, stale heap entries are skipped (a symbol that changed size), and the two new neighbour
 * pairs are pushed: O(n log n) in the fragment length. Every final symbol is a token, except single
 * characters missing from the vocabulary: those fall back to one <0xXX> token per byte (or the
 * unknown token when the vocabulary has no byte tokens). */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t start, n;   /* bytes of the escaped text; n == 0 once merged into the left neighbour */
    int32_t prev, next;  /* neighbours in the chain, -1 at the ends */
} spm_sym;

typedef struct {
    float score;
    int32_t left, right;
    uint32_t size;       /* bytes of the pair when it was pushed, to detect stale entries */
} spm_pair;

/* Whether a comes out of the heap before b: higher score, then the leftmost. */
static inline bool spm_before(const spm_pair *a, const spm_pair *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

TK_DEFINE_HEAP(spm_heap, spm_pair, spm_before)

/* Pushes the pair (left, right) if its concatenation is a token. */
static void try_pair(const yk_tokenizer *t, const char *buf, const spm_sym *sym, int32_t left, int32_t right, spm_heap *h)
{
    if (left < 0 || right < 0) return;
    uint32_t size = sym[left].n + sym[right].n;
    int32_t id = tk_lookup(t, buf + sym[left].start, size);
    if (id < 0) return;
    spm_heap_push(h, (spm_pair){t->score[id], left, right, size});
}

yk_status tk_spm_encode(const yk_tokenizer *t, const char *text, size_t len, bool space_prefix,
                        tk_ids *out, yk_err *err)
{
    const yk_tok_impl *im = t->impl;
    /* escaped text: spaces as U+2581 (3 bytes) */
    char *buf = malloc(3 * (len + 1));
    spm_sym *sym = malloc((len + 1) * sizeof *sym);
    spm_heap h = {0};
    yk_status st = YK_OK;
    if (!buf || !sym) goto nomem;
    size_t n = 0;
    if (space_prefix) {
        memcpy(buf, "\xE2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + n, "\xE2\x96\x81", 3);
            n += 3;
        } else
            buf[n++] = text[i];
    }

    /* one symbol per UTF-8 character */
    int32_t ns = 0;
    for (size_t o = 0; o < n;) {
        size_t l = tk_utf8_len((uint8_t)buf[o]);
        if (l > n - o) l = n - o;
        sym[ns] = (spm_sym){(uint32_t)o, (uint32_t)l, ns - 1, o + l == n ? -1 : ns + 1};
        ns++;
        o += l;
    }
    for (int32_t i = 1; i < ns; i++) try_pair(t, buf, sym, i - 1, i, &h);

    /* merge the best pair while one is left */
    while (h.n > 0) {
        spm_pair p = spm_heap_pop(&h);
        spm_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        try_pair(t, buf, sym, l->prev, p.left, &h);
        try_pair(t, buf, sym, p.left, l->next, &h);
    }
    if (h.oom) goto nomem;

    /* symbols to ids, byte fallback for characters that are not tokens */
    for (int32_t i = ns ? 0 : -1; i >= 0; i = sym[i].next) {
        int32_t id = tk_lookup(t, buf + sym[i].start, sym[i].n);
        if (id >= 0) {
            tk_push(out, id);
            continue;
        }
        for (uint32_t k = 0; k < sym[i].n; k++) {
            int32_t b = im->byte_tok[(uint8_t)buf[sym[i].start + k]];
            if (b < 0) b = t->unk;
            if (b < 0) {
                st = yk_err_set(err, YK_E_UNSUPPORTED,
                                "byte 0x%02X of the text has no token: the vocabulary has neither <0x%02X> nor an unknown token",
                                (uint8_t)buf[sym[i].start + k], (uint8_t)buf[sym[i].start + k]);
                goto done;
            }
            tk_push(out, b);
        }
    }
    goto done;
nomem:
    st = yk_err_set(err, YK_E_NOMEM, "out of memory tokenizing %zu bytes", len);
done:
    free(buf);
    free(sym);
    free(h.v);
    return st;
}
