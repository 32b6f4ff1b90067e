/* test_tokenizer.c: the tokenizers against the reference engine's test vectors, and their
 * invariants.
 *
 *   1. every vocabulary under shared/golden/vocab: load (timed), and for those with .inp/.out
 *      vectors, every string encoded without BOS and without parsing special tokens must give
 *      exactly the reference ids (100%, counted and printed per vocabulary). A vocabulary whose
 *      tokenizer yoke does not support is printed as a SKIP with the reason, never counted as
 *      passed.
 *   2. round trip: decode(encode(s)) == s for every vector string and every loaded vocabulary
 *      (SPM with byte fallback and byte-level BPE are lossless on valid UTF-8).
 *   3. stories260K: "Once upon a time" with BOS is 1 403 407 261 378 (golden/README.md).
 *   4. the streaming detokenizer on text split inside UTF-8 sequences, invalid bytes, flush.
 *   5. special tokens: parse_special on/off, longest match first, user-defined tokens always.
 *   6. bad input: non-UTF-8 text (error names the offset), unsupported tokenizer model. */
#include "test.h"
#include "yoke/tokenizer.h"

#include <dirent.h>
#include <sys/wait.h>
#include <time.h>

static const char SEP[] = "\n__ggml_vocab_test__\n";

/* Reads a whole file and NUL-terminates it (strtol needs an end); NULL if it cannot. */
static char *read_text(const char *path, size_t *n)
{
    size_t len = 0;
    char *b = tu_read_file(path, &len);
    char *t = b ? realloc(b, len + 1) : NULL;
    if (!t) {
        free(b);
        return NULL;
    }
    t[len] = 0;
    if (n) *n = len;
    return t;
}

/* Splits the .inp file into strings (each followed by SEP). Returns the count; *starts / *lens
 * point into buf. */
static size_t split_inputs(char *buf, size_t n, const char ***starts, size_t **lens)
{
    size_t cap = 64, k = 0;
    *starts = malloc(cap * sizeof **starts);
    *lens = malloc(cap * sizeof **lens);
    size_t sl = strlen(SEP), pos = 0;
    while (pos < n) {
        char *e = memmem(buf + pos, n - pos, SEP, sl);
        if (!e) break;
        if (k == cap) {
            cap *= 2;
            *starts = realloc(*starts, cap * sizeof **starts);
            *lens = realloc(*lens, cap * sizeof **lens);
        }
        (*starts)[k] = buf + pos;
        (*lens)[k] = (size_t)(e - (buf + pos));
        k++;
        pos = (size_t)(e - buf) + sl;
    }
    return k;
}

