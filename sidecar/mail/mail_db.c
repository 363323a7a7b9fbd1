/*
 * mail_db.c: see mail_db.h.
 */
#include "mail_db.h"

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sidecar_log.h"
#include "utf8_sanitize.h"

bool
mail_db_ensure(struct mail_db *db, char *err, size_t errsz)
{
	const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
	const char *vals[] = {db->conninfo ? db->conninfo : "", "invoiceflow-mail", "10", NULL};

	if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
		return true;
	mail_db_close(db);
	/* dbname first with expand_dbname: DATABASE_URL may be a URI or key=value */
	db->conn = PQconnectdbParams(db->conninfo ? keys : keys + 1, db->conninfo ? vals : vals + 1, 1);
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
	{
		const char *m = db->conn ? PQerrorMessage(db->conn) : "out of memory";
		char		clean[512];

		utf8_sanitize(m, clean, sizeof(clean));
		clean[strcspn(clean, "\n")] = '\0';
		snprintf(err, errsz, "database: %s", clean);
		mail_db_close(db);
		return false;
	}
	return true;
}

void
mail_db_close(struct mail_db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
}

static void
sha256_hex(const void *data, size_t len, char out[65])
{
	GChecksum  *c = g_checksum_new(G_CHECKSUM_SHA256);

	g_checksum_update(c, data, (gssize) len);
	snprintf(out, 65, "%s", g_checksum_get_string(c));
	g_checksum_free(c);
}

void
mail_message_key(const struct mail_message *m, unsigned long uidvalidity, unsigned long uid,
				 const unsigned char *raw, size_t rawlen, char *out, size_t outsz)
{
	char		hex[65];

	if (m->message_id && *m->message_id)
	{
		char		clean[400];

		utf8_sanitize(m->message_id, clean, sizeof(clean));
		snprintf(out, outsz, "mid:%s", clean);
	}
	else if (uidvalidity != 0)
		snprintf(out, outsz, "uid:%lu:%lu", uidvalidity, uid);
	else
	{
		sha256_hex(raw, rawlen, hex);
		snprintf(out, outsz, "sha256:%s", hex);
	}
}

void
mail_part_key(const char *account, const char *message_key, const char *position, char *out, size_t outsz)
{
	GString    *s = g_string_new(NULL);
	char		hex[65];

	/* NUL separators: no two (account, key, position) triples give the same input */
	g_string_append_len(s, account, (gssize) strlen(account) + 1);
	g_string_append_len(s, message_key, (gssize) strlen(message_key) + 1);
	g_string_append(s, position);
	sha256_hex(s->str, s->len, hex);
	g_string_free(s, TRUE);
	snprintf(out, outsz, "email:%s", hex);
}

static bool
exec_ok(PGconn *conn, const char *sql, char *err, size_t errsz)
{
	PGresult   *r = PQexec(conn, sql);
	bool		ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		snprintf(err, errsz, "database: %s", PQerrorMessage(conn));
	PQclear(r);
	return ok;
}

/* the refusals of one part that are its own (bad input, key reused): recorded, not retried */
static bool
part_refusal(const char *sqlstate)
{
	return sqlstate && (strncmp(sqlstate, "22", 2) == 0 || strcmp(sqlstate, "23505") == 0);
}

static json_t *
text_or_null(const char *s, size_t max)
{
	char		clean[4096];

	if (s == NULL)
		return json_null();
	utf8_sanitize(s, clean, max < sizeof(clean) ? max : sizeof(clean));
	return json_string(clean);
}

