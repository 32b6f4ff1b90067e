/* yoke/sampler.h: choosing the next token from logits.
 *
 * The filters run in the reference engine's (llama.cpp) default order:
 *   repetition penalty -> top-k -> top-p -> min-p -> temperature -> draw.
 * temp == 0 is greedy: the largest (penalised) logit, ties to the lowest id. The random numbers
 * come from a generator owned by the sampler (xoshiro256**, seeded with splitmix64 from seed):
 * no global state, and the same seed with the same logits gives the same ids. The draws are not
 * the reference engine's (its generator is std::mt19937); the distributions are the same. */
#ifndef YOKE_SAMPLER_H
#define YOKE_SAMPLER_H

#include "yoke/base.h"

typedef struct {
    float temp;             /* temperature; 0 = greedy. Default 0.8 */
    int32_t top_k;          /* keep the k largest logits; 0 = off. Default 40 */
    float top_p;            /* keep the smallest set of most likely tokens with mass >= top_p; 1 = off. Default 0.95 */
    float min_p;            /* keep tokens with p >= min_p * p_max; 0 = off. Default 0.05 */
    float repeat_penalty;   /* logits of the ids seen in the last repeat_last_n: positive ones divided
                               by it, negative ones multiplied; 1 = off. Default 1 */
    int32_t repeat_last_n;  /* the penalty window; 0 = off. Default 64 */
    uint64_t seed;          /* Default 0 (pick one yourself for varied output) */
} yk_sampler_params;

/* The reference engine's defaults (see above). */
yk_sampler_params yk_sampler_defaults(void);

typedef struct {
    yk_sampler_params p;
    int32_t n_vocab;
    uint64_t rng[4];        /* xoshiro256** state */
    int32_t *hist;          /* (repeat_last_n) ring buffer of the last ids accepted */
    int32_t n_hist, hist_pos;
    /* scratch, (n_vocab) each */
    float *logit;
    int32_t *id;
    double *prob;
    uint8_t *seen;          /* ids already penalised this step */
    void *work;             /* (n_vocab) x 16 bytes for sorting */
} yk_sampler;

/* Checks p (temp >= 0, top_p in (0, 1], min_p in [0, 1], repeat_penalty > 0, top_k and
 * repeat_last_n >= 0; YK_E_INVALID naming the field otherwise) and allocates the scratch. */
yk_status yk_sampler_init(yk_sampler *s, const yk_sampler_params *p, int32_t n_vocab, yk_err *err);
void yk_sampler_free(yk_sampler *s);

/* Records id in the repetition-penalty window: call it for the prompt's ids and for every id
 * chosen (sampling does not record by itself). Ids outside [0, n_vocab) are ignored. */
void yk_sampler_accept(yk_sampler *s, int32_t id);
/* Empties the penalty window and reseeds the generator with p.seed. */
void yk_sampler_reset(yk_sampler *s);

/* Chooses the next id from logits (n_vocab values, not modified). */
int32_t yk_sampler_sample(yk_sampler *s, const float *logits);

/* The distribution sample() draws from after every filter: prob[i] for each id (0 for ids
 * filtered out; one 1 for greedy). Does not touch the generator. For tests and diagnostics. */
void yk_sampler_dist(yk_sampler *s, const float *logits, double *prob);

#endif
