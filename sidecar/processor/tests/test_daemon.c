/* Unit tests of the daemon's pure parts: configuration, outcome classification, message parsing. */
#include "daemon_child.h"
#include "daemon_config.h"
#include "daemon_queue.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int	passed, failed;

#define CHECK(cond, name) do { if (cond) passed++; else { failed++; fprintf(stderr, "FAIL %s (%s:%d)\n", name, __FILE__, __LINE__); } } while (0)

static void
clear_env(void)
{
	const char *names[] = {"DATABASE_URL", "RABBITMQ_URL", "S3_BUCKET", "S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "AWS_REGION", "PROCESSOR_CONCURRENCY", "PROCESSOR_CPU_SECONDS",
		"PROCESSOR_MEMORY_MB", "PROCESSOR_TIMEOUT_SECONDS", "PROCESSOR_SHUTDOWN_GRACE_SECONDS", "LOG_LEVEL",
	"LOG_FORMAT", "SERVICE_NAME", "PROCESSOR_TEST_FAULTS"};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		unsetenv(names[i]);
}

static void
test_config(void)
{
	proc_config c;
	char		err[512];

	clear_env();
	CHECK(!config_from_env(&c, err, sizeof err) && strstr(err, "DATABASE_URL"), "DATABASE_URL required");
	setenv("DATABASE_URL", "postgresql:///x", 1);
	CHECK(config_from_env(&c, err, sizeof err), "minimal config");
	CHECK(c.concurrency >= 1 && c.cpu_seconds == 30 && c.memory_mb == 512 && c.timeout_seconds == 60, "defaults");
	CHECK(!c.rabbitmq_url && !c.s3_bucket && c.log_json && !c.test_faults, "defaults off");
	setenv("PROCESSOR_CONCURRENCY", "0", 1);
	CHECK(!config_from_env(&c, err, sizeof err) && strstr(err, "PROCESSOR_CONCURRENCY"), "concurrency 0 refused");
	setenv("PROCESSOR_CONCURRENCY", "3x", 1);
	CHECK(!config_from_env(&c, err, sizeof err), "concurrency 3x refused");
	setenv("PROCESSOR_CONCURRENCY", "3", 1);
	setenv("LOG_FORMAT", "xml", 1);
	CHECK(!config_from_env(&c, err, sizeof err) && strstr(err, "LOG_FORMAT"), "LOG_FORMAT xml refused");
	setenv("LOG_FORMAT", "text", 1);
	setenv("LOG_LEVEL", "loud", 1);
	CHECK(!config_from_env(&c, err, sizeof err) && strstr(err, "LOG_LEVEL"), "LOG_LEVEL refused");
	setenv("LOG_LEVEL", "debug", 1);
	setenv("S3_BUCKET", "b", 1);
	CHECK(!config_from_env(&c, err, sizeof err) && strstr(err, "AWS_ACCESS_KEY_ID"), "S3 needs keys");
	setenv("AWS_ACCESS_KEY_ID", "k", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
	setenv("RABBITMQ_URL", "http://x", 1);
	CHECK(!config_from_env(&c, err, sizeof err) && strstr(err, "RABBITMQ_URL"), "RABBITMQ_URL scheme");
	setenv("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/", 1);
	setenv("PROCESSOR_TEST_FAULTS", "yes", 1);
	CHECK(config_from_env(&c, err, sizeof err), "full config");
	CHECK(c.concurrency == 3 && !c.log_json && c.s3_bucket && c.rabbitmq_url, "full config values");
	CHECK(!c.test_faults, "test faults only with exactly 1");
	clear_env();
}

static void
classify(const proc_config *cfg, int wstatus, double cpu, bool timed, const char *ans, const char *tail,
		 child_outcome *o)
{
	child_classify(cfg, wstatus, cpu, timed, ans, strlen(ans), tail, o);
}

static void
test_classify(void)
{
	proc_config cfg = {.cpu_seconds = 30, .memory_mb = 512, .timeout_seconds = 60};
	child_outcome o;
	const char *ok = "R 2 xml\n{\"invoice\":{}}";

	classify(&cfg, 0, 0.1, false, ok, "", &o);
	CHECK(o.kind == OUTCOME_COMPLETED && o.pages == 2 && strcmp(o.source, "xml") == 0 &&
		  strcmp(o.result_json, "{\"invoice\":{}}") == 0, "result parsed");
	child_outcome_free(&o);
	classify(&cfg, 0, 0.1, false, "E\nencrypted PDF", "", &o);
	CHECK(o.kind == OUTCOME_FAILED && strcmp(o.reason, "encrypted PDF") == 0, "extraction error");
	child_outcome_free(&o);
	classify(&cfg, 0, 0.1, false, "T\nS3 down", "", &o);
	CHECK(o.kind == OUTCOME_TRANSIENT, "transient fetch");
	child_outcome_free(&o);
	classify(&cfg, SIGSEGV, 0.1, false, "", "", &o);	/* wstatus of a signal death is the signal number */
	CHECK(o.kind == OUTCOME_FAILED && strcmp(o.reason, "the parser crashed (signal 11)") == 0, "crash");
	child_outcome_free(&o);
	classify(&cfg, SIGXCPU, 30, false, "", "", &o);
	CHECK(strcmp(o.reason, "processing exceeded the CPU limit of 30 s") == 0, "SIGXCPU");
	child_outcome_free(&o);
	classify(&cfg, SIGKILL, 31, false, "", "", &o);
	CHECK(strcmp(o.reason, "processing exceeded the CPU limit of 30 s") == 0, "SIGKILL at the hard CPU limit");
	child_outcome_free(&o);
	classify(&cfg, SIGKILL, 1, true, "", "", &o);
	CHECK(strcmp(o.reason, "processing exceeded the time limit of 60 s") == 0, "watchdog");
	child_outcome_free(&o);
	classify(&cfg, SIGABRT, 1, false, "", "warning: x\nout of memory\n", &o);
	CHECK(strcmp(o.reason, "processing exceeded the memory limit of 512 MB") == 0, "abort after malloc failure");
	child_outcome_free(&o);
	classify(&cfg, 0, 1, false, "E\nunreadable PDF: malloc (1000 bytes) failed", "", &o);
	CHECK(strcmp(o.reason, "processing exceeded the memory limit of 512 MB") == 0, "MuPDF out of memory");
	child_outcome_free(&o);
	classify(&cfg, 1 << 8, 1, false, "", "", &o);
	CHECK(o.kind == OUTCOME_FAILED && strstr(o.reason, "exit status 1"), "exit without answer");
	child_outcome_free(&o);
}

static void
test_parse(void)
{
	queue_msg	m;
	const char *good = "{\"event\":\"invoice.uploaded\",\"request_id\":\"0B9D1C2E-1111-4222-8333-444455556666\","
		"\"filename\":\"a.pdf\",\"s3_key\":\"raw/x.pdf\"}";

	memset(&m, 0, sizeof m);
	CHECK(queue_parse_body(good, strlen(good), &m) && strcmp(m.request_id, "0b9d1c2e-1111-4222-8333-444455556666") == 0 &&
		  strcmp(m.filename, "a.pdf") == 0, "good message");
	queue_msg_free(&m);
	CHECK(!queue_parse_body("xxx", 3, &m), "not JSON");
	CHECK(!queue_parse_body("{\"request_id\":\"nope\"}", 21, &m), "bad uuid");
	CHECK(!queue_parse_body("{\"event\":\"invoice.completed\",\"request_id\":\"0b9d1c2e-1111-4222-8333-444455556666\"}", 83, &m),
		  "other event");
}

int
main(void)
{
	test_config();
	test_classify();
	test_parse();
	printf("test_daemon: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
