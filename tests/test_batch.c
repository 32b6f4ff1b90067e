/* test_batch.c: several sequences in one forward pass. In every layout (one device, TP 2, PP 2 with
 * small micro-batches, TP2 x PP2, and devices whose memory the host cannot read), sequences
 * decoded together must give the same bits as each decoded alone in that layout: each token's
 * logits depend only on its own sequence. Exact equality is the check (no tolerance): nothing in
 * a token's computation may depend on which other tokens share its batch. Covered: prompts of
 * different lengths prefilled in one batch, decode steps of one token per sequence in shuffled
 * order, a prefill joining running decodes, a slot copied from another's prefix (yk_engine_seq_copy),
 * a slot rewound, and batches refused (a gap, a slot out of range, a full context) leaving every
 * slot as it was. Models: two generated F32 shapes (GQA; biases with NeoX rope) and quantised golden
 * files (Q4_0, Q4_K_M), whose matrix products run the quantised-activation kernels. */
#include "gen_model.h"
#include "test.h"
#include "yoke/engine.h"

#include <string.h>

enum { B = 4, STEPS = 3, MAXP = 8, SLOTS = B + 1 };

typedef struct {
    const char *name;
    int tp, pp;
    uint32_t micro;
    const char *devices; /* NULL: CPU devices */
} layout;

typedef struct {
    const yk_model *m;
    const layout *L;
    yk_plan plan;
} ctx;

static const uint32_t plen[B] = {5, 1, 8, 3};
static int32_t prompt[B][MAXP], step_ids[STEPS][B], extra_id;

static yk_engine *open_engine(ctx *c, uint32_t n_seq)
{
    yk_err err;
    yk_engine *e = NULL;
    yk_engine_opts o = {.n_ctx = 32, .n_seq = n_seq};
    if (tu_engine_open(&e, c->m, &c->plan, c->L->devices, 2, &o, &err)) {
        CHECK(false, "%s: engine: %s", c->L->name, err.msg);
        return NULL;
    }
    return e;
}

/* Logits of ids alone in a fresh one-slot engine: every row (n x V). */
static bool alone(ctx *c, const int32_t *ids, uint32_t n, float *out)
{
    yk_err err;
    yk_engine *e = open_engine(c, 1);
    if (!e) return false;
    bool ok = true;
    /* the prompt part in one pass, the rest token by token, as a decode would run */
    uint32_t first = n > STEPS ? n - STEPS : 1;
    ok = yk_engine_forward(e, ids, first, 0, YK_LOGITS_ALL, out, &err) == YK_OK;
    for (uint32_t t = first; ok && t < n; t++)
        ok = yk_engine_forward(e, ids + t, 1, t, YK_LOGITS_LAST, out + (size_t)t * c->m->hp.n_vocab, &err) == YK_OK;
    CHECK(ok, "%s: alone: %s", c->L->name, ok ? "" : err.msg);
    tu_engine_close(e);
    return ok;
}

static bool same_rows(const float *a, const float *b, size_t V, const char *what, const ctx *c)
{
    if (!memcmp(a, b, V * sizeof(float))) return true;
    double worst = 0;
    for (size_t i = 0; i < V; i++)
        if (fabs((double)a[i] - b[i]) > worst) worst = fabs((double)a[i] - b[i]);
    CHECK(false, "%s: %s differs from the sequence alone (max |diff| %.3g)", c->L->name, what, worst);
    return false;
}

