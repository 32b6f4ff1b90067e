/* test_sampler.c: each filter of the sampler against a float64 reference written here from the
 * definitions (llama.cpp semantics, in its order: penalty, top-k, top-p, min-p, temperature),
 * determinism of seeds, and a chi-square test of the drawn frequencies.
 *
 * Tolerances: the sampler keeps logits in float32 (as the model gives them) and sums in float64;
 * the reference is all float64, so probabilities may differ by float32 rounding of the scaled
 * logits: |dp| <= 1e-6 is ~10x that for these sizes. The chi-square bounds are the 0.1% critical
 * values: with the fixed seeds the test is deterministic; a sampler with a biased draw (an
 * off-by-one in the running sum, a wrong temperature) exceeds them by orders of magnitude. */
#include "test.h"
#include "yoke/sampler.h"

/* ---- float64 reference ------------------------------------------------------------------ */

typedef struct {
    double l;
    int id;
    bool keep;
} ref_tok;

/* Sorts by logit desc, id asc (insertion sort: small n, or qsort for big). */
static int ref_cmp(const void *a, const void *b)
{
    const ref_tok *x = a, *y = b;
    if (x->l != y->l) return x->l > y->l ? -1 : 1;
    return x->id - y->id;
}

/* Reference distribution over ids (prob[], n entries). hist: window of accepted ids. */
static void ref_dist(const float *logits, int n, yk_sampler_params p, const int *hist, int n_hist, double *prob)
{
    ref_tok *t = malloc((size_t)n * sizeof *t);
    for (int i = 0; i < n; i++) t[i] = (ref_tok){logits[i], i, true};
    /* penalty: each distinct id of the window once */
    for (int i = 0; i < n; i++) {
        bool in = false;
        for (int k = 0; k < n_hist; k++) in |= hist[k] == i;
        if (in && p.repeat_penalty != 1) t[i].l = t[i].l <= 0 ? t[i].l * p.repeat_penalty : t[i].l / p.repeat_penalty;
    }
    for (int i = 0; i < n; i++) prob[i] = 0;
    if (p.temp == 0) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (t[i].l > t[best].l) best = i;
        prob[best] = 1;
        free(t);
        return;
    }
    qsort(t, (size_t)n, sizeof *t, ref_cmp);
    int m = n;
    if (p.top_k > 0 && p.top_k < m) m = p.top_k;
    if (p.top_p < 1) {
        double mx = t[0].l, z = 0, cum = 0;
        for (int i = 0; i < m; i++) z += exp(t[i].l - mx);
        int cut = m;
        for (int i = 0; i < m; i++) {
            cum += exp(t[i].l - mx) / z;
            if (cum >= p.top_p) {
                cut = i + 1;
                break;
            }
        }
        m = cut;
    }
    if (p.min_p > 0) {
        double mx = t[0].l;
        int k = 0;
        for (int i = 0; i < m; i++)
            if (exp(t[i].l - mx) >= p.min_p * (1 - 1e-12)) t[k++] = t[i];
        m = k;
    }
    double mx = t[0].l / p.temp, z = 0;
    for (int i = 0; i < m; i++) z += exp(t[i].l / p.temp - mx);
    for (int i = 0; i < m; i++) prob[t[i].id] = exp(t[i].l / p.temp - mx) / z;
    free(t);
}

static yk_sampler_params plain(void)
{
    yk_sampler_params p = yk_sampler_defaults();
    p.temp = 1;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.repeat_penalty = 1;
    p.repeat_last_n = 64;
    p.seed = 42;
    return p;
}

/* Compares the sampler's distribution with the reference; returns the largest |dp|. */
static double compare(const char *what, const float *logits, int n, yk_sampler_params p, const int *hist, int n_hist)
{
    yk_sampler s;
    yk_err err;
    CHECK(yk_sampler_init(&s, &p, n, &err) == YK_OK, "%s: %s", what, err.msg);
    for (int k = 0; k < n_hist; k++) yk_sampler_accept(&s, hist[k]);
    double *got = malloc((size_t)n * sizeof *got), *want = malloc((size_t)n * sizeof *want);
    yk_sampler_dist(&s, logits, got);
    ref_dist(logits, n, p, hist, n_hist, want);
    double worst = 0;
    bool same_support = true;
    for (int i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        if (d > worst) worst = d;
        same_support &= (got[i] > 0) == (want[i] > 0);
    }
    CHECK(same_support, "%s: the kept set differs from the reference", what);
    CHECK(worst <= 1e-6, "%s: max |dp| = %.3g", what, worst);
    free(got);
    free(want);
    yk_sampler_free(&s);
    return worst;
}

/* ---- hand-computed cases ------------------------------------------------------------------ */

