-- Gateway API keys: created once, stored hashed, checked, revoked.
\set VERBOSITY terse
SELECT invoiceflow.create_api_key('regress-local') AS key \gset
SELECT :'key' ~ '^ifk_[0-9a-f]{64}$' AS key_format;
SELECT invoiceflow.check_api_key(:'key') AS valid;
SELECT invoiceflow.check_api_key(:'key' || 'x') AS wrong_key, invoiceflow.check_api_key(NULL) AS null_key,
       invoiceflow.check_api_key('') AS empty_key;
-- only the hash is stored
SELECT count(*) AS plaintext_rows FROM invoiceflow.api_keys WHERE key_hash = convert_to(:'key', 'UTF8')
  OR name = :'key';
SELECT key_hash = sha256(convert_to(:'key', 'UTF8')) AS hashed FROM invoiceflow.api_keys WHERE name = 'regress-local';
SELECT try($$SELECT invoiceflow.create_api_key('regress-local')$$) AS same_name;
SELECT try($$SELECT invoiceflow.create_api_key('')$$) AS empty_name;
SELECT invoiceflow.revoke_api_key('regress-local') AS revoked, invoiceflow.revoke_api_key('regress-local') AS revoked_again;
SELECT invoiceflow.check_api_key(:'key') AS valid_after_revoke;
