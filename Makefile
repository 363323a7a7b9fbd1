# invoiceflow: PostgreSQL extension (PGXS) and its sidecars.
#
#   make            build the extension and every sidecar
#   make install    install the extension into the PostgreSQL found by pg_config
#   make run        set up and start invoiceflow locally (see README.md)
#   make test       the whole test suite, from scratch (see README.md)
#   make eval       extraction accuracy report over CORPUS
#   make bench      every benchmark under test/bench/
#   make installcheck   the pg_regress suite against a running server
#   make install-script   regenerate the full install script from the upgrade chain

EXTENSION   = invoiceflow
# The version lives in one place: invoiceflow.control.
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big  = invoiceflow
# src/common/ is shared with the sidecars; their environment, log and UTF-8 helpers are theirs alone
SIDECAR_ONLY = src/common/env_config.c src/common/sidecar_log.c src/common/utf8_sanitize.c
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c) $(filter-out $(SIDECAR_ONLY),$(wildcard src/common/*.c))))

# Every install and upgrade script; the regression suite walks the chain.
DATA        = $(wildcard sql/$(EXTENSION)--*.sql)

REGRESS     = 00_setup 01_upgrade 02_validation 03_ingest 04_states 05_leases \
              06_stats 07_roles 08_purge_file 09_apikeys 10_outbox 20_search 21_scopes 22_downloads 30_webhooks 40_review 50_mail 60_observe
REGRESS_OPTS = $(if $(REGRESS_OUTDIR),--outputdir=$(REGRESS_OUTDIR))

PG_CONFIG  ?= pg_config
PG_CPPFLAGS = -DINVOICEFLOW_VERSION='"$(EXTVERSION)"' -Isrc -Isrc/common \
              $(shell pkg-config --cflags libcurl librabbitmq jansson libcrypto 2>/dev/null)
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
              -Wno-sign-compare
SHLIB_LINK  = $(shell pkg-config --libs libcurl librabbitmq jansson libcrypto 2>/dev/null) \
              -Wl,--wrap=json_object  # see src/jansson_shim.c

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
# A fresh machine has no PostgreSQL server headers yet: `make run` and `make test`
# install them first (test/services/install-deps.sh); other targets need them.
all install installcheck:
	@echo "PostgreSQL 15 development files are missing: run 'make run' or 'make test'," >&2
	@echo "or 'bash test/services/install-deps.sh' to install them." >&2; exit 1
endif

# The version is compiled in (the library checks the installed SQL version).
$(OBJS): invoiceflow.control
# PGXS tracks no header dependencies: a changed header rebuilds every object
# (a struct layout change must not leave stale objects behind).
$(OBJS): $(wildcard src/*.h src/common/*.h)

# Sidecars: every sidecar/<name>/Makefile is built, tested and cleaned with the extension.
SIDECARS = $(patsubst %/Makefile,%,$(wildcard sidecar/*/Makefile))

all: sidecars
sidecars:
	@for d in $(SIDECARS); do $(MAKE) -C $$d all || exit 1; done
clean: clean-sidecars
clean-sidecars:
	@for d in $(SIDECARS); do $(MAKE) -C $$d clean || exit 1; done

CORPUS ?= $(abspath ../shared/corpus/dev)
eval:
	@$(MAKE) -s --no-print-directory -C sidecar/processor eval CORPUS=$(CORPUS)

run:
	@bash test/services/run-local.sh

test:
	@bash test/run-all.sh

bench:
	@bash test/bench/run-all.sh

# sql/invoiceflow--$(EXTVERSION).sql, the full install script, is generated from the
# upgrade chain (after `make install`): install-script writes it, check-install-script
# fails when the committed one is out of date (a step of `make test`).
install-script:
	@bash test/tools/make-full-install.sh
check-install-script:
	@bash test/tools/make-full-install.sh --check

.PHONY: sidecars clean-sidecars eval run test bench install-script check-install-script
