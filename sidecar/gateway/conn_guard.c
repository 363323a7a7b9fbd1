/*
 * conn_guard.c: the head deadline and the lingering close (see conn_guard.h).
 *
 * Every open connection has a guard in one list. The guard is added when MHD
 * accepts the connection and removed when MHD tells it is closed, which MHD
 * does before it closes the socket: so while a guard is in the list, under the
 * lock, its descriptor is the connection's and the watchdog may shut it down.
 *
 * Lingering: when MHD closes a connection marked to linger, the guard keeps a
 * dup() of its socket, so MHD's close() does not end the TCP connection; the
 * watchdog reads and throws away what arrives until the client closes its
 * side, GATEWAY_LINGER_SECONDS pass or GATEWAY_LINGER_MAX_MB have been read,
 * then closes it. At most LINGER_MAX sockets linger at once; past that a
 * connection is closed at once, as before.
 */
#include "conn_guard.h"
#include "config.h"
#include "../../src/common/sidecar_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINGER_MAX 64
#define TICK_MS 100

struct conn_guard
{
	struct conn_guard *prev;
	struct conn_guard *next;
	MHD_socket	fd;
	double		head_deadline;	/* 0: no head awaited (a request is being served) */
	bool		linger;
	char		client[INET6_ADDRSTRLEN];
};

struct lingering
{
	int			fd;
	double		deadline;
	unsigned long long bytes;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn_guard *guards;
static struct lingering lingers[LINGER_MAX];
static int	n_lingers;
static pthread_t watchdog;
static bool running;
static int	stop_flag;
static unsigned long long n_head_timeouts;
static unsigned long long n_lingered;

static double
now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct conn_guard *
guard_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void
client_text(struct MHD_Connection *conn, char *out, size_t outsz)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	out[0] = '\0';
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) ci->client_addr)->sin_addr, out, (socklen_t) outsz);
	else if (ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) ci->client_addr)->sin6_addr, out, (socklen_t) outsz);
}

