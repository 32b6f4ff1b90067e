/* cmd_mkmodel.c: yoke mkmodel (not built yet). */
#include "cli.h"

int yk_cmd_mkmodel(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not implemented yet");
}