static void test_filters(void)
{
    /* ids:                 0    1    2    3     4    5    6     7 */
    static const float L[8] = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f, 2.5f, -2.0f};
    yk_sampler_params p = plain();
    yk_err err;
    yk_sampler s;
    double prob[8];

    /* greedy: the tie between ids 1 and 3 goes to 1 */
    p.temp = 0;
    yk_sampler_init(&s, &p, 8, &err);
    CHECK(yk_sampler_sample(&s, L) == 1, "greedy tie to the lowest id");
    yk_sampler_dist(&s, L, prob);
    CHECK(prob[1] == 1 && prob[3] == 0, "greedy distribution is one-hot");
    yk_sampler_free(&s);

    /* temperature 1: plain softmax; hand-computed for two ids: p1/p0 = e^2 */
    p = plain();
    yk_sampler_init(&s, &p, 8, &err);
    yk_sampler_dist(&s, L, prob);
    CHECK(fabs(prob[1] / prob[0] - exp(2.0)) < 1e-9, "softmax ratio: %g", prob[1] / prob[0]);
    yk_sampler_free(&s);
    compare("temp 1", L, 8, p, NULL, 0);
    p.temp = 0.5f;
    compare("temp 0.5", L, 8, p, NULL, 0);
    p.temp = 2.0f;
    compare("temp 2", L, 8, p, NULL, 0);

    /* top-k = 3 keeps ids 1, 3 (3.0) and 6 (2.5): p = e^3 / (2 e^3 + e^2.5) for 1 and 3 */
    p = plain();
    p.top_k = 3;
    yk_sampler_init(&s, &p, 8, &err);
    yk_sampler_dist(&s, L, prob);
    double z = 2 * exp(3.0) + exp(2.5);
    CHECK(fabs(prob[1] - exp(3.0) / z) < 1e-7 && fabs(prob[6] - exp(2.5) / z) < 1e-7 && prob[2] == 0, "top-k 3 by hand");
    yk_sampler_free(&s);
    compare("top-k 3", L, 8, p, NULL, 0);
    /* a tie at the cut: top-k 1 keeps id 1, not 3 */
    p.top_k = 1;
    yk_sampler_init(&s, &p, 8, &err);
    yk_sampler_dist(&s, L, prob);
    CHECK(prob[1] == 1 && prob[3] == 0, "top-k 1 tie to the lowest id");
    yk_sampler_free(&s);

    /* top-p: probabilities sorted are .311 .311 .189 .114 .042 .026 .006 .002 (ids 1 3 6 2 0
     * 5 4 7, by hand); 0.7 needs the first three (0.622 < 0.7 <= 0.811) */
    p = plain();
    p.top_p = 0.7f;
    yk_sampler_init(&s, &p, 8, &err);
    yk_sampler_dist(&s, L, prob);
    int kept = 0;
    for (int i = 0; i < 8; i++) kept += prob[i] > 0;
    CHECK(kept == 3 && prob[1] > 0 && prob[3] > 0 && prob[6] > 0, "top-p 0.7 keeps ids 1, 3, 6 (kept %d)", kept);
    yk_sampler_free(&s);
    compare("top-p 0.7", L, 8, p, NULL, 0);
    p.top_p = 0.6f; /* 0.622 >= 0.6: two */
    compare("top-p 0.6", L, 8, p, NULL, 0);
    p.top_p = 0.95f;
    compare("top-p 0.95", L, 8, p, NULL, 0);

    /* min-p 0.2: keep p >= 0.2 p_max, i.e. logit >= 3 + ln 0.2 = 1.39: ids 1 3 6 2 */
    p = plain();
    p.min_p = 0.2f;
    yk_sampler_init(&s, &p, 8, &err);
    yk_sampler_dist(&s, L, prob);
    kept = 0;
    for (int i = 0; i < 8; i++) kept += prob[i] > 0;
    CHECK(kept == 4 && prob[2] > 0 && prob[0] == 0, "min-p 0.2 keeps 4 (kept %d)", kept);
    yk_sampler_free(&s);
    compare("min-p 0.2", L, 8, p, NULL, 0);

    /* repetition penalty 1.5 over ids {1, 4, 1}: 3.0 -> 2.0 and -1.0 -> -1.5, each once */
    p = plain();
    p.repeat_penalty = 1.5f;
    int hist[3] = {1, 4, 1};
    yk_sampler_init(&s, &p, 8, &err);
    for (int k = 0; k < 3; k++) yk_sampler_accept(&s, hist[k]);
    yk_sampler_dist(&s, L, prob);
    CHECK(fabs(prob[1] / prob[2] - 1.0) < 1e-9, "penalised id 1 (3.0 / 1.5) equals id 2 (2.0)");
    CHECK(fabs(prob[4] / prob[0] - exp(-2.5)) < 1e-9, "penalised id 4 (-1.0 * 1.5) against id 0 (1.0)");
    yk_sampler_free(&s);
    compare("repeat penalty", L, 8, p, hist, 3);
    /* the window keeps only the last repeat_last_n ids */
    p.repeat_last_n = 2;
    yk_sampler_init(&s, &p, 8, &err);
    yk_sampler_accept(&s, 1);
    yk_sampler_accept(&s, 4);
    yk_sampler_accept(&s, 6);
    yk_sampler_dist(&s, L, prob);
    CHECK(fabs(prob[1] / prob[3] - 1.0) < 1e-9, "id 1 left the window of 2");
    CHECK(fabs(prob[6] / prob[0] - exp(2.5 / 1.5 - 1.0)) < 1e-6, "id 6 is in the window of 2");
    yk_sampler_free(&s);
    int hist2[2] = {4, 6};
    compare("repeat window", L, 8, p, hist2, 2);
    /* greedy after the penalty */
    p.temp = 0;
    p.repeat_last_n = 64;
    yk_sampler_init(&s, &p, 8, &err);
    yk_sampler_accept(&s, 1);
    CHECK(yk_sampler_sample(&s, L) == 3, "greedy sees the penalised logits");
    yk_sampler_free(&s);

    /* everything together, in llama.cpp's order */
    p = plain();
    p.top_k = 5;
    p.top_p = 0.9f;
    p.min_p = 0.1f;
    p.temp = 0.7f;
    p.repeat_penalty = 1.3f;
    compare("combined", L, 8, p, hist, 3);

    /* the input logits are not modified */
    float copy[8];
    memcpy(copy, L, sizeof copy);
    yk_sampler_init(&s, &p, 8, &err);
    yk_sampler_accept(&s, 1);
    (void)yk_sampler_sample(&s, copy);
    CHECK(!memcmp(copy, L, sizeof copy), "logits untouched");
    yk_sampler_free(&s);
}