/* Parses line k of the .out text into ids; returns the count (-1 past the end). */
static long parse_line(const char *out, size_t n, size_t k, int32_t *ids, size_t cap)
{
    size_t pos = 0;
    for (size_t line = 0; line < k; line++) {
        const char *e = memchr(out + pos, '\n', n - pos);
        if (!e) return -1;
        pos = (size_t)(e - out) + 1;
    }
    if (pos >= n) return -1;
    const char *e = memchr(out + pos, '\n', n - pos);
    size_t end = e ? (size_t)(e - out) : n;
    long m = 0;
    const char *p = out + pos;
    while (p < out + end) {
        char *q;
        long v = strtol(p, &q, 10);
        if (q == p) break;
        if ((size_t)m < cap) ids[m] = (int32_t)v;
        m++;
        p = q;
    }
    return m;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    printf("      %s:", label);
    for (size_t i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
    printf("%s\n", n > 40 ? " ..." : "");
}

static void print_text(const char *s, size_t n)
{
    printf("'");
    for (size_t i = 0; i < n && i < 60; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') printf("\\n");
        else if (c == '\t') printf("\\t");
        else if (c < 32) printf("\\x%02x", c);
        else putchar(c);
    }
    printf("%s'", n > 60 ? "..." : "");
}

static int n_supported_with_vectors, n_skipped_with_vectors;

static uint64_t tu_hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Appends the UTF-8 of cp. */
static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A random string of up to 40 characters drawn from scripts and cases the pre-tokenizers treat
 * differently: ASCII words, digits, punctuation, contractions, Latin-1, Cyrillic, CJK, Hangul,
 * emoji, combining marks, and the whitespace the regexes single out (U+00A0, U+3000, U+2028,
 * U+180E, U+0085, runs of spaces, tabs, newlines). Returns its length in bytes. */
static size_t random_text(tu_rng *r, char *o)
{
    static const uint32_t ws[] = {0xA0, 0x3000, 0x2028, 0x180E, 0x85, 0x2009, ' ', '\t', '\n', '\r'};
    static const char *const words[] = {"'s", "'ll", "Hello", " world", "333", "  ", "    ", "\n\n", "{}", "x=1;"};
    int n = (int)(tu_uniform(r) * 41);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        int pool = (int)(tu_uniform(r) * 11);
        double u = tu_uniform(r);
        uint32_t cp;
        switch (pool) {
        case 0: cp = 0x20 + (uint32_t)(u * 95); break;
        case 1: cp = 'a' + (uint32_t)(u * 26); break;
        case 2: cp = 0xC0 + (uint32_t)(u * 64); break;
        case 3: cp = 0x400 + (uint32_t)(u * 256); break;
        case 4: cp = 0x4E00 + (uint32_t)(u * 0x51A5); break;
        case 5: cp = 0xAC00 + (uint32_t)(u * 0x2BA4); break;
        case 6: cp = 0x1F300 + (uint32_t)(u * 0x400); break;
        case 7: cp = 0x300 + (uint32_t)(u * 0x70); break;
        case 8: cp = ws[(int)(u * (sizeof ws / sizeof *ws))]; break;
        case 9: cp = '0' + (uint32_t)(u * 10); break;
        default: {
            const char *w = words[(int)(u * (sizeof words / sizeof *words))];
            memcpy(o + k, w, strlen(w));
            k += strlen(w);
            continue;
        }
        }
        k += put_utf8(o + k, cp);
    }
    return k;
}

