# Delivery to real servers on loopback (RabbitMQ, s3rver behind the SigV4
# verifying proxy, started by test/run-suite.sh): every file arrives in S3 byte
# for byte with its headers and metadata, its invoice.uploaded event in the
# queue with the exact properties and body; status() shows delivery per sink;
# complete() publishes invoice.completed; purge() deletes the object; a sink
# configured later back-fills what it has not seen.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use InvoiceflowTest;
use DeliveryTest;

plan skip_all => 'RabbitMQ and S3 test services are not running (test/run-suite.sh starts them)'
  unless services_available();
system('make', '-s', '-C', repo_root() . '/test/tools') == 0 or BAIL_OUT('cannot build test/tools');

my $node = new_node('delivery', conf => "invoiceflow.workers = 2\n" . delivery_conf());
add_pdf_function($node, 'postgres');
my $url = $ENV{RABBITMQ_URL};
amqp_drain($url, 'invoiceflow.process', 300);    # start from an empty queue

ok($node->poll_query_until('postgres', q{SELECT invoiceflow.health()->>'service' = 'healthy'
	AND invoiceflow.health()->'dependencies'->>'s3' = 'healthy'
	AND invoiceflow.health()->'dependencies'->>'rabbitmq' = 'healthy'}), 'health(): S3 and RabbitMQ healthy from probes alone');

# 20 files of various sizes and names, one with a UTF-8 name
my %files;
for my $g (1 .. 20) {
	my $name = $g == 1 ? 'Rechnung März 2024 #1.pdf' : "invoice-$g.pdf";
	my $id = $node->safe_psql('postgres',
		"SELECT request_id FROM invoiceflow.ingest('$name', pdf('delivery $g', $g * 2500))");
	$files{$id} = { name => $name,
		sha => $node->safe_psql('postgres', "SELECT encode(sha256(pdf('delivery $g', $g * 2500)), 'hex')"),
		size => $node->safe_psql('postgres', "SELECT octet_length(pdf('delivery $g', $g * 2500))") };
}
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM invoiceflow.outbox WHERE state <> 'done'}),
	'every outbox row delivered');
is($node->safe_psql('postgres', 'SELECT count(*) FROM invoiceflow.ingestion_files'), 0,
	'bytes dropped from PostgreSQL once S3 holds a verified copy (keep_files_in_database = off)');

my $bytes_ok = 0;
my $meta_ok = 0;
for my $id (keys %files) {
	my $key = "raw/$id.pdf";
	my $data = s3_get($key);
	$bytes_ok++ if defined $data && sha256_hex($data) eq $files{$id}{sha};
	my $h = s3_head($key);
	my $fn = $files{$id}{name};
	$fn =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge;
	utf8::encode($fn) if utf8::is_utf8($fn);
	$meta_ok++ if $h && $h->{'content-type'} eq 'application/pdf'
	  && $h->{'x-amz-meta-request-id'} eq $id && $h->{'x-amz-meta-sha256'} eq $files{$id}{sha}
	  && $h->{'x-amz-meta-filename'} eq $fn && $h->{'content-length'} == $files{$id}{size};
}
is($bytes_ok, 20, 'all 20 files are in S3 byte for byte (sha256 compared)');
is($meta_ok, 20, 'with Content-Type application/pdf and metadata request-id, filename (percent-encoded), sha256');
my ($one) = grep { $files{$_}{name} =~ /März/ } keys %files;
is(s3_head("raw/$one.pdf")->{'x-amz-meta-filename'}, 'Rechnung%20M%C3%A4rz%202024%20%231.pdf',
	'UTF-8 filename percent-encoded');

my @msgs = amqp_drain($url, 'invoiceflow.process', 1000);
is(scalar @msgs, 20, 'twenty messages in invoiceflow.process');
my $props_ok = 0;
my $body_ok = 0;
for my $m (@msgs) {
	my ($id) = $m->{message_id} =~ /^([0-9a-f-]{36}):invoice\.uploaded:1$/;
	next unless $id && $files{$id};
	$props_ok++ if $m->{routing_key} eq 'invoice.uploaded' && $m->{delivery_mode} == 2
	  && $m->{content_type} eq 'application/json';
	my $created = $node->safe_psql('postgres', "SELECT invoiceflow._iso(created_at) FROM invoiceflow.ingestions WHERE id = '$id'");
	my $name = $files{$id}{name};
	utf8::encode($name) if utf8::is_utf8($name);
	my $want = sprintf('{"event":"invoice.uploaded","request_id":"%s","filename":"%s","size_bytes":%d,"sha256":"%s","s3_bucket":"invoiceflow","s3_key":"raw/%s.pdf","created_at":"%s"}',
		$id, $name, $files{$id}{size}, $files{$id}{sha}, $id, $created);
	if ($m->{body} eq $want) { $body_ok++ } else { diag("body $m->{body}\nwant $want") if $body_ok == 0; }
}
is($props_ok, 20, 'persistent, application/json, message_id <request_id>:invoice.uploaded:<attempt>');
is($body_ok, 20, 'exact JSON body {event, request_id, filename, size_bytes, sha256, s3_bucket, s3_key, created_at}');

