/* test_reliability.c: docs/RELIABILITY.md, row by row.
 *
 * The table of bad inputs in docs/RELIABILITY.md is this test's data: each row's command runs with
 * sh in a scratch folder holding the fixtures the document lists (the yoke under test, $YOKE,
 * first on PATH); the exit status must be the row's, and stderr must contain the row's text ('*'
 * matching any run of characters). Before and after every row the folder is listed: every entry
 * must still be there with its type, its bytes (regular files) and its target (links), no entry
 * may appear (no temporary file left, nothing created by a failing command). */
#include "scratch.h"
#include "test.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[512];

/* ---- the folder's state ---- */

typedef struct {
    char name[512];
    mode_t type;
    char *bytes;   /* regular files: contents; links: target */
    size_t n;
} entry;

typedef struct {
    entry e[64];
    int n;
} listing;

static void list_dir(listing *l)
{
    l->n = 0;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
    FILE *p = popen(cmd, "r");
    char line[512];
    while (p && l->n < 64 && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        entry *e = &l->e[l->n++];
        snprintf(e->name, sizeof e->name, "%s", line);
        char path[1100];
        snprintf(path, sizeof path, "%s/%s", dir, line);
        struct stat st;
        e->type = lstat(path, &st) == 0 ? (st.st_mode & S_IFMT) : 0;
        e->bytes = NULL;
        e->n = 0;
        if (S_ISREG(st.st_mode)) {
            e->bytes = tu_read_file(path, &e->n);
        } else if (S_ISLNK(st.st_mode)) {
            e->bytes = calloc(1, PATH_MAX);
            ssize_t k = e->bytes ? readlink(path, e->bytes, PATH_MAX - 1) : -1;
            e->n = k > 0 ? (size_t)k : 0;
        }
    }
    if (p) pclose(p);
}

static void free_listing(listing *l)
{
    for (int i = 0; i < l->n; i++) free(l->e[i].bytes);
    l->n = 0;
}

/* Describes the first difference between a and b in why; false if there is none. */
static bool differs(const listing *a, const listing *b, char *why, size_t n)
{
    for (int i = 0; i < b->n; i++) {
        int j = 0;
        while (j < a->n && strcmp(a->e[j].name, b->e[i].name)) j++;
        if (j == a->n) return snprintf(why, n, "'%s' appeared", b->e[i].name), true;
    }
    for (int i = 0; i < a->n; i++) {
        int j = 0;
        while (j < b->n && strcmp(a->e[i].name, b->e[j].name)) j++;
        if (j == b->n) return snprintf(why, n, "'%s' is gone", a->e[i].name), true;
        const entry *x = &a->e[i], *y = &b->e[j];
        if (x->type != y->type) return snprintf(why, n, "'%s' changed type", x->name), true;
        if (x->n != y->n || (x->n && memcmp(x->bytes, y->bytes, x->n)))
            return snprintf(why, n, "'%s' changed (%zu -> %zu bytes)", x->name, x->n, y->n), true;
    }
    return false;
}

/* ---- the table ---- */

/* Does s contain pattern, where '*' in pattern matches any run of characters? */
static bool contains(const char *s, const char *pattern)
{
    char seg[1024];
    const char *p = pattern;
    while (*p) {
        size_t k = strcspn(p, "*");
        snprintf(seg, sizeof seg, "%.*s", (int)k, p);
        if (k) {
            const char *at = strstr(s, seg);
            if (!at) return false;
            s = at + k;
        }
        p += k;
        if (*p == '*') p++;
    }
    return true;
}

/* Splits a table line into cells (a '|' written as "\|" stays in its cell); returns the count. */
static int cells(char *line, char *cell[], int max)
{
    int n = 0;
    char *out = line, *start = NULL;
    for (char *p = line; *p; p++) {
        if (*p == '\\' && p[1] == '|') {
            *out++ = '|';
            p++;
        } else if (*p == '|') {
            *out++ = 0;
            if (start && n < max) cell[n++] = start;
            start = out;
        } else {
            *out++ = *p;
        }
    }
    *out = 0;
    for (int i = 0; i < n; i++) { /* trim spaces and the backticks of code */
        char *c = cell[i];
        while (*c == ' ') c++;
        size_t len = strlen(c);
        while (len && (c[len - 1] == ' ' || c[len - 1] == '\n')) c[--len] = 0;
        if (len >= 2 && c[0] == '`' && c[len - 1] == '`') {
            c[len - 1] = 0;
            c++;
        }
        cell[i] = c;
    }
    return n;
}

/* A whole file as a NUL-terminated string (NULL if it cannot be read). */
static char *read_text(const char *path)
{
    size_t n = 0;
    char *p = tu_read_file(path, &n), *s = p ? realloc(p, n + 1) : NULL;
    if (!s) {
        free(p);
        return NULL;
    }
    s[n] = 0;
    return s;
}

