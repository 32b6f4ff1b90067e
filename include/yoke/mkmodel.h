/* yoke/mkmodel.h: random-weight models of a given shape, written as GGUF files that yoke and other
 * GGUF engines can run, and the built-in SPM vocabulary they carry.
 *
 * Weights are drawn from a seeded counter-based generator, so the same options give the same
 * bytes. Matrices ~ N(0, 0.02), norm weights ~ 1 + N(0, 0.1), qwen2 q/k/v biases ~ N(0, 0.1)
 * (normal values from a 65536-cell inverse-CDF table with linear interpolation: exact up to
 * about 4.2 sigma, where the table ends). The file is written one row at a time, so memory use does
 * not depend on the model size. */
#ifndef YOKE_MKMODEL_H
#define YOKE_MKMODEL_H

#include "yoke/arch.h"
#include "yoke/gguf.h"

typedef struct {
    yk_hparams hp;      /* arch "llama" or "qwen2"; n_expert must be 0 (mixture-of-experts: not yet) */
    yk_type type;       /* matrices, token embedding and output: any type yk_type_quantizable() accepts;
                           norms, biases and rope factors are always F32 */
    uint64_t seed;
    const char *name;   /* general.name; NULL: "yoke-random-<arch>" */
    int threads;        /* threads generating and converting rows (<= 1: the caller only);
                           the file is the same whatever the count */
} yk_mkmodel_opts;

/* Writes the model to path: metadata as llama.cpp writes it (general.*, <arch>.*, tokenizer.ggml.*),
 * then token_embd, output_norm, output (unless hp.tied_output), and per layer attn_norm, attn_q,
 * attn_k, attn_v, [attn_q/k/v.bias for qwen2], attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down;
 * with Llama 3.1 rope scaling (hp.rope_scale_factor != 0) first a rope_freqs.weight tensor.
 * Fails with YK_E_INVALID (a message naming the parameter) for shapes the type cannot hold, or
 * YK_E_UNSUPPORTED for mixture-of-experts; on any failure path is left as it was (yoke/outfile.h). */
yk_status yk_mkmodel_write(const char *path, const yk_mkmodel_opts *o, yk_err *err);
/* The checks yk_mkmodel_write makes before it creates anything (YK_OK if the options are good). */
yk_status yk_mkmodel_check(const yk_mkmodel_opts *o, yk_err *err);
/* The same into a writer the caller opened and closes (or discards, if this fails): for a caller
 * that needs the writer's temporary file (yk_gguf_writer_temp) while the model is written. */
yk_status yk_mkmodel_write_to(yk_gguf_writer *w, const yk_mkmodel_opts *o, yk_err *err);

/* general.file_type (llama.cpp's numbering) of a file whose matrices are all of type t, or -1. */
int yk_file_type_of(yk_type t);

/* The built-in SentencePiece ("llama") vocabulary: <unk> = 0, <s> = 1, </s> = 2, the byte tokens
 * <0x00>..<0xFF> (type 6) at 3..258, then English pieces (with the U+2581 space marker) whose
 * every prefix is also a piece, so that the SPM merge procedure can build each of them, scored by
 * rank; cut to n_vocab or padded to it with unused tokens "<unused_N>" (type 5). */
typedef struct {
    uint32_t n;
    yk_str *tokens;     /* text of token i (into arena) */
    float *scores;
    int32_t *types;     /* 1 normal, 2 unknown, 3 control, 5 unused, 6 byte */
    char *arena;
} yk_spm_vocab;

#define YK_SPM_UNK 0
#define YK_SPM_BOS 1
#define YK_SPM_EOS 2
#define YK_SPM_MIN_VOCAB 259 /* the 3 special and 256 byte tokens */

/* Builds the vocabulary of n_vocab tokens (n_vocab >= YK_SPM_MIN_VOCAB, else YK_E_INVALID). */
yk_status yk_spm_vocab_builtin(yk_spm_vocab *v, uint32_t n_vocab, yk_err *err);
void yk_spm_vocab_free(yk_spm_vocab *v);

#endif
