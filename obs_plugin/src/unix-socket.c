#include "unix-socket.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* fcntl rather than SOCK_NONBLOCK / pipe2: macOS has neither. */
static bool make_nonblocking_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 &&
	       fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
}

int cohost_connect(const char *path, int *error)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	size_t length = strlen(path);
	int fd;

	if (length == 0 || length >= sizeof(address.sun_path)) {
		*error = ENAMETOOLONG;
		return -1;
	}
	memcpy(address.sun_path, path, length + 1);

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0) {
		*error = errno;
		return -1;
	}
	if (!make_nonblocking_cloexec(fd) ||
	    connect(fd, (const struct sockaddr *)&address, sizeof(address)) != 0) {
		*error = errno;
		close(fd);
		return -1;
	}
	return fd;
}

bool cohost_connect_error_is_absence(int error)
{
	return error == ENOENT || error == ECONNREFUSED || error == EAGAIN;
}

bool cohost_wake_pipe_open(int fds[2])
{
	if (pipe(fds) != 0)
		return false;
	if (make_nonblocking_cloexec(fds[0]) && make_nonblocking_cloexec(fds[1]))
		return true;
	cohost_wake_pipe_close(fds);
	return false;
}

void cohost_wake_pipe_close(int fds[2])
{
	close(fds[0]);
	close(fds[1]);
	fds[0] = fds[1] = -1;
}

void cohost_wake_pipe_signal(int write_fd)
{
	const char byte = 1;
	/* EAGAIN: the pipe is full, so the reader wakes anyway. */
	ssize_t written = write(write_fd, &byte, 1);
	(void)written;
}

void cohost_wake_pipe_drain(int read_fd)
{
	char bytes[64];
	while (read(read_fd, bytes, sizeof(bytes)) > 0) {
	}
}

static bool signalled_within(int read_fd, int ms)
{
	struct pollfd wake = {.fd = read_fd, .events = POLLIN};
	return poll(&wake, 1, ms) > 0;
}

void cohost_wake_pipe_wait(int read_fd, int ms)
{
	if (signalled_within(read_fd, ms))
		cohost_wake_pipe_drain(read_fd);
}

void cohost_wake_pipe_peek(int read_fd, int ms)
{
	signalled_within(read_fd, ms);
}
