/* gen_model.h: random-weight F32 models written by the tests themselves (independent of yoke
 * mkmodel), and a plain float64 forward pass to check the engine against. */
#ifndef YOKE_TEST_GEN_MODEL_H
#define YOKE_TEST_GEN_MODEL_H

#include "yoke.h"
#include "yoke/model.h"

typedef struct {
    const char *arch;   /* "llama" or "qwen2" */
    uint32_t n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    float rope_base;
    bool tied;
    uint64_t seed;
    float rope_linear;  /* linear rope scaling factor (0: none) */
} gen_shape;

/* Writes a model of that shape with N(0, 0.1) matrices (scaled so activations stay O(1)),
 * 1 + N(0, 0.1) norms, N(0, 0.1) biases (qwen2). Returns false on error (message printed). */
bool gen_model_write(const char *path, const gen_shape *s);

/* float64 forward of ids[0..n) from position 0 on the model's dequantised weights: logits (n, n_vocab). */
void ref_forward(const yk_model *m, const int32_t *ids, int n, double *logits);

#endif
