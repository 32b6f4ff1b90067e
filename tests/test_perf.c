/* test_perf.c: the performance model (yoke/perf.h): each formula against hand-computed cases (the
 * arithmetic is in the comments), preset byte counts against published file sizes, layouts, the
 * memory account of golden GGUF headers to the byte, fit determinism and recovery, and the model's
 * median error on the calibration rows (<= 10%, the target). */
#include "test.h"

/* Relative closeness for doubles computed by the same formulas in another order (1e-9: only
 * rounding differs). */
static bool near(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

static yk_hw_table table(void)
{
    yk_hw_table t = {0};
    yk_err err;
    CHECK(yk_hw_load_default(&t, &err) == YK_OK, "%s", err.msg);
    return t;
}

static void test_building_blocks(void)
{
    yk_hw_table t = table();
    const yk_hw_link *pcie4 = yk_hw_find_link(&t, "pcie4");
    /* pcie4: ar 6 + 6 (n-1) us, 24 GB/s, PCIe. Without P2P the bandwidth halves to 12 GB/s.
     * n = 2, 32768 B: 12 us + 2*1/2 * 32768 / 12e9 = 12 us + 2.7307 us = 14.7307 us.
     * n = 4: 24 us + 2*3/4 * 32768 / 12e9 = 24 + 4.096 = 28.096 us.
     * n = 4 with P2P (24 GB/s) and ar_scale 2: 48 + 2.048 = 50.048 us. n = 1: 0. */
    CHECK(near(yk_perf_allreduce_s(pcie4, false, 2, 32768, 1), 14.730666667e-6, 1e-9), "ar n=2");
    CHECK(near(yk_perf_allreduce_s(pcie4, false, 4, 32768, 1), 28.096e-6, 1e-9), "ar n=4");
    CHECK(near(yk_perf_allreduce_s(pcie4, true, 4, 32768, 2), 50.048e-6, 1e-9), "ar n=4 p2p x2");
    CHECK(yk_perf_allreduce_s(pcie4, false, 1, 32768, 1) == 0, "ar n=1");
    /* CPU host cpu-2c: 29 GB/s for the host, 17 GB/s per core.
     * 1 device x 2 threads: min(29, 2*17) = 29; 2 devices x 1 thread: each min(29/2, 17) = 14.5. */
    const yk_hw_dev *cpu = yk_hw_find_dev(&t, "cpu");
    const yk_hw_link *inproc = yk_hw_find_link(&t, "inproc");
    yk_perf_rig rig;
    yk_perf_rig_cpu(&rig, cpu, 1, 2, inproc);
    CHECK(near(yk_perf_dev_bw(&rig, 0), 29e9, 1e-12), "1x2 threads: %g", yk_perf_dev_bw(&rig, 0));
    yk_perf_rig_cpu(&rig, cpu, 2, 1, inproc);
    CHECK(near(yk_perf_dev_bw(&rig, 0), 14.5e9, 1e-12) && near(yk_perf_dev_bw(&rig, 1), 14.5e9, 1e-12), "2x1 thread");
    CHECK(near(rig.dev[0].tflops, 0.135, 1e-12), "a 1-thread device gets half the host's TFLOPS: %g", rig.dev[0].tflops);
    rig.n_dev = 1; /* one thread alone: min(29, 17) = 17 */
    CHECK(near(yk_perf_dev_bw(&rig, 0), 17e9, 1e-12), "1x1 thread: %g", yk_perf_dev_bw(&rig, 0));
    /* Llama-3-70B KV cache: 2 x 8 heads x 128 x 2 bytes = 4096 B per layer per token, x 80 = 0.33 MB. */
    const yk_preset *p = yk_preset_find("llama3-70b");
    CHECK(yk_perf_kv_token_bytes(&p->hp, 8, 2) == 4096 && 80 * yk_perf_kv_token_bytes(&p->hp, 8, 2) == 327680, "kv bytes");
    yk_hw_free(&t);
}

static void test_preset_bytes(void)
{
    yk_perf_model m;
    yk_err err;
    /* Llama-3-8B F16: 8030261248 elements; the 32*2 + 1 norms of 4096 stay F32.
     * (8030261248 - 266240) * 2 + 266240 * 4 = 16059990016 + 1064960 = 16061054976. */
    CHECK(yk_perf_model_preset(&m, "llama3-8b:F16", &err) == YK_OK, "%s", err.msg);
    CHECK(m.n_params == 8030261248ull && m.weight_bytes == 16061054976ull, "8B F16: %llu", (unsigned long long)m.weight_bytes);
    yk_perf_model_free(&m);
    /* Llama-3-8B Q4_K_M (Q4_K 144 B / 256, Q6_K 210 B / 256):
     *   token_embd Q4_K 525336576/256*144 = 295501824; output Q6_K 2052096*210 = 430940160
     *   a layer: q 9437184 + k 2359296 + v 2359296 + o 9437184 + 3 x 33030144 + norms 32768 = 122716160
     *   "more bits" layers (0-3, 28-31, 6, 9, ..., 27: 16 of 32) have v and down in Q6_K:
     *     + (3440640 - 2359296) + (48168960 - 33030144) = 138936320
     *   total 295501824 + 430940160 + 16*122716160 + 16*138936320 + 16384 = 4912898048,
     * 0.15% under the published file of 4.92 GB (the rest is the header: vocabulary and merges). */
    CHECK(yk_perf_model_preset(&m, "llama3-8b:Q4_K_M", &err) == YK_OK, "%s", err.msg);
    CHECK(m.weight_bytes == 4912898048ull, "8B Q4_K_M: %llu", (unsigned long long)m.weight_bytes);
    yk_perf_model_free(&m);
    /* Published sizes (../shared/calibration/measurements.tsv; llama.cpp's quantize docs): within
     * 0.5%, the header's share of a file. */
    static const struct { const char *spec; double bytes; } pub[] = {
        {"llama2-70b:Q4_0", 38.87e9}, {"llama3-8b:Q4_0", 4.65e9}, {"llama2-7b:F16", 13.48e9}, {"llama3-70b:Q4_K_M", 42.5e9},
    };
    for (size_t i = 0; i < sizeof pub / sizeof *pub; i++) {
        CHECK(yk_perf_model_preset(&m, pub[i].spec, &err) == YK_OK, "%s", err.msg);
        CHECK(fabs(m.weight_bytes / pub[i].bytes - 1) < 0.005, "%s: %.4g vs %.4g", pub[i].spec, (double)m.weight_bytes, pub[i].bytes);
        yk_perf_model_free(&m);
    }
    /* Bits per weight of the mixes on Llama-3-8B are close to llama.cpp's published figures
     * (Q4_K_S 4.67, Q5_K_M 5.70, Q6_K 6.56, Q8_0 8.50, Q3_K_L 4.30, Q2_K 3.16): within 3%. */
    static const struct { const char *mix; double bpw; } bpw[] = {
        {"Q4_K_S", 4.67}, {"Q5_K_M", 5.70}, {"Q6_K", 6.56}, {"Q8_0", 8.50}, {"Q3_K_L", 4.30}, {"Q2_K", 3.16},
    };
    for (size_t i = 0; i < sizeof bpw / sizeof *bpw; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "llama3-8b:%s", bpw[i].mix);
        CHECK(yk_perf_model_preset(&m, spec, &err) == YK_OK, "%s", err.msg);
        double got = 8.0 * m.weight_bytes / m.n_params;
        CHECK(fabs(got / bpw[i].bpw - 1) < 0.03, "%s: %.3f bpw vs %.2f", bpw[i].mix, got, bpw[i].bpw);
        yk_perf_model_free(&m);
    }
    CHECK(yk_perf_model_preset(&m, "mixtral-8x7b:Q8_0", &err) == YK_OK && m.n_params > 46e9 && m.n_params < 47.5e9,
          "mixtral params %.4g", (double)m.n_params);
    yk_perf_model_free(&m);
    CHECK(yk_perf_model_preset(&m, "llama3-70b", &err) == YK_E_INVALID && strstr(err.msg, "no type"), "%s", err.msg);
    CHECK(yk_perf_model_preset(&m, "llama9:Q4_0", &err) == YK_E_INVALID && strstr(err.msg, "unknown preset"), "%s", err.msg);
    CHECK(yk_perf_model_preset(&m, "llama3-8b:Q4_X", &err) == YK_E_INVALID && strstr(err.msg, "unknown type"), "%s", err.msg);
}

