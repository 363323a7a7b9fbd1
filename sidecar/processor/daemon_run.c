/*
 * daemon_run.c: the daemon's event loop. One single-threaded parent holds the
 * PostgreSQL connection (claims, leases, results) and, in RabbitMQ mode, the
 * consumer; every document runs in its own child (daemon_child.c). The loop
 * polls the children's pipes, the database socket (NOTIFY) and a self-pipe
 * for signals; nothing in it blocks for long except short SQL calls. When a
 * child finishes, the next document is claimed and its child started before
 * the finished one's result is stored, so the two overlap.
 */
#include "daemon_run.h"
#include "daemon_child.h"
#include "daemon_config.h"
#include "daemon_db.h"
#include "daemon_log.h"
#include "daemon_queue.h"
#include "sandbox.h"
#include "../../src/common/s3_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef enum
{
	SLOT_FREE,
	SLOT_STARTING,				/* claimed; fetching the file and forking next */
	SLOT_RUNNING,				/* the child works */
	SLOT_REPORTING				/* the outcome waits for complete()/fail()/release() */
} slot_state;

typedef struct slot
{
	slot_state	st;
	char		rid[37];
	char		lease[37];
	char	   *filename;
	const char *via;			/* "queue" or "claim_next" */
	bool		has_msg;
	queue_msg	msg;
	child_proc	ch;
	child_outcome out;
	double		claimed_at, next_extend;
	bool		lease_lost;		/* extend() said 55000: someone else owns it now */
	bool		shutdown_kill;	/* killed at the end of the shutdown grace */
} slot;

typedef struct daemon_state
{
	proc_config cfg;
	char		worker[256];
	db		   *db;
	queue	   *q;
	slot	   *slots;			/* nslots = 2 x concurrency: see room() */
	int			nslots;
	queue_msg  *held;			/* deliveries waiting for a free slot */
	int			nheld;
	bool		want_claim;
	double		next_poll;		/* next claim_next even without a NOTIFY */
	double		pause_until;	/* no new work before (file source unreachable) */
	double		pause_backoff;
	bool		stopping;
	double		stop_deadline;
	bool		killed_all;
} daemon_state;

static volatile sig_atomic_t got_term;
static int	sig_pipe[2] = {-1, -1};

