/* cmd_dump.c: yoke dump (not built yet). */
#include "cli.h"

int yk_cmd_dump(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not implemented yet");
}
