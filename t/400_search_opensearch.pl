# search() with invoiceflow.search_backend = 'opensearch': the same result shape,
# statuses from PostgreSQL, filters, pagination and facets, answered by OpenSearch.
# OpenSearch cannot run on this machine: this runs against the test double
# (test/services/opensearch_double.py), which follows OpenSearch's REST API.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use JSON::PP;
use InvoiceflowTest;

my $root = repo_root();
my $svc = "$PostgreSQL::Test::Utils::tmp_check/os400";
system('bash', "$root/test/services/opensearch.sh", 'start', $svc) == 0 or BAIL_OUT('cannot start the OpenSearch double');
END { system('bash', "$root/test/services/opensearch.sh", 'stop', $svc) if $svc; }
my ($url) = slurp_file("$svc/env") =~ /^OPENSEARCH_URL=(\S+)/m;
my $http = HTTP::Tiny->new(timeout => 10);
my $json = JSON::PP->new->canonical;

my $node = new_node('os');
$node->safe_psql('postgres', q{
	SET invoiceflow.dedup = off;
	CREATE TABLE docs AS SELECT g, NULL::uuid AS id FROM generate_series(1, 12) g;
});
for my $g (1 .. 12) {
	my $hex = unpack('H*', make_pdf("os doc $g"));
	$node->safe_psql('postgres', "UPDATE docs SET id = (SELECT request_id FROM invoiceflow.ingest('os-$g.pdf', decode('$hex', 'hex'))) WHERE g = $g");
}
$node->safe_psql('postgres', q{
	DO $$ DECLARE d record; l uuid; BEGIN
	FOR d IN SELECT * FROM docs WHERE g <= 10 ORDER BY g LOOP
		l := invoiceflow.claim(d.id, 't');
		PERFORM invoiceflow.complete(d.id, l, jsonb_build_object('invoice', jsonb_build_object(
			'invoice_number', 'OS-' || d.g, 'issue_date', to_char(date '2024-01-01' + d.g * 20, 'YYYY-MM-DD'),
			'currency', CASE WHEN d.g % 2 = 0 THEN 'EUR' ELSE 'USD' END,
			'seller', jsonb_build_object('name', CASE WHEN d.g % 3 = 0 THEN 'Acme GmbH' ELSE 'Globex Ltd' END),
			'buyer', jsonb_build_object('name', 'Buyer ' || d.g),
			'totals', jsonb_build_object('total', (d.g * 100) || '.00'), 'needs_review', false, 'source', 'text'),
			'text', 'Invoice for consulting' || CASE WHEN d.g = 7 THEN ' and a zeppelin <img src=x onerror=alert(1)> ride' ELSE '' END));
	END LOOP; END $$;
});

# The index and its documents, as the delivery worker writes them.
my $mapping = { mappings => { dynamic => JSON::PP::false, properties => {
	request_id => { type => 'keyword' }, status => { type => 'keyword' }, source => { type => 'keyword' },
	filename => { type => 'text', fields => { keyword => { type => 'keyword' } } },
	invoice_number => { type => 'keyword', fields => { text => { type => 'text' } } },
	seller_name => { type => 'text', fields => { keyword => { type => 'keyword' } } },
	buyer_name => { type => 'text', fields => { keyword => { type => 'keyword' } } },
	currency => { type => 'keyword' }, issue_date => { type => 'date', format => 'strict_date_optional_time||yyyy-MM-dd' },
	total => { type => 'scaled_float', scaling_factor => 100 }, needs_review => { type => 'boolean' },
	extracted_from => { type => 'keyword' }, text => { type => 'text' }, created_at => { type => 'date' } } } };
my $r = $http->request('PUT', "$url/invoices", { headers => { 'Content-Type' => 'application/json' }, content => $json->encode($mapping) });
ok($r->{success}, 'index created') or diag($r->{content});
my $rows = $node->safe_psql('postgres', q{
	SELECT d.id, jsonb_build_object('request_id', d.id, 'status', d.status, 'source', d.source, 'filename', d.filename,
		'invoice_number', d.invoice_number, 'seller_name', d.seller, 'buyer_name', d.buyer, 'currency', d.currency,
		'issue_date', d.issue_date, 'total', d.total, 'needs_review', d.needs_review, 'extracted_from', d.extracted_from,
		'text', e.text, 'created_at', invoiceflow._iso(d.created_at))
	FROM invoiceflow.search_docs d JOIN invoiceflow.extractions e ON e.ingestion_id = d.id});
