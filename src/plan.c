/* plan.c: pure functions that split a model across a tp x pp grid of devices (see plan.h). */
#include "yoke/plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool yk_split_units(uint32_t total, int n, const double *ratios, uint32_t min_units, uint32_t *parts)
{
    if (n <= 0 || n > 64 || (uint64_t)n * min_units > total) return false;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += ratios ? ratios[i] : 1.0;
    /* proportional shares, floored, the rest to the largest remainders (first wins ties) */
    double rem[64];
    uint32_t given = 0;
    for (int i = 0; i < n; i++) {
        double share = total * (ratios ? ratios[i] : 1.0) / sum;
        parts[i] = (uint32_t)floor(share);
        rem[i] = share - floor(share);
        given += parts[i];
    }
    while (given < total) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (rem[i] > rem[best] + 1e-12) best = i;
        parts[best]++;
        rem[best] = -1;
        given++;
    }
    /* lift parts below the minimum, taking from the largest part */
    for (int i = 0; i < n; i++)
        while (parts[i] < min_units) {
            int big = 0;
            for (int j = 1; j < n; j++)
                if (parts[j] > parts[big]) big = j;
            parts[big]--;
            parts[i]++;
        }
    return true;
}

bool yk_parse_ratios(const char *s, int n, double *out)
{
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtod(s, &end);
        if (end == s || !(out[i] > 0) || !isfinite(out[i])) return false;
        s = end;
        if (i < n - 1) {
            if (*s != ',') return false;
            s++;
        }
    }
    return *s == 0;
}

static uint32_t gcd_u32(uint32_t a, uint32_t b) { while (b) { uint32_t t = a % b; a = b; b = t; } return a; }

yk_status yk_plan_make(yk_plan *p, const yk_hparams *hp, const yk_plan_opts *o, yk_err *err)
{
    memset(p, 0, sizeof *p);
    int tp = o->tp, pp = o->pp;
    if (tp < 1 || pp < 1 || tp > 64 || pp > 64)
        return yk_err_set(err, YK_E_INVALID, "--tp %d --pp %d: each must be between 1 and 64", tp, pp);
    if ((uint32_t)pp > hp->n_layer)
        return yk_err_set(err, YK_E_INVALID, "--pp %d: the model has only %u layers; use at most --pp %u", pp, hp->n_layer, hp->n_layer);
    uint32_t layers[64], units[64], ffs[64], vocab[64];
    if (!yk_split_units(hp->n_layer, pp, o->pp_ratios, 1, layers))
        return yk_err_set(err, YK_E_INVALID, "--split: cannot give every stage a layer");

    /* Attention unit: whole GQA groups while tp <= n_head_kv, else single query heads; widened
     * until the unit's columns of attn_output are a whole number of quantisation blocks. When no
     * such unit leaves every device a share (small models in 256-element k-quant blocks), cuts fall
     * inside blocks and the devices concerned hold those columns in F32 (unaligned_attn). */
    uint32_t group = hp->n_head / hp->n_head_kv;
    uint32_t unit = (uint32_t)tp <= hp->n_head_kv ? group : 1;
    if (hp->n_head / unit < (uint32_t)tp)
        return yk_err_set(err, YK_E_INVALID, "--tp %d: the model has only %u attention heads; use at most --tp %u", tp, hp->n_head,
                          hp->n_head);
    uint32_t align = o->attn_align ? o->attn_align : 1;
    uint32_t cols = unit * hp->head_dim;
    uint32_t wide = cols % align ? unit * (align / gcd_u32(cols, align)) : unit;
    bool unaligned_attn = false;
    if (hp->n_head % wide == 0 && hp->n_head / wide >= (uint32_t)tp) unit = wide;
    else unaligned_attn = tp > 1;
    if (!yk_split_units(hp->n_head / unit, tp, o->tp_ratios, 1, units))
        return yk_err_set(err, YK_E_INVALID, "--tp %d: not enough attention heads", tp);

    uint32_t falign = o->ffn_align ? o->ffn_align : 1;
    bool unaligned_ffn = false;
    if (hp->n_ff % falign || hp->n_ff / falign < (uint32_t)tp) {
        unaligned_ffn = tp > 1;
        falign = 1;
    }
    if (hp->n_ff < (uint32_t)tp)
        return yk_err_set(err, YK_E_INVALID, "--tp %d: the FFN has only %u columns", tp, hp->n_ff);
    if (!yk_split_units(hp->n_ff / falign, tp, o->tp_ratios, 1, ffs) || !yk_split_units(hp->n_vocab, tp, o->tp_ratios, 1, vocab))
        return yk_err_set(err, YK_E_INVALID, "--tp %d: cannot split the FFN or vocabulary", tp);

    p->dev = calloc((size_t)tp * pp, sizeof *p->dev);
    if (!p->dev) return yk_err_set(err, YK_E_NOMEM, "plan: out of memory");
    p->tp = tp;
    p->pp = pp;
    p->n_dev = tp * pp;
    p->micro_batch = o->micro_batch;
    p->unaligned_attn = unaligned_attn;
    p->unaligned_ffn = unaligned_ffn;
    uint32_t l0 = 0;
    for (int s = 0; s < pp; s++) {
        uint32_t h0 = 0, f0 = 0, v0 = 0;
        for (int t = 0; t < tp; t++) {
            yk_plan_dev *d = &p->dev[s * tp + t];
            d->rank = s * tp + t;
            d->stage = s;
            d->tp_rank = t;
            d->layer0 = l0;
            d->layer1 = l0 + layers[s];
            d->head0 = h0;
            d->head1 = h0 + units[t] * unit;
            d->kv0 = d->head0 / group;
            d->kv1 = (d->head1 - 1) / group + 1;
            d->ff0 = f0;
            d->ff1 = f0 + ffs[t] * falign;
            if (s == pp - 1) {
                d->vocab0 = v0;
                d->vocab1 = v0 + vocab[t];
            }
            h0 = d->head1;
            f0 = d->ff1;
            v0 += vocab[t];
        }
        l0 += layers[s];
    }
    return YK_OK;
}

void yk_plan_free(yk_plan *p)
{
    free(p->dev);
    memset(p, 0, sizeof *p);
}
