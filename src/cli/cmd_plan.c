/* cmd_plan.c: yoke plan (not built yet). */
#include "cli.h"

int yk_cmd_plan(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not implemented yet");
}
