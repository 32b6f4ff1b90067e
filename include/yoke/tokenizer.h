/* yoke/tokenizer.h: text <-> token ids with the tokenizer stored in a GGUF file's metadata.
 *
 * Supported tokenizer.ggml.model values:
 *   "llama"  SentencePiece BPE (SPM): score-driven merging of UTF-8 characters, byte fallback to
 *            <0xXX> tokens, the space prefix (tokenizer.ggml.add_space_prefix, default true) and
 *            spaces written as U+2581.
 *   "gpt2"   byte-level BPE: the text is split by the pre-tokenizer regexes named by
 *            tokenizer.ggml.pre (llama-bpe, qwen2, gpt-2, deepseek-llm, deepseek-coder, falcon,
 *            mpt, starcoder, refact, ... and "default" when the key is absent), each piece is
 *            mapped byte -> character (the GPT-2 byte alphabet) and merged by the rank of
 *            tokenizer.ggml.merges.
 * Others ("bert" WordPiece, "t5" unigram, "rwkv") load with YK_E_UNSUPPORTED naming the key and
 * its value. The results follow the reference engine (llama.cpp) token for token.
 *
 * Special tokens: tokens of type control, user-defined or unknown are matched in the text before
 * the tokenizer runs (longest first). User-defined tokens are always matched; control and unknown
 * tokens only when parse_special is true, otherwise their text is tokenized like any other.
 *
 * A loaded tokenizer owns copies of everything it needs: the GGUF file may be closed afterwards.
 * It is read-only after load, so one tokenizer may encode and decode from several threads. */
#ifndef YOKE_TOKENIZER_H
#define YOKE_TOKENIZER_H

#include "yoke/base.h"
#include "yoke/gguf.h"

typedef enum {
    YK_TOK_SPM = 0,  /* tokenizer.ggml.model "llama" */
    YK_TOK_BPE = 1,  /* tokenizer.ggml.model "gpt2" */
    YK_TOK_KIND_COUNT
} yk_tok_kind;

/* Per-token attributes (bits of yk_tokenizer.attr[id]); the first six follow the GGUF
 * tokenizer.ggml.token_type values 1..6. */
enum {
    YK_TOKEN_NORMAL       = 1 << 0,
    YK_TOKEN_UNKNOWN      = 1 << 1,
    YK_TOKEN_CONTROL      = 1 << 2,
    YK_TOKEN_USER_DEFINED = 1 << 3,
    YK_TOKEN_UNUSED       = 1 << 4,
    YK_TOKEN_BYTE         = 1 << 5,
    YK_TOKEN_LSTRIP       = 1 << 6,  /* when matched as special, drops whitespace on its left */
    YK_TOKEN_RSTRIP       = 1 << 7,  /* ... on its right */
    YK_TOKEN_EOG          = 1 << 8,  /* ends generation (EOS, EOT, <|im_end|>, ...) */
};

typedef struct yk_tok_impl yk_tok_impl; /* private: hash tables, merges, regexes */

typedef struct {
    yk_tok_kind kind;
    char pre[64];          /* pre-tokenizer name (BPE): tokenizer.ggml.pre or "default" */
    int32_t n_vocab;
    uint16_t *attr;        /* (n_vocab) YK_TOKEN_* bits */
    float *score;          /* (n_vocab) tokenizer.ggml.scores, 0 when absent */
    /* Special ids, -1 when the model has none. */
    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos;          /* the model wants BOS in front of a prompt */
    bool add_eos;          /* ... and EOS after it */
    bool add_space_prefix; /* SPM: a space is put in front of the text */
    yk_tok_impl *impl;
} yk_tokenizer;

/* Loads the tokenizer of an open GGUF file. On failure t is left freed (safe to
 * yk_tokenizer_free) and err names the key at fault: YK_E_UNSUPPORTED for a tokenizer model or
 * pre-tokenizer yoke does not implement, YK_E_FORMAT for missing or malformed keys. */
yk_status yk_tokenizer_load(yk_tokenizer *t, const yk_gguf *g, yk_err *err);
void yk_tokenizer_free(yk_tokenizer *t);

/* Encodes len bytes of UTF-8 text. add_bos: put BOS in front (and EOS after) when the model asks
 * for it (t->add_bos, t->add_eos). parse_special: match control tokens written in the text
 * ("<|im_start|>"). *ids is allocated with malloc (free it with free(); NULL when *n is 0).
 * Text that is not valid UTF-8 gives YK_E_INVALID naming the byte offset. */
yk_status yk_tokenizer_encode(const yk_tokenizer *t, const char *text, size_t len, bool add_bos,
                              bool parse_special, int32_t **ids, size_t *n, yk_err *err);

/* The bytes token id stands for: U+2581 turned back into spaces (SPM), the byte-level alphabet
 * decoded (BPE), the byte of a <0xXX> token, the text of a user-defined token. Control and
 * unknown tokens give their text when special is true, nothing otherwise; unused tokens nothing.
 * The bytes may be a part of a UTF-8 sequence. Empty for an id out of range. */
yk_str yk_tokenizer_piece(const yk_tokenizer *t, int32_t id, bool special);
/* The token's text as stored in the vocabulary ("▁the", "Ġthe", "<0x0A>"); empty if out of range. */
yk_str yk_tokenizer_text(const yk_tokenizer *t, int32_t id);
/* Whether id ends generation (EOS, EOT, EOM and the end-of-turn tokens known by their text). */
bool yk_tokenizer_is_eog(const yk_tokenizer *t, int32_t id);
/* Id of a token by its exact text, or -1. */
int32_t yk_tokenizer_find(const yk_tokenizer *t, const char *text, size_t len);

/* Streaming detokenizer: turns ids into text one at a time and never emits a partial UTF-8
 * sequence; bytes of an incomplete character wait for the next token. A byte sequence that
 * cannot become valid UTF-8 is replaced by U+FFFD, and so is an incomplete tail at the flush. */
typedef struct {
    const yk_tokenizer *tok;
    bool special;       /* render control tokens' text */
    bool strip_space;   /* drop the space prefix of the first piece (SPM, decoding from the start) */
    uint8_t pend[4];    /* bytes of an incomplete character */
    int n_pend;
    char *out;          /* output buffer, reused by every call */
    size_t cap;
} yk_detok;

/* from_start: the ids start a text (the first piece's SPM space prefix is removed, as in
 * decoding a whole prompt); false when continuing after a prompt that was already shown. */
yk_status yk_detok_init(yk_detok *d, const yk_tokenizer *t, bool from_start, bool special, yk_err *err);
/* Text completed by id; points into d and stays valid until the next call. */
yk_str yk_detok_push(yk_detok *d, int32_t id);
/* What is left at the end (U+FFFD for an incomplete character); valid until the next call. */
yk_str yk_detok_flush(yk_detok *d);
void yk_detok_free(yk_detok *d);

/* Decodes n ids into a malloc'd, NUL-terminated string (*len bytes without the NUL), as the
 * streaming detokenizer with from_start would. */
yk_status yk_tokenizer_decode(const yk_tokenizer *t, const int32_t *ids, size_t n, bool special,
                              char **text, size_t *len, yk_err *err);

/* Checks that s is valid UTF-8; returns the byte offset of the first bad sequence, or len. */
size_t yk_utf8_check(const char *s, size_t len);

#endif
