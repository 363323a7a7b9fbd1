/* Embedded files: the EmbeddedFiles name tree and the catalog's /AF array. */
#include "pdf_internal.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ATTACHMENT (32u << 20)
#define MAX_ATTACHMENTS 64

typedef struct { pdf_attachment *v; size_t n; int nums[MAX_ATTACHMENTS]; } attvec;

static void take(fz_context *ctx, pdf_obj *fs, const char *fallback, attvec *av)
{
	if (!pdf_is_dict(ctx, fs) || av->n >= MAX_ATTACHMENTS) return;
	int num = pdf_to_num(ctx, fs);
	for (size_t i = 0; i < av->n; i++) if (num && av->nums[i] == num) return;
	if (!pdf_is_embedded_file(ctx, fs)) return;
	const char *name = pdf_dict_get_text_string(ctx, fs, PDF_NAME(UF));
	if (!name || !*name) name = pdf_dict_get_text_string(ctx, fs, PDF_NAME(F));
	if (!name || !*name) name = fallback ? fallback : "";
	fz_buffer *buf = pdf_load_embedded_file_contents(ctx, fs);
	if (!buf) return;
	unsigned char *data;
	size_t len = fz_buffer_storage(ctx, buf, &data);
	if (len <= MAX_ATTACHMENT) {
		pdf_attachment *a;
		av->v = xrealloc(av->v, (av->n + 1) * sizeof *av->v);
		a = &av->v[av->n];
		a->name = xstrdup(name);
		a->data = xmalloc(len + 1);
		memcpy(a->data, data, len);
		a->data[len] = 0;
		a->len = len;
		av->nums[av->n] = num;
		av->n++;
	}
	fz_drop_buffer(ctx, buf);
}

/* One entry; a broken one is skipped. */
static void take_safe(fz_context *ctx, pdf_obj *fs, const char *fallback, attvec *av)
{
	fz_try(ctx) take(ctx, fs, fallback, av);
	fz_catch(ctx) { /* skip */ }
}

int pdfsrc_attachments(pdf_src *p, pdf_attachment **out, size_t *n)
{
	fz_context *ctx = p->ctx;
	attvec av; memset(&av, 0, sizeof av);
	pdf_obj *tree = NULL;
	fz_var(tree);
	volatile int ok = 1;
	fz_try(ctx) {
		tree = pdf_load_name_tree(ctx, p->doc, PDF_NAME(EmbeddedFiles));
		int len = pdf_dict_len(ctx, tree);
		for (int i = 0; i < len; i++) {
			pdf_obj *key = pdf_dict_get_key(ctx, tree, i);
			take_safe(ctx, pdf_dict_get_val(ctx, tree, i), pdf_is_name(ctx, key) ? pdf_to_name(ctx, key) : NULL, &av);
		}
		pdf_obj *af = pdf_dict_getp(ctx, pdf_trailer(ctx, p->doc), "Root/AF");
		for (int i = 0; i < pdf_array_len(ctx, af); i++) {
			take_safe(ctx, pdf_array_get(ctx, af, i), NULL, &av);
		}
	}
	fz_always(ctx) pdf_drop_obj(ctx, tree);
	fz_catch(ctx) ok = 0;
	*out = av.v;
	*n = av.n;
	return ok;
}

void pdf_attachments_free(pdf_attachment *a, size_t n)
{
	for (size_t i = 0; i < n; i++) { free(a[i].name); free(a[i].data); }
	free(a);
}
