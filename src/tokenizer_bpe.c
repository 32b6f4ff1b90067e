/* tokenizer_bpe.c: byte-level BPE (tokenizer.ggml.model "gpt2") with the regex pre-tokenizers
 * named by tokenizer.ggml.pre.
 *
 * Pre-tokenizing: a pre-tokenizer is a list of regexes applied in turn; each one splits every
 * current piece into its matches and the text between them (both kept), as the reference engine
 * does. The regexes are those of the models' tokenizer.json files in the form the reference engine
 * uses them (e.g. (?i:'s) written as '[sS]); PCRE2 runs them with Unicode properties (UTF + UCP),
 * so \p{L}, \p{N}, \p{P} need no tables here. The reference treats exactly the Unicode White_Space
 * characters as \s and hides the non-ASCII ones from literal character ranges; to reproduce that,
 * a copy of the text is matched in which each non-ASCII space is written as U+000B (and U+180E,
 * which PCRE2 counts as a space and the reference does not, as U+200B), with a map back to the
 * original byte offsets. Each piece is matched as its own subject, so lookaheads and $ stop at its
 * end.
 *
 * Merging: each piece's bytes are mapped to the GPT-2 byte alphabet (every byte a printable
 * character), split into characters, and merged with a min-heap of adjacent pairs keyed by merge
 * rank (ties: leftmost), skipping stale entries: O(n log n) per piece. With ignore_merges
 * (Llama 3, Tekken) a piece that is a whole token is taken as it is. */
#include "tokenizer_impl.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the byte alphabet ------------------------------------------------------------------- */

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other 68 bytes (0-32,
 * 127-160, 173) for U+0100.. in byte order. */
static uint32_t byte_cp(uint8_t b)
{
    if (b <= 32) return 256u + b;
    if (b >= 127 && b <= 160) return (uint32_t)b + 162u;
    if (b == 173) return 323;
    return b;
}

size_t tk_byte_char(uint8_t b, char out[2])
{
    uint32_t cp = byte_cp(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

int tk_char_byte(uint32_t cp)
{
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(cp - 162);
    if (cp == 323) return 173;
    return -1;
}

/* ---- pre-tokenizers ------------------------------------------------------------------------ */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                               \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+" \
                    "|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"     \
                    "|\\s+(?!\\S)|\\s+"
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"
/* CJK ideographs, U+0800..U+4E00, Hangul */
#define RE_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* DeepSeek LLM: an optional space and a run of cased letters (Lu, Ll, Lt ranges) */
#define RE_DEEPSEEK_LETTERS                                                                     \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"      \
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"     \
    "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"          \
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"       \
    "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"       \
    "\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}" \
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}" \
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"        \
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}"         \
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"         \
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"        \
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"       \
    "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"     \
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"                  \
    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+"
#define RE_TEKKEN                                                                               \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"                                 \
    "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"                                \
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT4O                                                                                \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" RE_CONTRACTIONS "?"              \
    "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" RE_CONTRACTIONS "?"             \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

#define MAX_RE 6

typedef struct {
    const char *names;        /* the tokenizer.ggml.pre values, space separated */
    const char *re[MAX_RE];   /* applied in order; NULL-terminated */
    bool ignore_merges;
    bool add_bos;             /* default before tokenizer.ggml.add_bos_token */
} pretok_def;

