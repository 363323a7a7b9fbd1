/*
 * mail_db.h: invoiceflow-mail's SQL. One message is one transaction: an
 * ingest(..., source => 'email', idempotency_key) per PDF part (each in a
 * savepoint, so a part ingest() refuses is recorded with its reason instead of
 * aborting the others), then mail_record() with the per-part results; a crash
 * anywhere before COMMIT leaves nothing, and a second run of the same message
 * finds the same keys.
 */
#ifndef MAIL_DB_H
#define MAIL_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "mime_parts.h"

struct mail_db
{
	PGconn	   *conn;
	const char *conninfo;		/* DATABASE_URL, or NULL for libpq's PG* variables */
	bool		pause_before_commit;	/* MAIL_TEST_PAUSE=before_commit: 3 s before COMMIT */
};

struct mail_record_result
{
	char		outcome[32];	/* ingested, partial, rejected, no_invoice */
	int			ingested;
	int			rejected;
};

/* connects when not connected (or the connection broke) */
extern bool mail_db_ensure(struct mail_db *db, char *err, size_t errsz);
extern void mail_db_close(struct mail_db *db);

/*
 * The message's identity for idempotency: "mid:<Message-ID>", else
 * "uid:<UIDVALIDITY>:<UID>" (uidvalidity 0: none), else "sha256:<hash of the bytes>".
 */
extern void mail_message_key(const struct mail_message *m, unsigned long uidvalidity, unsigned long uid,
							 const unsigned char *raw, size_t rawlen, char *out, size_t outsz);
/* "email:" + sha256 hex of account, message key and part position */
extern void mail_part_key(const char *account, const char *message_key, const char *position,
						  char *out, size_t outsz);

/* false: nothing was committed (database unreachable or refused); err says why */
extern bool mail_db_record(struct mail_db *db, const char *account, const char *message_key,
						   const struct mail_message *m, struct mail_record_result *res,
						   char *err, size_t errsz);
/*
 * A message refused whole (larger than MAIL_MAX_MESSAGE_MB): recorded as
 * rejected with the reason, so that it can be marked done and seen in the listing.
 */
extern bool mail_db_record_refused(struct mail_db *db, const char *account, const char *message_key,
								   const char *reason, char *err, size_t errsz);
/* the account's health row; errors are logged only (health is best effort) */
extern void mail_db_heartbeat(struct mail_db *db, const char *account, bool ok, const char *reason);

#endif