static void check_layout(const yk_model *m, const layout *L)
{
    ctx c = {.m = m, .L = L};
    yk_err err;
    yk_plan_opts po = {.tp = L->tp, .pp = L->pp, .attn_align = 1, .ffn_align = 1, .micro_batch = L->micro};
    if (yk_plan_make(&c.plan, &m->hp, &po, &err)) {
        CHECK(false, "%s: plan: %s", L->name, err.msg);
        return;
    }
    size_t V = m->hp.n_vocab;
    /* each sequence alone: its prompt, then its STEPS tokens */
    float *ref[B];
    int32_t full[B][MAXP + STEPS];
    bool ok = true;
    for (int s = 0; s < B; s++) {
        memcpy(full[s], prompt[s], plen[s] * sizeof(int32_t));
        for (int k = 0; k < STEPS; k++) full[s][plen[s] + k] = step_ids[k][s];
        ref[s] = malloc((plen[s] + STEPS) * V * sizeof(float));
        ok = ok && alone(&c, full[s], plen[s] + STEPS, ref[s]);
    }
    /* sequence 2's first 5 positions and then extra_id: what a copy of its prefix must continue */
    int32_t forked[6];
    memcpy(forked, prompt[2], 5 * sizeof(int32_t));
    forked[5] = extra_id;
    float *ref_fork = malloc(6 * V * sizeof(float));
    ok = ok && alone(&c, forked, 6, ref_fork);

    yk_engine *e = ok ? open_engine(&c, SLOTS) : NULL;
    float *out = malloc((size_t)(MAXP * B + B) * V * sizeof(float));
    int32_t ids[64];
    uint32_t seq[64], pos[64];
    uint8_t want[64];
    int pass = 0, total = 0;
    if (e) {
        /* 1. sequences 0, 1, 2 prefilled in one batch, every row wanted */
        uint32_t n = 0;
        for (int s = 0; s < 3; s++)
            for (uint32_t t = 0; t < plen[s]; t++, n++) ids[n] = prompt[s][t], seq[n] = (uint32_t)s, pos[n] = t, want[n] = 1;
        yk_batch b = {.n = n, .ids = ids, .seq = seq, .pos = pos, .want = want};
        if (yk_engine_decode(e, &b, out, &err) == YK_OK) {
            for (uint32_t i = 0; i < n; i++, total++)
                pass += same_rows(out + i * V, ref[seq[i]] + pos[i] * V, V, "prefill row", &c);
        } else {
            CHECK(false, "%s: prefill batch: %s", L->name, err.msg);
        }
        /* 2. a step of sequences 2, 1, 0 (shuffled) joined by sequence 3's whole prompt, with
         * only the decode rows and the prompt's last row wanted; then steps of all four */
        for (int k = 0; k < STEPS; k++) {
            n = 0;
            for (int s = (k == 0 ? 2 : 3); s >= 0; s--, n++) {
                uint32_t p = plen[s] + (uint32_t)(s == 3 ? k - 1 : k);
                ids[n] = step_ids[s == 3 ? k - 1 : k][s], seq[n] = (uint32_t)s, pos[n] = p, want[n] = 1;
            }
            if (k == 0)
                for (uint32_t t = 0; t < plen[3]; t++, n++)
                    ids[n] = prompt[3][t], seq[n] = 3, pos[n] = t, want[n] = t == plen[3] - 1;
            b = (yk_batch){.n = n, .ids = ids, .seq = seq, .pos = pos, .want = want};
            if (yk_engine_decode(e, &b, out, &err)) {
                CHECK(false, "%s: step %d: %s", L->name, k, err.msg);
                break;
            }
            for (uint32_t i = 0, r = 0; i < n; i++)
                if (want[i]) pass += same_rows(out + (r++) * V, ref[seq[i]] + pos[i] * V, V, "decode row", &c), total++;
        }
        /* sequence 3 took its last step token only in steps 1, 2: finish it */
        b = (yk_batch){.n = 1, .ids = &step_ids[STEPS - 1][3], .seq = &(uint32_t){3}};
        if (yk_engine_decode(e, &b, out, &err) == YK_OK)
            pass += same_rows(out, ref[3] + (plen[3] + STEPS - 1) * V, V, "last row of a late sequence", &c), total++;
        else
            CHECK(false, "%s: last step: %s", L->name, err.msg);

        /* 3. slot 4 = sequence 2's first 5 positions, then extra_id at position 5 */
        if (yk_engine_seq_copy(e, 2, 4, 5, &err) == YK_OK) {
            b = (yk_batch){.n = 1, .ids = &extra_id, .seq = &(uint32_t){4}};
            CHECK(yk_engine_seq_len(e, 4) == 5, "%s: copied slot holds %u positions", L->name, yk_engine_seq_len(e, 4));
            if (yk_engine_decode(e, &b, out, &err) == YK_OK)
                pass += same_rows(out, ref_fork + 5 * V, V, "copied prefix", &c), total++;
            else
                CHECK(false, "%s: decode after copy: %s", L->name, err.msg);
        } else {
            CHECK(false, "%s: seq_copy: %s", L->name, err.msg);
        }
        /* 4. rewind sequence 2 to position 5 and continue as the fork did */
        b = (yk_batch){.n = 1, .ids = &extra_id, .seq = &(uint32_t){2}, .pos = &(uint32_t){5}};
        if (yk_engine_decode(e, &b, out, &err) == YK_OK)
            pass += same_rows(out, ref_fork + 5 * V, V, "rewound sequence", &c), total++;
        else
            CHECK(false, "%s: decode after a rewind: %s", L->name, err.msg);
        CHECK(yk_engine_seq_len(e, 2) == 6, "%s: rewound slot holds %u positions, not 6", L->name, yk_engine_seq_len(e, 2));

        /* 5. refused batches leave the slots as they were */
        uint32_t before[SLOTS];
        for (uint32_t s = 0; s < SLOTS; s++) before[s] = yk_engine_seq_len(e, s);
        ids[0] = ids[1] = 1;
        seq[0] = 0, pos[0] = before[0], seq[1] = 1, pos[1] = before[1] + 1; /* the second leaves a gap */
        b = (yk_batch){.n = 2, .ids = ids, .seq = seq, .pos = pos};
        CHECK(yk_engine_decode(e, &b, out, &err) == YK_E_INVALID && strstr(err.msg, "gap"), "%s: a gap is refused (%s)", L->name, err.msg);
        seq[1] = SLOTS, pos[1] = 0;
        CHECK(yk_engine_decode(e, &b, out, &err) == YK_E_INVALID && strstr(err.msg, "slots"), "%s: slot %d refused (%s)", L->name, SLOTS,
              err.msg);
        seq[1] = 1, pos[1] = 32;
        CHECK(yk_engine_decode(e, &b, out, &err) == YK_E_RANGE, "%s: position 32 of a 32-position context refused (%s)", L->name, err.msg);
        for (uint32_t s = 0; s < SLOTS; s++)
            CHECK(yk_engine_seq_len(e, s) == before[s], "%s: slot %u holds %u after refused batches, was %u", L->name, s,
                  yk_engine_seq_len(e, s), before[s]);
        yk_engine_seq_clear(e, 1);
        CHECK(yk_engine_seq_len(e, 1) == 0, "%s: cleared slot is empty", L->name);
        tu_engine_close(e);
    }
    printf("  %-22s %d/%d rows bit-identical to the sequence alone\n", L->name, pass, total);
    /* 14 prefill rows, 4 per step, the late sequence's last, the copy and the rewind */
    CHECK(total == 14 + 4 * STEPS + 3, "%s: %d rows compared, not %d", L->name, total, 14 + 4 * STEPS + 3);
    for (int s = 0; s < B; s++) free(ref[s]);
    free(ref_fork);
    free(out);
    yk_plan_free(&c.plan);
}

