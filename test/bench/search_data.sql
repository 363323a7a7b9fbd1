-- Synthetic invoices for the search benchmark: varied sellers, buyers, dates,
-- amounts, languages and line items. :rows rows. Keywords with known frequency:
--   "kubernetes" in 1% of the documents, "maintenance" in 20%.
SET invoiceflow.dedup = off;
CREATE TEMP TABLE words AS SELECT
  ARRAY['Müller','Schmidt','Dupont','Janssen','García','Rossi','Acme','Globex','Initech','Umbrella','Stark','Wayne',
        'Northwind','Contoso','Fabrikam','Tailspin','Wingtip','Adventure','Litware','Proseware'] AS a,
  ARRAY['Bau','Consulting','Logistics','Software','Hosting','Energie','Transport','Media','Foods','Partners'] AS b,
  ARRAY['GmbH','SARL','B.V.','S.L.','S.r.l.','Inc.','Ltd','AG','SAS','LLC'] AS c,
  ARRAY['EUR','EUR','EUR','USD','GBP','CHF','INR'] AS cur,
  ARRAY['consulting hours','server hosting','office chairs','cloud storage','network cabling','training day',
        'software licence','travel expenses','printer toner','support contract','data migration','security audit',
        'web design','catering service','legal advice','translation','cleaning service','shipping fee'] AS items,
  ARRAY['Invoice','Rechnung','Facture','Factuur','Factura','Fattura'] AS title,
  ARRAY['Payment due within 30 days. Thank you for your business.',
        'Zahlbar innerhalb von 14 Tagen ohne Abzug. Vielen Dank für Ihren Auftrag.',
        'Paiement à 30 jours. Merci pour votre confiance.',
        'Betaling binnen 30 dagen. Bedankt voor uw bestelling.',
        'Pago a 30 días. Gracias por su confianza.',
        'Pagamento a 30 giorni. Grazie per la fiducia.'] AS terms;

CREATE TEMP TABLE gen AS
SELECT g, gen_random_uuid() AS id,
       w.a[1 + (g * 7) % 20] || ' ' || w.b[1 + (g * 13) % 10] || ' ' || w.c[1 + (g * 3) % 10] AS seller,
       w.a[1 + (g * 11) % 20] || ' ' || w.b[1 + (g * 17) % 10] || ' ' || w.c[1 + (g * 19) % 10] AS buyer,
       w.cur[1 + g % 7] AS currency,
       date '2023-01-01' + (g * 37) % 730 AS issue_date,
       round((50 + (g::bigint * 7919) % 250000 / 10.0)::numeric, 2) AS net,
       1 + g % 6 AS lang,
       w.items[1 + g % 18] AS item1, w.items[1 + (g / 18) % 18] AS item2,
       CASE WHEN g % 100 = 0 THEN ' kubernetes cluster operations' ELSE '' END ||
       CASE WHEN g % 5 = 0 THEN ' annual maintenance' ELSE '' END AS extra,
       w.title[1 + g % 6] AS title, w.terms[1 + g % 6] AS terms,
       timestamptz '2023-01-01' + (g * 37 % 730) * interval '1 day' + (g % 86400) * interval '1 second' AS created_at
FROM generate_series(1, :rows) g, words w;

INSERT INTO invoiceflow.ingestions (id, filename, s3_key, size_bytes, sha256, status, source, created_at, updated_at)
SELECT id, 'invoice-' || g || '.pdf', 'raw/' || id || '.pdf', 40000 + g % 20000, sha256(id::text::bytea),
       (ARRAY['COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','FAILED','PENDING'])[1 + g % 10],
       (ARRAY['upload','upload','email','webhook'])[1 + g % 4],
       created_at, now()
FROM gen
ORDER BY created_at;  -- rows arrive in upload order, as they do in production

INSERT INTO invoiceflow.extractions (ingestion_id, invoice, text)
SELECT id,
  jsonb_build_object('document_type', 'invoice', 'invoice_number', 'INV-' || (2023 + g % 2) || '/' || lpad(g::text, 7, '0'),
    'issue_date', to_char(issue_date, 'YYYY-MM-DD'), 'due_date', to_char(issue_date + 30, 'YYYY-MM-DD'),
    'currency', currency, 'seller', jsonb_build_object('name', seller), 'buyer', jsonb_build_object('name', buyer),
    'totals', jsonb_build_object('net', net::text, 'tax', round(net * 0.19, 2)::text, 'total', round(net * 1.19, 2)::text),
    'source', (ARRAY['xml','text','text'])[1 + g % 3], 'needs_review', g % 17 = 0),
  title || ' INV-' || (2023 + g % 2) || '/' || lpad(g::text, 7, '0') || E'\n' || seller || E'\n' || buyer || E'\n'
    || item1 || ' ' || net || ' ' || currency || E'\n' || item2 || extra || E'\n'
    || 'Total ' || round(net * 1.19, 2) || ' ' || currency || E'\n' || terms
FROM gen
WHERE g % 10 < 8  -- COMPLETED rows have an extraction
ORDER BY created_at;
