/* A program on this machine: where PATH finds it, and the first line it
 * prints for --version (the QEMU binaries the direct backend runs and a
 * local host's probe reports). Never through a shell. */
#ifndef KFARM_EXE_H
#define KFARM_EXE_H

/* The path execvp would run for name (as given when it has a '/'), or NULL
 * if nothing executable is there. */
char *exe_find(const char *name);

/* "PATH --version": its first line of output, or NULL if it did not run or
 * failed. */
char *exe_version(const char *path);

#endif
