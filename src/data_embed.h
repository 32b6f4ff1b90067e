/* data_embed.h: the repository data files (data/NAME.tsv, data/profiles/NAME.tsv), embedded into libyoke
 * at build time by scripts/embed_data.sh (Makefile rule: build/<mode>/gen/data.c). Private to libyoke. */
#ifndef YOKE_DATA_EMBED_H
#define YOKE_DATA_EMBED_H

#include <stddef.h>

typedef struct {
    const char *path;   /* "data/hw.tsv" */
    const char *text;   /* the whole file, NUL-terminated */
} yk_data_blob;

/* In file order of the Makefile's sorted list; terminated by an entry whose path is NULL. */
extern const yk_data_blob yk_data_blobs[];

#endif
