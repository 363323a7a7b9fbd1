/*
 * imap_idle.c: see imap_idle.h.
 */
#include "imap_idle.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "imap_client.h"

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
send_line(struct imap_idle *ix, const char *line, char *err, size_t errsz)
{
	size_t		off = 0,
				len = strlen(line);

	while (off < len)
	{
		size_t		n = 0;
		CURLcode	rc = curl_easy_send(ix->curl, line + off, len - off, &n);

		if (rc == CURLE_AGAIN)
		{
			struct pollfd pfd = {.fd = ix->sock,.events = POLLOUT};

			if (poll(&pfd, 1, 10000) <= 0)
			{
				snprintf(err, errsz, "IMAP IDLE connection: send timed out");
				return false;
			}
			continue;
		}
		if (rc != CURLE_OK)
		{
			snprintf(err, errsz, "IMAP IDLE connection: %s", curl_easy_strerror(rc));
			return false;
		}
		off += n;
	}
	return true;
}

/*
 * Next line (without CRLF) into line. 1: a line, 0: timeout or stop, -1: error.
 * libcurl may hold decrypted bytes the socket no longer shows, so recv is tried
 * before every poll.
 */
static int
read_line(struct imap_idle *ix, char *line, size_t linesz, int timeout_ms,
		  volatile sig_atomic_t *stop, char *err, size_t errsz)
{
	long long	deadline = now_ms() + timeout_ms;

	for (;;)
	{
		char	   *eol = memchr(ix->buf, '\n', ix->len);
		size_t		n = 0;
		CURLcode	rc;

		if (eol)
		{
			size_t		ll = (size_t) (eol - ix->buf);
			size_t		cp = ll < linesz - 1 ? ll : linesz - 1;

			memcpy(line, ix->buf, cp);
			line[cp] = '\0';
			if (cp > 0 && line[cp - 1] == '\r')
				line[cp - 1] = '\0';
			memmove(ix->buf, eol + 1, ix->len - ll - 1);
			ix->len -= ll + 1;
			return 1;
		}
		if (ix->len == sizeof(ix->buf))
			ix->len = 0;		/* an absurdly long line: drop it, IDLE needs none */
		rc = curl_easy_recv(ix->curl, ix->buf + ix->len, sizeof(ix->buf) - ix->len, &n);
		if (rc == CURLE_OK && n == 0)
		{
			snprintf(err, errsz, "IMAP IDLE connection closed by the server");
			return -1;
		}
		if (rc == CURLE_OK)
		{
			ix->len += n;
			continue;
		}
		if (rc != CURLE_AGAIN)
		{
			snprintf(err, errsz, "IMAP IDLE connection: %s", curl_easy_strerror(rc));
			return -1;
		}
		{
			long long	left = deadline - now_ms();
			struct pollfd pfd = {.fd = ix->sock,.events = POLLIN};
			int			r;

			if (left <= 0 || (stop && *stop))
				return 0;
			/* wake at least once a second to see a stop request */
			r = poll(&pfd, 1, left > 1000 ? 1000 : (int) left);
			if (r < 0 && errno != EINTR)
			{
				snprintf(err, errsz, "IMAP IDLE connection: poll: %s", strerror(errno));
				return -1;
			}
		}
	}
}

/* sends "tagN cmd" and reads up to its tagged answer; true when it is OK */
static bool
command(struct imap_idle *ix, const char *cmd, char *err, size_t errsz)
{
	char		tag[16],
				out[512],
				line[4096];
	size_t		taglen;

	snprintf(tag, sizeof(tag), "w%d ", ++ix->tag);
	taglen = strlen(tag);
	snprintf(out, sizeof(out), "%s%s\r\n", tag, cmd);
	if (!send_line(ix, out, err, errsz))
		return false;
	for (;;)
	{
		int			r = read_line(ix, line, sizeof(line), 30000, NULL, err, errsz);

		if (r <= 0)
		{
			if (r == 0)
				snprintf(err, errsz, "IMAP IDLE connection: no answer to %s", cmd);
			return false;
		}
		if (strncmp(line, "* CAPABILITY ", 13) == 0)
			ix->supported = strstr(line, " IDLE") != NULL;
		if (strncmp(line, tag, taglen) == 0)
		{
			if (strncmp(line + taglen, "OK", 2) == 0)
				return true;
			snprintf(err, errsz, "IMAP %s refused: %s", cmd, line + taglen);
			return false;
		}
	}
}

