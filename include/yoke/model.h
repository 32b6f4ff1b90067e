/* yoke/model.h: a model file opened for inference: hyper-parameters read from GGUF metadata and
 * views of every weight tensor in the mapped file, checked for presence, type and shape.
 *
 * Nothing is copied at load: the views point into the mmap, so a model costs its file's pages as
 * they are touched. Devices take their slices from these views (see plan.h and device.h). */
#ifndef YOKE_MODEL_H
#define YOKE_MODEL_H

#include "yoke/arch.h"
#include "yoke/gguf.h"

/* A matrix or vector in the mapped file. A matrix has rows of ne0 elements (row_bytes apart). */
typedef struct {
    const char *name;     /* NUL-terminated copy owned by the model ("" when absent) */
    yk_type type;
    int64_t ne0, ne1;     /* row length, row count (1 for vectors) */
    size_t row_bytes;
    const uint8_t *data;  /* NULL when the tensor is absent (optional tensors only) */
} yk_tensor;

typedef struct {
    yk_tensor attn_norm;    /* (n_embd) */
    yk_tensor wq;           /* (n_head * head_dim, n_embd) */
    yk_tensor wk;           /* (n_head_kv * head_dim, n_embd) */
    yk_tensor wv;           /* (n_head_kv * head_dim, n_embd) */
    yk_tensor bq, bk, bv;   /* (n_head * head_dim), (n_head_kv * head_dim) x2: qwen2 only */
    yk_tensor wo;           /* (n_embd, n_head * head_dim) */
    yk_tensor ffn_norm;     /* (n_embd) */
    yk_tensor w_gate;       /* (n_ff, n_embd) */
    yk_tensor w_up;         /* (n_ff, n_embd) */
    yk_tensor w_down;       /* (n_embd, n_ff) */
} yk_layer_weights;

typedef struct yk_model {
    yk_gguf gguf;
    yk_hparams hp;
    yk_tensor tok_embd;     /* (n_vocab, n_embd) */
    yk_tensor output_norm;  /* (n_embd) */
    yk_tensor output;       /* (n_vocab, n_embd); token_embd's view when tied */
    yk_tensor rope_freqs;   /* (rope_dim / 2) optional Llama 3.1 frequency factors */
    yk_layer_weights *layers; /* n_layer */
    char *names;            /* storage for the tensor names */
} yk_model;

/* Reads the hyper-parameters of a GGUF file's architecture from its metadata. Fails with a message
 * naming the missing or absurd key. */
yk_status yk_hparams_from_gguf(yk_hparams *hp, const yk_gguf *g, yk_err *err);

/* Opens path, reads the hyper-parameters and finds every tensor the architecture needs, checking
 * type support and shape. On failure m is left freed. */
yk_status yk_model_load(yk_model *m, const char *path, yk_err *err);
void yk_model_free(yk_model *m);

/* Bytes of all weight tensors the forward pass reads per token (every matrix and vector once;
 * the embedding counts one row). */
uint64_t yk_model_weight_bytes(const yk_model *m);

/* Bytes of the weights a plan device holds: its layers' slices (attention heads, KV heads, FFN
 * columns), its output rows and the replicated norms. */
uint64_t yk_model_slice_bytes(const yk_model *m, uint32_t layer0, uint32_t layer1, uint32_t head0, uint32_t head1,
                              uint32_t kv0, uint32_t kv1, uint32_t ff0, uint32_t ff1, uint32_t vocab0, uint32_t vocab1);

#endif
