/* cmd_info.c: yoke info (not built yet). */
#include "cli.h"

int yk_cmd_info(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not implemented yet");
}
