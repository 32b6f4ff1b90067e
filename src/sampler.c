/* sampler.c: next-token choice (see yoke/sampler.h for the contract).
 *
 * Each step copies the logits into a candidate list (id order), then narrows it:
 *   penalty  the ids of the window, each once: positive logits / penalty, others * penalty
 *   greedy   temp == 0: the largest logit, ties to the lowest id; done
 *   top-k    a size-k min-heap over the candidates, O(n log k), then sorted (logit desc, id asc)
 *   top-p    softmax over the candidates, then the smallest most-likely prefix with mass >= p.
 *            When the list is not sorted yet (no top-k), tokens with p < (1 - top_p) / n are
 *            dropped before sorting: together they weigh less than 1 - top_p and each is less
 *            likely than every kept one, so the prefix never reaches them (exact, and it avoids
 *            sorting a 150k vocabulary).
 *   min-p    keep logit >= max + log(min_p), i.e. p >= min_p * p_max
 *   temp     logits / temp
 *   draw     softmax in float64 and one uniform number against the running sum
 * Probabilities are summed in float64. NaN logits count as -inf. */
#include "yoke/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

yk_sampler_params yk_sampler_defaults(void)
{
    return (yk_sampler_params){
        .temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
        .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0,
    };
}

/* ---- random numbers: xoshiro256**, seeded by splitmix64 ------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4])
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- life cycle -------------------------------------------------------------------------- */

yk_status yk_sampler_init(yk_sampler *s, const yk_sampler_params *p, int32_t n_vocab, yk_err *err)
{
    memset(s, 0, sizeof *s);
    if (n_vocab <= 0) return yk_err_set(err, YK_E_INVALID, "sampler: vocabulary of %d tokens", (int)n_vocab);
    if (!(p->temp >= 0) || !isfinite(p->temp)) return yk_err_set(err, YK_E_INVALID, "sampler: temperature %g is not >= 0", p->temp);
    if (!(p->top_p > 0 && p->top_p <= 1)) return yk_err_set(err, YK_E_INVALID, "sampler: top-p %g is not in (0, 1]", p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1)) return yk_err_set(err, YK_E_INVALID, "sampler: min-p %g is not in [0, 1]", p->min_p);
    if (!(p->repeat_penalty > 0) || !isfinite(p->repeat_penalty))
        return yk_err_set(err, YK_E_INVALID, "sampler: repeat penalty %g is not > 0", p->repeat_penalty);
    if (p->top_k < 0) return yk_err_set(err, YK_E_INVALID, "sampler: top-k %d is negative", (int)p->top_k);
    if (p->repeat_last_n < 0) return yk_err_set(err, YK_E_INVALID, "sampler: repeat-last-n %d is negative", (int)p->repeat_last_n);
    s->p = *p;
    s->n_vocab = n_vocab;
    size_t n = (size_t)n_vocab;
    s->logit = malloc(n * sizeof *s->logit);
    s->id = malloc(n * sizeof *s->id);
    s->prob = malloc(n * sizeof *s->prob);
    s->seen = calloc(n, 1);
    s->work = malloc(n * 16);
    s->hist = malloc(((size_t)p->repeat_last_n + 1) * sizeof *s->hist);
    if (!s->logit || !s->id || !s->prob || !s->seen || !s->work || !s->hist) {
        yk_sampler_free(s);
        return yk_err_set(err, YK_E_NOMEM, "sampler: out of memory for %d tokens", (int)n_vocab);
    }
    yk_sampler_reset(s);
    return YK_OK;
}

void yk_sampler_free(yk_sampler *s)
{
    free(s->logit);
    free(s->id);
    free(s->prob);
    free(s->seen);
    free(s->work);
    free(s->hist);
    memset(s, 0, sizeof *s);
}

void yk_sampler_reset(yk_sampler *s)
{
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->n_hist = 0;
    s->hist_pos = 0;
}

void yk_sampler_accept(yk_sampler *s, int32_t id)
{
    if (id < 0 || id >= s->n_vocab || s->p.repeat_last_n == 0) return;
    s->hist[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n) s->n_hist++;
}

/* ---- the filters ------------------------------------------------------------------------- */

/* Whether candidate a ranks before b: larger logit, then lower id. */
static inline bool ranks_before(float la, int32_t ia, float lb, int32_t ib)
{
    return la > lb || (la == lb && ia < ib);
}

typedef struct {
    float logit;
    int32_t id;
} cand;

typedef struct {
    double p;
    cand c;
} prob_cand; /* 16 bytes: the size of a slot of s->work */

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    return ranks_before(x->logit, x->id, y->logit, y->id) ? -1 : ranks_before(y->logit, y->id, x->logit, x->id);
}

/* Keeps the k best of the m candidates, sorted. */
static size_t top_k(yk_sampler *s, size_t m, size_t k)
{
    cand *h = s->work;
    size_t n = 0;
    for (size_t i = 0; i < m; i++) {
        cand c = {s->logit[i], s->id[i]};
        if (n < k) { /* sift up in a min-heap: the root is the worst kept */
            size_t j = n++;
            while (j > 0 && ranks_before(h[(j - 1) / 2].logit, h[(j - 1) / 2].id, c.logit, c.id)) {
                h[j] = h[(j - 1) / 2];
                j = (j - 1) / 2;
            }
            h[j] = c;
        } else if (ranks_before(c.logit, c.id, h[0].logit, h[0].id)) {
            size_t j = 0;
            for (;;) { /* sift down the new root */
                size_t l = 2 * j + 1, w = j;
                cand wc = c;
                if (l < n && ranks_before(wc.logit, wc.id, h[l].logit, h[l].id)) w = l, wc = h[l];
                if (l + 1 < n && ranks_before(wc.logit, wc.id, h[l + 1].logit, h[l + 1].id)) w = l + 1;
                if (w == j) break;
                h[j] = h[w];
                j = w;
            }
            h[j] = c;
        }
    }
    qsort(h, n, sizeof *h, cmp_cand);
    for (size_t i = 0; i < n; i++) {
        s->logit[i] = h[i].logit;
        s->id[i] = h[i].id;
    }
    return n;
}

