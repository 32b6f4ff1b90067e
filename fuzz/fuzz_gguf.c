/* fuzz_gguf.c: libFuzzer target for the GGUF reader. Any input must open cleanly or fail with a
 * status and a message; on success every lookup and accessor must stay inside the buffer. */
#include "yoke/gguf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    yk_gguf g;
    yk_err err = {0};
    if (yk_gguf_open_buffer(&g, data, size, "fuzz", &err) != YK_OK) {
        YK_ASSERT(err.status != YK_OK && err.msg[0]);
        return 0;
    }
    /* Touch everything the reader promises is inside the buffer. */
    volatile uint64_t sink = 0;
    for (uint64_t i = 0; i < g.n_kv; i++) {
        const yk_gguf_kv *kv = &g.kv[i];
        char key[256];
        size_t n = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
        memcpy(key, kv->key.ptr, n);
        key[n] = 0;
        sink += yk_gguf_find_kv(&g, key) != NULL;
        yk_str s;
        double d;
        int64_t v;
        /* What yoke info renders, in both forms, into a buffer of the size it uses. */
        size_t cap = 8 * (size_t)kv->nbytes + 256;
        char *text = malloc(cap);
        if (text) {
            YK_ASSERT(yk_gguf_kv_text(kv, true, 16, text, cap) && strlen(text) < cap);
            YK_ASSERT(yk_gguf_kv_text(kv, false, 16, text, cap));
            free(text);
        }
        if (kv->type == YK_GGUF_ARRAY) {
            for (uint64_t k = 0; k < kv->arr_n && k < 64; k++) {
                if (yk_gguf_arr_str(kv, k, &s) && s.len) sink += (unsigned char)s.ptr[s.len - 1];
                if (yk_gguf_arr_f64(kv, k, &d)) sink += d != 0;
                if (yk_gguf_arr_i64(kv, k, &v)) sink += (uint64_t)v;
            }
        } else {
            if (yk_gguf_get_str(&g, key, &s) && s.len) sink += (unsigned char)s.ptr[s.len - 1];
            if (yk_gguf_kv_f64(kv, &d)) sink += d != 0;
        }
    }
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const yk_gguf_tensor *t = &g.tensors[i];
        if (t->nbytes) sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    yk_gguf_summary sum;
    yk_gguf_summarize(&g, &sum);
    (void)sink;
    yk_gguf_close(&g);
    return 0;
}
