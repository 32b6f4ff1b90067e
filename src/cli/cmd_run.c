/* cmd_run.c: yoke run (not built yet). */
#include "cli.h"

int yk_cmd_run(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not implemented yet");
}
