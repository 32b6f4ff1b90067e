/* test_hw.c: the hardware table and engine profiles (yoke/hw.h): the built-in data against the
 * calibration README's GPU table, lookups by alias with suggestions, user overrides and inheritance,
 * the command-line specs, and every parse error naming its file, line and field. */
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

static yk_hw_table load(void)
{
    yk_hw_table t = {0};
    yk_err err;
    yk_status st = yk_hw_load_default(&t, &err);
    CHECK(st == YK_OK, "built-in data: %s", err.msg);
    return t;
}

static void test_builtin(void)
{
    yk_hw_table t = load();
    /* Every GPU of ../shared/calibration/README.md with its memory, bandwidth, TFLOPS and price. */
    static const struct { const char *name; double mem, bw, tf, price; bool p2p; } gpus[] = {
        {"rtx3060", 12, 360, 25, 329, false},      {"rtx4060ti", 16, 288, 44, 499, false},
        {"rtx3090", 24, 936, 71, 1499, false},     {"rtx3090ti", 24, 1008, 80, 1999, false},
        {"rtx4090", 24, 1008, 165, 1599, false},   {"rtx5090", 32, 1792, 210, 1999, false},
        {"rtxa4000", 16, 448, 77, 1000, true},     {"rtxa5000", 24, 768, 111, 2250, true},
        {"rtxa6000", 48, 768, 155, 4650, true},    {"rtx6000ada", 48, 960, 364, 6800, true},
        {"l40s", 45, 864, 362, 8000, true},        {"a100-40", 40, 1555, 312, 10000, true},
        {"a100-80-sxm", 80, 2039, 312, 15000, true}, {"a100-80-pcie", 80, 1935, 312, 15000, true},
        {"h100-pcie", 79.6, 2000, 756, 28000, true}, {"h100-sxm", 79.6, 3350, 989, 30000, true},
        {"h200", 140.4, 4800, 989, 32000, true},   {"mi300x", 192, 5300, 1307, 15000, true},
    };
    for (size_t i = 0; i < sizeof gpus / sizeof *gpus; i++) {
        const yk_hw_dev *d = yk_hw_find_dev(&t, gpus[i].name);
        CHECK(d != NULL, "gpu %s missing", gpus[i].name);
        if (!d) continue;
        CHECK(d->mem_gib == gpus[i].mem && d->bw_gbs == gpus[i].bw && d->tflops == gpus[i].tf && d->price_usd == gpus[i].price &&
                  d->p2p == gpus[i].p2p && d->units > 0 && d->kind == YK_DEV_GPU,
              "gpu %s: %g GiB %g GB/s %g TFLOPS $%g", gpus[i].name, d->mem_gib, d->bw_gbs, d->tflops, d->price_usd);
        CHECK(yk_hw_find_link(&t, d->link) != NULL, "gpu %s: link %s unknown", d->name, d->link);
    }
    static const char *const links[] = {"pcie3", "pcie4", "pcie5", "nvlink3", "nvlink4", "nvswitch", "eth10g", "eth100g",
                                        "inproc", "shm", "tcp"};
    for (size_t i = 0; i < sizeof links / sizeof *links; i++) CHECK(yk_hw_find_link(&t, links[i]) != NULL, "link %s", links[i]);
    /* PCIe 4 all-reduce latency: 12 us for 2 devices, 48 us for 8 (README: ~12, 40-54). */
    const yk_hw_link *l = yk_hw_find_link(&t, "pcie4");
    CHECK(l && l->ar_us + l->ar_step_us == 12 && l->ar_us + 7 * l->ar_step_us == 48, "pcie4 all-reduce latency");
    static const char *const profiles[] = {"llama.cpp-layer", "llama.cpp-tensor", "vllm", "trtllm", "yoke", "yoke-cpu"};
    for (size_t i = 0; i < sizeof profiles / sizeof *profiles; i++) {
        const yk_profile *p = yk_hw_find_profile(&t, profiles[i]);
        CHECK(p != NULL, "profile %s missing", profiles[i]);
        for (int k = 0; p && k < YK_F_COUNT; k++)
            CHECK(p->f[k].value >= p->f[k].lo && p->f[k].value <= p->f[k].hi, "%s.%s outside its range", p->name, yk_factor_name(k));
    }
    /* Inherited factors equal the parent's. */
    const yk_profile *lay = yk_hw_find_profile(&t, "llama.cpp-layer"), *yo = yk_hw_find_profile(&t, "yoke");
    CHECK(lay && yo && yo->f[YK_F_ETA_BW].value == lay->f[YK_F_ETA_BW].value && !yo->f[YK_F_ETA_BW].fit, "yoke inherits eta_bw");
    CHECK(yk_hw_profile_for(&t, "yoke", YK_DEV_CPU) == yk_hw_find_profile(&t, "yoke-cpu"), "yoke on CPUs is yoke-cpu");
    CHECK(yk_hw_profile_for(&t, "vllm", YK_DEV_GPU) == yk_hw_find_profile(&t, "vllm"), "vllm on GPUs");
    yk_hw_free(&t);
}

