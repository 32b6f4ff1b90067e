/* cmd_mkmodel.c: yoke mkmodel -o FILE.gguf -- a random-weight model of a given shape or preset.
 * Flags fill a yk_mkmodel_opts; yk_mkmodel_write_to (src/mkmodel.c) does the work, into a writer
 * whose temporary file is removed if a signal ends the process: FILE is replaced only when the
 * new model is complete. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: yoke mkmodel -o FILE.gguf [--preset NAME] [flags]\n"
               "  Writes a model with random weights (matrices ~ N(0, 0.02), norms ~ 1 + N(0, 0.1)) and a\n"
               "  built-in SPM vocabulary, streaming (memory does not grow with the model).\n"
               "  --preset NAME     a real model's shape (flags below override its fields):\n");
    for (const yk_preset *p = yk_presets; p->name; p++) fprintf(f, "                      %-14s %s\n", p->name, p->desc);
    fprintf(f, "  --arch llama|qwen2 (default llama; qwen2 adds q/k/v biases and NeoX rope)\n"
               "  --layers N --embd N --heads N --kv-heads N --ff N --vocab N --ctx N\n"
               "                    shape (default 2 layers, embd 256, 8 heads, 4 kv-heads, ff 768, vocab 1024, ctx 2048)\n"
               "  --rope-base X     rope frequency base (default 10000; qwen2 1e6)\n"
               "  --tied            no output.weight: the output reuses token_embd\n"
               "  --type T          weight type of matrices and embeddings (default F32): F32, F16, BF16, Q8_0,\n"
               "                    and every type yoke can quantise to:");
    for (int t = 0; t < YK_TYPE_COUNT; t++)
        if (yk_type_quantizable((yk_type)t)) fprintf(f, " %s", yk_type_name((uint32_t)t));
    fprintf(f, "\n  --seed N          random seed (default 1)\n"
               "  --name S          general.name\n"
               "  --threads N       threads generating the weights (default: all CPUs; the file is the same)\n");
}

int yk_cmd_mkmodel(int argc, char **argv)
{
    const char *cmd = argv[0], *path = NULL, *name = NULL;
    yk_hparams hp = {.arch = "llama", .n_layer = 2, .n_embd = 256, .n_head = 8, .n_head_kv = 4, .n_ff = 768,
                     .n_vocab = 1024, .n_ctx_train = 2048, .rms_eps = 1e-5f, .rope_base = 10000.0f};
    yk_type type = YK_TYPE_F32;
    int64_t seed = 1, threads = sysconf(_SC_NPROCESSORS_ONLN);
    bool shape_flag = false, base_flag = false, arch_flag = false, kv_flag = false;

    /* The preset first, so that the other flags override its fields wherever they stand. */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--preset")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v) return 1;
            const yk_preset *p = yk_preset_find(v);
            if (!p) return cli_fail(cmd, "--preset: unknown preset '%s' (see yoke mkmodel --help)", v);
            hp = p->hp;
        }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int64_t n;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tied")) {
            hp.tied_output = true;
            continue;
        }
        if (!(v = cli_value(cmd, argc, argv, &i))) return 1;
        if (!strcmp(a, "-o")) path = v;
        else if (!strcmp(a, "--preset")) continue;
        else if (!strcmp(a, "--name")) name = v;
        else if (!strcmp(a, "--arch")) {
            if (strcmp(v, "llama") && strcmp(v, "qwen2")) return cli_fail(cmd, "--arch: '%s' is not llama or qwen2", v);
            snprintf(hp.arch, sizeof hp.arch, "%s", v);
            arch_flag = true;
        } else if (!strcmp(a, "--type")) {
            int t = yk_type_from_name(v);
            if (t < 0 || !yk_type_quantizable((yk_type)t))
                return cli_fail(cmd, "--type: '%s' is not a type yoke can write (see yoke mkmodel --help)", v);
            type = (yk_type)t;
        } else if (!strcmp(a, "--threads")) {
            if (!cli_int(cmd, a, v, 1, 1024, &threads)) return 1;
        } else if (!strcmp(a, "--seed")) {
            if (!cli_int(cmd, a, v, 0, INT64_MAX, &seed)) return 1;
        } else if (!strcmp(a, "--rope-base")) {
            if (!cli_float(cmd, a, v, 1.0001, 1e12, &x)) return 1;
            hp.rope_base = (float)x;
            base_flag = true;
        } else {
            struct { const char *flag; uint32_t *dst; int64_t lo, hi; } ints[] = {
                {"--layers", &hp.n_layer, 1, 100000}, {"--embd", &hp.n_embd, 2, 1 << 20},
                {"--heads", &hp.n_head, 1, 16384}, {"--kv-heads", &hp.n_head_kv, 1, 16384},
                {"--ff", &hp.n_ff, 1, 1 << 22}, {"--vocab", &hp.n_vocab, 259, 1 << 24},
                {"--ctx", &hp.n_ctx_train, 1, 1 << 30},
            };
            size_t k = 0;
            while (k < sizeof ints / sizeof *ints && strcmp(a, ints[k].flag)) k++;
            if (k == sizeof ints / sizeof *ints) return cli_fail(cmd, "unknown flag '%s' (see yoke mkmodel --help)", a);
            if (!cli_int(cmd, a, v, ints[k].lo, ints[k].hi, &n)) return 1;
            *ints[k].dst = (uint32_t)n;
            shape_flag |= ints[k].dst == &hp.n_embd || ints[k].dst == &hp.n_head;
            kv_flag |= ints[k].dst == &hp.n_head_kv;
        }
    }
    if (!path) return cli_fail(cmd, "-o FILE.gguf is required (see yoke mkmodel --help)");

    /* Derived fields: what --arch implies, and the head size when the width or head count changed. */
    if (arch_flag) {
        bool qwen2 = !strcmp(hp.arch, "qwen2");
        hp.qkv_bias = qwen2;
        hp.rope_mode = qwen2 ? YK_ROPE_NEOX : YK_ROPE_NORM;
        if (qwen2 && !base_flag) hp.rope_base = 1e6f;
        if (qwen2) hp.rms_eps = 1e-6f;
    }
    if (shape_flag || !hp.head_dim) {
        if (hp.n_embd % hp.n_head) return cli_fail(cmd, "--embd %u is not a multiple of --heads %u", hp.n_embd, hp.n_head);
        hp.head_dim = hp.rope_dim = hp.n_embd / hp.n_head;
    }
    if (!kv_flag && hp.n_head % hp.n_head_kv) hp.n_head_kv = hp.n_head; /* the default 4 does not fit --heads */

    yk_mkmodel_opts o = {.hp = hp, .type = type, .seed = (uint64_t)seed, .name = name, .threads = (int)threads};
    yk_err err = {0};
    double t0 = yk_now();
    yk_gguf_writer *w;
    if (yk_mkmodel_check(&o, &err) || cli_writer_open(&w, path, &err)) return cli_fail(cmd, "%s", err.msg);
    if (yk_mkmodel_write_to(w, &o, &err)) {
        cli_writer_discard(w); /* OUT keeps its old bytes */
        return cli_fail(cmd, "%s", err.msg);
    }
    if (cli_writer_close(w, &err)) return cli_fail(cmd, "%s", err.msg);
    printf("yoke mkmodel: wrote %s: %s, %u layers, embd %u, %llu parameters, %s, %.2f s\n", path, hp.arch,
            hp.n_layer, hp.n_embd, (unsigned long long)yk_hparams_n_params(&hp), yk_type_name(type), yk_now() - t0);
    return 0;
}
