/* scratch.h: scratch folders for the tests that check what a command leaves on disk (temporary
 * files beside an output, files it must not remove). */
#ifndef YOKE_TEST_SCRATCH_H
#define YOKE_TEST_SCRATCH_H

#include <stdbool.h>
#include <stddef.h>

/* A new empty directory unique to this process (under $TMPDIR or /tmp), or NULL on failure. */
const char *tu_tmp_dir(char *buf, size_t n);
/* How many entries of dir have a name that starts with prefix (-1 if dir cannot be read). */
int tu_count_prefix(const char *dir, const char *prefix);
/* True if the file at path holds exactly the bytes of text. */
bool tu_file_holds(const char *path, const char *text);
/* Removes dir and every entry in it (one level deep: the tests' scratch folders). */
void tu_rm_dir(const char *dir);

#endif
