#!/usr/bin/env bash
# issue 9 item 7, the part the TAP suite cannot check (it runs as postgres): a
# processor started as root runs its document children as PROCESSOR_SANDBOX_USER
# (default nobody), without supplementary groups, unable to become root again,
# in an empty network namespace (made once by the daemon at start, joined by
# every child). Runs the whole sandbox path of the daemon without a database
# (`invoiceflow-processor sandbox-run`) on the test-only probe
# (PROCESSOR_TEST_FAULTS=1, see t/303_processor_sandbox.pl) and on the
# sample invoice. Needs root; exits 77 (skipped) otherwise.
#   bash test/security/processor_sandbox.sh
set -uo pipefail
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then echo "# SKIP processor_sandbox.sh: needs root"; exit 77; fi
BIN=$SEC_ROOT/sidecar/processor/invoiceflow-processor
[ -x "$BIN" ] || make -s -C "$SEC_ROOT/sidecar/processor" invoiceflow-processor >/dev/null || exit 1
DIR=$(mktemp -d /tmp/invoiceflow-sandbox.XXXXXX)
chmod 755 "$DIR"
trap 'rm -rf "$DIR"' EXIT
mkdir -m 1777 "$DIR/scratch"
echo "s3cret" > "$DIR/secret.txt"; chmod 644 "$DIR/secret.txt"   # world-readable: only Landlock stops it
NOBODY_UID=$(id -u nobody); NOBODY_GID=$(id -g nobody)

# the probe: the document's bytes name its targets (it runs before any parsing)
printf '%%PDF-1.4\n(probe-port=9 probe-path=%s/outside.txt probe-read=%s/secret.txt)\n' "$DIR" "$DIR" > "$DIR/probe.pdf"
out=$(DATABASE_URL=postgresql://secret@127.0.0.1/x PROCESSOR_TEST_FAULTS=1 PROCESSOR_SCRATCH_DIR="$DIR/scratch" \
  "$BIN" sandbox-run "$DIR/probe.pdf" sandbox-probe.pdf 2>&1)
echo "# $out"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$out" | head -n 1; }
check "the child runs as nobody (uid $NOBODY_UID)" [ "$(field uid)" = "$NOBODY_UID" ]
check "the child's group is nobody's (gid $NOBODY_GID)" [ "$(field gid)" = "$NOBODY_GID" ]
check "the child has no supplementary groups" [ "$(field groups)" = 0 ]
check "setuid(0) is refused" [ "$(field setuid0)" = "refused(EPERM)" ]
check "no_new_privs is set" [ "$(field nnp)" = 1 ]
check "the child has a network namespace apart from the host's" [ "$(field netns)" = 1 ]
check "the child sees no network interface but loopback" [ "$(field netifs)" = 1 ]
check "the child's environment is empty (no DATABASE_URL)" [ "$(field env)/$(field database_url)" = 0/absent ]
check "a TCP socket is refused" [ "$(field tcp_connect)" = "refused(EPERM)" ]
check "a file outside the scratch directory is not written" [ "$(field write_outside)" = "refused(EPERM)" -a ! -e "$DIR/outside.txt" -a ! -e "$DIR/outside.txt.2" ]
check "the scratch directory (owned by nobody) is writable" [ "$(field write_scratch)" = ok ]
check "the scratch directory is removed" [ -z "$(ls -A "$DIR/scratch")" ]

# an invoice is still extracted as nobody
out=$(PROCESSOR_SCRATCH_DIR="$DIR/scratch" "$BIN" sandbox-run "$SEC_ROOT/test/fixtures/sample-invoice.pdf" 2>&1)
check "the sample invoice is extracted by the child running as nobody" grep -q '"invoice_number":"471102"' <<<"$out"

# a sandbox user that is root, or that does not exist, is refused at start
PROCESSOR_SANDBOX_USER=root "$BIN" sandbox-run "$DIR/probe.pdf" >/dev/null 2>&1
check "PROCESSOR_SANDBOX_USER=root is refused (exit 2)" [ $? -eq 2 ]
PROCESSOR_SANDBOX_USER=no-such-user-here "$BIN" sandbox-run "$DIR/probe.pdf" >/dev/null 2>&1
check "an unknown PROCESSOR_SANDBOX_USER is refused (exit 2)" [ $? -eq 2 ]
summary
