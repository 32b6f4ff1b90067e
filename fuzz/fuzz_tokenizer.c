/* fuzz_tokenizer.c: libFuzzer target for the tokenizer: the input is a GGUF file whose metadata
 * the tokenizer loads (or refuses with a status and a message); a loaded tokenizer then encodes
 * fixed texts and the input's own bytes (refused with YK_E_INVALID unless valid UTF-8), with and
 * without special tokens, and decodes what it got plus every id near the ends of the vocabulary.
 * Nothing may crash, read outside a buffer, or produce an id outside the vocabulary. */
#include "yoke/gguf.h"
#include "yoke/tokenizer.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const yk_tokenizer *t, const char *s, size_t n, bool special)
{
    int32_t *ids = NULL;
    size_t k = 0;
    yk_err err = {0};
    yk_status st = yk_tokenizer_encode(t, s, n, true, special, &ids, &k, &err);
    if (st) {
        YK_ASSERT(err.msg[0] && ids == NULL && k == 0);
        YK_ASSERT(st != YK_E_INVALID || yk_utf8_check(s, n) < n);
        return;
    }
    for (size_t i = 0; i < k; i++) YK_ASSERT(ids[i] >= 0 && ids[i] < t->n_vocab);
    char *text = NULL;
    size_t len = 0;
    if (yk_tokenizer_decode(t, ids, k, special, &text, &len, &err) == YK_OK) {
        YK_ASSERT(yk_utf8_check(text, len) == len); /* the detokenizer only emits whole UTF-8 */
        free(text);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    yk_gguf g;
    yk_err err = {0};
    if (yk_gguf_open_buffer(&g, data, size, "fuzz", &err) != YK_OK) return 0;
    yk_tokenizer t;
    yk_status st = yk_tokenizer_load(&t, &g, &err);
    yk_gguf_close(&g);
    if (st) {
        YK_ASSERT(err.msg[0]);
        yk_tokenizer_free(&t);
        return 0;
    }
    static const char *const texts[] = {
        "", " ", "Hello world", "  x\n\n\ty", "<s></s><|im_start|>", "Grüße 世界 🦙 \xE3\x80\x80 \xC2\xA0", "333333 'll",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        roundtrip(&t, texts[i], strlen(texts[i]), false);
        roundtrip(&t, texts[i], strlen(texts[i]), true);
    }
    size_t tail = size < 256 ? size : 256;
    roundtrip(&t, (const char *)data + size - tail, tail, true);
    yk_detok d;
    if (yk_detok_init(&d, &t, true, true, &err) == YK_OK) {
        for (int32_t id = -2; id < 300; id++) {
            yk_str s = yk_detok_push(&d, id < 150 ? id : t.n_vocab - 1 - (id - 150));
            YK_ASSERT(yk_utf8_check(s.ptr, s.len) == s.len);
        }
        yk_detok_flush(&d);
        yk_detok_free(&d);
    }
    yk_tokenizer_free(&t);
    return 0;
}
