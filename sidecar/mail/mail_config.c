/*
 * mail_config.c: see mail_config.h.
 */
#include "mail_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env_config.h"
#include "sidecar_log.h"

static void
push_url(char ***urls, int *n, const char *s)
{
	*urls = realloc(*urls, (*n + 1) * sizeof(char *));
	if (*urls == NULL || ((*urls)[*n] = strdup(s)) == NULL)
		abort();
	(*n)++;
}

bool
mail_accounts_file_read(const char *path, char ***urls, int *n, char *err, size_t errsz)
{
	struct stat st;
	FILE	   *f;
	char		line[4096];
	int			fd;

	/* O_NOFOLLOW|fstat: the checked file is the one read */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
	{
		snprintf(err, errsz, "MAIL_ACCOUNTS_FILE %s: %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		snprintf(err, errsz, "MAIL_ACCOUNTS_FILE %s is not a regular file", path);
		return false;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
	{
		close(fd);
		snprintf(err, errsz, "MAIL_ACCOUNTS_FILE %s may be read by others (mode %04o): it holds passwords; chmod 600 it",
				 path, (unsigned) (st.st_mode & 07777));
		return false;
	}
	f = fdopen(fd, "r");
	if (f == NULL)
	{
		close(fd);
		snprintf(err, errsz, "MAIL_ACCOUNTS_FILE %s: %s", path, strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f))
	{
		char	   *s = line,
				   *e;

		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*s == '\0' || *s == '#')
			continue;
		push_url(urls, n, s);
	}
	fclose(f);
	if (*n == 0)
	{
		snprintf(err, errsz, "MAIL_ACCOUNTS_FILE %s holds no account URL", path);
		return false;
	}
	return true;
}

static bool
parse_after(struct mail_config *cfg, char *err, size_t errsz)
{
	const char *v = envc_get("MAIL_AFTER");

	cfg->after = MAIL_AFTER_KEYWORD;
	if (v == NULL || strcasecmp(v, "keyword") == 0)
		return true;
	if (strcasecmp(v, "seen") == 0)
		cfg->after = MAIL_AFTER_SEEN;
	else if (strcasecmp(v, "delete") == 0)
		cfg->after = MAIL_AFTER_DELETE;
	else if (strncasecmp(v, "move:", 5) == 0 && v[5] != '\0' && strpbrk(v + 5, "\"\\\r\n") == NULL)
	{
		cfg->after = MAIL_AFTER_MOVE;
		cfg->after_folder = v + 5;
	}
	else
	{
		snprintf(err, errsz, "MAIL_AFTER must be keyword, seen, move:FOLDER or delete, not \"%s\"", v);
		return false;
	}
	return true;
}

bool
mail_config_load(struct mail_config *cfg, bool need_accounts, char *err, size_t errsz)
{
	const char *v;
	const char *url = envc_get("MAIL_IMAP_URL");
	const char *file = envc_get("MAIL_ACCOUNTS_FILE");

	memset(cfg, 0, sizeof(*cfg));
	if (url)
		push_url(&cfg->accounts, &cfg->naccounts, url);
	if (file && !mail_accounts_file_read(file, &cfg->accounts, &cfg->naccounts, err, errsz))
		return false;
	if (need_accounts && cfg->naccounts == 0)
	{
		snprintf(err, errsz, "set MAIL_IMAP_URL (imaps://user:password@host/INBOX) or MAIL_ACCOUNTS_FILE");
		return false;
	}
	cfg->database_url = envc_get("DATABASE_URL");
	cfg->ca_file = envc_get("MAIL_CA_FILE");
	if (cfg->ca_file && access(cfg->ca_file, R_OK) != 0)
	{
		snprintf(err, errsz, "MAIL_CA_FILE %s: %s", cfg->ca_file, strerror(errno));
		return false;
	}
	cfg->deliver_account = envc_get("MAIL_DELIVER_ACCOUNT") ? envc_get("MAIL_DELIVER_ACCOUNT") : "deliver";
	if (strlen(cfg->deliver_account) > 200)
	{
		snprintf(err, errsz, "MAIL_DELIVER_ACCOUNT must have at most 200 characters");
		return false;
	}
	if (!parse_after(cfg, err, errsz) ||
		!envc_int("MAIL_POLL_SECONDS", 60, 1, 86400, &cfg->poll_seconds, err, errsz) ||
		!envc_int("MAIL_IDLE_SECONDS", 600, 5, 1740, &cfg->idle_seconds, err, errsz) ||
		!envc_bool("MAIL_IDLE", true, &cfg->idle, err, errsz) ||
		!envc_int("MAIL_BACKOFF_MAX_SECONDS", 300, 1, 86400, &cfg->backoff_max_seconds, err, errsz) ||
		!envc_int("MAIL_BREAKER_FAILURES", 5, 1, 1000, &cfg->breaker_failures, err, errsz) ||
		!envc_int("MAIL_BREAKER_COOLDOWN_SECONDS", 60, 1, 86400, &cfg->breaker_cooldown_seconds, err, errsz) ||
		!envc_int("MAIL_HEARTBEAT_SECONDS", 30, 1, 3600, &cfg->heartbeat_seconds, err, errsz) ||
		!envc_int("MAIL_MAX_MESSAGE_MB", 64, 1, 1024, &cfg->max_message_mb, err, errsz))
		return false;

	v = envc_get("MAIL_STARTTLS");
	if (v && strcasecmp(v, "require") != 0 && strcasecmp(v, "try") != 0)
	{
		snprintf(err, errsz, "MAIL_STARTTLS must be try or require, not \"%s\"", v);
		return false;
	}
	cfg->require_starttls = v && strcasecmp(v, "require") == 0;

	cfg->log_level = LOG_INFO;
	if ((v = envc_get("LOG_LEVEL")) && (cfg->log_level = log_parse_level(v)) < 0)
	{
		snprintf(err, errsz, "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not \"%s\"", v);
		return false;
	}
	cfg->log_json = true;
	if ((v = envc_get("LOG_FORMAT")))
	{
		if (strcasecmp(v, "text") == 0)
			cfg->log_json = false;
		else if (strcasecmp(v, "json") != 0)
		{
			snprintf(err, errsz, "LOG_FORMAT must be json or text, not \"%s\"", v);
			return false;
		}
	}
	cfg->service_name = envc_get("SERVICE_NAME") ? envc_get("SERVICE_NAME") : "invoiceflow-mail";
	cfg->test_pause = envc_get("MAIL_TEST_PAUSE");
	return true;
}

void
mail_config_free(struct mail_config *cfg)
{
	for (int i = 0; i < cfg->naccounts; i++)
		free(cfg->accounts[i]);
	free(cfg->accounts);
	cfg->accounts = NULL;
	cfg->naccounts = 0;
}