/* A two-layer model of one F16 FFN tensor a layer (1e6 elements, 2e6 bytes), hidden 1000, 10 heads of
 * 100 (all KV), FFN 2048 columns, vocabulary 1000; no embedding or output tensors. */
static void tiny_model(yk_perf_model *m, yk_perf_tensor *t)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "tiny");
    m->hp = (yk_hparams){.arch = "llama", .n_layer = 2, .n_embd = 1000, .n_head = 10, .n_head_kv = 10, .head_dim = 100,
                         .n_ff = 2048, .n_vocab = 1000};
    for (int l = 0; l < 2; l++) t[l] = (yk_perf_tensor){.layer = l, .role = YK_ROLE_FFN, .type = YK_TYPE_F16, .n_params = 1000000, .bytes = 2000000};
    m->tensors = t;
    m->n_tensors = 2;
    m->weight_bytes = 4000000;
    m->n_params = 2000000;
}

static yk_profile tiny_profile(void)
{
    yk_profile p = {0};
    snprintf(p.name, sizeof p.name, "tiny");
    p.tp = YK_TP_MEGATRON;
    p.ar_per_layer = 2;
    p.act_bytes = 4;
    p.kv_bytes = 2;
    p.ubatch = 512;
    p.flash_attn = true;
    p.mem_frac = 1;
    double v[YK_F_COUNT] = {[YK_F_ETA_BW] = 0.5, [YK_F_QRATE] = 0, [YK_F_ETA_F] = 0.5, [YK_F_T_LAYER] = 10, [YK_F_T_TOK] = 100,
                            [YK_F_HOP] = 0, [YK_F_AR_SCALE] = 1};
    for (int k = 0; k < YK_F_COUNT; k++) p.f[k] = (yk_factor){v[k], v[k], v[k], false};
    return p;
}

static void tiny_rig(yk_perf_rig *rig, uint32_t n)
{
    yk_hw_dev d[4];
    for (uint32_t i = 0; i < n; i++)
        d[i] = (yk_hw_dev){.name = "g", .desc = "g", .kind = YK_DEV_GPU, .mem_gib = 1, .bw_gbs = 100, .tflops = 20, .units = 10};
    yk_hw_link l = {.name = "l", .bw_gbs = 10, .lat_us = 2, .ar_us = 5, .ar_step_us = 5};
    yk_perf_rig_gpus(rig, d, n, &l, true);
}

