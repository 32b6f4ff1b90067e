/* cmd_tokenize.c: yoke tokenize (not built yet). */
#include "cli.h"

int yk_cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not implemented yet");
}
