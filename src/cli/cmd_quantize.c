/* cmd_quantize.c: yoke quantize (not built yet). */
#include "cli.h"

int yk_cmd_quantize(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not implemented yet");
}