/* The tiny model and profile, 100 tokens of work, one tiny device, laid out: where the hand-computed
 * tests start (test_predict_hand derives its figures). */
typedef struct {
    yk_perf_model m;
    yk_perf_tensor tt[2];
    yk_profile p;
    yk_perf_work w;
    yk_perf_rig rig;
    yk_perf_layout lay;
} tiny_case;

static void tiny_case_init(tiny_case *c)
{
    yk_err err;
    tiny_model(&c->m, c->tt);
    c->p = tiny_profile();
    c->w = (yk_perf_work){.n_ctx = 100, .n_seq = 1, .n_prompt = 100, .n_past = 0};
    tiny_rig(&c->rig, 1);
    CHECK(yk_perf_layout_make(&c->m, &c->rig, &c->p, 1, 1, NULL, &c->lay, &err) == YK_OK, "%s", err.msg);
}

static void test_predict_hand(void)
{
    tiny_case c;
    yk_perf_result r;
    yk_err err;

    /* One device. Decode: reads 2 x 2e6 B at 100 GB/s x 0.5 = 80 us; FLOPs 2 x 2e6 = 4e6 at 20 TFLOPS
     * x 0.5 = 0.4 us (less); launches 2 x 10 us; fixed 100 us. Step 200 us = 5000 tok/s. */
    tiny_case_init(&c);
    CHECK(yk_perf_predict(&c.m, &c.rig, &c.lay, &c.p, &c.w, &r, &err) == YK_OK, "%s", err.msg);
    CHECK(near(r.decode1.weights_s, 80e-6, 1e-9) && near(r.decode1.launch_s, 120e-6, 1e-9) && r.decode1.allreduce_s == 0 &&
              near(r.decode1.total_s, 200e-6, 1e-9) && near(r.decode1.tok_s, 5000, 1e-9),
          "1 device decode: %g s", r.decode1.total_s);
    /* Prefill of 100 tokens (one micro-batch), cached on average 50: weights 80 us; KV read 2 layers x
     * (2 x 10 heads x 100 x 2 B) x 50 = 4e5 B = 8 us; FLOPs 2 x 100 x 2e6 + 4 x 100 x 50 x 100 x 10 x 2
     * = 4.4e8 at 10 TFLOPS = 44 us < 88. Step 88 + 20 + 100 = 208 us: 100 / 208 us = 480769 tok/s. */
    CHECK(near(r.prefill.total_s, 208e-6, 1e-9) && near(r.prefill.kv_s, 8e-6, 1e-9) && r.prefill.compute_s == 0,
          "1 device prefill: %g s", r.prefill.total_s);
    /* Memory: weights 4e6; KV 2 x 4000 x 100 = 8e5; buffers 4 x 100 x (4 x 1000 + 2 x 2048) + 4 x 1000
     * = 3242400; no runtime. */
    CHECK(r.mem[0].weights == 4000000 && r.mem[0].kv == 800000 && r.mem[0].buffers == 3242400 && r.mem[0].overhead == 0 &&
              r.mem[0].used == 8042400 && r.fits,
          "memory: %llu %llu %llu", (unsigned long long)r.mem[0].weights, (unsigned long long)r.mem[0].kv,
          (unsigned long long)r.mem[0].buffers);

    /* TP 2: each reads half (40 us); 2 all-reduces a layer x 2 layers of (5 + 5 us + 2*1/2 x 4000 B /
     * 10 GB/s = 0.4 us) = 41.6 us; launches 20; fixed 100. Step 201.6 us. */
    tiny_rig(&c.rig, 2);
    CHECK(yk_perf_layout_make(&c.m, &c.rig, &c.p, 2, 1, NULL, &c.lay, &err) == YK_OK, "%s", err.msg);
    CHECK(c.lay.ffn_cols[0] == 1024 && c.lay.kv_heads[0] == 5 && c.lay.q_heads[1] == 5, "tp2 split");
    CHECK(yk_perf_predict(&c.m, &c.rig, &c.lay, &c.p, &c.w, &r, &err) == YK_OK, "%s", err.msg);
    CHECK(near(r.decode1.weights_s, 40e-6, 1e-9) && near(r.decode1.allreduce_s, 41.6e-6, 1e-9) &&
              near(r.decode1.total_s, 201.6e-6, 1e-9) && r.mem[0].weights == 2000000,
          "tp2 decode: %g s, ar %g", r.decode1.total_s, r.decode1.allreduce_s);
    /* Traffic: 4 all-reduces x 2*1/2 x 4000 B = 16000 B per token. */
    CHECK(near(r.comm_bytes_tok, 16000, 1e-12), "tp2 traffic %g", r.comm_bytes_tok);

    /* PP 2: stages of one layer: 2e6 B at 50 GB/s = 40 us reads + 10 us launch each; one hop of 2 us +
     * 4000 B / 10 GB/s = 2.4 us; fixed 100. Step 202.4 us. Each device busy 50 us of it: idle 75.3%. */
    CHECK(yk_perf_layout_make(&c.m, &c.rig, &c.p, 1, 2, NULL, &c.lay, &err) == YK_OK, "%s", err.msg);
    CHECK(c.lay.layer_end[0] == 1 && c.lay.layer_end[1] == 2, "pp2 layers");
    CHECK(yk_perf_predict(&c.m, &c.rig, &c.lay, &c.p, &c.w, &r, &err) == YK_OK, "%s", err.msg);
    CHECK(near(r.decode1.total_s, 202.4e-6, 1e-9) && near(r.decode1.hop_s, 2.4e-6, 1e-9) &&
              near(r.decode1.idle_frac, 1 - 50.0 / 202.4, 1e-9),
          "pp2 decode: %g s, idle %g", r.decode1.total_s, r.decode1.idle_frac);
    /* 4 sequences through PP 2 with overlapping micro-batches: 2 micro-batches of 2 sequences; a
     * stage at batch 2 still reads 40 us (weights read once) + 10 us; tick = max(50 + 2.8 hop (8000 B),
     * 50 + 100 fixed after the last stage) = 150 us; step = 2 x 150 = 300 us; 4 / 300 us = 13333 tok/s. */
    c.p.pp_overlap = true;
    c.w.n_seq = 4;
    CHECK(yk_perf_predict(&c.m, &c.rig, &c.lay, &c.p, &c.w, &r, &err) == YK_OK, "%s", err.msg);
    CHECK(near(r.decode.total_s, 300e-6, 1e-9) && near(r.decode.tok_s, 4 / 300e-6, 1e-9), "pp2 x 4 seqs: %g s", r.decode.total_s);
    /* Without overlap the 4 sequences go through the stages together: 2 x 50 + a hop of 16000 B
     * (2 + 1.6 = 3.6 us) + 100 = 203.6 us. */
    c.p.pp_overlap = false;
    CHECK(yk_perf_predict(&c.m, &c.rig, &c.lay, &c.p, &c.w, &r, &err) == YK_OK, "%s", err.msg);
    CHECK(near(r.decode.total_s, 203.6e-6, 1e-9), "pp2 x 4 seqs sequential: %g s", r.decode.total_s);
    /* Too little memory: 1 GiB holds it; 0.005 GiB (5.37 MB) does not, and the reason names the device. */
    c.rig.dev[1].mem_gib = 0.005;
    CHECK(yk_perf_predict(&c.m, &c.rig, &c.lay, &c.p, &c.w, &r, &err) == YK_OK && !r.fits && r.mem[0].fits && !r.mem[1].fits &&
              strstr(r.why, "device 1"),
          "%s", r.why);
}

