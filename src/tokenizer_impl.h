/* tokenizer_impl.h: the private state shared by tokenizer.c (loading, special tokens, pieces,
 * detokenizing), tokenizer_spm.c (SentencePiece BPE) and tokenizer_bpe.c (byte-level BPE with
 * regex pre-tokenizers). Not part of the public API. */
#ifndef YOKE_TOKENIZER_IMPL_H
#define YOKE_TOKENIZER_IMPL_H

#include "yoke/tokenizer.h"

/* A growable array of token ids; oom records a failed allocation (checked once at the end). */
typedef struct {
    int32_t *v;
    size_t n, cap;
    bool oom;
} tk_ids;

void tk_push(tk_ids *o, int32_t id);

/* Open-addressing hash table of int32 values (token ids or merge ranks), keyed by strings the
 * owner can recompute from the value; capacity a power of two, v = -1 marks an empty slot. The
 * key hash sits beside the value (one cache line per probe) to skip most string compares. */
typedef struct {
    int32_t v;
    uint32_t h;
} tk_slot;

typedef struct {
    tk_slot *e;
    uint32_t mask;
} tk_table;

typedef struct tk_pretok tk_pretok; /* compiled pre-tokenizer regexes (tokenizer_bpe.c) */

struct yk_tok_impl {
    /* token texts, owned: token i is text_buf[text_off[i] .. text_off[i+1]) */
    char *text_buf;
    uint32_t *text_off;        /* (n_vocab + 1) */
    tk_table tok_table;        /* text -> id */
    /* decoded pieces (special = true), same layout */
    char *piece_buf;
    uint32_t *piece_off;       /* (n_vocab + 1) */
    size_t max_piece;
    /* special tokens (control, user-defined, unknown), by matching priority: longest first */
    int32_t *special;          /* (n_special) ids */
    size_t n_special;
    int32_t *trie;             /* nodes of 4 int32: first child, next sibling, byte, special index */
    size_t n_trie;
    int32_t trie_root[256];    /* child of the root for each first byte, or -1 */
    /* SPM: token of each raw byte (<0xXX>, else the one-byte text), -1 if none */
    int32_t byte_tok[256];
    /* BPE merges, owned: merge r is "left right", merge_buf[merge_off[r] .. merge_off[r+1]),
     * with the space at merge_buf[merge_off[r] + merge_split[r]] */
    char *merge_buf;
    uint32_t *merge_off;       /* (n_merges + 1) */
    uint32_t *merge_split;     /* (n_merges) */
    int32_t n_merges;
    tk_table merge_table;      /* (left, right) -> rank */
    bool ignore_merges;        /* a pre-token that is a whole token is not merged (llama3) */
    tk_pretok *pretok;
};

/* Hash of a byte string, and of a pair of strings (a merge) without building the pair. */
uint32_t tk_hash(const char *s, size_t n);
uint32_t tk_hash_pair(const char *a, size_t na, const char *b, size_t nb);

/* tokenizer_vocab.c: the tables. Text of token id (not NUL-terminated), n bytes. */
static inline const char *tk_tok_text(const yk_tok_impl *im, int32_t id, size_t *n)
{
    *n = im->text_off[id + 1] - im->text_off[id];
    return im->text_buf + im->text_off[id];
}
/* A table for n entries (capacity a power of two at least 2n), all empty; false when out of memory. */
bool tk_table_init(tk_table *tb, size_t n);
void tk_table_free(tk_table *tb);
/* Adds token id (text hash h) / merge r (hash h) to its table; a duplicate keeps the first. */
void tk_tok_insert(yk_tok_impl *im, int32_t id, uint32_t h);
void tk_merge_insert(yk_tok_impl *im, int32_t r, uint32_t h);
/* Hash of merge r's pair. */
uint32_t tk_merge_hash(const yk_tok_impl *im, int32_t r);
/* Token id of text, or -1. */
int32_t tk_lookup(const yk_tokenizer *t, const char *s, size_t n);
/* Merge rank of (a, b), or -1. */
int32_t tk_merge_rank(const yk_tokenizer *t, const char *a, size_t na, const char *b, size_t nb);

/* SPM: encodes one raw fragment (the space prefix already decided by the caller). */
yk_status tk_spm_encode(const yk_tokenizer *t, const char *text, size_t len, bool space_prefix,
                        tk_ids *out, yk_err *err);

/* BPE: compiles the pre-tokenizer named name (tokenizer.ggml.pre; NULL or "" = "default") and
 * sets the flags it implies; YK_E_UNSUPPORTED for an unknown name. */
yk_status tk_pretok_init(yk_tokenizer *t, const char *name, size_t name_len, yk_err *err);
void tk_pretok_free(tk_pretok *p);
/* BPE: encodes one raw fragment. */
yk_status tk_bpe_encode(const yk_tokenizer *t, const char *text, size_t len, tk_ids *out, yk_err *err);
/* The byte-level alphabet: the UTF-8 of the character standing for byte b (1 or 2 bytes). */
size_t tk_byte_char(uint8_t b, char out[2]);
/* The byte a byte-level character stands for, or -1. */
int tk_char_byte(uint32_t cp);

/* TK_DEFINE_HEAP(name, T, before): a binary heap of T (growable array; oom set when an
 * allocation failed) whose top is the element e for which before(&e, &x) holds against every
 * other x. Defines the type name, name##_push and name##_pop (on a non-empty heap). SPM (score
 * order) and BPE (merge-rank order) each instantiate one. */
#define TK_DEFINE_HEAP(name, T, before)                                                          \
    typedef struct {                                                                           \
        T *v;                                                                                  \
        size_t n, cap;                                                                         \
        bool oom;                                                                              \
    } name;                                                                                    \
    static void name##_push(name *h, T p)                                                      \
    {                                                                                          \
        if (h->n == h->cap) {                                                                  \
            size_t cap = h->cap ? 2 * h->cap : 64;                                             \
            T *v = realloc(h->v, cap * sizeof *v);                                             \
            if (!v) {                                                                          \
                h->oom = true;                                                                 \
                return;                                                                        \
            }                                                                                  \
            h->v = v;                                                                          \
            h->cap = cap;                                                                      \
        }                                                                                      \
        size_t i = h->n++;                                                                     \
        while (i > 0) {                                                                        \
            size_t up = (i - 1) / 2;                                                           \
            if (!before(&p, &h->v[up])) break;                                                 \
            h->v[i] = h->v[up];                                                                \
            i = up;                                                                            \
        }                                                                                      \
        h->v[i] = p;                                                                           \
    }                                                                                          \
    static T name##_pop(name *h)                                                               \
    {                                                                                          \
        T top = h->v[0], last = h->v[--h->n];                                                  \
        size_t i = 0;                                                                          \
        for (;;) {                                                                             \
            size_t c = 2 * i + 1;                                                              \
            if (c >= h->n) break;                                                              \
            if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;                           \
            if (!before(&h->v[c], &last)) break;                                               \
            h->v[i] = h->v[c];                                                                 \
            i = c;                                                                             \
        }                                                                                      \
        if (h->n) h->v[i] = last;                                                              \
        return top;                                                                            \
    }

/* UTF-8 length of a sequence from its lead byte (1 for a stray byte), as the reference engine
 * splits characters. */
static inline size_t tk_utf8_len(uint8_t c)
{
    static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

#endif
