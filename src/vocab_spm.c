/* vocab_spm.c: the built-in SentencePiece vocabulary of `yoke mkmodel` models.
 *
 * Layout (the conventions of llama.cpp's "llama" tokenizer model): <unk>, <s>, </s>, then the 256
 * byte-fallback tokens <0x00>..<0xFF>, then text pieces. SPM tokenization starts from single
 * characters and merges adjacent pairs whose concatenation is a piece (highest score first), so
 * a piece can only ever be produced if it can be built that way: here every piece of more than
 * one character has its prefix (one character shorter) as a piece too, and every character of a
 * piece is a piece. The pieces are the space marker U+2581, letters, digits and punctuation, then
 * common English words with the space marker ("\u2581the") and a few suffixes, in rough order of
 * frequency; the score of a piece is minus its rank. Requests for more tokens are padded with
 * "<unused_N>" tokens of type unused (they can never be produced); requests for fewer cut the
 * piece list, which keeps the prefix property. */
#include "yoke/mkmodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPACE "\xe2\x96\x81" /* U+2581, SentencePiece's word-start marker */

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_UNUSED = 5, TT_BYTE = 6 };

/* Words in rough order of frequency in simple English prose (a hand-made list). */
static const char *const words[] = {
    "the", "and", "a", "to", "was", "he", "she", "it", "of", "in", "they", "you", "said", "her", "his", "with",
    "on", "that", "I", "for", "is", "had", "were", "but", "so", "day", "at", "one", "what", "all", "there", "be",
    "we", "up", "not", "very", "big", "little", "time", "happy", "saw", "went", "play", "friend", "friends",
    "wanted", "mom", "dad", "Lily", "Tom", "Ben", "Sue", "once", "upon", "girl", "boy", "named", "loved", "liked",
    "park", "ball", "tree", "dog", "cat", "bird", "fish", "sun", "sky", "water", "house", "home", "toy", "toys",
    "can", "do", "did", "like", "have", "has", "are", "this", "them", "him", "then", "when", "out", "from", "by",
    "as", "an", "or", "if", "no", "yes", "my", "your", "their", "our", "me", "us", "who", "how", "why", "where",
    "good", "new", "old", "fun", "nice", "red", "blue", "green", "yellow", "small", "long", "fast", "slow",
    "go", "get", "got", "see", "look", "looked", "find", "found", "make", "made", "take", "took", "come", "came",
    "help", "helped", "run", "ran", "jump", "jumped", "walk", "walked", "eat", "ate", "sleep", "sat", "say",
    "know", "think", "thought", "felt", "feel", "want", "love", "need", "give", "gave", "put", "let", "tell",
    "told", "ask", "asked", "smiled", "laughed", "cried", "shouted", "would", "could", "should", "will",
    "about", "after", "before", "again", "into", "over", "under", "down", "away", "back", "around", "together",
    "some", "many", "more", "other", "each", "every", "something", "nothing", "everyone", "because", "just",
    "now", "too", "also", "only", "even", "still", "then", "than", "very", "much", "always", "never",
    "mother", "father", "family", "sister", "brother", "baby", "king", "queen", "man", "woman", "people",
    "car", "boat", "box", "book", "door", "window", "garden", "flower", "flowers", "rock", "hill", "forest",
    "food", "cake", "apple", "milk", "bed", "room", "school", "town", "world", "night", "morning", "rain",
    "first", "last", "next", "best", "kind", "sad", "scared", "brave", "strong", "pretty", "funny", "careful",
    "the", "The", "He", "She", "It", "They", "One", "Once", "But", "So", "Then", "When", "After", "Mom", "We",
    "year", "years", "way", "thing", "things", "place", "name", "story", "idea", "game", "lesson", "learned",
};

/* Pieces used inside words (no space marker), with their prefix chains built automatically. */
static const char *const suffixes[] = {"s", "ed", "ing", "er", "ly", "es", "est", "en", "y", "ful", "ness", "le"};

static const char single_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()";

/* A growing list of unique pieces (hash set over their texts). */
typedef struct {
    char **text;
    size_t n, cap;
    size_t *slot; /* index + 1; 0 = empty */
    size_t slot_cap;
} piece_list;

static uint64_t hash_text(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static size_t *find_slot(const piece_list *l, const char *s)
{
    for (size_t h = hash_text(s) & (l->slot_cap - 1);; h = (h + 1) & (l->slot_cap - 1))
        if (!l->slot[h] || !strcmp(l->text[l->slot[h] - 1], s)) return &l->slot[h];
}

/* Adds s (copied) unless present; false on no memory. */
static bool add_piece(piece_list *l, const char *s)
{
    if (2 * (l->n + 1) > l->slot_cap) {
        size_t cap = l->slot_cap ? 2 * l->slot_cap : 1024;
        size_t *slot = calloc(cap, sizeof *slot);
        if (!slot) return false;
        free(l->slot);
        l->slot = slot;
        l->slot_cap = cap;
        for (size_t i = 0; i < l->n; i++) *find_slot(l, l->text[i]) = i + 1;
    }
    size_t *slot = find_slot(l, s);
    if (*slot) return true;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        char **t = realloc(l->text, cap * sizeof *t);
        if (!t) return false;
        l->text = t;
        l->cap = cap;
    }
    if (!(l->text[l->n] = strdup(s))) return false;
    *slot = ++l->n;
    return true;
}

