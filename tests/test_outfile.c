/* test_outfile.c: output files written all or nothing (yoke/outfile.h), and the GGUF writer on top.
 *
 * In a scratch folder: a new file appears only at commit; an existing file keeps its bytes while a
 * temporary beside it is written, keeps them after a discard and a failed GGUF write, and keeps its
 * permission bits after a commit; a symbolic link stays a link and its target is replaced; a
 * dangling link and a directory are refused with the path in the message; a pipe and a character
 * device are written straight through and never removed (a copy of /dev/full made with mknod
 * fails with "No space left on device" and is still there); no temporary is ever left behind. */
#include "scratch.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[512];

static const char *in_dir(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
}

static int temps(const char *name)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s.tmp.", name);
    return tu_count_prefix(dir, prefix);
}

static void regular(void)
{
    char out[600];
    in_dir(out, sizeof out, "new.bin");
    yk_outfile o;
    yk_err err = {0};
    CHECK(yk_outfile_open(&o, out, &err) == YK_OK && o.temp && o.f, "open a new path: %s", err.msg);
    if (!o.f) return;
    CHECK(!strncmp(o.temp, out, strlen(out)) && !strncmp(o.temp + strlen(out), ".tmp.", 5), "temporary beside it: %s", o.temp);
    fputs("new bytes", o.f);
    CHECK(access(out, F_OK) != 0 && temps("new.bin") == 1, "nothing at the path before commit");
    CHECK(yk_outfile_commit(&o, &err) == YK_OK && tu_file_holds(out, "new bytes") && temps("new.bin") == 0, "commit: %s", err.msg);
    CHECK(o.f == NULL && o.temp == NULL, "o zeroed after commit");

    /* an existing file: old bytes until commit, after a discard; its mode survives a commit */
    put_file(out, "old bytes");
    chmod(out, 0640);
    CHECK(yk_outfile_open(&o, out, &err) == YK_OK, "open existing: %s", err.msg);
    fputs("half", o.f);
    fflush(o.f);
    CHECK(tu_file_holds(out, "old bytes"), "old bytes while the temporary is written");
    yk_outfile_discard(&o);
    CHECK(tu_file_holds(out, "old bytes") && temps("new.bin") == 0, "discard keeps the old bytes, removes the temporary");
    CHECK(yk_outfile_open(&o, out, &err) == YK_OK, "open existing: %s", err.msg);
    fputs("replaced", o.f);
    CHECK(yk_outfile_commit(&o, &err) == YK_OK && tu_file_holds(out, "replaced"), "commit replaces: %s", err.msg);
    struct stat st;
    CHECK(stat(out, &st) == 0 && (st.st_mode & 0777) == 0640, "mode kept: %o", (unsigned)(st.st_mode & 0777));

    /* a GGUF write that fails (a tensor short of bytes) leaves the old file as it was */
    put_file(out, "old model");
    yk_gguf_writer *w;
    int64_t ne[2] = {32, 2};
    uint8_t buf[64] = {0};
    CHECK(yk_gguf_writer_open(&w, out, &err) == YK_OK && yk_gguf_writer_temp(w) != NULL, "writer open: %s", err.msg);
    yk_gguf_writer_add_tensor(w, "t", YK_TYPE_F32, 2, ne, &err);
    yk_gguf_writer_begin_data(w, &err);
    yk_gguf_writer_write(w, buf, sizeof buf, &err);
    CHECK(yk_gguf_writer_close(w, &err) != YK_OK && strstr(err.msg, out) && strstr(err.msg, "bytes written"),
          "short tensor fails: %s", err.msg);
    CHECK(tu_file_holds(out, "old model") && temps("new.bin") == 0, "failed GGUF write: old bytes kept, no temporary left");

    /* a directory, and a file inside a directory that does not exist */
    CHECK(yk_outfile_open(&o, dir, &err) == YK_E_IO && strstr(err.msg, dir) && strstr(err.msg, "directory"),
          "directory refused: %s", err.msg);
    char missing[600];
    in_dir(missing, sizeof missing, "no/such/dir.bin");
    CHECK(yk_outfile_open(&o, missing, &err) == YK_E_IO && strstr(err.msg, missing) && o.f == NULL,
          "missing folder: %s", err.msg);

    /* an existing file in a folder where nothing can be created (not for root, who may anyway) */
    if (geteuid() != 0) {
        char sub[600], file[700];
        in_dir(sub, sizeof sub, "ro");
        mkdir(sub, 0755);
        snprintf(file, sizeof file, "%s/out.bin", sub);
        put_file(file, "kept");
        chmod(sub, 0555);
        CHECK(yk_outfile_open(&o, file, &err) == YK_E_IO && strstr(err.msg, file) && strstr(err.msg, "temporary"),
              "read-only folder: %s", err.msg);
        CHECK(tu_file_holds(file, "kept"), "read-only folder: the file keeps its bytes");
        chmod(sub, 0755);
        unlink(file);
        rmdir(sub);
    } else {
        printf("test_outfile: read-only folder case skipped (running as root)\n");
    }
}

