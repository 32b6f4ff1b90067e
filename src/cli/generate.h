/* generate.h: the generation loop shared by yoke run and yoke chat: prefill a prompt, then decode
 * token by token with the sampler, streaming text, until -n tokens, an end-of-generation token or
 * the context's end. */
#ifndef YOKE_CLI_GENERATE_H
#define YOKE_CLI_GENERATE_H

#include "session.h"
#include "yoke/sampler.h"
#include "yoke/tokenizer.h"

typedef struct {
    int n_predict;         /* -n: most tokens to generate (-1: until EOG or the context ends) */
    bool print_ids;        /* --print-ids: print ids instead of text */
    bool ignore_eos;       /* --ignore-eos */
    yk_sampler_params sp;  /* --temp --top-k --top-p --min-p --repeat-penalty --repeat-last-n --seed */
} gen_opts;

typedef struct {
    uint32_t n_prompt, n_gen;
    double prompt_s, gen_s;
    int32_t last_id;
    bool stopped_eog;
    int32_t *ids;          /* (optional, set by the caller) receives the generated ids */
    uint32_t ids_cap;
} gen_result;

void gen_opts_init(gen_opts *o);
/* Consumes a generation flag: 1 consumed, 0 not one, -1 bad value (message printed). */
int gen_flag(const char *cmd, gen_opts *o, int argc, char **argv, int *i);
void gen_usage(FILE *f);

/* Evaluates prompt ids[0..n) at position *pos, then generates, writing text (or ids) to out and
 * advancing *pos. The sampler is not reset (chat keeps its penalty window across turns). The
 * caller may set res->ids / res->ids_cap to receive the generated ids; the rest of res is filled. */
int gen_run(const char *cmd, session *s, const yk_tokenizer *tok, yk_sampler *smp, const gen_opts *o, const int32_t *ids,
            uint32_t n, uint32_t *pos, FILE *out, gen_result *res);
/* The closing stats line: prompt tok/s, decode tok/s, GB/s of weights read, and per-device times;
 * then the planner's prediction (with the rows of $YOKE_HW), or a warning saying why there is none
 * (a malformed $YOKE_HW file: its name, line and field). */
void gen_print_stats(const char *cmd, session *s, const gen_result *r, FILE *f);

#endif
