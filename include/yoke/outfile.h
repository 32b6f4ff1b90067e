/* yoke/outfile.h: output files written all or nothing.
 *
 * A path that does not exist yet, or names a regular file, is written through a temporary file
 * beside it (PATH.tmp.XXXXXX in the same directory, created new with O_EXCL): commit flushes it,
 * syncs it to disk and renames it onto PATH, so until then PATH keeps its old bytes, and discard
 * removes the temporary only. An existing regular file keeps its permission bits. A symbolic link
 * is followed: the file it names is replaced and the link stays. Anything else at PATH (a device
 * such as /dev/null, a pipe) is written straight through: opened for writing, never created,
 * truncated, renamed or removed. yoke never deletes a path it did not create.
 *
 * The caller owns the struct: yk_outfile o; yk_outfile_open(&o, path, &err); fwrite(..., o.f);
 * yk_outfile_commit(&o, &err) (or yk_outfile_discard(&o) to give up). A caller that wants the
 * temporary removed on a signal (SIGINT during a long write) reads o.temp after open. */
#ifndef YOKE_OUTFILE_H
#define YOKE_OUTFILE_H

#include "yoke/base.h"

#include <stdio.h>

typedef struct {
    char *path;  /* as given (for messages) */
    char *dest;  /* what commit renames onto: path, or the file a symbolic link at path names */
    char *temp;  /* the temporary file; NULL when writing straight through */
    FILE *f;     /* write here */
} yk_outfile;

/* Opens path for writing as above. Fails with YK_E_IO (message naming path, and the temporary
 * when it could not be created) for a directory, a dangling symbolic link, or a directory where no
 * file can be created. On failure o is zeroed (safe to discard). */
yk_status yk_outfile_open(yk_outfile *o, const char *path, yk_err *err);
/* Flushes, syncs and closes; renames the temporary onto dest. On failure the temporary is
 * removed and dest keeps its old bytes. o is zeroed in every case. */
yk_status yk_outfile_commit(yk_outfile *o, yk_err *err);
/* Closes and removes the temporary (never path). o is zeroed. Safe on a zeroed o. */
void yk_outfile_discard(yk_outfile *o);

#endif
