/* cli.h - subcommands of the streamguard binary. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit code. */
#ifndef SG_CLI_H
#define SG_CLI_H

int cli_cmd_certs(int argc, char **argv);
int cli_cmd_eval(int argc, char **argv);
int cli_cmd_lint(int argc, char **argv);
int cli_cmd_check(int argc, char **argv);
int cli_cmd_test(int argc, char **argv);
int cli_cmd_audit(int argc, char **argv);

#endif