/* Top-p on a large vocabulary without top-k (the pruned sort) and top-k on it. */
static void test_large(void)
{
    int n = 150000;
    float *L = malloc((size_t)n * sizeof *L);
    tu_rng r = {7};
    for (int i = 0; i < n; i++) L[i] = (float)(3.0 * tu_normal(&r));
    L[1234] = L[999]; /* a tie */
    yk_sampler_params p = plain();
    p.top_p = 0.9f;
    compare("top-p 0.9 on 150k", L, n, p, NULL, 0);
    p.top_p = 0.5f;
    p.temp = 0.6f;
    compare("top-p 0.5, temp 0.6 on 150k", L, n, p, NULL, 0);
    p = plain();
    p.top_k = 40;
    p.min_p = 0.05f;
    compare("top-k 40, min-p 0.05 on 150k", L, n, p, NULL, 0);
    free(L);
}

static void test_seed(void)
{
    int n = 1000, steps = 300;
    float *L = malloc((size_t)n * sizeof *L);
    tu_rng r = {11};
    yk_sampler_params p = yk_sampler_defaults();
    p.seed = 1234;
    p.top_k = 0;
    yk_sampler a, b, c;
    yk_err err;
    p.temp = 1.0f;
    yk_sampler_init(&a, &p, n, &err);
    yk_sampler_init(&b, &p, n, &err);
    p.seed = 1235;
    yk_sampler_init(&c, &p, n, &err);
    int same_ab = 0, same_ac = 0;
    int32_t first[300];
    for (int t = 0; t < steps; t++) {
        for (int i = 0; i < n; i++) L[i] = (float)(2.0 * tu_normal(&r));
        int32_t x = yk_sampler_sample(&a, L), y = yk_sampler_sample(&b, L), z = yk_sampler_sample(&c, L);
        first[t] = x;
        same_ab += x == y;
        same_ac += x == z;
        yk_sampler_accept(&a, x);
        yk_sampler_accept(&b, y);
        yk_sampler_accept(&c, z);
    }
    CHECK(same_ab == steps, "same seed, same ids (%d of %d)", same_ab, steps);
    CHECK(same_ac < steps, "another seed gives other ids (%d of %d equal)", same_ac, steps);
    /* reset replays the same stream */
    yk_sampler_reset(&a);
    r = (tu_rng){11};
    int replay = 0;
    for (int t = 0; t < steps; t++) {
        for (int i = 0; i < n; i++) L[i] = (float)(2.0 * tu_normal(&r));
        int32_t x = yk_sampler_sample(&a, L);
        replay += x == first[t];
        yk_sampler_accept(&a, x);
    }
    CHECK(replay == steps, "reset replays the seed (%d of %d)", replay, steps);
    yk_sampler_free(&a);
    yk_sampler_free(&b);
    yk_sampler_free(&c);
    free(L);
}

/* Draws N ids with parameters p and compares the counts with the reference distribution of
 * parameters q (q = p normally): chi-square with df = support - 1. Returns the statistic. */
