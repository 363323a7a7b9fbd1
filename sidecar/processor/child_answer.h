/*
 * child_answer.h: the one answer a per-document child writes on its pipe, in
 * the format of daemon_child.h ("K\n" then the text; K is T, F, E, ...), from
 * the daemon's forked child and from the child's own program alike.
 */
#ifndef IF_CHILD_ANSWER_H
#define IF_CHILD_ANSWER_H

#include <stddef.h>

/* Writes all of s (retrying on EINTR); gives up quietly when the pipe is gone. */
void		child_write_all(int fd, const char *s, size_t n);
/* Writes the answer kind's line, then text. */
void		child_answer(int fd, char kind, const char *text);

#endif