/* qmac and hmac: prefill multiply-adds with quantised (qmac) or F16/BF16 (hmac) weights run at their
 * own rate instead of as FLOPs, and each leaves the other kind of weights alone. */
static void test_mac_rates(void)
{
    tiny_case c;
    yk_perf_result r;
    yk_err err;
    tiny_case_init(&c);
    /* Off (or on for the other kind): as in test_predict_hand, the FLOPs (44 us) stay under the
     * reads (88 us): 208 us. On, 0.1 G/s per unit x 10 units: 100 tokens x 2e6 weights / 1e9 = 200
     * ms, plus the attention FLOPs 4 x 100 x 50 x 100 x 10 x 2 = 4e7 at 10 TFLOPS = 4 us; reads 88
     * us, so compute adds 200.004 ms - 88 us beyond them; step 200.004 ms + 20 us launches + 100 us
     * fixed. Decode (1 token): 2 ms of multiply-adds against 80 us of reads, plus 120 us. */
    static const struct {
        yk_type type; /* of both tensors: same bytes, only the compute path changes */
        yk_factor_id rate;
        bool applies;
    } cases[] = {
        {YK_TYPE_F16, YK_F_COUNT, false}, {YK_TYPE_F16, YK_F_QMAC, false}, {YK_TYPE_F16, YK_F_HMAC, true},
        {YK_TYPE_Q4_0, YK_F_COUNT, false}, {YK_TYPE_Q4_0, YK_F_HMAC, false}, {YK_TYPE_Q4_0, YK_F_QMAC, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int l = 0; l < 2; l++) c.tt[l].type = cases[i].type;
        c.p.f[YK_F_QMAC].value = cases[i].rate == YK_F_QMAC ? 0.1 : 0;
        c.p.f[YK_F_HMAC].value = cases[i].rate == YK_F_HMAC ? 0.1 : 0;
        const char *what = cases[i].rate == YK_F_QMAC ? "qmac" : cases[i].rate == YK_F_HMAC ? "hmac" : "neither";
        CHECK(yk_perf_predict(&c.m, &c.rig, &c.lay, &c.p, &c.w, &r, &err) == YK_OK, "%s", err.msg);
        if (!cases[i].applies) {
            CHECK(near(r.prefill.total_s, 208e-6, 1e-9) && r.prefill.compute_s == 0, "%s on %s: prefill %g s", what,
                  yk_type_name(cases[i].type), r.prefill.total_s);
            continue;
        }
        CHECK(near(r.prefill.total_s, 200.004e-3 + 120e-6, 1e-9) && near(r.prefill.compute_s, 200.004e-3 - 88e-6, 1e-9),
              "%s on %s: prefill %g s, compute %g s", what, yk_type_name(cases[i].type), r.prefill.total_s,
              r.prefill.compute_s);
        CHECK(near(r.decode1.total_s, 2e-3 + 120e-6, 1e-9), "%s on %s: decode %g s", what, yk_type_name(cases[i].type),
              r.decode1.total_s);
    }
}

