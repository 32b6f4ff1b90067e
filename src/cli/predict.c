/* predict.c: see predict.h. */
#include "predict.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void predictor_init(predictor *p, const char *model_path, double bw_gbs, const char *hw_file, bool mpi)
{
    memset(p, 0, sizeof *p);
    yk_err err = {0};
    if (yk_hw_load_default(&p->table, &err) || (hw_file && yk_hw_load_file(&p->table, hw_file, &err)) ||
        yk_perf_model_gguf(&p->model, model_path, &err)) {
        snprintf(p->why, sizeof p->why, "%s", err.msg);
        return;
    }
    /* this machine: the table's "this-cpu" row if the user calibrated one, else its generic CPU
     * row, with the bandwidth measured here and the cores online */
    const yk_hw_dev *cpu = yk_hw_find_dev(&p->table, "this-cpu");
    if (!cpu) cpu = yk_hw_find_dev(&p->table, "cpu");
    p->link = yk_hw_find_link(&p->table, mpi ? "shm" : "inproc");
    p->prof = yk_hw_profile_for(&p->table, "yoke", YK_DEV_CPU);
    if (!cpu || !p->link || !p->prof) {
        snprintf(p->why, sizeof p->why, "the hardware table has no %s", !cpu ? "cpu row" : !p->link ? "link row" : "yoke-cpu profile");
        return;
    }
    p->host = *cpu;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 0 && !yk_hw_find_dev(&p->table, "this-cpu")) {
        p->host.tflops = p->host.tflops / (p->host.units ? p->host.units : 1) * (double)cores;
        p->host.units = (uint32_t)cores;
    }
    if (bw_gbs > 0) p->host.bw_gbs = bw_gbs;
    p->ok = true;
}

bool predictor_layout(predictor *p, int tp, int pp, int threads, uint32_t n_ctx, uint32_t n_seq, uint32_t n_prompt, uint32_t n_past,
                      yk_perf_result *out)
{
    if (!p->ok) return false;
    int n = tp * pp, per = threads / n > 0 ? threads / n : 1;
    yk_perf_rig rig;
    yk_perf_layout lay;
    yk_err err = {0};
    yk_perf_rig_cpu(&rig, &p->host, (uint32_t)n, (uint32_t)per, p->link);
    yk_perf_work w = {.n_ctx = n_ctx, .n_seq = n_seq, .n_prompt = n_prompt, .n_past = n_past};
    if (yk_perf_layout_make(&p->model, &rig, p->prof, (uint32_t)tp, (uint32_t)pp, NULL, &lay, &err) ||
        yk_perf_predict(&p->model, &rig, &lay, p->prof, &w, out, &err)) {
        snprintf(p->why, sizeof p->why, "%s", err.msg);
        return false;
    }
    return true;
}

void predictor_free(predictor *p)
{
    yk_perf_model_free(&p->model);
    yk_hw_free(&p->table);
    memset(p, 0, sizeof *p);
}