my $bulk = '';
for (split /\n/, $rows) {
	my ($id, $doc) = split /\|/, $_, 2;
	$bulk .= $json->encode({ index => { _index => 'invoices', _id => $id } }) . "\n" . $doc . "\n";
}
$r = $http->request('POST', "$url/_bulk", { headers => { 'Content-Type' => 'application/x-ndjson' }, content => $bulk });
ok($r->{success} && !decode_json($r->{content})->{errors}, 'ten documents indexed') or diag($r->{content});

$node->safe_psql('postgres', "ALTER SYSTEM SET invoiceflow.opensearch_url = '$url'");
$node->safe_psql('postgres', "ALTER SYSTEM SET invoiceflow.search_backend = 'opensearch'");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('invoiceflow.search_backend') = 'opensearch'});

sub search_ids {
	my ($args) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(string_agg(d.g::text, ',' ORDER BY o), '') FROM
		  jsonb_array_elements(invoiceflow.search($args) -> 'items') WITH ORDINALITY AS e(i, o)
		  JOIN docs d ON d.id = (e.i ->> 'request_id')::uuid});
}
is(search_ids(q{q => 'zeppelin'}), '7', 'a rare word finds its invoice');
is(search_ids(q{q => 'OS-3'}), '3', 'an invoice number as typed');
is(search_ids(q{currency => 'eur', sort => 'issue_date'}), '2,4,6,8,10', 'currency filter, issue date ascending');
is(search_ids(q{seller => 'acme', sort => '-total'}), '9,6,3', 'seller filter, total descending');
is(search_ids(q{issued_from => '2024-03-01', issued_to => '2024-05-31', sort => 'issue_date'}), '3,4,5,6,7', 'issue date range');
is(search_ids(q{total_min => '250', total_max => '600', sort => 'total'}), '3,4,5,6', 'total range');
my $item = decode_json($node->safe_psql('postgres', q{SELECT invoiceflow.search(q => 'zeppelin') -> 'items' -> 0}));
is($item->{status}, 'COMPLETED', 'status taken from PostgreSQL');
like($item->{snippet} // '', qr{<em>zeppelin</em>}, 'highlighted snippet');
# issue 9: the document text is escaped for HTML; the only markup is the <em> around matches
like($item->{snippet} // '', qr{&lt;img src=x onerror=alert\(1\)&gt;}, 'snippet text escaped for HTML');
unlike(($item->{snippet} // '') =~ s{</?em>}{}gr, qr/[<>]/, 'no other markup in the snippet');
is($item->{invoice_number}, 'OS-7', 'fields in the item');

# pagination: pages of 3 cover all ten once
my ($cursor, @seen) = ('');
for my $page (1 .. 6) {
	my $res = decode_json($node->safe_psql('postgres',
		"SELECT invoiceflow.search(sort => '-issue_date', \"limit\" => 3" . ($cursor ? ", cursor => '$cursor'" : '') . ")"));
	push @seen, map { $_->{invoice_number} } @{ $res->{items} };
	$cursor = $res->{next_cursor};
	last unless $cursor;
}
is(scalar(@seen), 10, 'ten invoices over the pages');
is(join(',', @seen), join(',', map { "OS-$_" } reverse 1 .. 10), 'in order, none skipped or repeated');
my $facets = decode_json($node->safe_psql('postgres', q{SELECT invoiceflow.search(facets => true) -> 'facets'}));
is_deeply([ sort map { "$_->{value}=$_->{count}" } @{ $facets->{currency} } ], [ 'EUR=5', 'USD=5' ], 'currency facet');
ok(scalar(@{ $facets->{month} }) >= 5, 'month facet');
# a hostile query string never raises
for my $q ('"', '(&|!', 'a:*', '\\\\', '-', '<->') {
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT invoiceflow.search(q => \$q\$$q\$q\$)");
	is($ret, 0, "query string $q gives no error") or diag($err);
}
# OpenSearch down: a clear error, not a hang
$http->request('POST', "$url/_double/fail", { headers => { 'Content-Type' => 'application/json' }, content => '{"mode": "down"}' });
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT invoiceflow.search(q => 'zeppelin')});
like($err, qr/OpenSearch is unavailable/, 'an outage is reported as such');
$http->request('POST', "$url/_double/fail", { headers => { 'Content-Type' => 'application/json' }, content => '{"mode": "ok"}' });
is(search_ids(q{q => 'zeppelin'}), '7', 'search works again after the outage');
# back to PostgreSQL: the same answers
$node->safe_psql('postgres', "ALTER SYSTEM SET invoiceflow.search_backend = 'postgres'");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('invoiceflow.search_backend') = 'postgres'});
is(search_ids(q{currency => 'eur', sort => 'issue_date'}), '2,4,6,8,10', 'the PostgreSQL backend gives the same answer');
$node->stop;
done_testing();