static void links(void)
{
    char real[600], link[600], dangling[600];
    in_dir(real, sizeof real, "real.bin");
    in_dir(link, sizeof link, "link.bin");
    in_dir(dangling, sizeof dangling, "dangling.bin");
    put_file(real, "target");
    CHECK(symlink(real, link) == 0, "symlink");
    yk_outfile o;
    yk_err err = {0};
    CHECK(yk_outfile_open(&o, link, &err) == YK_OK, "open through a link: %s", err.msg);
    fputs("through", o.f);
    yk_outfile_discard(&o);
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode) && tu_file_holds(real, "target"), "discard: link and target as they were");
    CHECK(yk_outfile_open(&o, link, &err) == YK_OK, "open through a link: %s", err.msg);
    fputs("through", o.f);
    CHECK(yk_outfile_commit(&o, &err) == YK_OK, "commit: %s", err.msg);
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode) && tu_file_holds(real, "through"), "the link stays, its target is replaced");
    CHECK(temps("real.bin") == 0 && temps("link.bin") == 0, "no temporary left");

    char nowhere[600];
    in_dir(nowhere, sizeof nowhere, "nowhere.bin");
    CHECK(symlink(nowhere, dangling) == 0, "dangling symlink");
    CHECK(yk_outfile_open(&o, dangling, &err) == YK_E_IO && strstr(err.msg, dangling), "dangling link refused: %s", err.msg);
    CHECK(lstat(dangling, &st) == 0 && S_ISLNK(st.st_mode) && access(nowhere, F_OK) != 0, "dangling link untouched");
}

/* A pipe: a child reads what is written; the pipe is not replaced or removed. */
static void fifo(void)
{
    char path[600];
    in_dir(path, sizeof path, "fifo");
    CHECK(mkfifo(path, 0644) == 0, "mkfifo: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = fopen(path, "rb");
        size_t n = 0;
        int c;
        while (f && (c = fgetc(f)) != EOF) n += c == 'x';
        _exit(n == 100000 ? 0 : 1);
    }
    yk_outfile o;
    yk_err err = {0};
    CHECK(yk_outfile_open(&o, path, &err) == YK_OK && o.temp == NULL, "pipe written straight through: %s", err.msg);
    if (o.f)
        for (int i = 0; i < 100000; i++) fputc('x', o.f);
    CHECK(yk_outfile_commit(&o, &err) == YK_OK, "pipe commit: %s", err.msg);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the reader got the 100000 bytes");
    struct stat st;
    CHECK(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode) && temps("fifo") == 0, "the pipe is still there");
}

/* Character devices: /dev/null takes anything; a copy of /dev/full (mknod, when allowed) fails
 * to write and is still there afterwards. */
static void devices(void)
{
    yk_outfile o;
    yk_err err = {0};
    CHECK(yk_outfile_open(&o, "/dev/null", &err) == YK_OK && o.temp == NULL, "/dev/null: %s", err.msg);
    if (o.f) fputs("discarded", o.f);
    CHECK(yk_outfile_commit(&o, &err) == YK_OK, "/dev/null commit: %s", err.msg);

    char full[600];
    in_dir(full, sizeof full, "full");
    if (mknod(full, S_IFCHR | 0666, makedev(1, 7)) != 0) {
        printf("test_outfile: character device case skipped (mknod: %s)\n", strerror(errno));
        return;
    }
    CHECK(yk_outfile_open(&o, full, &err) == YK_OK && o.temp == NULL, "device opened: %s", err.msg);
    if (o.f)
        for (int i = 0; i < 10000; i++) fputs("0123456789", o.f);
    CHECK(yk_outfile_commit(&o, &err) == YK_E_IO && strstr(err.msg, full) && strstr(err.msg, "No space left on device"),
          "a full device: %s", err.msg);
    yk_gguf_writer *w;
    int64_t ne[1] = {1 << 16};
    float *x = calloc(1 << 16, sizeof *x);
    CHECK(yk_gguf_writer_open(&w, full, &err) == YK_OK && yk_gguf_writer_temp(w) == NULL, "writer on a device: %s", err.msg);
    yk_gguf_writer_add_tensor(w, "t", YK_TYPE_F32, 1, ne, &err);
    yk_gguf_writer_begin_data(w, &err);
    yk_gguf_writer_write(w, x, (1 << 16) * sizeof *x, &err);
    CHECK(yk_gguf_writer_close(w, &err) == YK_E_IO && strstr(err.msg, full) && strstr(err.msg, "No space left"),
          "GGUF write to a full device: %s", err.msg);
    free(x);
    struct stat st;
    CHECK(lstat(full, &st) == 0 && S_ISCHR(st.st_mode), "the device is still there");
    CHECK(temps("full") == 0, "no temporary beside it");
}

int main(void)
{
    if (!tu_tmp_dir(dir, sizeof dir)) {
        printf("test_outfile: cannot make a scratch folder\n");
        return 1;
    }
    regular();
    links();
    fifo();
    devices();
    /* ., .., new.bin, real.bin, link.bin, dangling.bin, fifo and (if mknod was allowed) full */
    char full[600];
    int made = 7 + (access(in_dir(full, sizeof full, "full"), F_OK) == 0);
    CHECK(tu_count_prefix(dir, "") == made, "only the files the test made are left: %d entries", tu_count_prefix(dir, ""));
    tu_rm_dir(dir);
    return tu_done("test_outfile");
}