static void test_layouts(void)
{
    yk_hw_table t = table();
    yk_perf_model m;
    yk_err err;
    CHECK(yk_perf_model_preset(&m, "llama3-70b:Q4_K_M", &err) == YK_OK, "%s", err.msg);
    const yk_profile *yoke = yk_hw_find_profile(&t, "yoke"), *vllm = yk_hw_find_profile(&t, "vllm"),
                     *lcpp = yk_hw_find_profile(&t, "llama.cpp-layer");
    yk_hw_dev d[16];
    size_t n;
    yk_perf_rig rig;
    yk_perf_layout lay;
    CHECK(yk_hw_parse_devs(&t, "--gpus", "16x4090", d, 16, &n, &err) == YK_OK, "%s", err.msg);
    const yk_hw_link *pcie4 = yk_hw_find_link(&t, "pcie4");
    /* 3 devices over 8 KV heads: 8/3 each -> 3, 3, 2 (remainder to the lower ranks), query heads x 8;
     * FFN 28672 = 112 blocks of 256: 38, 37, 37 blocks; vocabulary 128256 / 3 = 42752 each. */
    yk_perf_rig_gpus(&rig, d, 3, pcie4, false);
    CHECK(yk_perf_layout_make(&m, &rig, yoke, 3, 1, NULL, &lay, &err) == YK_OK, "%s", err.msg);
    CHECK(lay.kv_heads[0] == 3 && lay.kv_heads[1] == 3 && lay.kv_heads[2] == 2 && lay.q_heads[2] == 16 && lay.ffn_cols[0] == 9728 &&
              lay.ffn_cols[2] == 9472 && lay.vocab_rows[1] == 42752,
          "tp3: kv %u %u %u ffn %u %u", lay.kv_heads[0], lay.kv_heads[1], lay.kv_heads[2], lay.ffn_cols[0], lay.ffn_cols[2]);
    /* 16 devices, 8 KV heads: each keeps one KV head, 64 query heads -> 4 each. */
    yk_perf_rig_gpus(&rig, d, 16, pcie4, false);
    CHECK(yk_perf_layout_make(&m, &rig, yoke, 16, 1, NULL, &lay, &err) == YK_OK && lay.kv_heads[15] == 1 && lay.q_heads[7] == 4,
          "tp16: %s", err.msg);
    /* PP 2 with ratios 3:1 -> 60 and 20 layers. */
    yk_perf_rig_gpus(&rig, d, 2, pcie4, false);
    double r31[2] = {3, 1};
    CHECK(yk_perf_layout_make(&m, &rig, yoke, 1, 2, r31, &lay, &err) == YK_OK && lay.layer_end[0] == 60 && lay.layer_end[1] == 80,
          "pp2 3:1");
    /* Errors: a stage without layers, tp x pp not the device count, TP in a layer-split engine, vLLM's
     * divisibility and identical-GPU rules, more stages than layers. */
    double r1000[2] = {1000, 1};
    CHECK(yk_perf_layout_make(&m, &rig, yoke, 1, 2, r1000, &lay, &err) == YK_E_INVALID && strstr(err.msg, "zero of the 80 layers"),
          "%s", err.msg);
    CHECK(yk_perf_layout_make(&m, &rig, yoke, 2, 2, NULL, &lay, &err) == YK_E_INVALID && strstr(err.msg, "= 4 devices"), "%s", err.msg);
    CHECK(yk_perf_layout_make(&m, &rig, lcpp, 2, 1, NULL, &lay, &err) == YK_E_INVALID && strstr(err.msg, "no tensor parallelism"),
          "%s", err.msg);
    yk_perf_rig_gpus(&rig, d, 3, pcie4, false);
    CHECK(yk_perf_layout_make(&m, &rig, vllm, 3, 1, NULL, &lay, &err) == YK_E_INVALID && strstr(err.msg, "divide"), "%s", err.msg);
    yk_hw_dev mixed[2] = {*yk_hw_find_dev(&t, "4090"), *yk_hw_find_dev(&t, "3090")};
    yk_perf_rig_gpus(&rig, mixed, 2, pcie4, false);
    CHECK(yk_perf_layout_make(&m, &rig, vllm, 2, 1, NULL, &lay, &err) == YK_E_INVALID && strstr(err.msg, "identical"), "%s", err.msg);
    /* Mixed cards split by bandwidth: the 4090 (1008 GB/s) takes more than the 3090 (936). */
    CHECK(yk_perf_layout_make(&m, &rig, yoke, 1, 2, NULL, &lay, &err) == YK_OK && lay.layer_end[0] > 40 && lay.ratio[0] > lay.ratio[1],
          "mixed pp: %u", lay.layer_end[0]);
    yk_perf_rig_gpus(&rig, d, 16, pcie4, false);
    yk_perf_model small;
    CHECK(yk_perf_model_preset(&small, "llama3.2-1b:Q8_0", &err) == YK_OK, "%s", err.msg);
    CHECK(yk_perf_layout_make(&small, &rig, yoke, 1, 16, NULL, &lay, &err) == YK_OK, "16 stages of 16 layers");
    rig.n_dev = 17;
    for (int i = 0; i < 17; i++) rig.dev[i] = d[0];
    CHECK(yk_perf_layout_make(&small, &rig, yoke, 1, 17, NULL, &lay, &err) == YK_E_INVALID && strstr(err.msg, "more pipeline stages"),
          "%s", err.msg);
    yk_perf_model_free(&small);

    /* The recommendation on 2x4090 is TP (two GPUs read half the weights each), and two GPUs are
     * not twice one: all-reduces and fixed costs remain. */
    yk_perf_rig_gpus(&rig, d, 2, pcie4, false);
    yk_perf_work w = {.n_ctx = 4096, .n_seq = 1, .n_prompt = 512, .n_past = 512};
    yk_perf_option best;
    uint32_t tried;
    CHECK(yk_perf_recommend(&m, &rig, yoke, &w, &best, &tried, &err) == YK_OK && tried == 2 && best.lay.tp == 2 && best.res.fits,
          "recommend: tp %u", best.lay.tp);
    CHECK(best.res.decode1.allreduce_s > 0 && best.res.decode1.tok_s > 20 && best.res.decode1.tok_s < 40, "2x4090 70B: %.1f tok/s",
          best.res.decode1.tok_s);
    /* llama.cpp's layer split of the same: pipeline, about one GPU's speed (half of TP's). */
    yk_perf_option lb;
    CHECK(yk_perf_recommend(&m, &rig, lcpp, &w, &lb, &tried, &err) == YK_OK && lb.lay.pp == 2 && lb.res.decode1.idle_frac > 0.4 &&
              lb.res.decode1.tok_s < 0.7 * best.res.decode1.tok_s,
          "layer split %.1f tok/s", lb.res.decode1.tok_s);
    /* One 4090 cannot hold 42.5 GB. */
    rig.n_dev = 1;
    CHECK(yk_perf_recommend(&m, &rig, yoke, &w, &best, &tried, &err) == YK_OK && !best.res.fits && strstr(best.res.why, "short"),
          "%s", best.res.why);
    yk_perf_model_free(&m);
    yk_hw_free(&t);
}