/* overlap.gguf: tensors 'a' and 'b' (8 floats each) whose offsets are both 0. */
static void make_overlap(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/overlap.gguf", dir);
    yk_gguf_writer *w;
    yk_err err = {0};
    int64_t ne[1] = {8};
    float x[16] = {0};
    yk_status st = yk_gguf_writer_open(&w, path, &err);
    if (!st) {
        yk_gguf_writer_add_tensor(w, "a", YK_TYPE_F32, 1, ne, &err);
        yk_gguf_writer_add_tensor(w, "b", YK_TYPE_F32, 1, ne, &err);
        yk_gguf_writer_begin_data(w, &err);
        yk_gguf_writer_write(w, x, sizeof x, &err);
        st = yk_gguf_writer_close(w, &err);
    }
    size_t n = 0;
    uint8_t *bytes = st ? NULL : tu_read_file(path, &n);
    yk_gguf g;
    if (bytes && yk_gguf_open_buffer(&g, bytes, n, "overlap", &err) == YK_OK) {
        /* b's offset field: after its name, n_dims, one dimension and the type */
        const yk_gguf_tensor *b = yk_gguf_find_tensor(&g, "b");
        size_t at = (size_t)((const uint8_t *)b->name.ptr - bytes) + b->name.len + 4 + 8 + 4;
        yk_gguf_close(&g);
        memset(bytes + at, 0, 8);
        FILE *f = fopen(path, "wb");
        st = f && fwrite(bytes, 1, n, f) == n && fclose(f) == 0 ? YK_OK : YK_E_IO;
    } else {
        st = YK_E_IO;
    }
    free(bytes);
    CHECK(st == YK_OK, "overlap.gguf: %s", err.msg);
}

/* The fixtures docs/RELIABILITY.md lists (yoke is on PATH by now). */
static void make_fixtures(void)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && yoke mkmodel -o model.gguf --layers 1 --embd 64 --heads 4 --kv-heads 2 --ff 128 --vocab 512"
             " > /dev/null && printf 'this is not a model\\n' > notgguf.gguf && : > empty.gguf &&"
             " head -c $(( $(wc -c < model.gguf) / 2 )) model.gguf > half.gguf && printf 'old bytes\\n' > old.gguf &&"
             " printf 'a\\377b' > bad-utf8.txt && printf '# this machine\\ncpu\\tthis-cpu\\tmem_gib=abc\\n' > hw-bad.tsv &&"
             " ln -s nowhere.gguf dangling.gguf",
             dir);
    CHECK(system(cmd) == 0, "fixtures: %s", cmd);
    make_overlap();
    char full[700];
    snprintf(full, sizeof full, "%s/full", dir);
    if (mknod(full, S_IFCHR | 0666, makedev(1, 7)) != 0)
        printf("test_reliability: no 'full' device (mknod: %s): its rows are skipped\n", strerror(errno));
}

int main(void)
{
    char yoke[PATH_MAX];
    if (!realpath(tu_yoke(), yoke) || access(yoke, X_OK) != 0) tu_skip("test_reliability", "the yoke binary is not built");
    char *doc = read_text("docs/RELIABILITY.md");
    CHECK(doc != NULL, "docs/RELIABILITY.md (run from the repository root)");
    if (!doc) return tu_done("test_reliability");
    if (!tu_tmp_dir(dir, sizeof dir)) {
        printf("test_reliability: cannot make a scratch folder\n");
        return 1;
    }
    /* the yoke under test first on PATH */
    char path[PATH_MAX + 8192];
    const char *old_path = getenv("PATH");
    snprintf(path, sizeof path, "%s", yoke);
    *strrchr(path, '/') = 0;
    size_t k = strlen(path);
    snprintf(path + k, sizeof path - k, ":%s", old_path ? old_path : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    make_fixtures();
    char full[700];
    snprintf(full, sizeof full, "%s/full", dir);
    struct stat fst;
    bool have_full = lstat(full, &fst) == 0 && S_ISCHR(fst.st_mode);

    char errf[512];
    tu_tmp_path(errf, sizeof errf, ".stderr");
    int rows = 0, skipped = 0;
    bool in_table = false;
    for (char *line = strtok(doc, "\n"); line; line = strtok(NULL, "\n")) {
        if (!in_table) {
            in_table = !strncmp(line, "| Bad input |", 13);
            continue;
        }
        if (line[0] != '|') break;
        if (!strncmp(line, "|---", 4)) continue;
        char *c[8];
        if (cells(line, c, 8) != 4) {
            CHECK(0, "a table row with 4 cells: %s", line);
            continue;
        }
        const char *what = c[0], *command = c[1], *message = c[3];
        int want = atoi(c[2]);
        rows++;
        if (!have_full && strstr(command, "full")) {
            printf("test_reliability: skipped (no 'full' device): %s\n", command);
            skipped++;
            continue;
        }
        listing before, after;
        list_dir(&before);
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "cd '%s' && ( %s ) > /dev/null 2> '%s'", dir, command, errf);
        int st = system(cmd);
        int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        char *err = read_text(errf);
        CHECK(rc == want && err && contains(err, message), "%s: `%s`: exit %d (want %d), stderr: %s", what, command, rc,
              want, err ? err : "(none)");
        free(err);
        list_dir(&after);
        char why[600];
        CHECK(!differs(&before, &after, why, sizeof why), "%s: `%s`: the folder changed: %s", what, command, why);
        free_listing(&before);
        free_listing(&after);
    }
    CHECK(rows >= 15, "docs/RELIABILITY.md has %d rows (a table headed '| Bad input |')", rows);
    printf("test_reliability: %d rows of docs/RELIABILITY.md tried, %d skipped\n", rows, skipped);
    unlink(errf);
    free(doc);
    tu_rm_dir(dir);
    return tu_done("test_reliability");
}
