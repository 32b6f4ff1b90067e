/* tokenizer_load.c: a tokenizer from GGUF metadata: token texts, types and scores, special
 * tokens, the decoded piece of every token (computed once), BPE merges and the pre-tokenizer.
 * Token attributes come from tokenizer.ggml.token_type; as in the reference, tokens whose text is
 * a known end-of-turn or fill-in-the-middle marker ("<|im_end|>", "<|eot_id|>", ...) are made
 * control tokens, and the end-of-turn ones end generation. */
#include "tokenizer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}


/* ---- loading ------------------------------------------------------------------------------ */

static const yk_gguf_kv *find_array(const yk_gguf *g, const char *key, yk_gguf_vtype elem, bool numeric,
                                    yk_err *err, yk_status *st)
{
    const yk_gguf_kv *kv = yk_gguf_find_kv(g, key);
    if (!kv) return NULL;
    bool ok = kv->type == YK_GGUF_ARRAY &&
              (numeric ? kv->arr_type != YK_GGUF_STRING && kv->arr_type != YK_GGUF_ARRAY && kv->arr_type != YK_GGUF_BOOL
                       : kv->arr_type == elem);
    if (!ok) {
        *st = yk_err_set(err, YK_E_FORMAT, "%s: %s (at byte %llu) is not an array of %s", g->path, key,
                         (unsigned long long)kv->offset, numeric ? "numbers" : "strings");
        return NULL;
    }
    return kv;
}

/* Reads an optional token id key into *id. As in the reference engine, an id outside the
 * vocabulary (files write 0xFFFFFFFF for "none") leaves the default in place. */
static yk_status read_id(const yk_gguf *g, const char *key, int32_t n_vocab, int32_t *id, yk_err *err)
{
    const yk_gguf_kv *kv = yk_gguf_find_kv(g, key);
    if (!kv) return YK_OK;
    int64_t v;
    if (!yk_gguf_get_i64(g, key, &v))
        return yk_err_set(err, YK_E_FORMAT, "%s: %s (at byte %llu) is not an integer", g->path, key,
                          (unsigned long long)kv->offset);
    if (v >= 0 && v < n_vocab) *id = (int32_t)v;
    return YK_OK;
}

/* Token texts the reference engine treats as control tokens whatever their stored type
 * (end-of-turn and fill-in-the-middle markers); eog marks those that end generation. */
static const struct {
    const char *text;
    bool eog;
} known_control[] = {
    {"<|eot_id|>", true},      {"<|im_end|>", true},   {"<|end|>", true},
    {"<end_of_turn>", true},   {"<|endoftext|>", true}, {"<|eom_id|>", true},
    {"<EOT>", true},           {"_<EOT>", true},        {"<｜end▁of▁sentence｜>", false},
    {"<|fim_prefix|>", false}, {"<fim-prefix>", false}, {"<｜fim▁begin｜>", false}, {"<PRE>", false},
    {"<|fim_suffix|>", false}, {"<fim-suffix>", false}, {"<｜fim▁hole｜>", false},  {"<SUF>", false},
    {"<|fim_middle|>", false}, {"<fim-middle>", false}, {"<｜fim▁end｜>", false},   {"<MID>", false},
    {"<|fim_pad|>", false},    {"<fim-pad>", false},    {"<PAD>", false},
    {"<|fim_repo|>", false},   {"<|repo_name|>", false}, {"<fim-repo>", false},   {"<REPO>", false},
    {"<|file_sep|>", false},
};
/* The end-of-turn token when the file names none: the first of these present. */
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
    "<｜end▁of▁sentence｜>",
};