static void check_model(const yk_model *m, const char *name)
{
    static const layout layouts[] = {
        {"one device", 1, 1, 0, NULL},         {"tp 2", 2, 1, 0, NULL},          {"pp 2, micro-batch 2", 1, 2, 2, NULL},
        {"tp 2 x pp 2", 2, 2, 3, NULL},        {"guard device", 1, 1, 0, "guard:1"}, {"guard tp 2", 2, 1, 0, "guard:2"},
    };
    printf("%s\n", name);
    tu_rng rng = {0x5eed ^ m->hp.n_vocab};
    for (int s = 0; s < B; s++)
        for (int t = 0; t < MAXP; t++) prompt[s][t] = (int32_t)(tu_uniform(&rng) * m->hp.n_vocab);
    for (int k = 0; k < STEPS; k++)
        for (int s = 0; s < B; s++) step_ids[k][s] = (int32_t)(tu_uniform(&rng) * m->hp.n_vocab);
    extra_id = (int32_t)(tu_uniform(&rng) * m->hp.n_vocab);
    for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++) check_layout(m, &layouts[i]);
}

int main(void)
{
    const gen_shape shapes[] = {
        {"llama", 2, 128, 8, 2, 16, 192, 160, 64, 500000.0f, false, 21, 0}, /* GQA 4 */
        {"qwen2", 2, 64, 8, 2, 8, 128, 96, 64, 1e6f, true, 22, 0},         /* biases, NeoX rope */
    };
    yk_err err;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char path[256], name[64];
        tu_tmp_path(path, sizeof path, ".gguf");
        yk_model m;
        if (!gen_model_write(path, &shapes[i]) || yk_model_load(&m, path, &err)) {
            CHECK(false, "generated model %zu", i);
            remove(path);
            continue;
        }
        snprintf(name, sizeof name, "generated %s F32", shapes[i].arch);
        check_model(&m, name);
        yk_model_free(&m);
        remove(path);
    }
    const char *golden[] = {"golden/models/rand-qwen2-Q4_0.gguf", "golden/models/rand-llama-gqa-Q4_K_M.gguf"};
    for (size_t i = 0; i < sizeof golden / sizeof *golden; i++) {
        char path[512];
        yk_model m;
        if (!tu_shared_path(path, sizeof path, golden[i])) {
            tu_skip(golden[i], "../shared is absent");
            continue;
        }
        if (yk_model_load(&m, path, &err)) {
            CHECK(false, "%s: %s", golden[i], err.msg);
            continue;
        }
        check_model(&m, golden[i]);
        yk_model_free(&m);
    }
    return tu_done("test_batch");
}
