/* cmd_bench.c: yoke bench (not built yet). */
#include "cli.h"

int yk_cmd_bench(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not implemented yet");
}