/* Runs one vocabulary: load, vectors (when present), round trips over the strings given. */
static void run_vocab(const char *dir, const char *file, const char **strs, const size_t *lens, size_t n_strs)
{
    char path[4400], inp[4500], outp[4500];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(inp, sizeof inp, "%s.inp", path);
    snprintf(outp, sizeof outp, "%s.out", path);
    size_t ninp = 0, nout = 0;
    char *inbuf = read_text(inp, &ninp);
    char *outbuf = read_text(outp, &nout);
    bool has_vectors = inbuf && outbuf;

    yk_gguf g;
    yk_err err = {0};
    yk_status st = yk_gguf_open(&g, path, &err);
    CHECK(st == YK_OK, "%s: %s", file, err.msg);
    if (st) goto out;
    yk_tokenizer t;
    double t0 = yk_now();
    st = yk_tokenizer_load(&t, &g, &err);
    double ms = (yk_now() - t0) * 1e3;
    yk_gguf_close(&g); /* the tokenizer owns its data: the file may go */
    if (st == YK_E_UNSUPPORTED) {
        printf("  %-40s SKIP (unsupported): %s%s\n", file, err.msg, has_vectors ? " [has test vectors]" : "");
        if (has_vectors) n_skipped_with_vectors++;
        goto out;
    }
    CHECK(st == YK_OK, "%s: %s", file, err.msg);
    if (st) goto out;
    /* Load time: the requirement is well under 100 ms for 150k tokens in a release build; the
     * bound here is 1 s so that the sanitizer build on a busy 2-core machine does not flake. */
    CHECK(ms < 1000, "%s: load took %.0f ms", file, ms);

    const char **vs = strs;
    const size_t *vl = lens;
    size_t nv = n_strs;
    const char **own_s = NULL;
    size_t *own_l = NULL;
    int pass = 0, total = 0;
    if (has_vectors) {
        nv = split_inputs(inbuf, ninp, &own_s, &own_l);
        vs = own_s;
        vl = own_l;
        n_supported_with_vectors++;
        int32_t want[4096];
        for (size_t k = 0; k < nv; k++) {
            long m = parse_line(outbuf, nout, k, want, 4096);
            CHECK(m >= 0 && m <= 4096, "%s: no output line %zu", file, k);
            if (m < 0 || m > 4096) continue;
            int32_t *ids = NULL;
            size_t n = 0;
            st = yk_tokenizer_encode(&t, vs[k], vl[k], false, false, &ids, &n, &err);
            total++;
            bool ok = st == YK_OK && n == (size_t)m && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
            if (ok) pass++;
            else if (total - pass <= 3) {
                printf("    mismatch %s #%zu ", file, k);
                print_text(vs[k], vl[k]);
                printf(" %s\n", st ? err.msg : "");
                print_ids("want", want, (size_t)m);
                print_ids("got ", ids, n);
            }
            free(ids);
        }
        CHECK(pass == total, "%s: %d of %d vectors differ", file, total - pass, total);
    }

    /* round trip on the strings (the vectors, or the shared set for vocabularies without) */
    int rt_ok = 0;
    for (size_t k = 0; k < nv; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        char *back = NULL;
        size_t bl = 0;
        st = yk_tokenizer_encode(&t, vs[k], vl[k], false, false, &ids, &n, &err);
        if (!st) st = yk_tokenizer_decode(&t, ids, n, false, &back, &bl, &err);
        bool ok = st == YK_OK && bl == vl[k] && memcmp(back, vs[k], bl) == 0;
        CHECK(ok, "%s: round trip of string %zu", file, k);
        if (!ok) {
            printf("      in  ");
            print_text(vs[k], vl[k]);
            printf("\n      out ");
            print_text(back ? back : "", bl);
            printf("\n");
        }
        rt_ok += ok;
        free(ids);
        free(back);
    }
    /* round trips of random text (seeded per vocabulary) */
    tu_rng r = {tu_hash_name(file)};
    int rnd_ok = 0, rnd_n = 300;
    for (int k = 0; k < rnd_n; k++) {
        char buf[512];
        size_t bl0 = random_text(&r, buf);
        int32_t *ids = NULL;
        size_t n = 0;
        char *back = NULL;
        size_t bl = 0;
        st = yk_tokenizer_encode(&t, buf, bl0, false, false, &ids, &n, &err);
        if (!st) st = yk_tokenizer_decode(&t, ids, n, false, &back, &bl, &err);
        bool ok = st == YK_OK && bl == bl0 && memcmp(back, buf, bl) == 0;
        if (!ok && rnd_ok == k) { /* report the first failure */
            printf("    random round trip failed for ");
            print_text(buf, bl0);
            printf(" -> ");
            print_text(back ? back : err.msg, back ? bl : strlen(err.msg));
            printf("\n");
        }
        rnd_ok += ok;
        free(ids);
        free(back);
    }
    CHECK(rnd_ok == rnd_n, "%s: %d of %d random round trips differ", file, rnd_n - rnd_ok, rnd_n);
    const char *kind = t.kind == YK_TOK_SPM ? "SPM" : "BPE";
    if (has_vectors)
        printf("  %-40s %s %-14s %6d tokens  load %6.1f ms  vectors %d/%d  round trip %d/%zu + %d/%d random\n", file, kind,
               t.kind == YK_TOK_BPE ? t.pre : "", t.n_vocab, ms, pass, total, rt_ok, nv, rnd_ok, rnd_n);
    else
        printf("  %-40s %s %-14s %6d tokens  load %6.1f ms  (no vectors upstream)  round trip %d/%zu + %d/%d random\n", file, kind,
               t.kind == YK_TOK_BPE ? t.pre : "", t.n_vocab, ms, rt_ok, nv, rnd_ok, rnd_n);
    free(own_s);
    free(own_l);
    yk_tokenizer_free(&t);
out:
    free(inbuf);
    free(outbuf);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_vocabs(void)
{
    char dir[4000];
    if (!tu_shared_path(dir, sizeof dir, "golden/vocab")) {
        printf("  vocab vectors: SKIP (no shared/golden)\n");
        return;
    }
    /* strings for vocabularies without vectors: the llama-spm ones */
    char p[4100];
    snprintf(p, sizeof p, "%s/ggml-vocab-llama-spm.gguf.inp", dir);
    size_t n = 0;
    char *common = read_text(p, &n);
    const char **cs = NULL;
    size_t *cl = NULL, nc = common ? split_inputs(common, n, &cs, &cl) : 0;
    CHECK(nc == 46, "expected 46 vector strings, found %zu", nc);

    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot list %s", dir);
    if (!d) return;
    char *names[256];
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nn < 256) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".gguf")) names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_str);
    CHECK(nn >= 14, "expected the 14 vocabularies of golden/README.md, found %zu", nn);
    for (size_t i = 0; i < nn; i++) {
        run_vocab(dir, names[i], cs, cl, nc);
        free(names[i]);
    }
    printf("  vocabularies with vectors: %d supported (all vectors checked), %d skipped as unsupported\n",
           n_supported_with_vectors, n_skipped_with_vectors);
    free(cs);
    free(cl);
    free(common);
}

