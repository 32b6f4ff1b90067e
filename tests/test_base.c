/* test_base.c: type layouts, error formatting, presets. */
#include "test.h"

int main(void)
{
    /* Block layouts from the GGUF type definitions. */
    CHECK(yk_row_bytes(YK_TYPE_Q4_K, 4096) == 4096 / 256 * 144, "Q4_K row");
    CHECK(yk_row_bytes(YK_TYPE_Q8_0, 64) == 68, "Q8_0 row");
    CHECK(yk_row_bytes(YK_TYPE_Q8_0, 63) == 0, "row not a multiple of the block");
    CHECK(yk_row_bytes(YK_TYPE_BF16, 3) == 6, "BF16 row");
    CHECK(yk_type_layout_of(4) == NULL, "id 4 (removed Q4_2) is not a type");
    CHECK(yk_type_layout_of(1000) == NULL, "unknown id");
    CHECK(yk_type_from_name("q6_k") == YK_TYPE_Q6_K, "name lookup");
    CHECK(yk_type_from_name("Q9_9") == -1, "unknown name");

    yk_err err = {0};
    CHECK(yk_err_set(&err, YK_E_FORMAT, "f.gguf: offset %d: field %s", 24, "n_kv") == YK_E_FORMAT, "status returned");
    CHECK(strcmp(err.msg, "f.gguf: offset 24: field n_kv") == 0, "message: %s", err.msg);

    /* Llama 3 8B has 8.03 B parameters (published figure). */
    const yk_preset *p = yk_preset_find("llama3-8b");
    CHECK(p != NULL, "preset found");
    if (p) {
        double n = (double)yk_hparams_n_params(&p->hp);
        CHECK(fabs(n - 8.03e9) < 0.01e9, "llama3-8b params %.4g", n);
    }
    p = yk_preset_find("llama3.2-1b");
    CHECK(p && fabs((double)yk_hparams_n_params(&p->hp) - 1.236e9) < 0.01e9, "llama3.2-1b params");
    p = yk_preset_find("mixtral-8x7b");
    CHECK(p && fabs((double)yk_hparams_n_params(&p->hp) - 46.7e9) < 0.1e9, "mixtral params");
    CHECK(yk_preset_find("llama9-1t") == NULL, "unknown preset");
    return tu_done("test_base");
}