static void test_lookup(void)
{
    yk_hw_table t = load();
    const char *names[] = {"4090", "RTX 4090", "rtx-4090", "nvidia rtx4090", "RTX4090"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const yk_hw_dev *d = yk_hw_find_dev(&t, names[i]);
        CHECK(d && !strcmp(d->name, "rtx4090"), "'%s' -> %s", names[i], d ? d->name : "NULL");
    }
    CHECK(yk_hw_find_dev(&t, "h100") && !strcmp(yk_hw_find_dev(&t, "h100")->name, "h100-sxm"), "h100 alias");
    CHECK(yk_hw_find_dev(&t, "4909") == NULL && yk_hw_find_dev(&t, "") == NULL, "unknown names");
    char sug[256];
    yk_hw_suggest(&t, 0, "4909", sug, sizeof sug);
    CHECK(strstr(sug, "rtx4090") != NULL, "suggestions for 4909: %s", sug);
    yk_hw_suggest(&t, 0, "a100-8", sug, sizeof sug);
    CHECK(strstr(sug, "a100-80") != NULL, "suggestions for a100-8: %s", sug);
    yk_hw_suggest(&t, 1, "pcie9", sug, sizeof sug);
    CHECK(strstr(sug, "pcie") != NULL, "link suggestions: %s", sug);
    yk_hw_suggest(&t, 2, "vlm", sug, sizeof sug);
    CHECK(strstr(sug, "vllm") != NULL, "profile suggestions: %s", sug);
    yk_hw_free(&t);
}

