/* The OCR policy: which pages and regions go through Tesseract, within the page cap
 * and the CPU time the child has left. */
#include "extract_ocr.h"
#include "layer_quality.h"
#include "ocr.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define OCR_DEFAULT_DPI 300

int ocr_run_init(ocr_run *r, const extract_options *opt, char **error)
{
	memset(r, 0, sizeof *r);
	r->mode = opt->ocr;
	r->dpi = opt->ocr_dpi > 0 ? opt->ocr_dpi : OCR_DEFAULT_DPI;
	if (r->mode == EXTRACT_OCR_OFF) return 1;
	char err[512];
	int max_pages;
	const char *langs;
	if (!ocr_settings(&max_pages, &langs, err, sizeof err)) { *error = xstrdup(err); return 0; }
	r->max_pages = opt->ocr_max_pages > 0 ? opt->ocr_max_pages : max_pages;
	r->langs = opt->ocr_langs ? opt->ocr_langs : langs;
	return 1;
}

void ocr_run_free(ocr_run *r)
{
	ocr_engine_free(r->eng);
	free(r->error);
	r->eng = NULL;
	r->error = NULL;
}

static double cpu_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* One more page fits the page cap and the CPU limit (RLIMIT_CPU, set by the daemon's
 * child): a page that would be cut off by SIGXCPU is left unread instead, so the
 * document still completes with what was read. */
static int budget(ocr_run *r, int count)
{
	if (r->used >= r->max_pages) { r->stopped += count; return 0; }
	struct rlimit rl;
	if (getrlimit(RLIMIT_CPU, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		double need = r->worst > 0 ? r->worst * 1.5 : 3.0;
		if (cpu_now() + need + 1.0 > (double) rl.rlim_cur) { r->stopped += count; return 0; }
	}
	return 1;
}

static int run_one(pdf_src *src, tlayout *l, ocr_run *r, int pg, const timage *clip, int skip_text)
{
	double t0 = cpu_now();
	char *e = NULL;
	int ok = pdfsrc_ocr(src, &r->eng, r->langs, pg, clip, r->dpi, skip_text, l, &e);
	double dt = cpu_now() - t0;
	if (dt > r->worst) r->worst = dt;
	if (!ok) { free(r->error); r->error = e; }
	return ok;
}

/* No text layer, or one that maps no glyphs to Unicode, or a few characters on a page
 * that is mostly image (a scan with a stamp or a page number as text). */
static int page_needs_ocr(const tpage *p)
{
	if (p->chars == 0) return 1;
	if (p->bad * 2 > p->chars) return 1;
	return p->chars < 20 && p->image_cover > 0.5f;
}

int page_is_ocr_path(const tpage *p)
{
	return p->scan || page_needs_ocr(p);
}

void mark_scanner_layers(tlayout *l)
{
	for (size_t i = 0; i < l->nsegs; i++) {
		tseg *g = &l->segs[i];
		if (g->ocr || g->page < 0 || g->page >= l->pages || !l->pinfo[g->page].scan) continue;
		/* someone else's OCR, without word confidences: names read from it are for review */
		g->ocr = 1;
		g->conf = 0;
		g->conf_digits = 0;
		g->conf_mean = 0;
	}
}

/* A scan with its scanner's text layer: our OCR of the page goes into a layout of its
 * own, and the reading whose tokens look better formed (layer_quality.c, the same
 * measure for both) stays; a tie goes to ours, whose words carry confidences. */
static int choose_reading(pdf_src *src, tlayout *l, ocr_run *r, int pg)
{
	tpage *pi = &l->pinfo[pg];
	tlayout mine;
	memset(&mine, 0, sizeof mine);
	mine.pages = l->pages;
	int layer_chars = 0, ocr_chars = 0;
	pi->quality_layer = (float) layer_quality(l, pg, 0, &layer_chars);
	r->used++;
	l->ocr_pages++;
	if (!run_one(src, &mine, r, pg, NULL, 0)) { tlayout_free(&mine); return 0; }
	pi->quality_ocr = (float) layer_quality(&mine, pg, 1, &ocr_chars);
	/* a reading with far fewer characters lost words, however clean the rest */
	double ql = pi->quality_layer * (layer_chars < ocr_chars / 2 ? 0.5 : 1);
	double qo = pi->quality_ocr * (ocr_chars < layer_chars / 2 ? 0.5 : 1);
	int ours = qo >= ql;
	if (ours) {
		tlayout_drop_page(l, pg);
		pi->ocr = 1;
		l->segs = xrealloc(l->segs, (l->nsegs + mine.nsegs + 1) * sizeof *l->segs);
		memcpy(l->segs + l->nsegs, mine.segs, mine.nsegs * sizeof *mine.segs);
		l->nsegs += mine.nsegs;
		mine.nsegs = 0;	/* the texts moved */
	} else {
		pi->scanner_layer = 1;
	}
	tlayout_free(&mine);
	return 1;
}

void ocr_pages(pdf_src *src, tlayout *l, ocr_run *r)
{
	for (int pg = 0; pg < l->pages; pg++) l->pinfo[pg].quality_layer = l->pinfo[pg].quality_ocr = -1;
	if (r->mode == EXTRACT_OCR_OFF || r->max_pages <= 0) { mark_scanner_layers(l); return; }
	int changed = 0;
	for (int pg = 0; pg < l->pages; pg++) {
		tpage *pi = &l->pinfo[pg];
		int needs = r->mode == EXTRACT_OCR_FORCE || page_needs_ocr(pi);
		if (!needs && !pi->scan) continue;
		if (!budget(r, 1)) continue;
		if (!needs) {
			/* a scan whose own text layer is usable: ours or the scanner's */
			changed |= choose_reading(src, l, r, pg);
			continue;
		}
		tlayout_drop_page(l, pg);
		pi->ocr = 1;
		r->used++;
		l->ocr_pages++;
		run_one(src, l, r, pg, NULL, 0);
		changed = 1;
	}
	mark_scanner_layers(l);
	if (changed) tlayout_build_rows(l);
}

int ocr_images(pdf_src *src, tlayout *l, ocr_run *r, int regions)
{
	if (r->mode != EXTRACT_OCR_AUTO || r->max_pages <= 0) return 0;
	int changed = 0;
	for (int pg = 0; pg < l->pages; pg++) {
		tpage *pi = &l->pinfo[pg];
		if (pi->ocr || pi->scanner_layer) continue;	/* read by ocr_pages() already */
		if (pi->image_cover >= 0.8f) {
			/* a scanned page: its text layer is the scanner's OCR, ours replaces it */
			if (!budget(r, 0)) continue;
			tlayout_drop_page(l, pg);
			pi->ocr = 1;
			r->used++;
			l->ocr_pages++;
			run_one(src, l, r, pg, NULL, 0);
			changed = 1;
			continue;
		}
		/* logos and letterheads: the first page's images */
		if (pg > 0 || !regions) continue;
		int counted = 0;
		for (size_t i = 0; i < l->nimages; i++) {
			if (l->images[i].page != pg || pi->ocr_regions >= 6) continue;
			if (!counted) {
				if (!budget(r, 0)) break;
				r->used++;
				l->ocr_pages++;
				counted = 1;
			}
			pi->ocr_regions++;
			if (run_one(src, l, r, pg, &l->images[i], 1)) changed = 1;
		}
	}
	if (changed) tlayout_build_rows(l);
	return changed;
}
