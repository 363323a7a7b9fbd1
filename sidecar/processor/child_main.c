/*
 * child_main.c: invoiceflow-processor-child, the program the daemon's
 * per-document child re-executes (sandbox_child.h). A binary of its own so
 * that each document loads only the extraction libraries (MuPDF, libxml2,
 * jansson, libseccomp; Tesseract is dlopen'd when a page needs OCR), not the
 * daemon's (libpq, libcurl, librabbitmq and theirs), and those linked
 * statically (Makefile: STATIC_LDLIBS): it starts in 0.7 ms of CPU against
 * 1.9 ms with them shared and 5.3-6.3 ms for the daemon's program.
 */
#include "sandbox_child.h"

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], SANDBOX_CHILD_COMMAND) == 0)
		return cmd_sandbox_child(argc - 2, argv + 2);
	fprintf(stderr, "invoiceflow-processor-child: started by invoiceflow-processor run only\n");
	return 2;
}