static void test_specs(void)
{
    yk_hw_table t = load();
    yk_hw_dev d[YK_PERF_MAX_DEV];
    size_t n;
    yk_err err;
    CHECK(yk_hw_parse_devs(&t, "--gpus", "2x4090,3090", d, YK_PERF_MAX_DEV, &n, &err) == YK_OK && n == 3 &&
              !strcmp(d[1].name, "rtx4090") && !strcmp(d[2].name, "rtx3090"), "2x4090,3090");
    CHECK(yk_hw_parse_devs(&t, "--gpus", "8xh100-sxm", d, YK_PERF_MAX_DEV, &n, &err) == YK_OK && n == 8, "8xh100-sxm");
    CHECK(yk_hw_parse_devs(&t, "--gpus", "2 x a100-40", d, YK_PERF_MAX_DEV, &n, &err) == YK_OK && n == 2 &&
              !strcmp(d[0].name, "a100-40"), "2 x a100-40: %s", err.msg);
    static const struct { const char *spec, *want; } bad[] = {
        {"2x4909", "unknown device '4909'"}, {"2x", "names no device"}, {"0x4090", "count must be"},
        {"4090,,3090", "item 2"},            {"65x4090", "more than 64"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        yk_status st = yk_hw_parse_devs(&t, "--gpus", bad[i].spec, d, YK_PERF_MAX_DEV, &n, &err);
        CHECK(st == YK_E_INVALID && strstr(err.msg, bad[i].want) && strstr(err.msg, "--gpus"), "'%s': %s", bad[i].spec, err.msg);
    }
    uint32_t count;
    CHECK(yk_hw_parse_custom("--gpu", "name=x9,vram=24,bw=1000,tflops=100,price=900,count=2", d, &count, &err) == YK_OK &&
              count == 2 && d[0].mem_gib == 24 && d[0].bw_gbs == 1000 && d[0].price_usd == 900 && d[0].units > 0,
          "custom: %s", err.msg);
    static const struct { const char *spec, *want; } badc[] = {
        {"name=x,vram=24", "missing field bw"}, {"name=x,vram=abc,bw=1,tflops=1", "'abc' for field 'vram'"},
        {"name=x,vram=1,bw=1,tflops=1,color=red", "unknown field 'color'"}, {"vram", "not key=value"},
        {"name=x,vram=1,bw=1,tflops=1,count=0", "field 'count'"},
    };
    for (size_t i = 0; i < sizeof badc / sizeof *badc; i++) {
        yk_status st = yk_hw_parse_custom("--gpu", badc[i].spec, d, &count, &err);
        CHECK(st == YK_E_INVALID && strstr(err.msg, badc[i].want) && strstr(err.msg, "--gpu"), "'%s': %s", badc[i].spec, err.msg);
    }
    yk_hw_link l;
    CHECK(yk_hw_parse_link(&t, "--link", "nvlink4", &l, &err) == YK_OK && l.bw_gbs == 450, "nvlink4");
    /* A custom link's all-reduce costs one latency per device: lat 7 -> ar 7 + 7 (n - 1). */
    CHECK(yk_hw_parse_link(&t, "--link", "bw=20,lat=7", &l, &err) == YK_OK && l.bw_gbs == 20 && l.ar_us == 7 && l.ar_step_us == 7,
          "custom link");
    static const struct { const char *spec, *want; } badl[] = {
        {"pcie9", "unknown link 'pcie9'"}, {"bw=abc,lat=3", "'abc' for field 'bw'"}, {"bw=10", "missing field lat"},
        {"bw=1,lat=1,x=2", "unknown field 'x'"},
    };
    for (size_t i = 0; i < sizeof badl / sizeof *badl; i++) {
        yk_status st = yk_hw_parse_link(&t, "--link", badl[i].spec, &l, &err);
        CHECK(st == YK_E_INVALID && strstr(err.msg, badl[i].want) && strstr(err.msg, "--link"), "'%s': %s", badl[i].spec, err.msg);
    }
    yk_hw_free(&t);
}

static void test_overrides(void)
{
    yk_hw_table t = load();
    yk_err err;
    size_t n_devs = t.n_devs;
    const char *txt = "# mine\ngpu\trtx4090\tmem_gib=24\tbw_gbs=1008\ttflops=165\tprice=1200\t# used\n"
                      "gpu\tmycard\tdesc=My Card\tmem_gib=10\tbw_gbs=500\ttflops=50\tunits=40\n"
                      "factor\tllama.cpp-layer\teta_bw\t0.5\tfit=0.3:1\n";
    CHECK(yk_hw_load_text(&t, txt, strlen(txt), "mine.tsv", &err) == YK_OK, "%s", err.msg);
    CHECK(t.n_devs == n_devs + 1, "one row replaced, one added: %zu", t.n_devs);
    CHECK(yk_hw_find_dev(&t, "4090")->price_usd == 1200, "override price");
    CHECK(yk_hw_find_dev(&t, "mycard") && yk_hw_find_dev(&t, "mycard")->units == 40, "new card");
    /* yoke inherits llama.cpp-layer's factors: the override reaches it. */
    CHECK(yk_hw_find_profile(&t, "yoke")->f[YK_F_ETA_BW].value == 0.5, "inherited override");
    static const struct { const char *txt, *want; } bad[] = {
        {"gpux\ta\n", "bad.tsv:1: unknown record kind 'gpux'"},
        {"\n\ngpu\ta\tmem_gib=1\n", "bad.tsv:3: gpu 'a' needs mem_gib and bw_gbs"},
        {"gpu\ta\tmem_gib=1\tbw_gbs=x\n", "bad value 'x' for key 'bw_gbs'"},
        {"gpu\ta\tcolour=1\n", "unknown key 'colour'"},
        {"gpu\ta\tmem_gib\n", "'mem_gib' is not key=value"},
        {"link\tl\tlat_us=3\n", "link 'l' needs bw_gbs"},
        {"factor\tnope\teta_bw\t1\tfixed\n", "unknown profile 'nope'"},
        {"factor\tvllm\tetabw\t1\tfixed\n", "unknown factor 'etabw'"},
        {"factor\tvllm\teta_bw\t0.5\tfit=1:0\n", "fit=LO:HI with LO <= HI"},
        {"factor\tvllm\teta_bw\t5\tfit=0:1\n", "outside its range"},
        {"factor\tvllm\teta_bw\t1\n", "5 fields"},
        {"profile\tp\ttp=diagonal\n", "bad value 'diagonal' for key 'tp'"},
        {"profile\tp\tinherit=nobody\n", "inherits from unknown profile 'nobody'"},
        {"profile\tq\nfactor\tq\teta_bw\tinherit\tfixed\n", "names no parent"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t before = t.n_devs + t.n_links + t.n_profiles;
        yk_status st = yk_hw_load_text(&t, bad[i].txt, strlen(bad[i].txt), "bad.tsv", &err);
        CHECK(st == YK_E_FORMAT && strstr(err.msg, bad[i].want) && !strncmp(err.msg, "bad.tsv:", 8), "case %zu: %s", i,
              err.msg);
        CHECK(t.n_devs + t.n_links + t.n_profiles == before, "a failed load leaves the table as it was");
    }
    /* A profile written out loads back to the same factors. */
    char path[256];
    tu_tmp_path(path, sizeof path, ".tsv");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "tmp file");
    if (f) {
        yk_profile p = *yk_hw_find_profile(&t, "vllm");
        snprintf(p.name, sizeof p.name, "vllm-copy");
        p.f[YK_F_ETA_BW].value = 0.6125;
        yk_profile_write(f, &p);
        fclose(f);
        CHECK(yk_hw_load_file(&t, path, &err) == YK_OK, "%s", err.msg);
        const yk_profile *q = yk_hw_find_profile(&t, "vllm-copy");
        CHECK(q && q->f[YK_F_ETA_BW].value == 0.6125 && q->f[YK_F_ETA_BW].fit && q->mem_frac == p.mem_frac && q->tp == p.tp &&
                  q->ubatch == p.ubatch,
              "round trip");
        unlink(path);
    }
    CHECK(yk_hw_load_file(&t, "/nonexistent/x.tsv", &err) == YK_E_IO && strstr(err.msg, "/nonexistent/x.tsv"), "%s", err.msg);
    yk_hw_free(&t);
}

static void test_yoke_data_dir(void)
{
    char dir[256];
    tu_tmp_path(dir, sizeof dir, "-data");
    CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    char path[300];
    snprintf(path, sizeof path, "%s/site.tsv", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("gpu\tsitecard\tmem_gib=8\tbw_gbs=300\ttflops=20\n", f);
        fclose(f);
    }
    setenv("YOKE_DATA", dir, 1);
    yk_hw_table t = load();
    CHECK(yk_hw_find_dev(&t, "sitecard") != NULL, "$YOKE_DATA rows are loaded");
    yk_hw_free(&t);
    unsetenv("YOKE_DATA");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_builtin();
    test_lookup();
    test_specs();
    test_overrides();
    test_yoke_data_dir();
    return tu_done("test_hw");
}
