# OpenSearch as a sink of the outbox: the delivery worker creates the index
# "invoices" with its mapping, indexes completed invoices and deletes purged
# ones through _bulk; an outage delays indexing, changes no status and loses
# nothing; a document OpenSearch refuses fails only its delivery record; a sink
# configured later back-fills. OpenSearch cannot run on this machine: this runs
# against the test double (test/services/opensearch_double.py), started here.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use InvoiceflowTest;

my $root = repo_root();
my $svc = "$PostgreSQL::Test::Utils::tmp_check/os401";
system('bash', "$root/test/services/opensearch.sh", 'start', $svc) == 0 or BAIL_OUT('cannot start the OpenSearch double');
END { system('bash', "$root/test/services/opensearch.sh", 'stop', $svc) if $svc; }
my ($url) = slurp_file("$svc/env") =~ /^OPENSEARCH_URL=(\S+)/m;
my $http = HTTP::Tiny->new(timeout => 10);
my $json = JSON::PP->new->canonical;

sub os_req {
	my ($method, $path, $body) = @_;
	my $r = $http->request($method, "$url$path", { headers => { 'Content-Type' => 'application/json' },
		defined $body ? (content => ref $body ? $json->encode($body) : $body) : () });
	return ($r->{status}, ($r->{content} // '') =~ /^\s*[{\[]/ ? decode_json($r->{content}) : undef);
}
sub double_mode { os_req('POST', '/_double/fail', { mode => $_[0] }); }
sub os_doc { my ($st, $b) = os_req('GET', "/invoices/_doc/$_[0]"); return $st == 200 && $b->{found} ? $b->{_source} : undef; }

my $node = new_node('os401', conf => join("\n",
	"invoiceflow.opensearch_url = '$url'", "invoiceflow.retry_delay_seconds = 0.2",
	"invoiceflow.retry_backoff_factor = 2", "invoiceflow.retry_max_delay_seconds = 1",
	"invoiceflow.max_retries = 2", "invoiceflow.breaker_failures = 5",
	"invoiceflow.breaker_cooldown_seconds = 1", "invoiceflow.probe_interval_seconds = 1"));
my $q = sub { $node->safe_psql('postgres', $_[0]) };
my $wait = sub { my ($sql, $what) = @_; ok($node->poll_query_until('postgres', $sql), $what); };

# complete(N, TAG): N invoices ingested and completed; their ids
my $seq = 0;
sub complete {
	my ($n, $tag) = @_;
	my @ids;
	for (1 .. $n) {
		$seq++;
		my $hex = unpack('H*', make_pdf("os401 $tag $seq"));
		push @ids, $q->("SELECT request_id FROM invoiceflow.ingest('os-$seq.pdf', decode('$hex', 'hex'))");
	}
	my $list = join(',', map { "'$_'" } @ids);
	$q->(qq{DO \$\$ DECLARE r record; l uuid; BEGIN
		FOR r IN SELECT id, row_number() OVER (ORDER BY id) AS g FROM invoiceflow.ingestions WHERE id IN ($list) LOOP
			l := invoiceflow.claim(r.id, 't401');
			PERFORM invoiceflow.complete(r.id, l, jsonb_build_object('invoice', jsonb_build_object(
				'invoice_number', 'OS401-$tag-' || r.g, 'issue_date', '2024-03-0' || (r.g % 9 + 1),
				'due_date', '2024-04-01', 'document_type', 'invoice',
				'currency', 'EUR', 'seller', jsonb_build_object('name', 'Acme GmbH', 'vat_id', 'DE123456789'),
				'buyer', jsonb_build_object('name', 'Buyer $tag'),
				'totals', jsonb_build_object('total', (r.g * 100) || '.50'), 'needs_review', false, 'source', 'text'),
				'text', 'Invoice for consulting, tag $tag, a zeppelin$tag ride'));
		END LOOP; END \$\$});
	return @ids;
}
my $in = sub { join(',', map { "'$_'" } @_) };
my $all_done = sub {
	my @ids = @_;
	return $node->poll_query_until('postgres', 'SELECT count(*) = ' . scalar(@ids) . " FROM invoiceflow.outbox
		WHERE sink = 'opensearch' AND action = 'index' AND state = 'done' AND ingestion_id IN (" . $in->(@ids) . ')');
};

$wait->(q{SELECT invoiceflow.health() -> 'dependencies' ->> 'opensearch' = 'healthy'}, 'opensearch healthy (probe)');

# --- completed invoices are indexed, with the mapping and the right fields
my @a = complete(3, 'alpha');
ok($all_done->(@a), 'three completed invoices indexed');
my ($st, $mapping) = os_req('GET', '/invoices/_mapping');
is($st, 200, 'the worker created the index');
my $props = $mapping->{invoices}{mappings}{properties} // {};
is($props->{total}{type}, 'scaled_float', 'with the explicit mapping (total scaled_float)');
is($props->{issue_date}{type}, 'date', 'with the explicit mapping (issue_date date)');
my $doc = os_doc($a[0]);
ok($doc, 'GET /invoices/_doc/<id> finds the document');
my $row = decode_json($q->("SELECT invoiceflow.status('$a[0]')"));
is($doc->{request_id}, $a[0], 'request_id');
is($doc->{status}, 'COMPLETED', 'status');
is($doc->{invoice_number}, $row->{invoice}{invoice_number}, 'invoice_number');
is($doc->{seller_name}, 'Acme GmbH', 'seller_name');
is($doc->{seller_vat_id}, 'DE123456789', 'seller_vat_id');
is($doc->{buyer_name}, 'Buyer alpha', 'buyer_name');
is($doc->{currency}, 'EUR', 'currency');
is($doc->{issue_date}, $row->{invoice}{issue_date}, 'issue_date');
is($doc->{due_date}, '2024-04-01', 'due_date');
is($doc->{total}, $row->{invoice}{totals}{total}, 'total (as written)');
is($doc->{document_type}, 'invoice', 'document_type');
is($doc->{source}, 'upload', 'source');
is($doc->{extracted_from}, 'text', 'extracted_from');
ok(!$doc->{needs_review}, 'needs_review');
like($doc->{text}, qr/zeppelinalpha/, 'text');
like($doc->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/, 'created_at in UTC');
is($row->{delivery}{opensearch}{state}, 'done', 'status() delivery shows opensearch done');

# --- search() with the OpenSearch backend finds them
my $found = $q->(q{SET invoiceflow.search_backend = 'opensearch';
	SELECT string_agg(i ->> 'request_id', ',') FROM jsonb_array_elements(invoiceflow.search(q => 'zeppelinalpha') -> 'items') i});
is(join(',', sort split /,/, $found), join(',', sort @a), 'search() on OpenSearch finds the indexed invoices');

# --- a correction (issue 14) is indexed again through the outbox: OpenSearch follows it
$q->(qq{SELECT invoiceflow.correct('$a[1]', '{"totals": {"total": "4242.00"}, "seller": {"name": "Corrected AG"}}', 'reviewer')});
ok($node->poll_query_until('postgres', "SELECT NOT EXISTS (SELECT 1 FROM invoiceflow.outbox WHERE ingestion_id = '$a[1]'
	AND sink = 'opensearch' AND state = 'pending')"), 'the correction was delivered to OpenSearch');
my $corrected = os_doc($a[1]);
ok($corrected && $corrected->{total} eq '4242.00' && $corrected->{seller_name} eq 'Corrected AG',
	'the document has the corrected total and seller');
my $item = decode_json($q->(qq{SET invoiceflow.search_backend = 'opensearch';
	SELECT i FROM jsonb_array_elements(invoiceflow.search(q => 'zeppelinalpha') -> 'items') i WHERE i ->> 'request_id' = '$a[1]'}) || 'null');
ok($item && $item->{review}{corrections}[0]{actor} eq 'reviewer', 'search() on OpenSearch has the review history too');

# --- purge deletes the document
$q->("SELECT invoiceflow.purge('$a[2]')");
ok($node->poll_query_until('postgres', "SELECT NOT EXISTS (SELECT 1 FROM invoiceflow.outbox WHERE ingestion_id = '$a[2]')"),
	'the purge was delivered (its outbox record is gone)');
ok(!os_doc($a[2]), 'a purged invoice is deleted from the index');
ok(os_doc($a[0]), 'the others stay');

# --- an outage while completing 20 invoices: statuses unchanged, nothing lost
double_mode('down');
my @b = complete(20, 'beta');
is($q->('SELECT count(*) FROM invoiceflow.ingestions WHERE status = \'COMPLETED\' AND id IN (' . $in->(@b) . ')'), 20,
	'all 20 COMPLETED during the outage');
$wait->(q{SELECT count(*) = 20 FROM invoiceflow.outbox WHERE sink = 'opensearch' AND tries > 0 AND state = 'pending'
	AND ingestion_id IN (} . $in->(@b) . ')', 'their deliveries are retried');
$row = decode_json($q->("SELECT invoiceflow.status('$b[0]')"));
is($row->{status}, 'COMPLETED', 'status() keeps COMPLETED');
is($row->{delivery}{opensearch}{state}, 'retrying', 'delivery shows opensearch retrying');
ok(defined $row->{delivery}{opensearch}{last_error}, 'with the last error') and note($row->{delivery}{opensearch}{last_error});
$wait->(q{SELECT invoiceflow.health() -> 'dependencies' ->> 'opensearch' = 'unhealthy'
	AND invoiceflow.health() ->> 'service' = 'degraded'}, 'health(): opensearch unhealthy, service degraded');
like($q->(q{SELECT last_error FROM invoiceflow._breakers() WHERE dependency = 'opensearch'}), qr/\S/, 'its breaker has the last error');
sleep 3;	# several retry rounds and breaker cycles
is($q->(q{SELECT count(*) FROM invoiceflow.outbox WHERE sink = 'opensearch' AND state = 'failed'}), 0,
	'an outage fails no delivery');
is($q->(q{SELECT count(*) FROM invoiceflow.ingestions WHERE status <> 'COMPLETED'}), 0, 'and changes no status');
double_mode('ok');
ok($all_done->(@b), 'after recovery all 20 are indexed');
is(scalar(grep { os_doc($_) } @b), 20, 'every document is in the index, nothing lost');
$wait->(q{SELECT invoiceflow.health() -> 'dependencies' ->> 'opensearch' = 'healthy'
	AND invoiceflow.health() ->> 'service' = 'healthy'}, 'health() healthy again');

# --- a document OpenSearch refuses: its delivery fails, the ingestion does not
os_req('DELETE', '/invoices');
($st) = os_req('PUT', '/invoices', { mappings => { properties => {
	request_id => { type => 'keyword' }, currency => { type => 'long' } } } });
is($st, 200, 'an index with a conflicting mapping (currency: long)');
my @c = complete(1, 'gamma');
$wait->("SELECT state = 'failed' FROM invoiceflow.outbox WHERE sink = 'opensearch' AND ingestion_id = '$c[0]'",
	'a mapping error fails the delivery');
$row = decode_json($q->("SELECT invoiceflow.status('$c[0]')"));
is($row->{status}, 'COMPLETED', 'the ingestion stays COMPLETED');
is($row->{error}, undef, 'with no error of its own');
is($row->{delivery}{opensearch}{state}, 'failed', 'delivery shows opensearch failed');
like($row->{delivery}{opensearch}{last_error} // '', qr/mapper_parsing_exception/, 'with the reason from OpenSearch');
# fix the index and reload: the refused document is sent again (the index is created anew)
os_req('DELETE', '/invoices');
$node->reload;
$wait->("SELECT count(*) = 1 FROM invoiceflow.outbox WHERE sink = 'opensearch' AND ingestion_id = '$c[0]' AND state = 'done'",
	'after a fix and a reload the refused document is indexed');
ok(os_doc($c[0]), 'it is in the index');
(undef, $mapping) = os_req('GET', '/invoices/_mapping');
is($mapping->{invoices}{mappings}{properties}{currency}{type}, 'keyword', 'the index was created again with the explicit mapping');

# --- a sink configured later picks up what it has not seen
$q->('ALTER SYSTEM SET invoiceflow.opensearch_url = \'\'');
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('invoiceflow.opensearch_url') = ''});
my @d = complete(3, 'delta');
is($q->(q{SELECT count(*) FROM invoiceflow.outbox WHERE sink = 'opensearch' AND ingestion_id IN (} . $in->(@d) . ')'), 0,
	'OpenSearch off: no outbox rows for it');
$row = decode_json($q->("SELECT invoiceflow.status('$d[0]')"));
ok(!exists $row->{delivery}{opensearch}, 'and status() shows no opensearch delivery');
is($q->(q{SELECT invoiceflow.health() -> 'dependencies' ->> 'opensearch'}), 'disabled', 'health(): opensearch disabled');
$q->("ALTER SYSTEM SET invoiceflow.opensearch_url = '$url'");
$node->reload;
ok($all_done->(@d), 'configured again: the invoices completed meanwhile are back-filled');
is(scalar(grep { os_doc($_) } @d), 3, 'and are in the index');
is($q->(q{SELECT count(*) FROM invoiceflow.outbox WHERE sink = 'opensearch' AND action = 'index'
	GROUP BY ingestion_id HAVING count(*) FILTER (WHERE state <> 'failed') > 1}), '', 'nothing was queued twice');

$node->stop;
done_testing();
