/* serve.h - the 'streamguard serve' command: options, start-up checks, signals, drain. */
#ifndef SG_SERVER_SERVE_H
#define SG_SERVER_SERVE_H

/* Runs the webhook until SIGTERM or SIGINT, then drains. Returns the process exit code:
 * 0 after a clean drain, 1 when start-up fails, 2 on a usage error. */
int server_cmd_serve(int argc, char **argv);

#endif