static void
on_term(int sig)
{
	int			saved = errno;

	(void) sig;
	got_term = 1;
	if (write(sig_pipe[1], "x", 1) < 0)
	{
		/* the pipe is full: a wake-up is pending anyway */
	}
	errno = saved;
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
lease_s(daemon_state *d)
{
	return db_lease_seconds(d->db);
}

static int
count_state(daemon_state *d, slot_state st)
{
	int			n = 0;

	for (int i = 0; i < d->nslots; i++)
		n += d->slots[i].st == st;
	return n;
}

/*
 * Documents that may start now: PROCESSOR_CONCURRENCY children at most. A slot
 * whose child has finished and whose outcome waits for complete()/fail() does
 * not count, so the next document's child runs while PostgreSQL stores the
 * last result (hence twice as many slots as children).
 */
static int
room(daemon_state *d)
{
	int			n = d->cfg.concurrency - count_state(d, SLOT_RUNNING) - count_state(d, SLOT_STARTING);
	int			nfree = count_state(d, SLOT_FREE);

	return n < nfree ? n : nfree;
}

static slot *
free_slot(daemon_state *d)
{
	if (room(d) <= 0)
		return NULL;
	for (int i = 0; i < d->nslots; i++)
		if (d->slots[i].st == SLOT_FREE)
			return &d->slots[i];
	return NULL;
}

/* The file source failed for now: no new work for a while (1 s doubling to 60 s). */
static void
pause_work(daemon_state *d, double now)
{
	d->pause_backoff = d->pause_backoff < 1 ? 1 : (d->pause_backoff * 2 > 60 ? 60 : d->pause_backoff * 2);
	d->pause_until = now + d->pause_backoff;
}

/* Frees the slot; acks its message (its outcome has committed, or it is someone else's). */
static void
slot_done(daemon_state *d, slot *s)
{
	if (s->has_msg)
	{
		if (d->q)
			queue_ack(d->q, &s->msg);
		queue_msg_free(&s->msg);
	}
	child_outcome_free(&s->out);
	free(s->filename);
	plog_trace_clear(s->rid);
	memset(s, 0, sizeof *s);
	s->st = SLOT_FREE;
	/* embedded: a free slot may take more work at once; with RabbitMQ the queue
	 * spreads the work and claim_next only runs on its timer (lost messages) */
	if (!d->q)
		d->want_claim = true;
}

static void
log_document(daemon_state *d, slot *s, const char *outcome, const char *reason)
{
	json_t	   *x = json_object();

	json_object_set_new(x, "outcome", json_string(outcome));
	json_object_set_new(x, "ms", json_integer((json_int_t) ((mono() - s->claimed_at) * 1000)));
	if (s->out.pages >= 0 && s->out.kind == OUTCOME_COMPLETED)
		json_object_set_new(x, "pages", json_integer(s->out.pages));
	if (s->out.source[0])
		json_object_set_new(x, "source", json_string(s->out.source));
	json_object_set_new(x, "via", json_string(s->via));
	if (s->filename)
		json_object_set_new(x, "filename", plog_string(s->filename));
	if (reason)
		json_object_set_new(x, "reason", plog_string(reason));
	json_object_set_new(x, "worker", json_string(d->worker));
	plog(strcmp(outcome, "completed") == 0 || strcmp(outcome, "failed") == 0 ? LOG_INFO : LOG_WARNING,
		 s->rid, x, "document %s", outcome);
}

/* Gives the lease back (transient trouble, shutdown). true when the slot is done. */
static bool
give_back(daemon_state *d, slot *s, const char *why)
{
	db_result	r = db_release(d->db, s->rid, s->lease);

	if (r == DB_GONE)
		return false;
	if (r == DB_ERROR)
		plog(LOG_ERROR, s->rid, NULL, "release() failed: %s", db_error(d->db));
	log_document(d, s, r == DB_STALE ? "dropped" : "released", why);
	slot_done(d, s);
	return true;
}

/* ----------------------------------------------------------- starting a document */

static void
start_document(daemon_state *d, slot *s, double now)
{
	unsigned char *bytes = NULL;
	size_t		len = 0;
	char	   *filename = NULL, *s3_key = NULL, *err = NULL, *traceparent = NULL;
	char		key[64];
	child_job	job;
	db_result	r = db_fetch(d->db, s->rid, &bytes, &len, &filename, &s3_key, &traceparent);

	if (r == DB_GONE)
		return;					/* try again once reconnected */
	plog_trace_set(s->rid, traceparent);	/* this document's lines carry its trace_id */
	free(traceparent);
	if (r != DB_OK)
	{
		plog(LOG_ERROR, s->rid, NULL, "reading the file failed: %s", db_error(d->db));
		free(filename);
		free(s3_key);
		pause_work(d, now);
		give_back(d, s, "reading the file from PostgreSQL failed");
		return;
	}
	if (!s->filename && filename)
		s->filename = filename;
	else
		free(filename);
	snprintf(key, sizeof key, "raw/%s.pdf", s->rid);
	if (!s3_key && s->has_msg && s->msg.s3_key)
		s3_key = strdup(s->msg.s3_key);
	if (!bytes && !d->cfg.s3_bucket)
	{
		/* a configuration problem, not the document's: give it back and wait */
		plog(LOG_ERROR, s->rid, NULL, "the file is no longer in PostgreSQL and S3 is not "
			 "configured (set S3_BUCKET and the AWS_* variables)");
		free(s3_key);
		pause_work(d, now);
		give_back(d, s, "file not reachable: S3 not configured");
		return;
	}
	job.request_id = s->rid;
	job.filename = s->filename;
	job.s3_key = s3_key ? s3_key : key;
	job.bytes = bytes;
	job.len = len;
	if (!child_start(&s->ch, &d->cfg, &job, &err))
	{
		plog(LOG_ERROR, s->rid, NULL, "cannot start a child: %s", err);
		free(err);
		pause_work(d, now);
		give_back(d, s, "fork failed");
	}
	else
	{
		s->st = SLOT_RUNNING;
		plog(LOG_DEBUG, s->rid, json_pack("{s:s,s:i}", "from", bytes ? "postgresql" : "s3", "pid", (int) s->ch.pid),
			 "processing");
	}
	free(bytes);
	free(s3_key);
}

static void
take(daemon_state *d, slot *s, const char *rid, const char *lease, const char *via, double now)
{
	memset(s, 0, sizeof *s);
	s->st = SLOT_STARTING;
	snprintf(s->rid, sizeof s->rid, "%s", rid);
	snprintf(s->lease, sizeof s->lease, "%s", lease);
	s->via = via;
	s->claimed_at = now;
	s->next_extend = now + lease_s(d) / 3.0;
	s->out.pages = -1;
}

/* a message we did not take: its trace id goes, unless a slot works on that request */
static void
forget_trace(daemon_state *d, const char *rid)
{
	for (int i = 0; i < d->nslots; i++)
		if (d->slots[i].st != SLOT_FREE && strcmp(d->slots[i].rid, rid) == 0)
			return;
	plog_trace_clear(rid);
}

/* A delivery and a free slot: claim() decides whether it is ours. */
static void
handle_message(daemon_state *d, slot *s, queue_msg *m, double now)
{
	char		lease[37];
	db_result	r;

	if (!m->valid)
	{
		plog(LOG_WARNING, NULL, json_pack("{s:s?}", "message_id", m->message_id),
			 "malformed message dropped: %s", m->why);
		queue_ack(d->q, m);
		queue_msg_free(m);
		return;
	}
	plog_trace_set(m->request_id, m->traceparent);	/* the message's trace, before SQL's */
	r = db_claim_one(d->db, m->request_id, d->worker, lease);
	if (r == DB_GONE)
	{
		queue_requeue(d->q, m);	/* comes back later; claim_next covers a loss */
		forget_trace(d, m->request_id);
		queue_msg_free(m);
		return;
	}
	if (r != DB_OK || !lease[0])
	{
		if (r != DB_OK)
			plog(LOG_ERROR, m->request_id, NULL, "claim() failed: %s", db_error(d->db));
		else
			plog(LOG_INFO, m->request_id, json_pack("{s:s?,s:b}", "message_id", m->message_id,
													  "redelivered", m->redelivered),
				 "message skipped: not PENDING (processed already, or another worker has it)");
		queue_ack(d->q, m);
		forget_trace(d, m->request_id);
		queue_msg_free(m);
		return;
	}
	take(d, s, m->request_id, lease, "queue", now);
	s->has_msg = true;
	s->msg = *m;
	if (m->filename)
		s->filename = strdup(m->filename);
	memset(m, 0, sizeof *m);
	start_document(d, s, now);
}

static void
pump_queue(daemon_state *d, double now)
{
	slot	   *s;

	if (!d->q || d->stopping || !queue_ensure(d->q, now))
		return;
	/* read what arrived even when busy: heartbeats, and the held list is bounded by prefetch */
	while (d->nheld < d->cfg.concurrency)
	{
		queue_msg	m;

		if (!queue_next(d->q, 0, &m))
			break;
		d->held[d->nheld++] = m;
	}
	while (d->nheld > 0 && now >= d->pause_until && db_connected(d->db) && (s = free_slot(d)) != NULL)
	{
		queue_msg	m = d->held[0];

		memmove(d->held, d->held + 1, (size_t) (d->nheld - 1) * sizeof *d->held);
		d->nheld--;
		handle_message(d, s, &m, now);
	}
}

static void
poll_claims(daemon_state *d, double now)
{
	int			nfree = room(d);
	db_claim   *c;
	int			n = 0;

	if (d->stopping || nfree == 0 || now < d->pause_until || !db_connected(d->db))
		return;
	if (!d->want_claim && now < d->next_poll)
		return;
	if (now >= d->next_poll)
		db_refresh_lease(d->db);
	c = calloc((size_t) nfree, sizeof *c);
	if (!c)
		return;
	if (db_claim_next(d->db, d->worker, nfree, c, &n) == DB_OK)
	{
		for (int i = 0; i < n; i++)
		{
			slot	   *s = free_slot(d);

			take(d, s, c[i].request_id, c[i].lease, "claim_next", now);
			start_document(d, s, now);
		}
		/* a full batch: there may be more, claimed as soon as a child finishes */
		d->want_claim = n > 0 && n == nfree;
		d->next_poll = now + lease_s(d) / 2.0;
		plog(LOG_DEBUG, NULL, json_pack("{s:i}", "claimed", n), "claim_next sweep");
	}
	else if (db_connected(d->db))
	{
		plog(LOG_ERROR, NULL, NULL, "claim_next() failed: %s", db_error(d->db));
		d->next_poll = now + 5;
		d->want_claim = false;
	}
	free(c);
}

/* ----------------------------------------------------------- outcomes */

static void
report(daemon_state *d, slot *s, double now)
{
	db_result	r;
	child_outcome *o = &s->out;

	if (s->lease_lost)
	{
		log_document(d, s, "dropped", "the lease was lost while processing (another worker may have it)");
		slot_done(d, s);
		return;
	}
	if (s->shutdown_kill)
	{
		give_back(d, s, "shutting down");
		return;
	}
	switch (o->kind)
	{
		case OUTCOME_COMPLETED:
			r = db_complete(d->db, s->rid, s->lease, o->result_json);
			if (r == DB_ERROR)
			{
				/* the database refused the result itself: the document fails with why */
				sbuf		b;

				sb_init(&b);
				sb_printf(&b, "the extraction result was refused: %s", db_error(d->db));
				plog(LOG_ERROR, s->rid, NULL, "%s", b.s);
				free(o->reason);
				o->reason = sb_steal(&b);
				o->kind = OUTCOME_FAILED;
				report(d, s, now);
				return;
			}
			break;
		case OUTCOME_FAILED:
			r = db_fail(d->db, s->rid, s->lease, o->reason);
			if (r == DB_ERROR)
			{
				plog(LOG_ERROR, s->rid, NULL, "fail() failed: %s", db_error(d->db));
				give_back(d, s, "fail() failed");
				return;
			}
			break;
		default:
			plog(LOG_WARNING, s->rid, NULL, "cannot read the file for now: %s", o->reason);
			pause_work(d, now);
			give_back(d, s, o->reason);
			return;
	}
	if (r == DB_GONE)
		return;					/* retried every turn until it works or the lease is gone */
	if (r == DB_STALE)
	{
		log_document(d, s, "dropped", "the lease expired before the result was stored");
		slot_done(d, s);
		return;
	}
	d->pause_backoff = 0;
	log_document(d, s, o->kind == OUTCOME_COMPLETED ? "completed" : "failed",
				 o->kind == OUTCOME_FAILED ? o->reason : NULL);
	slot_done(d, s);
}

/* Watchdog, lease renewals, finished children, starts that wait for the database. */
static void
tend_slots(daemon_state *d, double now)
{
	for (int i = 0; i < d->nslots; i++)
	{
		slot	   *s = &d->slots[i];

		if (s->st == SLOT_RUNNING && child_read(&s->ch))
		{
			child_finish(&s->ch, &d->cfg, &s->out);
			s->st = SLOT_REPORTING;
		}
		if (s->st == SLOT_RUNNING && !s->ch.killed_for_time && now - s->claimed_at > d->cfg.timeout_seconds)
		{
			plog(LOG_WARNING, s->rid, NULL, "killing the child after %d s (time limit)", d->cfg.timeout_seconds);
			child_kill(&s->ch, true);
		}
		if ((s->st == SLOT_RUNNING || s->st == SLOT_STARTING) && !s->lease_lost &&
			now >= s->next_extend && db_connected(d->db))
		{
			db_result	r = db_extend(d->db, s->rid, s->lease);

			if (r == DB_OK)
				s->next_extend = now + lease_s(d) / 3.0;
			else if (r == DB_STALE || r == DB_ERROR)
			{
				plog(LOG_WARNING, s->rid, NULL, "lease lost: %s", db_error(d->db));
				s->lease_lost = true;
				if (s->st == SLOT_RUNNING)
					child_kill(&s->ch, false);
				else
					s->st = SLOT_REPORTING;
			}
			else
				s->next_extend = now + 1;
		}
		if (s->st == SLOT_STARTING && db_connected(d->db))
			start_document(d, s, now);
	}
}

/* Outcomes waiting for complete()/fail()/release(): after new children have started. */
static void
report_slots(daemon_state *d, double now)
{
	for (int i = 0; i < d->nslots; i++)
	{
		slot	   *s = &d->slots[i];

		if (s->st == SLOT_REPORTING && (db_connected(d->db) || s->lease_lost))
			report(d, s, now);
	}
}

/* ----------------------------------------------------------- the loop */

static void
wait_for_events(daemon_state *d, double now)
{
	struct pollfd *fds = calloc((size_t) (2 + 2 * d->nslots), sizeof *fds);
	int			n = 0;
	double		until = now + 1.0;
	int			timeout;
	char		buf[64];

	if (!fds)
		return;
	fds[n++] = (struct pollfd) {.fd = sig_pipe[0], .events = POLLIN};
	if (db_socket(d->db) >= 0)
		fds[n++] = (struct pollfd) {.fd = db_socket(d->db), .events = POLLIN};
	for (int i = 0; i < d->nslots; i++)
	{
		slot	   *s = &d->slots[i];

		if (s->st != SLOT_RUNNING)
			continue;
		if (s->ch.out_fd >= 0)
			fds[n++] = (struct pollfd) {.fd = s->ch.out_fd, .events = POLLIN};
		if (s->ch.err_fd >= 0)
			fds[n++] = (struct pollfd) {.fd = s->ch.err_fd, .events = POLLIN};
	}
	if (d->q)
		until = now + 0.1;		/* the AMQP client has no socket to poll: look again soon */
	if (!d->stopping && d->next_poll < until)
		until = d->next_poll;
	if (d->want_claim && room(d) > 0 && now >= d->pause_until && db_connected(d->db) && !d->stopping)
		until = now;
	if (count_state(d, SLOT_STARTING) + count_state(d, SLOT_REPORTING) > 0)
		until = now + 0.2;		/* waiting for the database to come back */
	timeout = until <= now ? 0 : (int) ((until - now) * 1000) + 1;
	if (poll(fds, (nfds_t) n, timeout) > 0 && (fds[0].revents & POLLIN))
		while (read(sig_pipe[0], buf, sizeof buf) > 0)
			;
	free(fds);
}

static void
begin_stop(daemon_state *d, double now)
{
	int			busy = d->nslots - count_state(d, SLOT_FREE);

	d->stopping = true;
	d->stop_deadline = now + d->cfg.grace_seconds;
	plog(LOG_INFO, NULL, json_pack("{s:i,s:i}", "in_flight", busy, "grace_s", d->cfg.grace_seconds),
		 "stopping: no new work, waiting for documents in flight");
	/* deliveries not started go back to the queue */
	for (int i = 0; i < d->nheld; i++)
	{
		queue_requeue(d->q, &d->held[i]);
		queue_msg_free(&d->held[i]);
	}
	d->nheld = 0;
}

static void
usage(FILE *f)
{
	fputs("usage: invoiceflow-processor run\n"
		  "Claims documents from invoiceflow (PostgreSQL: claim_next + LISTEN, or RabbitMQ queue\n"
		  "invoiceflow.process) and extracts each in a child process with CPU, memory and time limits.\n"
		  "Environment: DATABASE_URL (required), RABBITMQ_URL, S3_BUCKET, S3_ENDPOINT_URL, AWS_REGION,\n"
		  "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, PROCESSOR_CONCURRENCY (online CPUs),\n"
		  "PROCESSOR_CPU_SECONDS (30), PROCESSOR_MEMORY_MB (512), PROCESSOR_TIMEOUT_SECONDS (60),\n"
		  "PROCESSOR_SHUTDOWN_GRACE_SECONDS (10), LOG_LEVEL (INFO), LOG_FORMAT (json|text), SERVICE_NAME.\n"
		  "SIGTERM/SIGINT: stop taking work, finish or give back what is in flight, exit 0.\n", f);
}

static bool
s3_config_ok(const proc_config *cfg)
{
	s3c_config sc;
	s3c_error	e = {0};
	s3c_client *c;

	if (!cfg->s3_bucket)
		return true;
	config_s3(cfg, &sc);
	c = s3c_client_new(&sc, &e);
	if (!c)
	{
		fprintf(stderr, "invoiceflow-processor run: S3 configuration: %s\n", e.message);
		return false;
	}
	s3c_client_free(c);
	return true;
}

int
cmd_run(int argc, char **argv)
{
	daemon_state d;
	char		err[512], host[128] = "localhost";
	struct sigaction sa;

	memset(&d, 0, sizeof d);
	if (argc > 0)
	{
		bool		help = strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0;

		if (!help)
			fprintf(stderr, "run: unexpected argument %s\n", argv[0]);
		usage(help ? stdout : stderr);
		return help ? 0 : 2;
	}
	if (!config_from_env(&d.cfg, err, sizeof err))
	{
		fprintf(stderr, "invoiceflow-processor run: %s\n", err);
		return 2;
	}
	log_init(d.cfg.log_level, d.cfg.log_json, d.cfg.service_name);
	plog_trace_init();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
	{
		fprintf(stderr, "invoiceflow-processor run: libcurl initialisation failed\n");
		return 1;
	}
	if (!s3_config_ok(&d.cfg))
		return 2;
	/* before any thread or connection: the children's network namespace */
	if (!sandbox_netns_prepare(&d.cfg.sandbox, err, sizeof err))
	{
		fprintf(stderr, "invoiceflow-processor run: %s\n", err);
		return 1;
	}
	sandbox_protect_parent();
	{
		char		program[4096] = "invoiceflow-processor-child";

		if (!child_program(program, sizeof program) || access(program, X_OK) != 0)
		{
			fprintf(stderr, "invoiceflow-processor run: the document child's program %s is missing "
					"(build it with make -C sidecar/processor)\n", program);
			return 2;
		}
	}
	gethostname(host, sizeof host - 1);
	snprintf(d.worker, sizeof d.worker, "%s@%.100s:%d", d.cfg.service_name, host, (int) getpid());

	if (pipe(sig_pipe) != 0)
	{
		perror("pipe");
		return 1;
	}
	for (int i = 0; i < 2; i++)
	{
		fcntl(sig_pipe[i], F_SETFL, O_NONBLOCK);
		fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);	/* logs go to stdout: nothing to reopen */
	signal(SIGPIPE, SIG_IGN);

	d.db = db_new(d.cfg.database_url, d.cfg.service_name);
	d.q = d.cfg.rabbitmq_url ? queue_new(d.cfg.rabbitmq_url, d.cfg.concurrency) : NULL;
	d.nslots = 2 * d.cfg.concurrency;
	d.slots = calloc((size_t) d.nslots, sizeof *d.slots);
	d.held = calloc((size_t) d.cfg.concurrency, sizeof *d.held);
	if (!d.db || !d.slots || !d.held || (d.cfg.rabbitmq_url && !d.q))
	{
		fprintf(stderr, "invoiceflow-processor run: out of memory\n");
		return 1;
	}
	d.want_claim = true;
	plog(LOG_INFO, NULL,
		 json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:b,s:b}", "mode", d.q ? "rabbitmq" : "embedded",
				   "worker", d.worker, "concurrency", d.cfg.concurrency, "cpu_seconds", d.cfg.cpu_seconds,
				   "memory_mb", d.cfg.memory_mb, "timeout_seconds", d.cfg.timeout_seconds,
				   "s3", d.cfg.s3_bucket != NULL, "test_faults", d.cfg.test_faults),
		 "processor starting");
	if (d.cfg.test_faults)
		plog(LOG_WARNING, NULL, NULL, "PROCESSOR_TEST_FAULTS=1: test-only fault hooks are on (never in production)");
	plog(LOG_INFO, NULL,
		 json_pack("{s:s?,s:i,s:s}", "sandbox_user", d.cfg.sandbox.switch_user ? d.cfg.sandbox.name : NULL,
				   "landlock_abi", sandbox_landlock_abi(), "scratch_dir", d.cfg.scratch_dir),
		 sandbox_landlock_abi() > 0 ? "document sandbox: seccomp, Landlock"
		 : "document sandbox: seccomp only (this kernel has no Landlock: children cannot write files)");

	for (;;)
	{
		double		now = mono();
		int			busy;

		if (got_term && !d.stopping)
			begin_stop(&d, now);
		busy = d.nslots - count_state(&d, SLOT_FREE);
		if (d.stopping && busy == 0)
			break;
		if (d.stopping && !d.killed_all && now >= d.stop_deadline)
		{
			d.killed_all = true;
			for (int i = 0; i < d.nslots; i++)
			{
				slot	   *s = &d.slots[i];

				if (s->st == SLOT_RUNNING || s->st == SLOT_STARTING)
				{
					plog(LOG_WARNING, s->rid, NULL, "grace period over: stopping the document");
					s->shutdown_kill = true;
					if (s->st == SLOT_RUNNING)
						child_kill(&s->ch, false);
					else
						s->st = SLOT_REPORTING;
				}
			}
		}
		if (d.stopping && now >= d.stop_deadline + 10)
		{
			plog(LOG_ERROR, NULL, json_pack("{s:i}", "in_flight", busy),
				 "could not hand back every document (database unreachable); their leases will expire");
			break;
		}
		db_ensure(d.db, now);
		if (db_take_notifies(d.db))
			d.want_claim = true;
		tend_slots(&d, now);
		pump_queue(&d, now);
		poll_claims(&d, now);
		report_slots(&d, mono());
		wait_for_events(&d, mono());
	}

	for (int i = 0; i < d.nslots; i++)
		if (d.slots[i].st == SLOT_RUNNING)
		{
			child_kill(&d.slots[i].ch, false);
			while (!child_read(&d.slots[i].ch))
				usleep(10000);
			child_finish(&d.slots[i].ch, &d.cfg, &d.slots[i].out);
			child_outcome_free(&d.slots[i].out);
		}
	for (int i = 0; i < d.nheld; i++)
		queue_msg_free(&d.held[i]);
	for (int i = 0; i < d.nslots; i++)
	{
		if (d.slots[i].has_msg)
			queue_msg_free(&d.slots[i].msg);
		child_outcome_free(&d.slots[i].out);
		free(d.slots[i].filename);
	}
	queue_free(d.q);
	db_free(d.db);
	free(d.slots);
	free(d.held);
	curl_global_cleanup();
	plog(LOG_INFO, NULL, NULL, "processor stopped");
	return 0;
}