static bool load_model(const char *rel, yk_tokenizer *t)
{
    char p[4096];
    if (!tu_shared_path(p, sizeof p, rel)) return false;
    yk_gguf g;
    yk_err err = {0};
    if (yk_gguf_open(&g, p, &err)) {
        CHECK(0, "%s", err.msg);
        return false;
    }
    yk_status st = yk_tokenizer_load(t, &g, &err);
    yk_gguf_close(&g);
    CHECK(st == YK_OK, "%s", err.msg);
    return st == YK_OK;
}

static void test_stories(void)
{
    yk_tokenizer t;
    if (!load_model("golden/models/stories260K.gguf", &t)) {
        printf("  stories260K: SKIP (no shared/golden)\n");
        return;
    }
    static const char text[] = "Once upon a time";
    int32_t *ids = NULL;
    size_t n = 0;
    yk_err err;
    yk_status st = yk_tokenizer_encode(&t, text, strlen(text), true, false, &ids, &n, &err);
    static const int32_t want[] = {1, 403, 407, 261, 378};
    CHECK(st == YK_OK && n == 5 && !memcmp(ids, want, sizeof want), "stories260K 'Once upon a time' with BOS");
    print_ids("stories260K", ids, n);
    CHECK(t.bos == 1 && t.eos == 2 && yk_tokenizer_is_eog(&t, 2) && !yk_tokenizer_is_eog(&t, 1), "bos/eos of stories260K");
    char *back = NULL;
    size_t bl = 0;
    st = yk_tokenizer_decode(&t, ids, n, false, &back, &bl, &err);
    CHECK(st == YK_OK && bl == strlen(text) && !memcmp(back, text, bl), "decode back to the text");
    free(back);
    free(ids);
    /* the greedy continuation of golden/README.md decodes to its text */
    static const char cont[] = ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw";
    char p[4096];
    size_t fl = 0;
    char *f = read_text(tu_shared_path(p, sizeof p, "golden/greedy/stories260K.once-upon-a-time.txt"), &fl);
    CHECK(f != NULL, "greedy file");
    if (f) {
        const char *l2 = memchr(f, '\n', fl);
        int32_t gen[64];
        size_t ng = 0;
        for (char *q = (char *)l2 + 1; l2 && ng < 64;) {
            char *e;
            long v = strtol(q, &e, 10);
            if (e == q) break;
            gen[ng++] = (int32_t)v;
            q = e;
        }
        CHECK(ng == 32, "32 greedy ids");
        yk_detok d;
        yk_detok_init(&d, &t, false, false, &err);
        char acc[1024];
        size_t k = 0;
        for (size_t i = 0; i < ng; i++) {
            yk_str s = yk_detok_push(&d, gen[i]);
            memcpy(acc + k, s.ptr, s.len);
            k += s.len;
        }
        yk_str s = yk_detok_flush(&d);
        memcpy(acc + k, s.ptr, s.len);
        k += s.len;
        acc[k] = 0;
        CHECK(k == strlen(cont) && !memcmp(acc, cont, k), "greedy text: got '%s'", acc);
        yk_detok_free(&d);
        free(f);
    }
    yk_tokenizer_free(&t);
}

/* GPT-2's byte alphabet, written independently of the library: printable bytes stand for
 * themselves, the others for U+0100.. in byte order. */
