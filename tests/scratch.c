/* scratch.c: see scratch.h. */
#include "scratch.h"
#include "test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *tu_tmp_dir(char *buf, size_t n)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, n, "%s/yoke-test-%d-XXXXXX", dir && *dir ? dir : "/tmp", (int)getpid());
    return mkdtemp(buf);
}

int tu_count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

void tu_rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        char path[4096];
        for (struct dirent *e; (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

bool tu_file_holds(const char *path, const char *text)
{
    size_t n;
    char *p = tu_read_file(path, &n);
    bool ok = p && n == strlen(text) && !memcmp(p, text, n);
    free(p);
    return ok;
}
