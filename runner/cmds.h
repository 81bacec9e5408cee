/* One function per subcommand; each parses its own options and returns the
 * process exit status. */
#ifndef KFARM_CMDS_H
#define KFARM_CMDS_H

int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_regressions(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_hosts(int argc, char **argv);

#endif