static int cmp_special(const void *a, const void *b, void *ctx)
{
    const yk_tok_impl *im = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = im->text_off[x + 1] - im->text_off[x], ly = im->text_off[y + 1] - im->text_off[y];
    if (lx != ly) return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Builds the priority list of special tokens and the trie that finds them in a text. */
static yk_status build_specials(yk_tokenizer *t, yk_err *err)
{
    yk_tok_impl *im = t->impl;
    size_t n = 0, nodes = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->attr[id] & (YK_TOKEN_CONTROL | YK_TOKEN_USER_DEFINED | YK_TOKEN_UNKNOWN)) {
            n++;
            nodes += im->text_off[id + 1] - im->text_off[id];
        }
    for (int b = 0; b < 256; b++) im->trie_root[b] = -1;
    if (n == 0) return YK_OK;
    im->special = malloc(n * sizeof *im->special);
    im->trie = malloc(nodes * 4 * sizeof *im->trie);
    if (!im->special || !im->trie) return yk_err_set(err, YK_E_NOMEM, "out of memory for special tokens");
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->attr[id] & (YK_TOKEN_CONTROL | YK_TOKEN_USER_DEFINED | YK_TOKEN_UNKNOWN)) im->special[im->n_special++] = id;
    qsort_r(im->special, n, sizeof *im->special, cmp_special, im);

    for (size_t k = 0; k < n; k++) {
        size_t len;
        const char *s = tk_tok_text(im, im->special[k], &len);
        if (len == 0) continue;
        int32_t *link = &im->trie_root[(uint8_t)s[0]];
        int32_t node = -1;
        for (size_t j = 0; j < len; j++) {
            /* find the child with byte s[j] in the sibling list starting at *link */
            if (j > 0) link = &im->trie[node * 4 + 0];
            int32_t c = *link;
            if (j > 0)
                while (c >= 0 && im->trie[c * 4 + 2] != (uint8_t)s[j]) c = im->trie[c * 4 + 1];
            if (c < 0) {
                c = (int32_t)im->n_trie++;
                im->trie[c * 4 + 0] = -1;
                im->trie[c * 4 + 1] = j > 0 ? *link : -1;
                im->trie[c * 4 + 2] = (uint8_t)s[j];
                im->trie[c * 4 + 3] = -1;
                *link = c;
            }
            node = c;
        }
        if (im->trie[node * 4 + 3] < 0) im->trie[node * 4 + 3] = (int32_t)k; /* first (higher priority) wins */
    }
    return YK_OK;
}

/* The piece of every token with special = true (see yk_tokenizer_piece). */
static yk_status build_pieces(yk_tokenizer *t, yk_err *err)
{
    yk_tok_impl *im = t->impl;
    /* decoding never makes a piece longer than its text */
    im->piece_buf = malloc(im->text_off[t->n_vocab] + 1);
    im->piece_off = malloc(((size_t)t->n_vocab + 1) * sizeof *im->piece_off);
    if (!im->piece_buf || !im->piece_off) return yk_err_set(err, YK_E_NOMEM, "out of memory for token pieces");
    uint32_t o = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        im->piece_off[id] = o;
        size_t n;
        const char *s = tk_tok_text(im, id, &n);
        char *d = im->piece_buf + o;
        uint16_t a = t->attr[id];
        size_t k = 0;
        if (a & (YK_TOKEN_UNKNOWN | YK_TOKEN_CONTROL | YK_TOKEN_USER_DEFINED)) {
            memcpy(d, s, n);
            k = n;
        } else if (a & YK_TOKEN_NORMAL) {
            if (t->kind == YK_TOK_SPM) {
                for (size_t i = 0; i < n; i++) {
                    if (i + 2 < n && (uint8_t)s[i] == 0xE2 && (uint8_t)s[i + 1] == 0x96 && (uint8_t)s[i + 2] == 0x81) {
                        d[k++] = ' ';
                        i += 2;
                    } else
                        d[k++] = s[i];
                }
            } else {
                /* byte-level alphabet back to bytes; a character outside it is kept as it is */
                for (size_t i = 0; i < n;) {
                    size_t l = tk_utf8_len((uint8_t)s[i]);
                    if (l > n - i) l = n - i;
                    uint32_t cp = (uint8_t)s[i];
                    if (l == 2) cp = ((cp & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3F);
                    int b = l <= 2 ? tk_char_byte(cp) : -1;
                    if (b >= 0)
                        d[k++] = (char)b;
                    else {
                        memcpy(d + k, s + i, l);
                        k += l;
                    }
                    i += l;
                }
            }
        } else if (a & YK_TOKEN_BYTE) {
            int hi = n == 6 ? hex_digit(s[3]) : -1, lo = n == 6 ? hex_digit(s[4]) : -1;
            if (n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && hi >= 0 && lo >= 0) d[k++] = (char)(hi * 16 + lo);
            else {
                memcpy(d, s, n);
                k = n;
            }
        }
        o += (uint32_t)k;
        if (k > im->max_piece) im->max_piece = k;
    }
    im->piece_off[t->n_vocab] = o;
    return YK_OK;
}