bool
imap_idle_open(struct imap_idle *ix, const struct mail_account *acct, const struct mail_config *cfg,
			   char *err, size_t errsz)
{
	char		errbuf[CURL_ERROR_SIZE] = "";
	char		cmd[400];
	CURLcode	rc;

	memset(ix, 0, sizeof(*ix));
	ix->curl = curl_easy_init();
	if (ix->curl == NULL)
		return false;
	imap_common_options(ix->curl, acct, cfg);
	curl_easy_setopt(ix->curl, CURLOPT_URL, acct->base_url);
	curl_easy_setopt(ix->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(ix->curl, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(ix->curl);
	curl_easy_setopt(ix->curl, CURLOPT_ERRORBUFFER, NULL);
	if (rc != CURLE_OK)
	{
		snprintf(err, errsz, "%s for %s%s%s", rc == CURLE_LOGIN_DENIED ? "IMAP login denied" : curl_easy_strerror(rc),
				 acct->name, errbuf[0] ? ": " : "", errbuf);
		imap_idle_close(ix);
		return false;
	}
	if (curl_easy_getinfo(ix->curl, CURLINFO_ACTIVESOCKET, &ix->sock) != CURLE_OK || ix->sock == CURL_SOCKET_BAD)
	{
		snprintf(err, errsz, "IMAP IDLE connection: no socket");
		imap_idle_close(ix);
		return false;
	}
	snprintf(cmd, sizeof(cmd), "EXAMINE \"%s\"", acct->folder);
	if (!command(ix, "CAPABILITY", err, errsz) || !command(ix, cmd, err, errsz))
	{
		imap_idle_close(ix);
		return false;
	}
	return true;
}

void
imap_idle_close(struct imap_idle *ix)
{
	if (ix->curl)
		curl_easy_cleanup(ix->curl);
	ix->curl = NULL;
	ix->idling = false;
}

bool
imap_idle_start(struct imap_idle *ix, char *err, size_t errsz)
{
	char		out[32],
				line[4096];

	snprintf(out, sizeof(out), "w%d IDLE\r\n", ++ix->tag);
	if (!send_line(ix, out, err, errsz))
		return false;
	for (;;)
	{
		int			r = read_line(ix, line, sizeof(line), 30000, NULL, err, errsz);

		if (r <= 0)
		{
			if (r == 0)
				snprintf(err, errsz, "IMAP IDLE: no continuation from the server");
			return false;
		}
		if (line[0] == '+')
		{
			ix->idling = true;
			return true;
		}
		if (line[0] == 'w')
		{
			snprintf(err, errsz, "IMAP IDLE refused: %s", line);
			return false;
		}
	}
}

int
imap_idle_wait(struct imap_idle *ix, int timeout_ms, volatile sig_atomic_t *stop, char *err, size_t errsz)
{
	char		line[4096];
	long long	deadline = now_ms() + timeout_ms;

	for (;;)
	{
		long long	left = deadline - now_ms();
		int			r;

		if (left <= 0)
			return 0;
		r = read_line(ix, line, sizeof(line), (int) left, stop, err, errsz);
		if (r <= 0)
			return r;
		/* "* 5 EXISTS": a message arrived (flag changes and expunges bring no work) */
		if (line[0] == '*' && strstr(line, " EXISTS"))
			return 1;
		if (strncmp(line, "* BYE", 5) == 0)
		{
			snprintf(err, errsz, "IMAP server ended the IDLE connection: %s", line + 2);
			return -1;
		}
	}
}

bool
imap_idle_done(struct imap_idle *ix, char *err, size_t errsz)
{
	char		tag[16],
				line[4096];
	size_t		taglen;

	if (!ix->idling)
		return true;
	ix->idling = false;
	snprintf(tag, sizeof(tag), "w%d ", ix->tag);
	taglen = strlen(tag);
	if (!send_line(ix, "DONE\r\n", err, errsz))
		return false;
	for (;;)
	{
		int			r = read_line(ix, line, sizeof(line), 30000, NULL, err, errsz);

		if (r <= 0)
		{
			if (r == 0)
				snprintf(err, errsz, "IMAP IDLE: no answer to DONE");
			return false;
		}
		if (strncmp(line, tag, taglen) == 0)
			return true;
	}
}