/* called with the lock held: keep a dup of fd and drain it from the watchdog */
static void
linger_add(MHD_socket fd)
{
	int			d;

	if (n_lingers >= LINGER_MAX || cfg.linger_seconds <= 0)
		return;
	if ((d = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return;
	fcntl(d, F_SETFL, fcntl(d, F_GETFL) | O_NONBLOCK);
	shutdown(d, SHUT_WR);		/* the answer is out: say so, keep reading */
	lingers[n_lingers].fd = d;
	lingers[n_lingers].deadline = now_monotonic() + cfg.linger_seconds;
	lingers[n_lingers].bytes = 0;
	n_lingers++;
	n_lingered++;
}

void
conn_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
				  enum MHD_ConnectionNotificationCode code)
{
	struct conn_guard *g = *socket_context;

	(void) cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
	{
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		if (!ci || !(g = calloc(1, sizeof(*g))))
			return;				/* unguarded: MHD's own timeouts still apply */
		g->fd = ci->connect_fd;
		client_text(conn, g->client, sizeof(g->client));
		pthread_mutex_lock(&lock);
		g->head_deadline = now_monotonic() + cfg.header_timeout;
		g->next = guards;
		if (guards)
			guards->prev = g;
		guards = g;
		pthread_mutex_unlock(&lock);
		*socket_context = g;
		return;
	}
	if (!g)
		return;
	pthread_mutex_lock(&lock);
	if (g->prev)
		g->prev->next = g->next;
	else
		guards = g->next;
	if (g->next)
		g->next->prev = g->prev;
	if (g->linger && running)
		linger_add(g->fd);
	pthread_mutex_unlock(&lock);
	free(g);
	*socket_context = NULL;
}

void
conn_guard_head_done(struct MHD_Connection *conn)
{
	struct conn_guard *g = guard_of(conn);

	if (!g)
		return;
	pthread_mutex_lock(&lock);
	g->head_deadline = 0;
	pthread_mutex_unlock(&lock);
}

void
conn_guard_head_rearm(struct MHD_Connection *conn)
{
	struct conn_guard *g = guard_of(conn);

	if (!g)
		return;
	pthread_mutex_lock(&lock);
	g->head_deadline = now_monotonic() + cfg.header_timeout;
	pthread_mutex_unlock(&lock);
}

void
conn_guard_linger(struct MHD_Connection *conn)
{
	struct conn_guard *g = guard_of(conn);

	if (!g)
		return;
	pthread_mutex_lock(&lock);
	g->linger = true;
	pthread_mutex_unlock(&lock);
}

const char *
conn_guard_client(struct MHD_Connection *conn)
{
	struct conn_guard *g = guard_of(conn);

	return g ? g->client : "";
}

unsigned long long
conn_guard_head_timeouts(void)
{
	unsigned long long n;

	pthread_mutex_lock(&lock);
	n = n_head_timeouts;
	pthread_mutex_unlock(&lock);
	return n;
}

unsigned long long
conn_guard_lingered(void)
{
	unsigned long long n;

	pthread_mutex_lock(&lock);
	n = n_lingered;
	pthread_mutex_unlock(&lock);
	return n;
}

/* shut the sockets of connections whose head is late; MHD sees EOF and closes them */
static void
enforce_head_deadlines(double now)
{
	pthread_mutex_lock(&lock);
	for (struct conn_guard *g = guards; g; g = g->next)
		if (g->head_deadline > 0 && now > g->head_deadline)
		{
			g->head_deadline = 0;
			shutdown(g->fd, SHUT_RDWR);
			n_head_timeouts++;
			log_info("gateway.http", NULL, "connection from %s closed: no complete request head within "
					 "GATEWAY_HEADER_TIMEOUT_SECONDS=%d", g->client, cfg.header_timeout);
		}
	pthread_mutex_unlock(&lock);
}

/* read and discard on every lingering socket; close the finished ones */
static void
drain_lingering(double now)
{
	struct pollfd pfd[LINGER_MAX];
	int			n;
	char		buf[16384];

	pthread_mutex_lock(&lock);
	n = n_lingers;
	for (int i = 0; i < n; i++)
		pfd[i] = (struct pollfd) {.fd = lingers[i].fd, .events = POLLIN};
	pthread_mutex_unlock(&lock);
	if (n <= 0)
	{
		usleep(TICK_MS * 1000);
		return;
	}
	(void) poll(pfd, (nfds_t) n, TICK_MS);	/* a timeout still checks the deadlines */
	pthread_mutex_lock(&lock);
	/* only the watchdog removes entries, and additions go to the end: the first n are those polled */
	for (int i = n - 1; i >= 0; i--)
	{
		struct lingering *l = &lingers[i];
		bool		done = now > l->deadline;

		if (!done && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
		{
			ssize_t		r;

			while ((r = recv(l->fd, buf, sizeof(buf), 0)) > 0)
				if ((l->bytes += (unsigned long long) r) > (unsigned long long) cfg.linger_max_mb * 1024 * 1024)
					break;
			done = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
				l->bytes > (unsigned long long) cfg.linger_max_mb * 1024 * 1024;
		}
		if (done)
		{
			close(l->fd);
			lingers[i] = lingers[--n_lingers];
			/* the moved entry (from the end) was either polled already or is new: both fine */
		}
	}
	pthread_mutex_unlock(&lock);
}

static void *
watchdog_main(void *arg)
{
	(void) arg;
	while (!__atomic_load_n(&stop_flag, __ATOMIC_SEQ_CST))
	{
		double		now = now_monotonic();

		enforce_head_deadlines(now);
		drain_lingering(now);
	}
	return NULL;
}

bool
conn_guard_start(void)
{
	__atomic_store_n(&stop_flag, 0, __ATOMIC_SEQ_CST);
	if (pthread_create(&watchdog, NULL, watchdog_main, NULL) != 0)
		return false;
	pthread_mutex_lock(&lock);
	running = true;
	pthread_mutex_unlock(&lock);
	return true;
}

void
conn_guard_stop(void)
{
	bool		was_running;

	pthread_mutex_lock(&lock);
	was_running = running;
	pthread_mutex_unlock(&lock);
	if (!was_running)
		return;
	__atomic_store_n(&stop_flag, 1, __ATOMIC_SEQ_CST);
	pthread_join(watchdog, NULL);
	pthread_mutex_lock(&lock);
	running = false;
	while (n_lingers > 0)
		close(lingers[--n_lingers].fd);
	pthread_mutex_unlock(&lock);
}
