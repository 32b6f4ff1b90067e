/* outfile.c: output files written all or nothing (yoke/outfile.h).
 *
 * Design: open decides once what PATH is. Nothing there, or a regular file: a new temporary file
 * is created beside the destination with O_EXCL (a name of our own, not mkstemp, so that it gets
 * the usual 0666-less-umask mode rather than 0600; an existing file's permission bits are copied
 * onto it), and commit renames it over the destination, which is atomic within a directory. A
 * symbolic link is resolved first so that the link survives and its target is replaced. Anything
 * else (a character device, a pipe, a socket) is opened for writing without O_CREAT or O_TRUNC and
 * written straight through: such a path is never renamed over or removed. Every error path removes
 * the temporary and nothing else. */
#include "yoke/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEMP_TAG ".tmp."
#define TEMP_RAND 6

static void clear(yk_outfile *o)
{
    free(o->path);
    free(o->dest);
    free(o->temp);
    memset(o, 0, sizeof *o);
}

/* Fills err, closes the file, removes the temporary if there is one, zeroes o. */
static yk_status fail(yk_outfile *o, yk_err *err, yk_status st, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static yk_status fail(yk_outfile *o, yk_err *err, yk_status st, const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    yk_err_set(err, st, "%s", msg);
    if (o->f) fclose(o->f);
    if (o->temp) unlink(o->temp);
    clear(o);
    return st;
}

/* Writes TEMP_RAND letters and digits at p from a 64-bit value. */
static void rand_suffix(char *p, uint64_t z)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    /* splitmix64 finaliser: neighbouring seeds give unrelated names */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (int i = 0; i < TEMP_RAND; i++, z /= 62) p[i] = set[z % 62];
    p[TEMP_RAND] = 0;
}

/* A device, a pipe or a socket: opened for writing as it is. */
static yk_status open_through(yk_outfile *o, yk_err *err)
{
    int fd = open(o->path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return fail(o, err, YK_E_IO, "%s: cannot open for writing: %s", o->path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
        close(fd);
        return fail(o, err, YK_E_IO, "%s: changed while it was being opened", o->path);
    }
    if (!(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        return fail(o, err, YK_E_NOMEM, "%s: cannot open for writing: %s", o->path, strerror(e));
    }
    return YK_OK;
}

yk_status yk_outfile_open(yk_outfile *o, const char *path, yk_err *err)
{
    memset(o, 0, sizeof *o);
    struct stat st, lst;
    bool exists = stat(path, &st) == 0;
    int e = errno;
    bool link = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
    if (!(o->path = strdup(path))) return fail(o, err, YK_E_NOMEM, "%s: no memory", path);
    if (!exists && link)
        return fail(o, err, YK_E_IO, "%s: a symbolic link to a file that does not exist (not followed)", path);
    if (!exists && e != ENOENT) return fail(o, err, YK_E_IO, "%s: cannot write: %s", path, strerror(e));
    if (exists && S_ISDIR(st.st_mode)) return fail(o, err, YK_E_IO, "%s: cannot write: %s", path, strerror(EISDIR));
    if (exists && !S_ISREG(st.st_mode)) return open_through(o, err);

    o->dest = link ? realpath(path, NULL) : strdup(path);
    if (!o->dest) return fail(o, err, YK_E_IO, "%s: cannot follow the symbolic link: %s", path, strerror(errno));
    size_t n = strlen(o->dest);
    char *temp = malloc(n + sizeof TEMP_TAG + TEMP_RAND);
    if (!temp) return fail(o, err, YK_E_NOMEM, "%s: no memory", path);
    memcpy(temp, o->dest, n);
    memcpy(temp + n, TEMP_TAG, sizeof TEMP_TAG - 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)o;
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        rand_suffix(temp + n + sizeof TEMP_TAG - 1, seed + (uint64_t)attempt * 0x9e3779b97f4a7c15ull);
        fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) { /* not created: nothing to remove */
        e = errno;
        yk_status st2 = fail(o, err, YK_E_IO, "%s: cannot create the temporary file %s: %s", path, temp, strerror(e));
        free(temp);
        return st2;
    }
    o->temp = temp;
    if (exists) fchmod(fd, st.st_mode & 0777); /* best effort: the file keeps its permissions */
    if (!(o->f = fdopen(fd, "wb"))) {
        e = errno;
        close(fd);
        return fail(o, err, YK_E_NOMEM, "%s: cannot open %s: %s", path, temp, strerror(e));
    }
    return YK_OK;
}

yk_status yk_outfile_commit(yk_outfile *o, yk_err *err)
{
    if (!o->f) {
        clear(o);
        return yk_err_set(err, YK_E_INVALID, "output file: commit without a successful open");
    }
    /* e: the first error's errno, -1 when the stream had failed earlier without one left to tell */
    errno = 0;
    int e = fflush(o->f) != 0 || ferror(o->f) ? (errno ? errno : -1) : 0;
    if (!e && o->temp && fsync(fileno(o->f)) != 0) e = errno;
    if (fclose(o->f) != 0 && !e) e = errno ? errno : -1;
    o->f = NULL;
    if (e) return fail(o, err, YK_E_IO, "%s: cannot write%s%s", o->path, e > 0 ? ": " : "", e > 0 ? strerror(e) : "");
    if (o->temp && rename(o->temp, o->dest) != 0)
        return fail(o, err, YK_E_IO, "%s: cannot rename %s onto it: %s", o->path, o->temp, strerror(errno));
    clear(o);
    return YK_OK;
}

void yk_outfile_discard(yk_outfile *o)
{
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (o->temp) unlink(o->temp);
    clear(o);
}