static void test_golden_headers(void)
{
    char buf[1024];
    const char *path = tu_shared_path(buf, sizeof buf, "golden/models/stories260K.gguf");
    if (!path) {
        printf("  (golden models absent: header checks skipped)\n");
        return;
    }
    yk_hw_table t = table();
    const yk_profile *p = yk_hw_find_profile(&t, "yoke-cpu");
    yk_perf_model m;
    yk_err err;
    /* stories260K, all F32: vocabulary 512 x 64 twice (embedding, output) = 65536 elements; a layer:
     * q 64x64 + k 64x32 + v 64x32 + o 64x64 + 3 x 64x172 + 2 norms of 64 = 45440; 5 layers = 227200;
     * output_norm 64. 292800 elements x 4 B = 1171200 bytes. */
    CHECK(yk_perf_model_gguf(&m, path, &err) == YK_OK, "%s", err.msg);
    CHECK(m.weight_bytes == 1171200 && m.n_params == 292800 && m.hp.n_layer == 5 && m.hp.n_ff == 172, "stories260K: %llu",
          (unsigned long long)m.weight_bytes);
    /* TP 2 on two CPU devices: each holds half the vocabulary of embedding and output (2 x 65536 B),
     * 4 of 8 query heads (q, o: 8192 B each), 2 of 4 KV heads (k, v: 4096 B each), 86 of 172 FFN
     * columns (3 x 22016 B) and all norms (512 B) in each of 5 layers: 5 x 91136 = 455680, and
     * output_norm 256: 65536 + 65536 + 455680 + 256 = 587008 bytes per device. */
    yk_hw_dev host = *yk_hw_find_dev(&t, "cpu");
    yk_perf_rig rig;
    yk_perf_rig_cpu(&rig, &host, 2, 1, yk_hw_find_link(&t, "inproc"));
    yk_perf_layout lay;
    yk_perf_result r;
    yk_perf_work w = {.n_ctx = 256, .n_seq = 1, .n_prompt = 16, .n_past = 16};
    CHECK(yk_perf_layout_make(&m, &rig, p, 2, 1, NULL, &lay, &err) == YK_OK, "%s", err.msg);
    CHECK(yk_perf_predict(&m, &rig, &lay, p, &w, &r, &err) == YK_OK, "%s", err.msg);
    CHECK(r.mem[0].weights == 587008 && r.mem[1].weights == 587008, "stories260K tp2: %llu %llu",
          (unsigned long long)r.mem[0].weights, (unsigned long long)r.mem[1].weights);
    /* KV cache (f32 in yoke-cpu): 5 layers x 2 (K and V) x 2 heads x 8 x 4 B x 256 = 163840 per device. */
    CHECK(r.mem[0].kv == 163840, "kv %llu", (unsigned long long)r.mem[0].kv);
    yk_perf_model_free(&m);

    /* rand-llama-gqa-Q4_K_M (n_embd 256, n_ff 512, 8/2 heads of 32, vocabulary 512, 2 layers):
     *   token_embd Q4_K 131072/256*144 = 73728; output Q6_K 131072/256*210 = 107520
     *   layer 0: q 36864 + k 9216 + v 9216 + o 36864 + 3 x 73728 + norms 2048 = 315392
     *   layer 1 (last eighth: v, down in Q6_K): 36864 + 9216 + 13440 + 36864 + 2 x 73728 + 107520 + 2048 = 353408
     *   output_norm 1024: total 851072 bytes (the file's 863712 less its header). */
    path = tu_shared_path(buf, sizeof buf, "golden/models/rand-llama-gqa-Q4_K_M.gguf");
    CHECK(yk_perf_model_gguf(&m, path, &err) == YK_OK, "%s", err.msg);
    CHECK(m.weight_bytes == 851072, "gqa Q4_K_M: %llu", (unsigned long long)m.weight_bytes);
    size_t q6 = 0;
    for (size_t i = 0; i < m.n_tensors; i++) q6 += m.tensors[i].type == YK_TYPE_Q6_K;
    CHECK(q6 == 3, "3 Q6_K tensors, as the golden README lists: %zu", q6);
    yk_perf_model_free(&m);
    /* Tied output (qwen2): the embedding is also the output projection and is read every token. */
    path = tu_shared_path(buf, sizeof buf, "golden/models/rand-qwen2-Q8_0.gguf");
    CHECK(yk_perf_model_gguf(&m, path, &err) == YK_OK && m.hp.tied_output, "%s", err.msg);
    yk_perf_rig_cpu(&rig, &host, 1, 2, yk_hw_find_link(&t, "inproc"));
    CHECK(yk_perf_layout_make(&m, &rig, p, 1, 1, NULL, &lay, &err) == YK_OK && yk_perf_predict(&m, &rig, &lay, p, &w, &r, &err) == YK_OK,
          "%s", err.msg);
    CHECK(r.mem[0].weights == m.weight_bytes, "tied: held once %llu vs %llu", (unsigned long long)r.mem[0].weights,
          (unsigned long long)m.weight_bytes);
    yk_perf_model_free(&m);
    CHECK(yk_perf_model_gguf(&m, "/nonexistent.gguf", &err) != YK_OK && strstr(err.msg, "/nonexistent.gguf"), "%s", err.msg);
    yk_hw_free(&t);
}