my $st = $node->safe_psql('postgres', "SELECT invoiceflow.status('$one')->'delivery'");
is($st, '{"s3": {"state": "done", "attempts": 1, "last_error": null, "next_attempt_at": null}, "rabbitmq": {"state": "done", "attempts": 1, "last_error": null, "next_attempt_at": null}}',
	'status() delivery: done per sink');
is($node->safe_psql('postgres', "SELECT invoiceflow.file('$one') IS NULL"), 't', 'file() is NULL once the bytes live in S3');

# complete() and fail() publish their events (routed by key, not to the process queue)
$node->safe_psql('postgres', q{SELECT invoiceflow.complete(request_id, lease, '{"invoice": {}}') FROM invoiceflow.claim_next('w', 1)});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM invoiceflow.outbox WHERE event = 'invoice.completed' AND state = 'done'}),
	'complete() publishes invoice.completed');
# correct() publishes invoice.corrected (issue 14), one message per correction
my $done = $node->safe_psql('postgres', q{SELECT ingestion_id FROM invoiceflow.outbox WHERE event = 'invoice.completed'});
$node->safe_psql('postgres', qq{SELECT invoiceflow.correct('$done', '{"invoice_number": "C-1"}', 't101')});
$node->safe_psql('postgres', qq{SELECT invoiceflow.correct('$done', '{"invoice_number": "C-2"}', 't101')});
ok($node->poll_query_until('postgres', qq{SELECT array_agg(attempt ORDER BY attempt) = '{1,2}' FROM invoiceflow.outbox
	WHERE ingestion_id = '$done' AND event = 'invoice.corrected' AND state = 'done'}),
	'correct() publishes invoice.corrected, confirmed by the broker, once per correction');
# a release (return to PENDING) publishes a new invoice.uploaded with the next attempt
my $rel = $node->safe_psql('postgres', q{SELECT request_id || ' ' || lease FROM invoiceflow.claim_next('w', 1)});
my ($rid, $lease) = split / /, $rel;
$node->safe_psql('postgres', "SELECT invoiceflow.release('$rid', '$lease')");
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM invoiceflow.outbox WHERE state <> 'done'}), 'released file delivered again');
@msgs = amqp_drain($url, 'invoiceflow.process', 500);
is(join(',', map { $_->{message_id} } @msgs), "$rid:invoice.uploaded:2", 'the return to PENDING published attempt 2');
is($node->safe_psql('postgres', "SELECT count(*) FROM invoiceflow.outbox WHERE ingestion_id = '$rid' AND sink = 's3'"), 1,
	'and did not upload the file again');

# purge() deletes the object and, once done, the delivery record
$node->safe_psql('postgres', "SELECT invoiceflow.purge('$one')");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM invoiceflow.outbox WHERE ingestion_id = '$one'"), 'purge delivered');
ok(!defined s3_head("raw/$one.pdf"), 'the purged object is gone from S3');

# --- a sink configured later picks up what it has not seen -----------------------
my $late = new_node('late', conf => "invoiceflow.workers = 1\ninvoiceflow.probe_interval_seconds = 1\n");
add_pdf_function($late, 'postgres');
my @late_ids = split /\n/, $late->safe_psql('postgres',
	q{SELECT request_id FROM generate_series(1, 5) g, LATERAL invoiceflow.ingest('late-' || g || '.pdf', pdf('late ' || g))});
is($late->safe_psql('postgres', 'SELECT count(*) FROM invoiceflow.outbox'), 0, 'embedded: no outbox rows');
$late->append_conf('postgresql.conf', delivery_conf());
$late->reload;
ok($late->poll_query_until('postgres', q{SELECT count(*) = 10 FROM invoiceflow.outbox WHERE state = 'done'}),
	'after configuring S3 and RabbitMQ, the worker back-fills and delivers the 5 earlier files');
is(scalar(grep { defined s3_head("raw/$_.pdf") } @late_ids), 5, 'the earlier files are in S3');
@msgs = amqp_drain($url, 'invoiceflow.process', 500);
is(scalar(grep { my $m = $_; grep { $m->{message_id} eq "$_:invoice.uploaded:1" } @late_ids } @msgs), 5,
	'and announced once each');
$late->stop;
$node->stop;
done_testing();