/* one part's ingest() in a savepoint; appends its result to parts; false: abort the message */
static bool
ingest_part(struct mail_db *db, const char *account, const char *message_key, const struct mail_part *p,
			json_t *parts, struct mail_record_result *res, char *err, size_t errsz)
{
	char		key[128];
	char		len_text[32];
	const char *vals[3];
	int			lens[3] = {0, (int) p->len, 0};
	int			fmts[3] = {0, 1, 0};
	PGresult   *r;
	json_t	   *o;

	mail_part_key(account, message_key, p->position, key, sizeof(key));
	vals[0] = p->filename;
	vals[1] = (const char *) p->data;
	vals[2] = key;
	snprintf(len_text, sizeof(len_text), "%zu", p->len);
	o = json_pack("{s:s, s:s, s:I}", "part", p->position, "filename", p->filename, "size", (json_int_t) p->len);

	if (!exec_ok(db->conn, "SAVEPOINT part", err, errsz))
	{
		json_decref(o);
		return false;
	}
	r = PQexecParams(db->conn,
					 "SELECT request_id, status, duplicate FROM invoiceflow.ingest($1, $2, 'email', $3)",
					 3, NULL, vals, lens, fmts, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
	{
		json_object_set_new(o, "request_id", json_string(PQgetvalue(r, 0, 0)));
		json_object_set_new(o, "status", json_string(PQgetvalue(r, 0, 1)));
		json_object_set_new(o, "duplicate", json_boolean(PQgetvalue(r, 0, 2)[0] == 't'));
		res->ingested++;
		PQclear(r);
		json_array_append_new(parts, o);
		return exec_ok(db->conn, "RELEASE SAVEPOINT part", err, errsz);
	}
	{
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

		if (!part_refusal(state))
		{
			snprintf(err, errsz, "database: ingest(): %s", PQerrorMessage(db->conn));
			PQclear(r);
			json_decref(o);
			return false;
		}
		json_object_set_new(o, "error", json_pack("{s:s, s:o}", "code", state,
												  "message", text_or_null(msg ? msg : "refused", 1024)));
		res->rejected++;
		PQclear(r);
		json_array_append_new(parts, o);
		return exec_ok(db->conn, "ROLLBACK TO SAVEPOINT part", err, errsz);
	}
}

bool
mail_db_record(struct mail_db *db, const char *account, const char *message_key,
			   const struct mail_message *m, struct mail_record_result *res, char *err, size_t errsz)
{
	json_t	   *parts = json_array();
	char	   *parts_text = NULL;
	char		from[1024],
				subject[2048],
				mid[1024];
	const char *vals[7];
	PGresult   *r;
	bool		ok = false;

	memset(res, 0, sizeof(*res));
	if (!mail_db_ensure(db, err, errsz))
		goto out;
	if (!exec_ok(db->conn, "BEGIN", err, errsz))
		goto fail;
	for (size_t i = 0; i < m->nparts; i++)
		if (!ingest_part(db, account, message_key, &m->parts[i], parts, res, err, errsz))
			goto fail;

	parts_text = json_dumps(parts, JSON_COMPACT);
	utf8_sanitize(m->from ? m->from : "", from, sizeof(from));
	utf8_sanitize(m->subject ? m->subject : "", subject, sizeof(subject));
	utf8_sanitize(m->message_id ? m->message_id : "", mid, sizeof(mid));
	vals[0] = account;
	vals[1] = message_key;
	vals[2] = m->message_id ? mid : NULL;
	vals[3] = m->from ? from : NULL;
	vals[4] = m->subject ? subject : NULL;
	vals[5] = m->date;
	vals[6] = parts_text;
	r = PQexecParams(db->conn,
					 "SELECT invoiceflow.mail_record($1, $2, $3, $4, $5, $6::timestamptz, $7::jsonb)",
					 7, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
	{
		snprintf(err, errsz, "database: mail_record(): %s", PQerrorMessage(db->conn));
		PQclear(r);
		goto fail;
	}
	snprintf(res->outcome, sizeof(res->outcome), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	if (db->pause_before_commit)
	{
		/* a test's window to kill the process with the parts ingested but not committed */
		log_warning("mail.db", NULL, "test pause before commit of %s", message_key);
		sleep(3);
	}
	if (!exec_ok(db->conn, "COMMIT", err, errsz))
		goto fail;
	ok = true;
	goto out;

fail:
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
	{
		PGresult   *rb = PQexec(db->conn, "ROLLBACK");

		PQclear(rb);
	}
	if (db->conn && PQstatus(db->conn) != CONNECTION_OK)
		mail_db_close(db);
	err[strcspn(err, "\n")] = '\0';
out:
	free(parts_text);
	json_decref(parts);
	return ok;
}

bool
mail_db_record_refused(struct mail_db *db, const char *account, const char *message_key,
					   const char *reason, char *err, size_t errsz)
{
	json_t	   *parts = json_pack("[{s:s, s:s, s:i, s:{s:s, s:s}}]", "part", "message", "filename", "",
								  "size", 0, "error", "code", "54000", "message", reason);
	char	   *text = json_dumps(parts, JSON_COMPACT);
	const char *vals[2] = {account, message_key};
	const char *sql_vals[7];
	PGresult   *r;
	bool		ok = false;

	if (text && mail_db_ensure(db, err, errsz))
	{
		sql_vals[0] = vals[0];
		sql_vals[1] = vals[1];
		sql_vals[2] = sql_vals[3] = sql_vals[4] = sql_vals[5] = NULL;
		sql_vals[6] = text;
		r = PQexecParams(db->conn,
						 "SELECT invoiceflow.mail_record($1, $2, $3, $4, $5, $6::timestamptz, $7::jsonb)",
						 7, NULL, sql_vals, NULL, NULL, 0);
		ok = PQresultStatus(r) == PGRES_TUPLES_OK;
		if (!ok)
		{
			snprintf(err, errsz, "database: mail_record(): %s", PQerrorMessage(db->conn));
			err[strcspn(err, "\n")] = '\0';
		}
		PQclear(r);
	}
	free(text);
	json_decref(parts);
	return ok;
}

void
mail_db_heartbeat(struct mail_db *db, const char *account, bool ok, const char *reason)
{
	char		err[512];
	char		clean[1024];
	const char *vals[3];
	PGresult   *r;

	if (!mail_db_ensure(db, err, sizeof(err)))
		return;
	utf8_sanitize(reason ? reason : "", clean, sizeof(clean));
	vals[0] = account;
	vals[1] = ok ? "true" : "false";
	vals[2] = ok ? NULL : clean;
	r = PQexecParams(db->conn, "SELECT invoiceflow.mail_heartbeat($1, $2::boolean, $3)", 3, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		log_warning("mail.db", NULL, "heartbeat not recorded: %s", PQerrorMessage(db->conn));
	PQclear(r);
}