/* Adds every prefix of s (ending on a UTF-8 character boundary) of at least `from` bytes, then s. */
static bool add_chain(piece_list *l, const char *s, size_t from)
{
    char buf[128];
    size_t n = strlen(s);
    if (n >= sizeof buf) return false;
    for (size_t k = from; k <= n; k++) {
        if (k < n && ((unsigned char)s[k] & 0xc0) == 0x80) continue; /* inside a character */
        memcpy(buf, s, k);
        buf[k] = 0;
        if (!add_piece(l, buf)) return false;
    }
    return true;
}

static bool builtin_pieces(piece_list *l)
{
    bool ok = add_piece(l, SPACE);
    for (const char *c = single_chars; ok && *c; c++) {
        char s[2] = {*c, 0};
        ok = add_piece(l, s);
    }
    for (size_t i = 0; ok && i < sizeof words / sizeof *words; i++) {
        char s[128];
        snprintf(s, sizeof s, SPACE "%s", words[i]);
        ok = add_chain(l, s, strlen(SPACE) + 1);
    }
    for (size_t i = 0; ok && i < sizeof suffixes / sizeof *suffixes; i++) ok = add_chain(l, suffixes[i], 1);
    return ok;
}

static void free_pieces(piece_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->text[i]);
    free(l->text);
    free(l->slot);
}

void yk_spm_vocab_free(yk_spm_vocab *v)
{
    free(v->tokens);
    free(v->scores);
    free(v->types);
    free(v->arena);
    memset(v, 0, sizeof *v);
}

yk_status yk_spm_vocab_builtin(yk_spm_vocab *v, uint32_t n_vocab, yk_err *err)
{
    memset(v, 0, sizeof *v);
    if (n_vocab < YK_SPM_MIN_VOCAB)
        return yk_err_set(err, YK_E_INVALID, "vocabulary size %u: at least %d (3 special and 256 byte tokens)", n_vocab,
                          YK_SPM_MIN_VOCAB);
    piece_list l = {0};
    if (!builtin_pieces(&l)) {
        free_pieces(&l);
        return yk_err_set(err, YK_E_NOMEM, "vocabulary: no memory");
    }
    size_t n_pieces = l.n < n_vocab - YK_SPM_MIN_VOCAB ? l.n : n_vocab - YK_SPM_MIN_VOCAB;
    /* Arena: specials, bytes ("<0xAB>" = 6), pieces, padding ("<unused_N>" <= 20). */
    size_t bytes = 16 + 256 * 6 + 20 * (size_t)(n_vocab - YK_SPM_MIN_VOCAB - n_pieces);
    for (size_t i = 0; i < n_pieces; i++) bytes += strlen(l.text[i]);
    v->n = n_vocab;
    v->tokens = calloc(n_vocab, sizeof *v->tokens);
    v->scores = calloc(n_vocab, sizeof *v->scores);
    v->types = calloc(n_vocab, sizeof *v->types);
    v->arena = malloc(bytes);
    if (!v->tokens || !v->scores || !v->types || !v->arena) {
        free_pieces(&l);
        yk_spm_vocab_free(v);
        return yk_err_set(err, YK_E_NOMEM, "vocabulary of %u tokens: no memory", n_vocab);
    }
    char *a = v->arena;
    uint32_t id = 0;
#define PUT(text_, len_, score_, type_)                                                        \
    do {                                                                                       \
        memcpy(a, text_, len_);                                                                \
        v->tokens[id] = (yk_str){a, len_};                                                     \
        v->scores[id] = score_;                                                                \
        v->types[id] = type_;                                                                  \
        a += len_;                                                                             \
        id++;                                                                                  \
    } while (0)
    PUT("<unk>", 5, 0.0f, TT_UNKNOWN);
    PUT("<s>", 3, 0.0f, TT_CONTROL);
    PUT("</s>", 4, 0.0f, TT_CONTROL);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        PUT(s, 6, 0.0f, TT_BYTE);
    }
    for (size_t i = 0; i < n_pieces; i++) PUT(l.text[i], strlen(l.text[i]), -(float)i, TT_NORMAL);
    for (uint32_t k = 0; id < n_vocab; k++) {
        char s[24];
        int len = snprintf(s, sizeof s, "<unused_%u>", k);
        PUT(s, (size_t)len, -1e9f, TT_UNUSED);
    }
#undef PUT
    free_pieces(&l);
    return YK_OK;
}