static size_t byte_level_char(unsigned char b, char out[2])
{
    unsigned cp = b, k = 0;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
        for (unsigned x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) k++;
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* Streaming: pieces that split UTF-8 characters come out whole, never a partial sequence. */
static void test_stream(void)
{
    yk_tokenizer t;
    if (!load_model("golden/vocab/ggml-vocab-llama-bpe.gguf", &t)) return;
    yk_err err;
    /* a mix of 1-4 byte characters; byte-level BPE splits the rare ones into byte tokens */
    static const char text[] = "Grüße, 世界! 🦙🚀 ok \xF0\x9F\x98\xB6\xE2\x80\x8D\xF0\x9F\x8C\xAB end";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(yk_tokenizer_encode(&t, text, strlen(text), false, false, &ids, &n, &err) == YK_OK, "%s", err.msg);
    int split = 0;
    for (size_t i = 0; i < n; i++) {
        yk_str p = yk_tokenizer_piece(&t, ids[i], false);
        if (p.len && yk_utf8_check(p.ptr, p.len) < p.len) split++;
    }
    CHECK(split > 0, "the test text must have tokens that split a character (got %d)", split);
    yk_detok d;
    CHECK(yk_detok_init(&d, &t, true, false, &err) == YK_OK, "detok init");
    char acc[512];
    size_t k = 0;
    bool all_valid = true;
    for (size_t i = 0; i < n; i++) {
        yk_str s = yk_detok_push(&d, ids[i]);
        all_valid &= yk_utf8_check(s.ptr, s.len) == s.len;
        memcpy(acc + k, s.ptr, s.len);
        k += s.len;
    }
    yk_str s = yk_detok_flush(&d);
    CHECK(s.len == 0, "nothing pending at the end");
    CHECK(all_valid, "every streamed chunk is whole UTF-8");
    CHECK(k == strlen(text) && !memcmp(acc, text, k), "streamed text equals the input");
    free(ids);

    /* byte tokens fed one at a time: a 4-byte emoji comes out only with its last byte */
    int32_t bt[4];
    const unsigned char emoji[4] = {0xF0, 0x9F, 0xA6, 0x99};
    for (int i = 0; i < 4; i++) {
        char c[2];
        size_t l = byte_level_char(emoji[i], c);
        bt[i] = yk_tokenizer_find(&t, c, l);
        CHECK(bt[i] >= 0, "byte token %d", i);
    }
    yk_detok_free(&d);
    yk_detok_init(&d, &t, false, false, &err);
    for (int i = 0; i < 3; i++) CHECK(yk_detok_push(&d, bt[i]).len == 0, "no output before the character is complete (%d)", i);
    s = yk_detok_push(&d, bt[3]);
    CHECK(s.len == 4 && !memcmp(s.ptr, emoji, 4), "the whole emoji at the last byte");
    /* an incomplete character at the end becomes U+FFFD at flush */
    yk_detok_push(&d, bt[0]);
    yk_detok_push(&d, bt[1]);
    s = yk_detok_flush(&d);
    CHECK(s.len == 3 && !memcmp(s.ptr, "\xEF\xBF\xBD", 3), "flush of an incomplete character gives U+FFFD");
    /* a lead byte followed by a non-continuation: U+FFFD, then the next character as it is */
    yk_detok_push(&d, bt[0]);
    int32_t a = yk_tokenizer_find(&t, "a", 1);
    s = yk_detok_push(&d, a);
    CHECK(s.len == 4 && !memcmp(s.ptr, "\xEF\xBF\xBD" "a", 4), "broken sequence then 'a'");
    /* a stray continuation byte: U+FFFD */
    s = yk_detok_push(&d, bt[2]);
    CHECK(s.len == 3 && !memcmp(s.ptr, "\xEF\xBF\xBD", 3), "stray continuation byte");
    yk_detok_free(&d);
    yk_tokenizer_free(&t);
}

static void test_special(void)
{
    yk_tokenizer t;
    if (!load_model("golden/vocab/ggml-vocab-qwen2.gguf", &t)) return;
    yk_err err;
    int32_t im_start = yk_tokenizer_find(&t, "<|im_start|>", 12), im_end = yk_tokenizer_find(&t, "<|im_end|>", 10);
    CHECK(im_start >= 0 && im_end >= 0, "qwen2 has <|im_start|> and <|im_end|>");
    CHECK(yk_tokenizer_is_eog(&t, im_end) && yk_tokenizer_is_eog(&t, t.eos) && !yk_tokenizer_is_eog(&t, im_start),
          "EOG set of qwen2");
    CHECK(!t.add_bos, "qwen2 adds no BOS");
    static const char text[] = "<|im_start|>user\nhi<|im_end|>";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(yk_tokenizer_encode(&t, text, strlen(text), true, true, &ids, &n, &err) == YK_OK, "%s", err.msg);
    CHECK(n >= 4 && ids[0] == im_start && ids[n - 1] == im_end, "parse_special: control tokens matched");
    bool inside = false;
    for (size_t i = 1; i + 1 < n; i++) inside |= ids[i] == im_start || ids[i] == im_end;
    CHECK(!inside, "no special token in the middle");
    free(ids);
    CHECK(yk_tokenizer_encode(&t, text, strlen(text), true, false, &ids, &n, &err) == YK_OK, "%s", err.msg);
    bool any = false;
    for (size_t i = 0; i < n; i++) any |= ids[i] == im_start || ids[i] == im_end;
    CHECK(!any && n > 6, "without parse_special the markers are plain text");
    char *back;
    size_t bl;
    yk_tokenizer_decode(&t, ids, n, false, &back, &bl, &err);
    CHECK(bl == strlen(text) && !memcmp(back, text, bl), "and decode back to the text");
    free(back);
    free(ids);
    /* piece of a control token: its text only when special is asked for */
    CHECK(yk_tokenizer_piece(&t, im_end, false).len == 0 && yk_tokenizer_piece(&t, im_end, true).len == 10,
          "control piece hidden unless special");
    yk_tokenizer_free(&t);

    /* user-defined tokens are matched even without parse_special (mpt: runs of spaces) */
    if (!load_model("golden/vocab/ggml-vocab-mpt.gguf", &t)) return;
    int32_t sp4 = -1;
    for (int32_t id = 0; id < t.n_vocab && sp4 < 0; id++)
        if ((t.attr[id] & YK_TOKEN_USER_DEFINED) && yk_tokenizer_text(&t, id).len == 4 &&
            !memcmp(yk_tokenizer_text(&t, id).ptr, "    ", 4))
            sp4 = id;
    if (sp4 >= 0) {
        CHECK(yk_tokenizer_encode(&t, "a    b", 6, false, false, &ids, &n, &err) == YK_OK, "%s", err.msg);
        bool found = false;
        for (size_t i = 0; i < n; i++) found |= ids[i] == sp4;
        CHECK(found, "user-defined 4-space token matched without parse_special");
        free(ids);
    }
    yk_tokenizer_free(&t);
}

static void test_bad_input(void)
{
    yk_tokenizer t;
    if (!load_model("golden/models/stories260K.gguf", &t)) return;
    yk_err err = {0};
    int32_t *ids = (int32_t *)1;
    size_t n = 7;
    static const char bad[] = "abc\xC3(def";
    yk_status st = yk_tokenizer_encode(&t, bad, strlen(bad), true, false, &ids, &n, &err);
    CHECK(st == YK_E_INVALID && strstr(err.msg, "offset 3") && ids == NULL && n == 0, "non-UTF-8: %s", err.msg);
    static const char overlong[] = "\xC0\xAF";
    st = yk_tokenizer_encode(&t, overlong, 2, true, false, &ids, &n, &err);
    CHECK(st == YK_E_INVALID && strstr(err.msg, "offset 0"), "overlong: %s", err.msg);
    static const char surrogate[] = "ok \xED\xA0\x80";
    st = yk_tokenizer_encode(&t, surrogate, strlen(surrogate), true, false, &ids, &n, &err);
    CHECK(st == YK_E_INVALID && strstr(err.msg, "offset 3"), "surrogate: %s", err.msg);
    st = yk_tokenizer_encode(&t, "", 0, true, false, &ids, &n, &err);
    CHECK(st == YK_OK && n == 1 && ids[0] == 1, "empty text with BOS is [BOS]");
    free(ids);
    st = yk_tokenizer_encode(&t, "", 0, false, false, &ids, &n, &err);
    CHECK(st == YK_OK && n == 0, "empty text without BOS is []");
    free(ids);
    CHECK(yk_tokenizer_piece(&t, -1, true).len == 0 && yk_tokenizer_piece(&t, 512, true).len == 0, "ids out of range");
    yk_tokenizer_free(&t);

    /* WordPiece (bert) is not supported: the error names the key and the value */
    char p[4096];
    if (!tu_shared_path(p, sizeof p, "golden/vocab/ggml-vocab-bert-bge.gguf")) return;
    yk_gguf g;
    if (yk_gguf_open(&g, p, &err)) return;
    st = yk_tokenizer_load(&t, &g, &err);
    CHECK(st == YK_E_UNSUPPORTED && strstr(err.msg, "tokenizer.ggml.model") && strstr(err.msg, "'bert'"),
          "bert: %s", err.msg);
    yk_tokenizer_free(&t); /* safe after a failed load */
    yk_gguf_close(&g);
}

/* Writes a small byte-level BPE vocabulary (the 256 byte characters, a few merges, one control
 * token) with the given tokenizer.ggml.pre to path. */
static bool write_bpe_vocab(const char *path, const char *pre)
{
    static char chars[256][3];
    const char *tok[260];
    int32_t type[260];
    for (int b = 0; b < 256; b++) {
        size_t l = byte_level_char((unsigned char)b, chars[b]);
        chars[b][l] = 0;
        tok[b] = chars[b];
        type[b] = 1;
    }
    /* merged tokens: "he", "Ġt", "Ġthe" */
    tok[256] = "he";
    tok[257] = "\xC4\xA0t";
    tok[258] = "\xC4\xA0the";
    tok[259] = "<|endoftext|>";
    for (int i = 256; i < 259; i++) type[i] = 1;
    type[259] = 3;
    const char *merges[3] = {"h e", "\xC4\xA0 t", "\xC4\xA0t he"};
    yk_gguf_writer *w;
    yk_err err;
    if (yk_gguf_writer_open(&w, path, &err)) return false;
    yk_gguf_writer_add_str(w, "general.architecture", "llama", &err);
    yk_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", &err);
    if (pre) yk_gguf_writer_add_str(w, "tokenizer.ggml.pre", pre, &err);
    yk_gguf_writer_add_arr(w, "tokenizer.ggml.tokens", YK_GGUF_STRING, tok, 260, &err);
    yk_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", YK_GGUF_I32, type, 260, &err);
    yk_gguf_writer_add_arr(w, "tokenizer.ggml.merges", YK_GGUF_STRING, merges, 3, &err);
    uint32_t eos = 259;
    yk_gguf_writer_add_kv(w, "tokenizer.ggml.eos_token_id", YK_GGUF_U32, &eos, &err);
    return yk_gguf_writer_close(w, &err) == YK_OK;
}

/* Every pre-tokenizer name yoke knows compiles and splits a mixed text losslessly, also with a
 * word of 150k letters (backtracking regexes need a larger JIT stack there); an unknown name is
 * refused naming the key. */
static void test_pretokenizers(void)
{
    static const char *const pres[] = {
        NULL, "default", "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe",
        "deepseek-llm", "deepseek-v3", "deepseek-coder", "falcon", "starcoder", "refact", "command-r", "smollm",
        "codeshell", "exaone", "minerva-7b", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en",
        "jina-v2-es", "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "qwen2", "deepseek-r1-qwen",
        "stablelm2", "megrez", "poro-chat", "bloom", "gpt3-finnish", "viking", "tekken", "chameleon", "gpt-4o", "llama4",
    };
    static const char text[] = "Hello the world! 'll 12345 \xC2\xA0x\xE3\x80\x80y\n\n  \t<|endoftext|> "
                               "Grüße 世界 🦙 IMGIMGABZ <sentinel:3> end.";
    size_t big_n = 150000; /* the default 32 KiB JIT stack gives out near 10^5 letters */
    char *big = malloc(big_n + 2);
    memset(big, 'A', big_n);
    memcpy(big + big_n - 5, "bcdef", 5);
    char path[4096];
    tu_tmp_path(path, sizeof path, ".gguf");
    int ok_count = 0;
    for (size_t k = 0; k < sizeof pres / sizeof *pres; k++) {
        const char *name = pres[k] ? pres[k] : "(none)";
        if (!write_bpe_vocab(path, pres[k])) {
            CHECK(0, "writing a vocabulary for %s", name);
            continue;
        }
        yk_gguf g;
        yk_tokenizer t;
        yk_err err = {0};
        if (yk_gguf_open(&g, path, &err)) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        yk_status st = yk_tokenizer_load(&t, &g, &err);
        yk_gguf_close(&g);
        CHECK(st == YK_OK, "pre-tokenizer %s: %s", name, err.msg);
        if (st) continue;
        bool ok = true;
        for (int pass = 0; pass < 2; pass++) {
            const char *in = pass ? big : text;
            size_t n = pass ? big_n : strlen(text);
            int32_t *ids = NULL;
            size_t ni = 0;
            char *back = NULL;
            size_t bl = 0;
            st = yk_tokenizer_encode(&t, in, n, false, false, &ids, &ni, &err);
            if (!st) st = yk_tokenizer_decode(&t, ids, ni, false, &back, &bl, &err);
            bool good = st == YK_OK && bl == n && !memcmp(back, in, n);
            CHECK(good, "pre-tokenizer %s, %s: %s", name, pass ? "150k-letter word" : "mixed text", st ? err.msg : "not lossless");
            /* the merges apply: "the" after a space is one token */
            if (!pass && !st) {
                bool merged = false;
                for (size_t i = 0; i < ni; i++) merged |= ids[i] == 258;
                CHECK(merged, "pre-tokenizer %s: ' the' merged into one token", name);
            }
            ok &= good;
            free(ids);
            free(back);
        }
        ok_count += ok;
        yk_tokenizer_free(&t);
    }
    printf("  pre-tokenizers: %d of %zu compile and split losslessly (incl. a 150k-letter word)\n", ok_count,
           sizeof pres / sizeof *pres);
    /* an unknown pre-tokenizer name */
    if (write_bpe_vocab(path, "no-such-pre")) {
        yk_gguf g;
        yk_tokenizer t;
        yk_err err = {0};
        if (yk_gguf_open(&g, path, &err) == YK_OK) {
            yk_status st = yk_tokenizer_load(&t, &g, &err);
            CHECK(st == YK_E_UNSUPPORTED && strstr(err.msg, "tokenizer.ggml.pre") && strstr(err.msg, "'no-such-pre'"),
                  "unknown pre-tokenizer: %s", err.msg);
            yk_gguf_close(&g);
        }
    }
    remove(path);
    free(big);
}

/* Runs the CLI with a shell command line; returns its exit status and the first line of its
 * combined output in out. */
static int run_cli(const char *args, char *out, size_t cap)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", tu_yoke(), args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli(void)
{
    char m[4096], v[4096], out[4096];
    if (!tu_shared_path(m, sizeof m, "golden/models/stories260K.gguf")) return;
    char args[8192];
    snprintf(args, sizeof args, "tokenize -m '%s' -p 'Once upon a time' --ids", m);
    int rc = run_cli(args, out, sizeof out);
    CHECK(rc == 0 && !strcmp(out, "1 403 407 261 378\n"), "yoke tokenize --ids: rc %d '%s'", rc, out);
    snprintf(args, sizeof args, "tokenize -m '%s' -p 'Once upon a time' --ids --no-bos", m);
    rc = run_cli(args, out, sizeof out);
    CHECK(rc == 0 && !strcmp(out, "403 407 261 378\n"), "yoke tokenize --no-bos: rc %d '%s'", rc, out);
    snprintf(args, sizeof args, "tokenize -m '%s' -p \"$(printf 'ab\\377c')\"", m);
    rc = run_cli(args, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "yoke tokenize:") && strstr(out, "UTF-8") && strstr(out, "offset 2"),
          "non-UTF-8 prompt: rc %d '%s'", rc, out);
    tu_shared_path(v, sizeof v, "golden/vocab/ggml-vocab-bert-bge.gguf");
    snprintf(args, sizeof args, "tokenize -m '%s' -p hi", v);
    rc = run_cli(args, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "tokenizer.ggml.model") && strstr(out, "'bert'"), "unsupported model: rc %d '%s'", rc, out);
}

int main(void)
{
    if (!tu_shared_dir()) tu_skip("test_tokenizer", "no ../shared/golden (set YOKE_SHARED)");
    test_vocabs();
    test_stories();
    test_stream();
    test_special();
    test_bad_input();
    test_pretokenizers();
    test_cli();
    return tu_done("test_tokenizer");
}