/* softmax of the m candidate logits into s->prob (float64); returns the maximum logit. */
static double softmax(yk_sampler *s, size_t m)
{
    double mx = -INFINITY, sum = 0;
    for (size_t i = 0; i < m; i++)
        if (s->logit[i] > mx) mx = s->logit[i];
    for (size_t i = 0; i < m; i++) sum += s->prob[i] = exp((double)s->logit[i] - mx);
    for (size_t i = 0; i < m; i++) s->prob[i] /= sum;
    return mx;
}

static int cmp_prob_cand(const void *a, const void *b)
{
    const prob_cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->c.id < y->c.id ? -1 : x->c.id > y->c.id;
}

/* Keeps the smallest most-likely prefix with mass >= top_p. */
static size_t top_p(yk_sampler *s, size_t m, bool sorted)
{
    softmax(s, m);
    if (!sorted) {
        prob_cand *v = s->work;
        double tau = (1.0 - s->p.top_p) / (double)m;
        size_t k = 0;
        for (size_t i = 0; i < m; i++)
            if (s->prob[i] >= tau) v[k++] = (prob_cand){s->prob[i], {s->logit[i], s->id[i]}};
        qsort(v, k, sizeof *v, cmp_prob_cand);
        for (size_t i = 0; i < k; i++) {
            s->prob[i] = v[i].p;
            s->logit[i] = v[i].c.logit;
            s->id[i] = v[i].c.id;
        }
        m = k;
    }
    double cum = 0;
    for (size_t i = 0; i < m; i++) {
        cum += s->prob[i];
        if (cum >= s->p.top_p) return i + 1;
    }
    return m;
}

/* Runs every filter; leaves the survivors in s->logit / s->id (temperature applied) and returns
 * their count. *greedy is set when temp == 0 (then one candidate). */
static size_t filter(yk_sampler *s, const float *logits, bool *greedy)
{
    size_t m = (size_t)s->n_vocab;
    for (size_t i = 0; i < m; i++) {
        s->logit[i] = isnan(logits[i]) ? -INFINITY : logits[i];
        s->id[i] = (int32_t)i;
    }
    /* repetition penalty: each id of the window once */
    if (s->p.repeat_penalty != 1.0f) {
        for (int32_t k = 0; k < s->n_hist; k++) {
            int32_t id = s->hist[k];
            if (s->seen[id]) continue;
            s->seen[id] = 1;
            float *l = &s->logit[id];
            *l = *l <= 0 ? *l * s->p.repeat_penalty : *l / s->p.repeat_penalty;
        }
        for (int32_t k = 0; k < s->n_hist; k++) s->seen[s->hist[k]] = 0;
    }
    *greedy = s->p.temp == 0;
    if (*greedy) {
        size_t best = 0;
        for (size_t i = 1; i < m; i++)
            if (s->logit[i] > s->logit[best]) best = i; /* strict: ties keep the lower id */
        s->logit[0] = s->logit[best];
        s->id[0] = (int32_t)best;
        return 1;
    }
    bool sorted = false;
    if (s->p.top_k > 0 && (size_t)s->p.top_k < m) {
        m = top_k(s, m, (size_t)s->p.top_k);
        sorted = true;
    }
    if (s->p.top_p < 1.0f) {
        m = top_p(s, m, sorted);
        sorted = true;
    }
    if (s->p.min_p > 0.0f && m > 1) {
        float mx = -INFINITY;
        for (size_t i = 0; i < m; i++)
            if (s->logit[i] > mx) mx = s->logit[i];
        double floor_l = (double)mx + log((double)s->p.min_p);
        size_t k = 0;
        for (size_t i = 0; i < m; i++)
            if ((double)s->logit[i] >= floor_l) {
                s->logit[k] = s->logit[i];
                s->id[k++] = s->id[i];
            }
        m = k;
    }
    for (size_t i = 0; i < m; i++) s->logit[i] /= s->p.temp;
    return m;
}

int32_t yk_sampler_sample(yk_sampler *s, const float *logits)
{
    bool greedy;
    size_t m = filter(s, logits, &greedy);
    if (greedy || m == 1) return s->id[0];
    double mx = softmax(s, m);
    if (!isfinite(mx)) return s->id[0]; /* every logit -inf: nothing to weigh */
    double u = rng_uniform(s->rng), cum = 0;
    for (size_t i = 0; i < m; i++) {
        cum += s->prob[i];
        if (u < cum) return s->id[i];
    }
    return s->id[m - 1]; /* u above a sum that rounded below 1 */
}

void yk_sampler_dist(yk_sampler *s, const float *logits, double *prob)
{
    bool greedy;
    size_t m = filter(s, logits, &greedy);
    memset(prob, 0, (size_t)s->n_vocab * sizeof *prob);
    if (greedy || m == 1) {
        prob[s->id[0]] = 1;
        return;
    }
    softmax(s, m);
    for (size_t i = 0; i < m; i++) prob[s->id[i]] = s->prob[i];
}
