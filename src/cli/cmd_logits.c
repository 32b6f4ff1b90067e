/* cmd_logits.c: yoke logits (not built yet). */
#include "cli.h"

int yk_cmd_logits(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not implemented yet");
}