yk_status yk_tokenizer_load(yk_tokenizer *t, const yk_gguf *g, yk_err *err)
{
    memset(t, 0, sizeof *t);
    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = -1;
    yk_status st = YK_OK;
    uint32_t *hashes = NULL; /* scratch: key hashes while building the tables */
    enum { PREFETCH = 16 };

    /* tokenizer.ggml.model: which algorithm */
    yk_str model;
    if (!yk_gguf_get_str(g, "tokenizer.ggml.model", &model))
        return yk_err_set(err, YK_E_FORMAT, "%s: no tokenizer: key tokenizer.ggml.model is missing or not a string", g->path);
    if (yk_str_eq(model, "llama"))
        t->kind = YK_TOK_SPM;
    else if (yk_str_eq(model, "gpt2"))
        t->kind = YK_TOK_BPE;
    else {
        const char *what = yk_str_eq(model, "bert") ? " (WordPiece)" : yk_str_eq(model, "t5") ? " (unigram)" : "";
        return yk_err_set(err, YK_E_UNSUPPORTED,
                          "%s: tokenizer.ggml.model = '%.*s'%s is not supported (supported: 'llama' SentencePiece, 'gpt2' byte-level BPE)",
                          g->path, (int)(model.len > 64 ? 64 : model.len), model.ptr, what);
    }

    const yk_gguf_kv *tokens = find_array(g, "tokenizer.ggml.tokens", YK_GGUF_STRING, false, err, &st);
    if (st) return st;
    if (!tokens) return yk_err_set(err, YK_E_FORMAT, "%s: tokenizer.ggml.tokens is missing", g->path);
    if (tokens->arr_n == 0 || tokens->arr_n > INT32_MAX)
        return yk_err_set(err, YK_E_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries", g->path,
                          (unsigned long long)tokens->arr_n);
    const yk_gguf_kv *scores = find_array(g, "tokenizer.ggml.scores", 0, true, err, &st);
    if (st) return st;
    const yk_gguf_kv *types = find_array(g, "tokenizer.ggml.token_type", 0, true, err, &st);
    if (st) return st;
    int32_t n = (int32_t)tokens->arr_n;
    if (scores && scores->arr_n < (uint64_t)n)
        return yk_err_set(err, YK_E_FORMAT, "%s: tokenizer.ggml.scores has %llu entries for %d tokens", g->path,
                          (unsigned long long)scores->arr_n, (int)n);
    if (types && types->arr_n < (uint64_t)n)
        return yk_err_set(err, YK_E_FORMAT, "%s: tokenizer.ggml.token_type has %llu entries for %d tokens", g->path,
                          (unsigned long long)types->arr_n, (int)n);

    t->n_vocab = n;
    t->impl = calloc(1, sizeof *t->impl);
    t->attr = calloc((size_t)n, sizeof *t->attr);
    t->score = calloc((size_t)n, sizeof *t->score);
    if (!t->impl || !t->attr || !t->score) goto nomem;
    yk_tok_impl *im = t->impl;

    /* token texts: one owned buffer */
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        yk_str s;
        if (!yk_gguf_arr_str(tokens, (uint64_t)i, &s)) {
            st = yk_err_set(err, YK_E_FORMAT, "%s: tokenizer.ggml.tokens[%d] is unreadable", g->path, (int)i);
            goto fail;
        }
        total += s.len;
    }
    if (total > UINT32_MAX - 1) {
        st = yk_err_set(err, YK_E_FORMAT, "%s: tokenizer.ggml.tokens holds %llu bytes of text", g->path,
                        (unsigned long long)total);
        goto fail;
    }
    im->text_buf = malloc(total + 1);
    im->text_off = malloc(((size_t)n + 1) * sizeof *im->text_off);
    if (!im->text_buf || !im->text_off || !tk_table_init(&im->tok_table, (size_t)n)) goto nomem;
    uint32_t o = 0;
    for (int32_t i = 0; i < n; i++) {
        yk_str s;
        yk_gguf_arr_str(tokens, (uint64_t)i, &s);
        im->text_off[i] = o;
        memcpy(im->text_buf + o, s.ptr, s.len);
        o += (uint32_t)s.len;
    }
    im->text_off[n] = o;
    im->text_buf[o] = 0;
    /* hashes first (a sequential pass), then inserts with the slot of a later key prefetched:
     * the table is larger than the caches, so this hides most of the misses */
    hashes = malloc(((size_t)n > 1 ? (size_t)n : 1) * sizeof *hashes);
    if (!hashes) goto nomem;
    for (int32_t i = 0; i < n; i++) hashes[i] = tk_hash(im->text_buf + im->text_off[i], im->text_off[i + 1] - im->text_off[i]);
    for (int32_t i = 0; i < n; i++) {
        if (i + PREFETCH < n) __builtin_prefetch(&im->tok_table.e[hashes[i + PREFETCH] & im->tok_table.mask], 1);
        if (im->text_off[i + 1] > im->text_off[i]) tk_tok_insert(im, i, hashes[i]); /* an empty text never matches */
    }

    /* scores and types */
    for (int32_t i = 0; i < n; i++) {
        double s = 0;
        if (scores) yk_gguf_arr_f64(scores, (uint64_t)i, &s);
        t->score[i] = (float)s;
        int64_t ty = 1;
        if (types) yk_gguf_arr_i64(types, (uint64_t)i, &ty);
        t->attr[i] = ty >= 1 && ty <= 6 ? (uint16_t)(1u << (ty - 1)) : 0; /* 0: undefined */
    }

    /* flags and special ids: the reference engine's defaults, then the file's keys */
    if (t->kind == YK_TOK_SPM) {
        t->bos = n > 1 ? 1 : -1;
        t->eos = n > 2 ? 2 : -1;
        t->unk = 0;
        t->add_bos = true;
        t->add_space_prefix = true;
    }
    static const struct {
        const char *key;
        size_t off;
    } ids[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(yk_tokenizer, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(yk_tokenizer, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(yk_tokenizer, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(yk_tokenizer, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(yk_tokenizer, unk)},
        {"tokenizer.ggml.padding_token_id", offsetof(yk_tokenizer, pad)},
    };
    for (size_t k = 0; k < sizeof ids / sizeof *ids; k++)
        if ((st = read_id(g, ids[k].key, n, (int32_t *)((char *)t + ids[k].off), err))) goto fail;

    if (t->kind == YK_TOK_BPE) {
        /* merges */
        const yk_gguf_kv *merges = find_array(g, "tokenizer.ggml.merges", YK_GGUF_STRING, false, err, &st);
        if (st) goto fail;
        if (!merges) {
            st = yk_err_set(err, YK_E_FORMAT, "%s: tokenizer.ggml.merges is missing (needed by tokenizer.ggml.model 'gpt2')", g->path);
            goto fail;
        }
        if (merges->arr_n > INT32_MAX) {
            st = yk_err_set(err, YK_E_FORMAT, "%s: tokenizer.ggml.merges has %llu entries", g->path,
                            (unsigned long long)merges->arr_n);
            goto fail;
        }
        int32_t nm = (int32_t)merges->arr_n;
        uint64_t mt = 0;
        for (int32_t r = 0; r < nm; r++) {
            yk_str s;
            if (!yk_gguf_arr_str(merges, (uint64_t)r, &s)) {
                st = yk_err_set(err, YK_E_FORMAT, "%s: tokenizer.ggml.merges[%d] is unreadable", g->path, (int)r);
                goto fail;
            }
            mt += s.len;
        }
        if (mt > UINT32_MAX - 1) {
            st = yk_err_set(err, YK_E_FORMAT, "%s: tokenizer.ggml.merges holds %llu bytes", g->path, (unsigned long long)mt);
            goto fail;
        }
        im->merge_buf = malloc(mt + 1);
        im->merge_off = malloc(((size_t)nm + 1) * sizeof *im->merge_off);
        im->merge_split = malloc(((size_t)nm + 1) * sizeof *im->merge_split);
        if (!im->merge_buf || !im->merge_off || !im->merge_split || !tk_table_init(&im->merge_table, (size_t)nm)) goto nomem;
        uint32_t mo = 0;
        for (int32_t r = 0; r < nm; r++) {
            yk_str s;
            yk_gguf_arr_str(merges, (uint64_t)r, &s);
            im->merge_off[r] = mo;
            memcpy(im->merge_buf + mo, s.ptr, s.len);
            mo += (uint32_t)s.len;
            /* the pair splits at the first space after the first byte */
            const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
            im->merge_split[r] = sp ? (uint32_t)(sp - s.ptr) : UINT32_MAX;
        }
        im->merge_off[nm] = mo;
        im->n_merges = nm;
        uint32_t *mh = realloc(hashes, ((size_t)nm > 1 ? (size_t)nm : 1) * sizeof *hashes);
        if (!mh) goto nomem;
        hashes = mh;
        for (int32_t r = 0; r < nm; r++) hashes[r] = im->merge_split[r] != UINT32_MAX ? tk_merge_hash(im, r) : 0;
        for (int32_t r = 0; r < nm; r++) {
            if (r + PREFETCH < nm) __builtin_prefetch(&im->merge_table.e[hashes[r + PREFETCH] & im->merge_table.mask], 1);
            if (im->merge_split[r] != UINT32_MAX) tk_merge_insert(im, r, hashes[r]);
        }

        yk_str pre = {"", 0};
        bool has_pre = yk_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
        if ((st = tk_pretok_init(t, has_pre ? pre.ptr : NULL, has_pre ? pre.len : 0, err))) {
            /* name the file too */
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            yk_err_set(err, st, "%s: %s", g->path, msg);
            goto fail;
        }
    }

    bool b;
    if (yk_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) t->add_bos = b;
    if (yk_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) t->add_eos = b;
    if (yk_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b)) t->add_space_prefix = b;
    if (t->bos < 0) t->add_bos = false;
    if (t->eos < 0) t->add_eos = false;
    if (t->unk >= 0 && t->kind == YK_TOK_SPM && (size_t)t->unk >= (size_t)n) t->unk = -1;

    /* known control texts, end-of-generation set */
    int32_t eot_guess = -1;
    size_t eot_rank = sizeof eot_texts / sizeof *eot_texts;
    for (size_t k = 0; k < sizeof known_control / sizeof *known_control; k++) {
        int32_t id = tk_lookup(t, known_control[k].text, strlen(known_control[k].text));
        if (id < 0) continue;
        t->attr[id] |= YK_TOKEN_CONTROL;
        if (known_control[k].eog) t->attr[id] |= YK_TOKEN_EOG;
        for (size_t e = 0; e < eot_rank; e++)
            if (!strcmp(eot_texts[e], known_control[k].text)) {
                eot_guess = id;
                eot_rank = e;
            }
    }
    if (t->eot < 0) t->eot = eot_guess;
    if (t->eos >= 0) t->attr[t->eos] |= YK_TOKEN_EOG;
    if (t->eot >= 0) t->attr[t->eot] |= YK_TOKEN_EOG;
    if (t->eom >= 0) t->attr[t->eom] |= YK_TOKEN_EOG;

    /* byte tokens (SPM byte fallback) */
    for (int c = 0; c < 256; c++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", c);
        im->byte_tok[c] = tk_lookup(t, hex, 6);
        if (im->byte_tok[c] < 0) {
            char one = (char)c;
            im->byte_tok[c] = tk_lookup(t, &one, 1);
        }
    }

    if ((st = build_pieces(t, err))) goto fail;
    if ((st = build_specials(t, err))) goto fail;

    /* strip attributes that the reference engine sets by model name */
    yk_str name;
    if (yk_gguf_get_str(g, "general.name", &name)) {
        char lower[128];
        size_t ln = name.len < sizeof lower - 1 ? name.len : sizeof lower - 1;
        for (size_t i = 0; i < ln; i++) lower[i] = (char)(name.ptr[i] >= 'A' && name.ptr[i] <= 'Z' ? name.ptr[i] + 32 : name.ptr[i]);
        lower[ln] = 0;
        if (strstr(lower, "phi-3") || strstr(lower, "phi3")) {
            for (size_t k = 0; k < im->n_special; k++) t->attr[im->special[k]] |= YK_TOKEN_RSTRIP;
            int32_t id = tk_lookup(t, "</s>", 4);
            if (id >= 0) t->attr[id] |= YK_TOKEN_RSTRIP;
            static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
            for (size_t k = 0; k < 3; k++)
                if ((id = tk_lookup(t, keep[k], strlen(keep[k]))) >= 0) t->attr[id] &= (uint16_t)~YK_TOKEN_RSTRIP;
        }
    }
    free(hashes);
    hashes = NULL;
    if (t->kind == YK_TOK_BPE && (!strcmp(t->pre, "jina-v2-de") || !strcmp(t->pre, "jina-v2-es") || !strcmp(t->pre, "jina-v2-code"))) {
        int32_t id = tk_lookup(t, "<mask>", 6);
        if (id >= 0) t->attr[id] |= YK_TOKEN_LSTRIP;
    }
    return YK_OK;

nomem:
    st = yk_err_set(err, YK_E_NOMEM, "%s: out of memory loading the tokenizer (%d tokens)", g->path, (int)n);
fail:
    free(hashes);
    yk_tokenizer_free(t);
    return st;
}

void yk_tokenizer_free(yk_tokenizer *t)
{
    if (!t) return;
    yk_tok_impl *im = t->impl;
    if (im) {
        free(im->text_buf);
        free(im->text_off);
        tk_table_free(&im->tok_table);
        free(im->piece_buf);
        free(im->piece_off);
        free(im->special);
        free(im->trie);
        free(im->merge_buf);
        free(im->merge_off);
        free(im->merge_split);
        tk_table_free(&im->merge_table);
        tk_pretok_free(im->pretok);
        free(im);
    }
    free(t->attr);
    free(t->score);
    memset(t, 0, sizeof *t);
    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = -1;
}