static double chi_square_vs(const char *what, const float *L, int n, yk_sampler_params p, yk_sampler_params q,
                            double critical, bool expect_pass)
{
    yk_sampler s;
    yk_err err;
    yk_sampler_init(&s, &p, n, &err);
    double *prob = malloc((size_t)n * sizeof *prob);
    long *count = calloc((size_t)n, sizeof *count);
    ref_dist(L, n, q, NULL, 0, prob);
    const int N = 200000;
    for (int i = 0; i < N; i++) count[yk_sampler_sample(&s, L)]++;
    double chi2 = 0;
    int df = -1;
    bool outside = false;
    for (int i = 0; i < n; i++) {
        if (prob[i] > 0) {
            double e = N * prob[i];
            chi2 += (count[i] - e) * (count[i] - e) / e;
            df++;
        } else
            outside |= count[i] > 0;
    }
    if (expect_pass) {
        CHECK(!outside, "%s: an id outside the kept set was drawn", what);
        CHECK(chi2 < critical, "%s: chi-square %.2f with %d degrees of freedom exceeds %.2f", what, chi2, df, critical);
    } else
        CHECK(chi2 > critical, "%s: the test cannot tell: chi-square %.2f <= %.2f", what, chi2, critical);
    printf("  %s: chi-square %.2f, %d degrees of freedom, 0.1%% critical value %.2f\n", what, chi2, df, critical);
    free(prob);
    free(count);
    yk_sampler_free(&s);
    return chi2;
}

static void chi_square(const char *what, const float *L, int n, yk_sampler_params p, double critical)
{
    chi_square_vs(what, L, n, p, p, critical, true);
}

static void test_frequencies(void)
{
    static const float L[10] = {0.3f, 1.2f, -0.4f, 2.0f, 0.0f, 1.7f, -1.5f, 0.9f, 0.1f, -0.2f};
    yk_sampler_params p = plain();
    p.seed = 2024;
    chi_square("temp 1", L, 10, p, 27.877); /* df 9 */
    p.top_k = 4;
    p.temp = 0.7f;
    chi_square("top-k 4, temp 0.7", L, 10, p, 16.266); /* df 3 */
    p = plain();
    p.seed = 99;
    p.top_p = 0.8f;
    p.temp = 1.3f;
    chi_square("top-p 0.8, temp 1.3", L, 10, p, 18.467); /* top-p before temperature keeps 5: df 4 */
    /* the test has power: draws at temperature 1 against the distribution of temperature 1.1 */
    yk_sampler_params q = plain();
    p = plain();
    q.temp = 1.1f;
    chi_square_vs("control: temp 1 draws vs temp 1.1", L, 10, p, q, 27.877, false);
}

static void test_bad_params(void)
{
    yk_sampler s;
    yk_err err = {0};
    yk_sampler_params p = yk_sampler_defaults();
    p.temp = -1;
    CHECK(yk_sampler_init(&s, &p, 10, &err) == YK_E_INVALID && strstr(err.msg, "temperature"), "temp -1: %s", err.msg);
    p = yk_sampler_defaults();
    p.top_p = 0;
    CHECK(yk_sampler_init(&s, &p, 10, &err) == YK_E_INVALID && strstr(err.msg, "top-p"), "top-p 0: %s", err.msg);
    p = yk_sampler_defaults();
    p.min_p = 2;
    CHECK(yk_sampler_init(&s, &p, 10, &err) == YK_E_INVALID && strstr(err.msg, "min-p"), "min-p 2: %s", err.msg);
    p = yk_sampler_defaults();
    p.repeat_penalty = 0;
    CHECK(yk_sampler_init(&s, &p, 10, &err) == YK_E_INVALID && strstr(err.msg, "penalty"), "penalty 0: %s", err.msg);
    p = yk_sampler_defaults();
    p.top_k = -3;
    CHECK(yk_sampler_init(&s, &p, 10, &err) == YK_E_INVALID && strstr(err.msg, "top-k"), "top-k -3: %s", err.msg);
    p = yk_sampler_defaults();
    CHECK(yk_sampler_init(&s, &p, 0, &err) == YK_E_INVALID, "empty vocabulary");
    /* -inf and NaN logits: never chosen while a finite one exists */
    p = plain();
    CHECK(yk_sampler_init(&s, &p, 4, &err) == YK_OK, "%s", err.msg);
    float L[4] = {-INFINITY, NAN, 0.5f, -INFINITY};
    for (int i = 0; i < 100; i++) CHECK(yk_sampler_sample(&s, L) == 2, "only the finite logit");
    yk_sampler_free(&s);
}

int main(void)
{
    test_filters();
    test_large();
    test_seed();
    test_frequencies();
    test_bad_params();
    return tu_done("test_sampler");
}
