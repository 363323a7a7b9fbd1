/* child_answer.c: a per-document child's answer on its pipe (see child_answer.h). */
#include "child_answer.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void
child_write_all(int fd, const char *s, size_t n)
{
	while (n > 0)
	{
		ssize_t		w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t) w;
	}
}

void
child_answer(int fd, char kind, const char *text)
{
	char		head[2] = {kind, '\n'};

	child_write_all(fd, head, 2);
	child_write_all(fd, text, strlen(text));
}