static const pretok_def pretok_defs[] = {
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, false, false},
    {"llama3 llama-v3 llama-bpe falcon3", {RE_LLAMA3}, true, true},
    {"dbrx smaug-bpe chatglm-bpe", {RE_LLAMA3}, false, false},
    {"deepseek-llm", {"[\r\n]", RE_DEEPSEEK_LETTERS, "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
                      "\\s+$", RE_CJK, "\\p{N}+"}, false, false},
    {"deepseek-v3", {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
                     "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
                     "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}, false, false},
    {"deepseek-coder", {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"}, false, false},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, false, false},
    {"starcoder refact command-r smollm codeshell exaone minerva-7b", {"\\p{N}", RE_GPT2}, false, false},
    {"gpt-2 phi-2 jina-es jina-de gigachat jina-v1-en jina-v2-es jina-v2-de jina-v2-code roberta-bpe mpt olmo jais",
     {RE_GPT2}, false, false},
    {"qwen2 deepseek-r1-qwen stablelm2 megrez", {RE_QWEN2}, false, false},
    {"poro-chat bloom gpt3-finnish", {RE_PORO}, false, false},
    {"viking", {RE_PORO, "\\p{N}"}, false, false},
    {"tekken", {RE_TEKKEN}, true, true},
    {"chameleon", {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
                   "[\\p{P}!-/:-@\\[-`{-~]", RE_GPT2}, false, true},
    {"gpt-4o llama4", {RE_GPT4O}, false, false},
};

struct tk_pretok {
    pcre2_code *re[MAX_RE];
    int n_re;
};

/* Whether name (n bytes) is one of the space-separated words of list. */
static bool name_in(const char *list, const char *name, size_t n)
{
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, name, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

void tk_pretok_free(tk_pretok *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_re; i++) pcre2_code_free(p->re[i]);
    free(p);
}

yk_status tk_pretok_init(yk_tokenizer *t, const char *name, size_t name_len, yk_err *err)
{
    if (!name || name_len == 0) {
        name = "default";
        name_len = 7;
    }
    const pretok_def *def = NULL;
    for (size_t i = 0; i < sizeof pretok_defs / sizeof *pretok_defs && !def; i++)
        if (name_in(pretok_defs[i].names, name, name_len)) def = &pretok_defs[i];
    if (!def)
        return yk_err_set(err, YK_E_UNSUPPORTED, "tokenizer.ggml.pre = '%.*s' is not a pre-tokenizer yoke knows",
                          (int)(name_len > 64 ? 64 : name_len), name);
    snprintf(t->pre, sizeof t->pre, "%.*s", (int)name_len, name);
    t->impl->ignore_merges = def->ignore_merges;
    t->add_bos = def->add_bos;

    tk_pretok *p = calloc(1, sizeof *p);
    if (!p) return yk_err_set(err, YK_E_NOMEM, "out of memory for the pre-tokenizer");
    for (int i = 0; i < MAX_RE && def->re[i]; i++) {
        int code;
        PCRE2_SIZE at;
        p->re[i] = pcre2_compile((PCRE2_SPTR)def->re[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code, &at, NULL);
        if (!p->re[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            tk_pretok_free(p);
            return yk_err_set(err, YK_E_UNSUPPORTED, "pre-tokenizer '%s': regex %d does not compile at offset %zu: %s",
                              t->pre, i, (size_t)at, (const char *)msg);
        }
        p->n_re = i + 1;
        pcre2_jit_compile(p->re[i], PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
    }
    t->impl->pretok = p;
    return YK_OK;
}

/* ---- splitting ------------------------------------------------------------------------------ */

typedef struct {
    uint32_t start, len;
} span;

typedef struct {
    span *v;
    size_t n, cap;
} spans;

static bool spans_push(spans *s, uint32_t start, uint32_t len)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        span *v = realloc(s->v, cap * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (span){start, len};
    return true;
}

/* Non-ASCII White_Space characters (as UTF-8) become "\v" in the matched copy; U+180E, a space to
 * PCRE2 but not to the reference, becomes U+200B (same length, same category). Returns the number
 * of bytes of the copy; map[i] is the original offset of byte i of the copy (map[n] = len). */
static size_t space_fold(const char *s, size_t len, char *tx, uint32_t *map)
{
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        const uint8_t *u = (const uint8_t *)s + i;
        size_t l = tk_utf8_len(u[0]);
        bool space = false;
        if (l == 2) space = u[0] == 0xC2 && (u[1] == 0x85 || u[1] == 0xA0);
        else if (l == 3) {
            uint32_t cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
            space = cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
                    cp == 0x202F || cp == 0x205F || cp == 0x3000;
            if (cp == 0x180E) {
                memcpy(tx + k, "\xE2\x80\x8B", 3);
                for (int j = 0; j < 3; j++) map[k + j] = (uint32_t)(i + j);
                k += 3;
                i += 3;
                continue;
            }
        }
        if (space) {
            map[k] = (uint32_t)i;
            tx[k++] = '\v';
        } else {
            for (size_t j = 0; j < l; j++) {
                map[k] = (uint32_t)(i + j);
                tx[k++] = s[i + j];
            }
        }
        i += l;
    }
    map[k] = (uint32_t)len;
    return k;
}

static bool needs_fold(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == 0xC2 || c == 0xE1 || c == 0xE2 || c == 0xE3) return true;
    }
    return false;
}

/* Splits text into pre-tokens: *out receives spans of the original text. */
static yk_status pretokenize(const yk_tokenizer *t, const char *text, size_t len, spans *out, yk_err *err)
{
    const tk_pretok *p = t->impl->pretok;
    char *tx = NULL;
    uint32_t *map = NULL;
    spans cur = {0}, next = {0};
    pcre2_match_data *md = NULL;
    pcre2_match_context *mc = NULL; /* with a larger JIT stack, made when the default one is too small */
    pcre2_jit_stack *js = NULL;
    yk_status st = YK_OK;
    const char *subj = text;
    size_t n = len;

    if (needs_fold(text, len)) {
        tx = malloc(len + 1);
        map = malloc((len + 1) * sizeof *map);
        if (!tx || !map) goto nomem;
        n = space_fold(text, len, tx, map);
        subj = tx;
    }
    md = pcre2_match_data_create(1, NULL);
    if (!md || !spans_push(&cur, 0, (uint32_t)n)) goto nomem;

    for (int r = 0; r < p->n_re; r++) {
        next.n = 0;
        for (size_t f = 0; f < cur.n; f++) {
            const char *s = subj + cur.v[f].start;
            size_t sl = cur.v[f].len, at = 0, done = 0;
            while (at < sl) {
                int rc = pcre2_match(p->re[r], (PCRE2_SPTR)s, sl, at, PCRE2_NO_UTF_CHECK, md, mc);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !js) {
                    /* a long run that the regex backtracks through (a word of 10^5 letters):
                     * ~50 bytes of JIT stack per character; the pages are touched only when used */
                    size_t max = n < ((size_t)1 << 23) ? 128 * n : (size_t)1 << 30;
                    if (max < ((size_t)1 << 20)) max = (size_t)1 << 20;
                    mc = pcre2_match_context_create(NULL);
                    js = mc ? pcre2_jit_stack_create(32 * 1024, max, NULL) : NULL;
                    if (!js) goto nomem;
                    pcre2_jit_stack_assign(mc, NULL, js);
                    continue;
                }
                if (rc < 0) {
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    st = yk_err_set(err, YK_E_RANGE, "pre-tokenizer '%s' failed on the text near byte %zu: %s", t->pre,
                                    (size_t)(map ? map[cur.v[f].start + at] : cur.v[f].start + at), (const char *)msg);
                    goto done;
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t m0 = ov[0], m1 = ov[1];
                if (m1 == m0) { /* an empty match splits nothing: step over one character */
                    at = m0 + tk_utf8_len((uint8_t)s[m0]);
                    continue;
                }
                if (m0 > done && !spans_push(&next, cur.v[f].start + (uint32_t)done, (uint32_t)(m0 - done))) goto nomem;
                if (!spans_push(&next, cur.v[f].start + (uint32_t)m0, (uint32_t)(m1 - m0))) goto nomem;
                done = at = m1;
            }
            if (done < sl && !spans_push(&next, cur.v[f].start + (uint32_t)done, (uint32_t)(sl - done))) goto nomem;
        }
        spans tmp = cur;
        cur = next;
        next = tmp;
    }
    /* back to offsets of the original text */
    for (size_t f = 0; f < cur.n; f++) {
        uint32_t a = cur.v[f].start, b = a + cur.v[f].len;
        if (map) {
            a = map[a];
            b = map[b];
        }
        if (!spans_push(out, a, b - a)) goto nomem;
    }
    goto done;
nomem:
    st = yk_err_set(err, YK_E_NOMEM, "out of memory pre-tokenizing %zu bytes", len);
done:
    free(tx);
    free(map);
    free(cur.v);
    free(next.v);
    pcre2_match_data_free(md);
    pcre2_jit_stack_free(js);
    pcre2_match_context_free(mc);
    return st;
}

/* ---- merging ------------------------------------------------------------------------------ */

typedef struct {
    uint32_t start, n;  /* bytes of the byte-level word; n == 0 once merged into the left one */
    int32_t prev, next;
} bpe_sym;

typedef struct {
    int32_t rank, left, right;
    uint32_t size;
} bpe_pair;

static inline bool bpe_before(const bpe_pair *a, const bpe_pair *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

TK_DEFINE_HEAP(bpe_heap, bpe_pair, bpe_before)

static void bpe_try(const yk_tokenizer *t, const char *w, const bpe_sym *sym, int32_t l, int32_t r, bpe_heap *h)
{
    if (l < 0 || r < 0) return;
    int32_t rank = tk_merge_rank(t, w + sym[l].start, sym[l].n, w + sym[r].start, sym[r].n);
    if (rank >= 0) bpe_heap_push(h, (bpe_pair){rank, l, r, sym[l].n + sym[r].n});
}

yk_status tk_bpe_encode(const yk_tokenizer *t, const char *text, size_t len, tk_ids *out, yk_err *err)
{
    spans words = {0};
    yk_status st = pretokenize(t, text, len, &words, err);
    if (st) return st;

    size_t cap = 0;
    char *w = NULL;
    bpe_sym *sym = NULL;
    bpe_heap h = {0};
    for (size_t k = 0; k < words.n; k++) {
        const char *src = text + words.v[k].start;
        size_t sl = words.v[k].len;
        if (2 * sl > cap) {
            cap = 2 * sl;
            char *nw = realloc(w, cap);
            bpe_sym *ns = realloc(sym, cap * sizeof *sym);
            if (nw) w = nw;
            if (ns) sym = ns;
            if (!nw || !ns) goto nomem;
        }
        /* bytes -> byte-level characters, one symbol each */
        size_t n = 0;
        int32_t nsym = 0;
        for (size_t i = 0; i < sl; i++) {
            size_t l = tk_byte_char((uint8_t)src[i], w + n);
            sym[nsym] = (bpe_sym){(uint32_t)n, (uint32_t)l, nsym - 1, i + 1 == sl ? -1 : nsym + 1};
            nsym++;
            n += l;
        }
        if (t->impl->ignore_merges) {
            int32_t id = tk_lookup(t, w, n);
            if (id >= 0) {
                tk_push(out, id);
                continue;
            }
        }
        h.n = 0;
        for (int32_t i = 1; i < nsym; i++) bpe_try(t, w, sym, i - 1, i, &h);
        while (h.n > 0) {
            bpe_pair p = bpe_heap_pop(&h);
            bpe_sym *l = &sym[p.left], *r = &sym[p.right];
            if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue; /* stale */
            l->n += r->n;
            r->n = 0;
            l->next = r->next;
            if (r->next >= 0) sym[r->next].prev = p.left;
            bpe_try(t, w, sym, l->prev, p.left, &h);
            bpe_try(t, w, sym, p.left, l->next, &h);
        }
        if (h.oom) goto nomem;
        for (int32_t i = nsym ? 0 : -1; i >= 0; i = sym[i].next) {
            int32_t id = tk_lookup(t, w + sym[i].start, sym[i].n);
            if (id >= 0) {
                tk_push(out, id);
                continue;
            }
            /* not a token (a merge outside the vocabulary, or a missing byte): its characters */
            for (uint32_t o = sym[i].start; o < sym[i].start + sym[i].n;) {
                uint32_t l = (uint32_t)tk_utf8_len((uint8_t)w[o]);
                int32_t c = tk_lookup(t, w + o, l);
                if (c < 0) c = t->unk;
                if (c < 0) {
                    st = yk_err_set(err, YK_E_UNSUPPORTED,
                                    "the vocabulary has no token for byte 0x%02X (near byte %u of the text) and no unknown token",
                                    (unsigned)(uint8_t)src[0], (unsigned)words.v[k].start);
                    goto done;
                }
                tk_push(out, c);
                o += l;
            }
        }
    }
    goto done;
nomem:
    st = yk_err_set(err, YK_E_NOMEM, "out of memory tokenizing %zu bytes", len);
done:
    free(words.v);
    free(w);
    free(sym);
    free(h.v);
    return st;
}