static void test_fit(void)
{
    yk_hw_table t = table();
    yk_profile truth = *yk_hw_find_profile(&t, "llama.cpp-layer");
    truth.f[YK_F_ETA_BW].value = 0.66;
    truth.f[YK_F_T_LAYER].value = 30;
    truth.f[YK_F_HOP].value = 150;
    static const char *const specs[] = {"llama3-8b:Q4_K_M", "llama2-70b:Q4_0"};
    static const char *const gpus[] = {"rtx3090", "rtx4090", "rtxa6000"};
    yk_perf_model models[2];
    yk_err err;
    yk_perf_obs obs[12];
    size_t n = 0;
    for (int i = 0; i < 2; i++) CHECK(yk_perf_model_preset(&models[i], specs[i], &err) == YK_OK, "%s", err.msg);
    /* Synthetic measurements made by the model itself with known factors, on 1 and 2 stages. */
    for (int mi = 0; mi < 2; mi++)
        for (int g = 0; g < 3; g++)
            for (uint32_t pp = 1; pp <= 2; pp++) {
                yk_perf_obs *o = &obs[n++];
                memset(o, 0, sizeof *o);
                const yk_hw_dev *d = yk_hw_find_dev(&t, gpus[g]);
                yk_hw_dev ds[2] = {*d, *d};
                yk_perf_rig_gpus(&o->rig, ds, pp, yk_hw_find_link(&t, "pcie4"), false);
                o->model = &models[mi];
                o->tp = 1;
                o->pp = pp;
                o->work = (yk_perf_work){.n_ctx = 4096, .n_seq = 1, .n_prompt = 128, .n_past = 64};
                o->metric = YK_METRIC_DECODE;
                CHECK(yk_perf_obs_predict(o, &truth, &o->value, &err) == YK_OK, "%s", err.msg);
            }
    /* Fit 3 factors, the others at the truth. */
    yk_profile a = truth, b;
    for (int k = 0; k < YK_F_COUNT; k++) a.f[k].fit = false;
    a.f[YK_F_ETA_BW] = (yk_factor){0.5, 0.3, 1, true};
    a.f[YK_F_T_LAYER] = (yk_factor){10, 0, 150, true};
    a.f[YK_F_HOP] = (yk_factor){10, 0, 500, true};
    b = a;
    double rms_a, rms_b;
    CHECK(yk_perf_fit(&a, obs, n, &rms_a, &err) == YK_OK, "%s", err.msg);
    b.f[YK_F_ETA_BW].value = 0.9; /* a different start value: the fit starts from the ranges' middle */
    CHECK(yk_perf_fit(&b, obs, n, &rms_b, &err) == YK_OK, "%s", err.msg);
    for (int k = 0; k < YK_F_COUNT; k++) CHECK(a.f[k].value == b.f[k].value, "deterministic %s", yk_factor_name(k));
    CHECK(rms_a == rms_b && rms_a < 0.005, "rms %g", rms_a);
    /* Recovered within the final grid step (ranges halve 10 times: 0.7/2^10/8, 150/2^10/8, ...): 1%. */
    CHECK(fabs(a.f[YK_F_ETA_BW].value / 0.66 - 1) < 0.01 && fabs(a.f[YK_F_T_LAYER].value - 30) < 3 &&
              fabs(a.f[YK_F_HOP].value - 150) < 5,
          "recovered eta %g t_layer %g hop %g", a.f[YK_F_ETA_BW].value, a.f[YK_F_T_LAYER].value, a.f[YK_F_HOP].value);
    /* More free factors than observations is refused. */
    CHECK(yk_perf_fit(&a, obs, 2, NULL, &err) == YK_E_INVALID && strstr(err.msg, "free factors"), "%s", err.msg);
    for (int i = 0; i < 2; i++) yk_perf_model_free(&models[i]);
    yk_hw_free(&t);
}

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void test_calibration(void)
{
    char buf[1024];
    const char *path = tu_shared_path(buf, sizeof buf, "calibration/measurements.tsv");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        printf("  (calibration rows absent: validation skipped)\n");
        return;
    }
    fclose(f);
    yk_hw_table t = table();
    yk_perf_calib c;
    yk_err err;
    CHECK(yk_perf_calib_load(&c, path, &t, &err) == YK_OK, "%s", err.msg);
    CHECK(c.n >= 22, "rows: %zu", c.n);
    double *errs = malloc(c.n * sizeof *errs);
    yk_perf_obs *sel = malloc(c.n * sizeof *sel);
    for (size_t pi = 0; pi < t.n_profiles; pi++) {
        const yk_profile *p = &t.profiles[pi];
        size_t n = 0;
        for (size_t i = 0; i < c.n; i++) {
            if (!yk_profile_explains(p, c.engine[i])) continue;
            double pred;
            CHECK(yk_perf_obs_predict(&c.obs[i], p, &pred, &err) == YK_OK, "%s", err.msg);
            sel[n] = c.obs[i];
            errs[n++] = fabs(pred / c.obs[i].value - 1);
        }
        if (!n) continue;
        qsort(errs, n, sizeof *errs, cmp_d);
        double med = n % 2 ? errs[n / 2] : 0.5 * (errs[n / 2 - 1] + errs[n / 2]);
        printf("  %s: median |error| %.1f%% over %zu rows\n", p->name, 100 * med, n);
        CHECK(med <= 0.10, "%s: median error %.3f > 10%%", p->name, med);
        /* The stored factors are what the deterministic fit gives (stored to 6 digits). */
        yk_profile q = *p;
        bool any = false;
        for (int k = 0; k < YK_F_COUNT; k++) any = any || q.f[k].fit;
        if (!any) continue;
        CHECK(yk_perf_fit(&q, sel, n, NULL, &err) == YK_OK, "%s", err.msg);
        for (int k = 0; k < YK_F_COUNT; k++)
            CHECK(near(q.f[k].value, p->f[k].value, 1e-5), "%s.%s: fit %.6g, stored %.6g (run yoke plan --fit)", p->name,
                  yk_factor_name(k), q.f[k].value, p->f[k].value);
    }
    free(errs);
    free(sel);
    yk_perf_calib_free(&c);
    /* Errors name the file, line and column. */
    char tmp[256];
    tu_tmp_path(tmp, sizeof tmp, ".tsv");
    static const struct { const char *body, *want; } bad[] = {
        {"group\tengine\n", "no column 'gpu'"},
        {"group\tengine\tgpu\tn_gpus\tlink\tmodel\tquant\tmodel_bytes\tmetric\tvalue\nx\tllamacpp-1\trtx9999\t1\t-\tllama3-8b\tQ4_0\t-\ttg\t1\n",
         ":2: unknown gpu 'rtx9999'"},
        {"group\tengine\tgpu\tn_gpus\tlink\tmodel\tquant\tmodel_bytes\tmetric\tvalue\nx\tnobody\trtx4090\t1\t-\tllama3-8b\tQ4_0\t-\ttg\t1\n",
         "no profile explains engine 'nobody'"},
        {"group\tengine\tgpu\tn_gpus\tlink\tmodel\tquant\tmodel_bytes\tmetric\tvalue\nx\tllamacpp-1\trtx4090\t1\t-\tllama3-8b\tQ4_0\t-\tzz\t1\n",
         "unknown metric 'zz'"},
        {"group\tengine\tgpu\tn_gpus\tlink\tmodel\tquant\tmodel_bytes\tmetric\tvalue\nx\tllamacpp-1\trtx4090\t1\t-\tllama3-8b\tAWQ\t-\ttg\t1\n",
         "model_bytes is missing"},
        {"group\tengine\tgpu\tn_gpus\tlink\tmodel\tquant\tmodel_bytes\tmetric\tvalue\nx\tllamacpp-1\trtx4090\t0\t-\tllama3-8b\tQ4_0\t-\ttg\t1\n",
         "n_gpus '0'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        f = fopen(tmp, "w");
        fputs(bad[i].body, f);
        fclose(f);
        CHECK(yk_perf_calib_load(&c, tmp, &t, &err) == YK_E_FORMAT && strstr(err.msg, bad[i].want) && strstr(err.msg, tmp),
              "case %zu: %s", i, err.msg);
    }
    remove(tmp);
    yk_hw_free(&t);
}

int main(void)
{
    test_building_blocks();
    test_preset_bytes();
    test_predict_hand();
    test_mac_rates();
    test_layouts();
    test_golden_headers();
    test_fit();
    test_calibration();
    return tu_done("test_perf");
}
