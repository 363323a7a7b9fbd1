/*
 * static_files.c: the web page (issue 14), served from cfg.web_root as it was
 * installed (no build step at run time).
 *   GET /                   index.html
 *   GET /web/{file}         the page's scripts, styles, icons
 *   GET /web/vendor/{file}  vendored libraries (pdf.js, with its licence)
 * Only plain names ([A-Za-z0-9._-], no leading dot) of known types are
 * served, each with its exact content type; server.c adds nosniff and the
 * Content-Security-Policy to every response.
 */
#include "config.h"
#include "handlers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STATIC_MAX_BYTES (8 * 1024 * 1024)

static const struct
{
	const char *ext;
	const char *type;
}			types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".txt", "text/plain; charset=utf-8"},
};

/* The content type for a plain file name, or NULL when it is not one we serve. */
const char *
static_content_type(const char *name)
{
	size_t		n = strlen(name);
	const char *dot;

	if (n == 0 || n > 100 || name[0] == '.' || strspn(name, "abcdefghijklmnopqrstuvwxyz"
													  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		return NULL;
	if (!(dot = strrchr(name, '.')))
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

static void
serve(struct request *req, struct reply *out, const char *subdir, const char *name)
{
	const char *type = static_content_type(name);
	char		path[4096];
	FILE	   *f;
	struct stat st;
	char	   *buf;
	size_t		got;

	if (!type)
	{
		reply_problem(out, 404, req->request_id, "no such file: %s", req->path);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s%s", cfg.web_root, subdir, name);
	if (!(f = fopen(path, "rb")))
	{
		reply_problem(out, 404, req->request_id, "no such file: %s", req->path);
		if (errno != ENOENT)
			snprintf(req->note, sizeof(req->note), "%.100s: %.50s", name, strerror(errno));
		return;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_BYTES ||
		!(buf = malloc((size_t) st.st_size + 1)))
	{
		fclose(f);
		reply_problem(out, 404, req->request_id, "no such file: %s", req->path);
		return;
	}
	got = fread(buf, 1, (size_t) st.st_size, f);
	fclose(f);
	reply_raw(out, 200, type, buf, got);
	free(buf);
}

void
handle_page(struct request *req, struct reply *out)
{
	serve(req, out, "", "index.html");
}

void
handle_static(struct request *req, struct reply *out)
{
	serve(req, out, "", req->param);
}

void
handle_static_vendor(struct request *req, struct reply *out)
{
	serve(req, out, "vendor/", req->param);
}
