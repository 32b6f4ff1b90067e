/* cmd_chat.c: yoke chat (not built yet). */
#include "cli.h"

int yk_cmd_chat(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], "not implemented yet");
}
