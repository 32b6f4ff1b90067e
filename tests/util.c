/* util.c: helpers shared by every test executable (see test.h). */
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

int tu_checks, tu_failures;

int tu_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, tu_checks, tu_failures);
    return tu_failures ? 1 : 0;
}

void tu_skip(const char *name, const char *why)
{
    printf("%s: SKIP: %s\n", name, why);
    exit(77);
}

const char *tu_shared_dir(void)
{
    static char path[4096];
    const char *env = getenv("YOKE_SHARED");
    const char *cands[] = {env, "../shared", "../../shared"};
    struct stat st;
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        if (!cands[i]) continue;
        snprintf(path, sizeof path, "%s/golden", cands[i]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(path, sizeof path, "%s", cands[i]);
            return path;
        }
    }
    return NULL;
}

const char *tu_shared_path(char *buf, size_t n, const char *rel)
{
    const char *d = tu_shared_dir();
    if (!d) return NULL;
    snprintf(buf, n, "%s/%s", d, rel);
    return buf;
}

const char *tu_yoke(void)
{
    const char *y = getenv("YOKE");
    return y && *y ? y : "build/release/yoke";
}

void *tu_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(sz > 0 ? (size_t)sz : 1);
    if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf && n) *n = (size_t)sz;
    return buf;
}

double tu_uniform(tu_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

double tu_normal(tu_rng *r)
{
    double u1 = tu_uniform(r), u2 = tu_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double tu_rel_l2(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

const char *tu_tmp_path(char *buf, size_t n, const char *suffix)
{
    static unsigned counter;
    const char *dir = getenv("TMPDIR");
    snprintf(buf, n, "%s/yoke-test-%d-%u%s", dir && *dir ? dir : "/tmp", (int)getpid(), counter++, suffix);
    return buf;
}

/* Engines and the devices they run on, so that tu_engine_close frees both (tests are one thread). */
static struct {
    yk_engine *e;
    yk_device *devs[64];
    int n;
} tu_engines[16];

yk_status tu_engine_open(yk_engine **e, const yk_model *m, const yk_plan *p, const char *devices, int threads,
                         const yk_engine_opts *o, yk_err *err)
{
    *e = NULL;
    int slot = 0;
    while (slot < 16 && tu_engines[slot].e) slot++;
    YK_ASSERT(slot < 16 && p->n_dev <= 64);
    yk_device_spec specs[64];
    int n = p->n_dev;
    yk_status st;
    if (devices && !strncmp(devices, "guard:", 6)) {
        /* test devices whose memory the host cannot touch (guard_device.c) */
        n = atoi(devices + 6);
        if (n != p->n_dev) return yk_err_set(err, YK_E_INVALID, "%s: %d devices for a plan of %d", devices, n, p->n_dev);
        for (int r = 0; r < n; r++)
            if (!(tu_engines[slot].devs[r] = tu_guard_device_create(r, threads / n > 0 ? threads / n : 1, err))) {
                yk_devices_close(tu_engines[slot].devs, r);
                return err->status;
            }
    } else {
        if (devices && (st = yk_devices_parse(devices, specs, 64, &n, err))) return st;
        if (n != p->n_dev) return yk_err_set(err, YK_E_INVALID, "--devices %s: %d devices for a plan of %d", devices, n, p->n_dev);
        if (!devices)
            for (int r = 0; r < n; r++) specs[r] = (yk_device_spec){.kind = "cpu", .index = r};
        if ((st = yk_devices_open(specs, n, threads, -1, tu_engines[slot].devs, err))) return st;
    }
    if ((st = yk_engine_create_local(e, m, p, tu_engines[slot].devs, o, err))) {
        yk_devices_close(tu_engines[slot].devs, n);
        return st;
    }
    tu_engines[slot].e = *e;
    tu_engines[slot].n = n;
    return YK_OK;
}

void tu_engine_close(yk_engine *e)
{
    if (!e) return;
    for (int i = 0; i < 16; i++)
        if (tu_engines[i].e == e) {
            yk_engine_free(e);
            yk_devices_close(tu_engines[i].devs, tu_engines[i].n);
            tu_engines[i].e = NULL;
            return;
        }
    yk_engine_free(e);
}
