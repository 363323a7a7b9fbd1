/*
 * account_loop.c: see account_loop.h.
 *
 * Order of one round: IDLE is started on the watching connection first, then
 * the folder is scanned on the working connection, then the loop waits; a
 * message that arrives during the scan is announced on the idling connection
 * and so never waits for the next renewal.
 *
 * A message is marked done on the server (MAIL_AFTER) only after its parts have
 * committed; a crash between the two makes the next scan read it again, and
 * the idempotency keys return the same ingestions.
 */
#include "account_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "imap_client.h"
#include "imap_idle.h"
#include "mail_db.h"
#include "message.h"
#include "sidecar_log.h"

#define LOGGER "mail.imap"

struct loop_state
{
	struct account_loop *al;
	struct imap_client imap;
	bool		imap_open;
	struct imap_idle idle;
	bool		idle_open;
	struct mail_db db;
	time_t		last_heartbeat;
};

/* sleeps ms, waking early on a stop request */
static void
sleep_ms(long ms, volatile sig_atomic_t *stop)
{
	while (ms > 0 && !*stop)
	{
		long		step = ms > 200 ? 200 : ms;
		struct timespec ts = {step / 1000, (step % 1000) * 1000000L};

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

static void
heartbeat(struct loop_state *st, bool ok, const char *reason)
{
	mail_db_heartbeat(&st->db, st->al->acct.name, ok, reason);
	st->last_heartbeat = time(NULL);
}

/* a test hook (MAIL_TEST_PAUSE=after_commit): a window to kill the process in */
static void
test_pause(const struct mail_config *cfg, const char *where, unsigned long uid)
{
	if (cfg->test_pause && strcmp(cfg->test_pause, where) == 0)
	{
		log_warning(LOGGER, NULL, "test pause %s of uid %lu", where, uid);
		sleep(3);
	}
}

/* takes every pending message; false on an IMAP or database failure (err) */
static bool
scan(struct loop_state *st, char *err, size_t errsz)
{
	struct account_loop *al = st->al;
	unsigned long uidvalidity,
			   *uids = NULL;
	size_t		n = 0;
	struct membuf raw = {0};
	bool		ok = true;

	if (!st->imap_open)
	{
		if (!imap_client_open(&st->imap, &al->acct, al->cfg))
		{
			snprintf(err, errsz, "libcurl could not start");
			return false;
		}
		st->imap_open = true;
	}
	if (!imap_uidvalidity(&st->imap, &uidvalidity, err, errsz) ||
		!imap_pending_uids(&st->imap, &uids, &n, err, errsz))
		return false;
	if (n > 0)
		log_info(LOGGER, NULL, "%s: %zu message(s) to take", al->acct.name, n);

	/* a stop request ends the scan between messages, never inside one */
	for (size_t i = 0; i < n && !*al->stop; i++)
	{
		struct mail_record_result res;
		enum message_rc rc;

		if (!imap_fetch(&st->imap, uidvalidity, uids[i], &raw, err, errsz))
		{
			char		key[64];

			if (!raw.overflow)
			{
				ok = false;
				break;
			}
			/* too big to take whole: recorded as rejected with the reason, then marked done */
			log_warning(LOGGER, NULL, "%s: uid %lu: %s", al->acct.name, uids[i], err);
			snprintf(key, sizeof(key), "uid:%lu:%lu", uidvalidity, uids[i]);
			rc = mail_db_record_refused(&st->db, al->acct.name, key, err, err, errsz) ?
				MESSAGE_COMMITTED : MESSAGE_TEMPFAIL;
		}
		else
			rc = message_process(&st->db, al->acct.name, raw.data, raw.len, uidvalidity, uids[i], true,
								 &res, err, errsz);
		if (rc != MESSAGE_COMMITTED)
		{
			ok = false;
			break;
		}
		test_pause(al->cfg, "after_commit", uids[i]);
		if (!imap_mark_done(&st->imap, uids[i], err, errsz))
		{
			ok = false;
			break;
		}
		/* a long backlog still reports in, or health() would call the account silent */
		if (time(NULL) - st->last_heartbeat >= al->cfg->heartbeat_seconds)
			heartbeat(st, true, NULL);
	}
	membuf_free(&raw);
	free(uids);
	return ok;
}

static void
close_imap(struct loop_state *st)
{
	if (st->imap_open)
		imap_client_close(&st->imap);
	if (st->idle_open)
		imap_idle_close(&st->idle);
	st->imap_open = st->idle_open = false;
}

/*
 * Waits for the next round: IDLE when the server has it, else the poll
 * interval; writes a heartbeat every MAIL_HEARTBEAT_SECONDS meanwhile.
 * false: the IDLE connection failed (err).
 */
static bool
wait_next(struct loop_state *st, char *err, size_t errsz)
{
	const struct mail_config *cfg = st->al->cfg;
	time_t		end;

	if (st->idle_open && st->idle.idling)
	{
		end = time(NULL) + cfg->idle_seconds;
		while (!*st->al->stop && time(NULL) < end)
		{
			int			r = imap_idle_wait(&st->idle, cfg->heartbeat_seconds * 1000, st->al->stop, err, errsz);

			if (r < 0)
				return false;
			if (r > 0)
				break;
			if (!*st->al->stop)
				heartbeat(st, true, NULL);
		}
		return imap_idle_done(&st->idle, err, errsz);
	}
	end = time(NULL) + cfg->poll_seconds;
	while (!*st->al->stop && time(NULL) < end)
	{
		long		left = (long) (end - time(NULL));

		sleep_ms((left < cfg->heartbeat_seconds ? left : cfg->heartbeat_seconds) * 1000L, st->al->stop);
		if (!*st->al->stop && time(NULL) < end)
			heartbeat(st, true, NULL);
	}
	return true;
}

/* opens the watching connection and starts IDLE when configured and offered */
static bool
start_idle(struct loop_state *st, char *err, size_t errsz)
{
	if (!st->al->cfg->idle)
		return true;
	if (!st->idle_open)
	{
		if (!imap_idle_open(&st->idle, &st->al->acct, st->al->cfg, err, errsz))
			return false;
		st->idle_open = true;
		if (!st->idle.supported)
			log_info(LOGGER, NULL, "%s: the server has no IDLE; polling every %d s",
					 st->al->acct.name, st->al->cfg->poll_seconds);
	}
	if (st->idle.supported && !st->idle.idling)
		return imap_idle_start(&st->idle, err, errsz);
	return true;
}

void *
account_loop_main(void *arg)
{
	struct account_loop *al = arg;
	struct loop_state st;
	struct backoff bo;
	char		err[1024];

	memset(&st, 0, sizeof(st));
	st.al = al;
	st.db.conninfo = al->cfg->database_url;
	st.db.pause_before_commit = al->cfg->test_pause && strcmp(al->cfg->test_pause, "before_commit") == 0;
	backoff_init(&bo, al->cfg->backoff_max_seconds, al->cfg->breaker_failures,
				 al->cfg->breaker_cooldown_seconds, (unsigned) time(NULL) ^ (unsigned) (al->index * 7919));
	log_info(LOGGER, NULL, "%s: watching (after-action %s)", al->acct.name,
			 al->cfg->after == MAIL_AFTER_SEEN ? "seen" : al->cfg->after == MAIL_AFTER_MOVE ? "move" :
			 al->cfg->after == MAIL_AFTER_DELETE ? "delete" : "keyword");

	while (!*al->stop)
	{
		bool		ok;

		err[0] = '\0';
		ok = start_idle(&st, err, sizeof(err)) && scan(&st, err, sizeof(err));
		if (ok && !*al->stop)
		{
			/* a good round: report it, close the breaker, wait for the next message */
			heartbeat(&st, true, NULL);
			backoff_success(&bo);
			ok = wait_next(&st, err, sizeof(err));
		}
		if (ok || *al->stop)
			continue;
		{
			long		delay = backoff_failure(&bo);
			char		reason[1200];

			if (bo.state == BREAKER_OPEN)
				snprintf(reason, sizeof(reason), "circuit breaker open after %d failures: %s", bo.failures, err);
			else
				snprintf(reason, sizeof(reason), "%s", err);
			log_emit(LOG_WARNING, LOGGER, NULL,
					 json_pack("{s:s, s:i, s:i, s:s}", "account", al->acct.name, "failures", bo.failures,
							   "retry_in_ms", (int) delay, "breaker", breaker_state_name(bo.state)),
					 "%s: %s; retrying in %.1f s", al->acct.name, reason, delay / 1000.0);
			heartbeat(&st, false, reason);
			close_imap(&st);
			sleep_ms(delay, al->stop);
		}
	}
	if (st.idle_open && st.idle.idling)
		imap_idle_done(&st.idle, err, sizeof(err));
	close_imap(&st);
	mail_db_close(&st.db);
	log_info(LOGGER, NULL, "%s: stopped", al->acct.name);
	return NULL;
}
