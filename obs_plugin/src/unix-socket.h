/* The plugin's side of the Unix socket: a connect that never waits, and a wake pipe that lets
 * OBS's threads interrupt the reader's poll(). POSIX only, no libobs. */
#pragma once

#include <stdbool.h>

/* A connected, non-blocking stream socket to `path`, or -1 with *error set to an errno value
 * (ENAMETOOLONG when the path does not fit a sockaddr_un). Never blocks: a listener whose backlog
 * is full answers EAGAIN, like one that is not there. */
int cohost_connect(const char *path, int *error);

/* Whether the error only means "no engine there yet": retried quietly. */
bool cohost_connect_error_is_absence(int error);

/* A pipe with both ends non-blocking and close-on-exec; false with errno set on failure. */
bool cohost_wake_pipe_open(int fds[2]);
void cohost_wake_pipe_close(int fds[2]);
/* Makes the read end readable (a full pipe is readable already). */
void cohost_wake_pipe_signal(int write_fd);
/* Empties the read end, so that the next poll() waits again. */
void cohost_wake_pipe_drain(int read_fd);
/* Waits up to `ms` for the read end to be signalled, and drains it. */
void cohost_wake_pipe_wait(int read_fd, int ms);
/* Waits up to `ms` for the read end to be signalled, leaving the signal for the next poll(). */
void cohost_wake_pipe_peek(int read_fd, int ms);
