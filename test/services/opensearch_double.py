#!/usr/bin/python3
"""opensearch_double.py: a small in-memory stand-in for OpenSearch (tests only).

Implements the parts of OpenSearch's documented REST API that invoiceflow uses,
with OpenSearch's response and error shapes, and rejects malformed requests
the way OpenSearch does (400 + {"error": {"root_cause", "type", "reason"}, "status"}).

  GET /                      version info          GET /_cluster/health[/<index>]
  PUT /<index>               create (settings, mappings; mapping types validated)
  HEAD|GET|DELETE /<index>   GET /<index>/_mapping  POST /<index>/_refresh
  POST /_bulk, POST /<index>/_bulk   NDJSON: index, create, delete, update
  PUT|POST /<index>/_doc/<id>, POST /<index>/_doc, PUT /<index>/_create/<id>
  GET|DELETE /<index>/_doc/<id>      GET|POST /<index>/_count
  GET|POST /<index>/_search  query (bool, match_all, match_none, term, terms,
        range, exists, ids, prefix, match, match_phrase, multi_match,
        simple_query_string, constant_score), sort, search_after, size, from,
        track_total_hits, _source, aggs (terms, date_histogram, min, max, sum,
        avg, value_count, cardinality; sub-aggregations), highlight

Test controls (not part of OpenSearch):
  POST /_double/fail {"mode": "ok"|"down"|"500"|"503"|"429"|"slow", "count": N,
                      "delay_ms": N}
        down: every request gets its connection closed without a response;
        500/503/429: every request gets that error; slow: answers after delay_ms.
        count: only the next N requests fail, then back to ok.  GET shows the mode.
  POST /_double/reset        drop every index and counter
  GET  /_double/stats        request counters
Environment: OPENSEARCH_DOUBLE_FAIL=mode (initial mode),
             OPENSEARCH_DOUBLE_AUTH=user:password (require HTTP basic auth).

Limits: one node, writes are visible to search at once (as if every request
had refresh=true), analyzer = lowercase Unicode word tokenizer, scores are
BM25 computed over the whole index (deterministic, not Lucene-identical).

Usage: /usr/bin/python3 opensearch_double.py [--port N] [--port-file FILE]
"""
import argparse
import base64
import calendar
import datetime
import fnmatch
import json
import math
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "2.11.1"
MAX_RESULT_WINDOW = 10000
FIELD_TYPES = {"text", "keyword", "date", "scaled_float", "double", "float", "half_float",
               "long", "integer", "short", "byte", "boolean", "object", "nested"}
NUMERIC = {"scaled_float", "double", "float", "half_float", "long", "integer", "short", "byte"}
INTEGRAL = {"long", "integer", "short", "byte"}
FIELD_PARAMS = {"type", "fields", "analyzer", "search_analyzer", "index", "doc_values", "store",
                "format", "scaling_factor", "ignore_above", "null_value", "norms", "properties",
                "dynamic", "enabled", "copy_to", "coerce", "ignore_malformed", "normalizer",
                "boost", "similarity", "term_vector", "index_options", "locale", "eager_global_ordinals"}
LONG_MAX = 9223372036854775807
LONG_MIN = -9223372036854775808


class OSError_(Exception):
    """An OpenSearch error response."""

    def __init__(self, status, etype, reason, extra=None, caused_by=None):
        super().__init__(reason)
        self.status, self.etype, self.reason = status, etype, reason
        self.extra = extra or {}
        self.caused_by = caused_by

    def cause(self):
        c = {"type": self.etype, "reason": self.reason}
        c.update(self.extra)
        return c

    def body(self):
        err = self.cause()
        err["root_cause"] = [self.cause()]
        if self.caused_by:
            err["caused_by"] = self.caused_by
        return {"error": err, "status": self.status}


def bad(etype, reason, status=400, **extra):
    return OSError_(status, etype, reason, extra)


def index_not_found(name):
    return OSError_(404, "index_not_found_exception", "no such index [%s]" % name,
                    {"index": name, "resource.id": name, "resource.type": "index_or_alias",
                     "index_uuid": "_na_"})


# ---------------------------------------------------------------- analysis

WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(s):
    return [(m.group(0).lower(), m.start(), m.end()) for m in WORD.finditer(s)]


def terms_of(s):
    return [t for t, _, _ in tokenize(s)]


# ---------------------------------------------------------------- dates

DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
                     r"(Z|[+-]\d{2}:?\d{2})?)?)?)?$")


def parse_date(value, fmt=None):
    """Returns epoch milliseconds, or raises ValueError (formats: strict_date_optional_time,
    date_optional_time, yyyy-MM-dd, yyyy-MM, yyyy, epoch_millis, epoch_second)."""
    fmts = (fmt or "strict_date_optional_time||epoch_millis").split("||")
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, (int, float)):
        if "epoch_second" in fmts:
            return int(value * 1000)
        if "epoch_millis" in fmts or fmt is None:
            return int(value)
        raise ValueError("number")
    if not isinstance(value, str):
        raise ValueError("not a string")
    for f in fmts:
        f = f.strip()
        if f in ("epoch_millis", "epoch_second"):
            if re.fullmatch(r"-?\d+", value):
                return int(value) * (1000 if f == "epoch_second" else 1)
            continue
        m = DATE_RE.match(value)
        if not m:
            continue
        y, mo, d, hh, mi, ss, frac, tz = m.groups()
        if f == "yyyy-MM-dd" and not (d and not hh):
            continue
        if f == "yyyy-MM" and not (mo and not d):
            continue
        if f == "yyyy" and mo:
            continue
        if f not in ("strict_date_optional_time", "date_optional_time", "strict_date_time",
                     "date_time", "yyyy-MM-dd", "yyyy-MM", "yyyy", "strict_date", "date"):
            continue
        try:
            dt = datetime.datetime(int(y), int(mo or 1), int(d or 1), int(hh or 0), int(mi or 0),
                                   int(ss or 0), int((frac or "0").ljust(6, "0")[:6]),
                                   tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
        ms = calendar.timegm(dt.timetuple()) * 1000 + dt.microsecond // 1000
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            tzd = tz[1:].replace(":", "")
            ms -= sign * (int(tzd[:2]) * 60 + int(tzd[2:])) * 60000
        return ms
    raise ValueError("no format matched")


def fmt_date(ms, fmt=None):
    dt = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    if fmt == "yyyy-MM-dd":
        return dt.strftime("%Y-%m-%d")
    if fmt == "yyyy-MM":
        return dt.strftime("%Y-%m")
    if fmt == "yyyy":
        return dt.strftime("%Y")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


# ---------------------------------------------------------------- mappings

def validate_properties(props, path, normalizers):
    if not isinstance(props, dict):
        raise bad("mapper_parsing_exception", "Expected map for property [properties] on field [%s] but got a class %s"
                  % (path or "_doc", type(props).__name__))
    for name, spec in props.items():
        full = path + "." + name if path else name
        if not isinstance(spec, dict):
            raise bad("mapper_parsing_exception", "Expected map for property [fields] on field [%s] but got a class %s"
                      % (full, type(spec).__name__))
        t = spec.get("type", "object" if "properties" in spec or not spec else None)
        if t is None:
            raise bad("mapper_parsing_exception", "No type specified for field [%s]" % full)
        if t not in FIELD_TYPES:
            raise bad("mapper_parsing_exception", "No handler for type [%s] declared on field [%s]" % (t, name))
        for k in spec:
            if k not in FIELD_PARAMS:
                raise bad("mapper_parsing_exception", "unknown parameter [%s] on mapper [%s] of type [%s]" % (k, name, t))
        if t == "scaled_float":
            sf = spec.get("scaling_factor")
            if sf is None:
                raise bad("mapper_parsing_exception", "Field [scaling_factor] is required")
            if isinstance(sf, bool) or not isinstance(sf, (int, float)) or sf <= 0:
                raise bad("mapper_parsing_exception", "[scaling_factor] must be a positive number, got [%s]" % sf)
        if "normalizer" in spec:
            if t != "keyword":
                raise bad("mapper_parsing_exception", "unknown parameter [normalizer] on mapper [%s] of type [%s]" % (name, t))
            if spec["normalizer"] not in normalizers:
                raise bad("mapper_parsing_exception", "normalizer [%s] not found for field [%s]" % (spec["normalizer"], name))
        if "format" in spec and t == "date":
            for f in str(spec["format"]).split("||"):
                if f.strip() not in ("strict_date_optional_time", "date_optional_time", "strict_date_time", "date_time",
                                     "yyyy-MM-dd", "yyyy-MM", "yyyy", "strict_date", "date", "epoch_millis", "epoch_second"):
                    raise bad("mapper_parsing_exception", "Invalid format: [%s]: Unknown pattern letter" % spec["format"])
        if t in ("object", "nested"):
            if "properties" in spec:
                validate_properties(spec["properties"], full, normalizers)
        elif "properties" in spec:
            raise bad("mapper_parsing_exception", "unknown parameter [properties] on mapper [%s] of type [%s]" % (name, t))
        if "fields" in spec:
            if not isinstance(spec["fields"], dict):
                raise bad("mapper_parsing_exception", "Expected map for property [fields] on field [%s]" % full)
            validate_properties(spec["fields"], full, normalizers)


def flat_fields(props, path=""):
    """field path -> spec, including multi-fields (a.b.keyword)."""
    out = {}
    for name, spec in props.items():
        full = path + "." + name if path else name
        t = spec.get("type", "object")
        if t in ("object", "nested"):
            out[full] = spec
            out.update(flat_fields(spec.get("properties", {}), full))
        else:
            out[full] = spec
            for sub, sspec in spec.get("fields", {}).items():
                out[full + "." + sub] = sspec
    return out


class Index:
    def __init__(self, name, settings, mappings):
        self.name = name
        self.uuid = base64.urlsafe_b64encode(uuid.uuid4().bytes)[:22].decode()
        self.settings = settings
        self.mappings = mappings
        self.docs = {}          # id -> dict(source, version, seq_no, fields)
        self.seq_no = -1
        self.created = int(time.time() * 1000)
        self.normalizers = settings.get("analysis", {}).get("normalizer", {})

    def fields(self):
        return flat_fields(self.mappings.get("properties", {}))

    def replicas(self):
        return int(self.settings.get("number_of_replicas", 1))


def normalize_settings(s):
    """{"index": {...}} and dotted keys folded into one flat-ish index settings dict."""
    out = {}
    if not isinstance(s, dict):
        raise bad("settings_exception", "Failed to load settings from [%s]" % json.dumps(s))
    for k, v in s.items():
        if k == "index" and isinstance(v, dict):
            out.update(normalize_settings(v))
        elif k.startswith("index."):
            out[k[6:]] = v
        else:
            out[k] = v
    for k in out:
        if k not in ("number_of_shards", "number_of_replicas", "refresh_interval", "analysis",
                     "max_result_window", "codec", "mapping", "knn", "auto_expand_replicas",
                     "max_ngram_diff", "sort", "hidden"):
            raise bad("illegal_argument_exception", "unknown setting [index.%s] please check that any required plugins "
                      "are installed, or check the breaking changes documentation for removed settings" % k)
    for k in ("number_of_shards", "number_of_replicas"):
        if k in out:
            try:
                n = int(out[k])
            except (TypeError, ValueError):
                raise bad("illegal_argument_exception", "Failed to parse value [%s] for setting [index.%s]" % (out[k], k))
            if n < (1 if k == "number_of_shards" else 0):
                raise bad("illegal_argument_exception", "Failed to parse value [%s] for setting [index.%s] must be >= %d"
                          % (n, k, 1 if k == "number_of_shards" else 0))
            out[k] = n
    norms = out.get("analysis", {}).get("normalizer", {}) if isinstance(out.get("analysis"), dict) else {}
    for n, spec in norms.items():
        for f in spec.get("filter", []):
            if f not in ("lowercase", "asciifolding", "uppercase"):
                raise bad("illegal_argument_exception", "Custom normalizer [%s] may not use filter [%s]" % (n, f))
    return out


def check_index_name(name):
    if name != name.lower():
        raise bad("invalid_index_name_exception", "Invalid index name [%s], must be lowercase" % name,
                  index=name, index_uuid="_na_")
    if name[:1] in ("_", "-", "+"):
        raise bad("invalid_index_name_exception", "Invalid index name [%s], must not start with '_', '-', or '+'" % name,
                  index=name, index_uuid="_na_")
    for ch in '\\/*?"<>| ,#:':
        if ch in name:
            raise bad("invalid_index_name_exception",
                      "Invalid index name [%s], must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]" % name,
                      index=name, index_uuid="_na_")
    if not name or name in (".", "..") or len(name.encode()) > 255:
        raise bad("invalid_index_name_exception", "Invalid index name [%s]" % name, index=name, index_uuid="_na_")


# ---------------------------------------------------------------- documents

def preview(v):
    return json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def field_error(doc_id, field, t, value, caused_by):
    e = bad("mapper_parsing_exception",
            "failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'"
            % (field, t, doc_id, preview(value)))
    e.caused_by = caused_by
    return e


def coerce_value(doc_id, field, spec, value, idx):
    """Value as indexed for one mapped leaf field; raises mapper_parsing_exception."""
    t = spec.get("type", "object")
    if isinstance(value, dict):
        raise field_error(doc_id, field, t, value, {"type": "illegal_state_exception",
                                                     "reason": "Can't get text on a START_OBJECT"})
    if t in ("text", "keyword"):
        s = value if isinstance(value, str) else json.dumps(value)
        if t == "keyword":
            if "ignore_above" in spec and len(s) > int(spec["ignore_above"]):
                return None
            norm = spec.get("normalizer")
            if norm:
                filters = idx.normalizers.get(norm, {}).get("filter", [])
                for f in filters:
                    s = s.lower() if f == "lowercase" else s.upper() if f == "uppercase" else s
        return s
    if t == "date":
        try:
            return parse_date(value, spec.get("format"))
        except ValueError:
            raise field_error(doc_id, field, t, value, {
                "type": "illegal_argument_exception",
                "reason": "failed to parse date field [%s] with format [%s]"
                          % (value, spec.get("format", "strict_date_optional_time||epoch_millis"))})
    if t in NUMERIC:
        if isinstance(value, bool):
            raise field_error(doc_id, field, t, value, {"type": "illegal_argument_exception",
                                                         "reason": "Current token (VALUE_TRUE) not numeric"})
        if isinstance(value, str):
            try:
                num = float(value.strip())
                if spec.get("coerce") is False:
                    raise ValueError
            except ValueError:
                raise field_error(doc_id, field, t, value, {"type": "number_format_exception",
                                                             "reason": "For input string: \"%s\"" % value})
        else:
            num = float(value)
        if math.isnan(num) or math.isinf(num):
            raise field_error(doc_id, field, t, value, {"type": "illegal_argument_exception",
                                                         "reason": "[%s] supports only finite values" % t})
        if t == "scaled_float":
            f = float(spec["scaling_factor"])
            return round(num * f) / f
        if t in INTEGRAL:
            return int(num)
        return num
    if t == "boolean":
        if value is True or value == "true":
            return True
        if value is False or value in ("false", ""):
            return False
        raise field_error(doc_id, field, t, value, {"type": "illegal_argument_exception",
                                                     "reason": "Failed to parse value [%s] as only [true] or [false] are allowed."
                                                               % preview(value)})
    raise field_error(doc_id, field, t, value, {"type": "illegal_argument_exception", "reason": "unsupported"})


def dynamic_spec(value):
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "long"}
    if isinstance(value, float):
        return {"type": "float"}
    if isinstance(value, dict):
        return {"properties": {}}
    if isinstance(value, str):
        try:
            parse_date(value, "strict_date_optional_time")
            if re.match(r"^\d{4}-\d{2}-\d{2}", value):
                return {"type": "date"}
        except ValueError:
            pass
    return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}


def index_document(idx, doc_id, source):
    """Validates source against the mapping (extending it for dynamic fields);
    returns {field path: [indexed values]}."""
    out = {}
    new_props = {}

    def walk(obj, props, path, dynamic, mapping_node):
        for name, value in obj.items():
            full = path + "." + name if path else name
            if name == "" or name.startswith(".") or name.endswith("."):
                raise bad("mapper_parsing_exception", "field name cannot be an empty string")
            spec = props.get(name)
            if spec is None:
                if value is None:
                    continue
                if dynamic in (False, "false"):
                    continue
                if dynamic == "strict":
                    raise bad("strict_dynamic_mapping_exception",
                              "mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed"
                              % (name, path or "_doc"))
                sample = value[0] if isinstance(value, list) and value else value
                if isinstance(sample, list) or (isinstance(value, list) and not value):
                    continue
                spec = dynamic_spec(sample)
                props[name] = spec
                new_props[full] = spec
            t = spec.get("type", "object")
            values = value if isinstance(value, list) else [value]
            for v in values:
                if v is None:
                    continue
                if t in ("object", "nested"):
                    if not isinstance(v, dict):
                        raise bad("mapper_parsing_exception",
                                  "object mapping for [%s] tried to parse field [%s] as object, but found a concrete value"
                                  % (full, name))
                    if spec.get("enabled", True) is False:
                        continue
                    spec.setdefault("properties", {})
                    walk(v, spec["properties"], full, spec.get("dynamic", dynamic), spec)
                    continue
                cv = coerce_value(doc_id, full, spec, v, idx)
                if cv is not None and spec.get("index", True) is not False:
                    out.setdefault(full, []).append(cv)
                for sub, sspec in spec.get("fields", {}).items():
                    sv = coerce_value(doc_id, full + "." + sub, sspec, v, idx)
                    if sv is not None:
                        out.setdefault(full + "." + sub, []).append(sv)

    # validate on a copy of the mapping, commit only when the whole document is fine
    props = json.loads(json.dumps(idx.mappings.get("properties", {})))
    walk(source, props, "", idx.mappings.get("dynamic", True), None)
    if new_props:
        idx.mappings["properties"] = props
    return out


# ---------------------------------------------------------------- queries

def one_key(q, where):
    if not isinstance(q, dict) or len(q) != 1:
        if isinstance(q, dict) and len(q) > 1:
            raise bad("parsing_exception", "[%s] query doesn't support multiple fields, found [%s] and [%s]"
                      % (where, list(q)[0], list(q)[1]), line=1, col=1)
        raise bad("parsing_exception", "[%s] query malformed, no start_object after query name" % where, line=1, col=1)
    return next(iter(q.items()))


class Searcher:
    """Evaluates one query over one index snapshot."""

    K1, B = 1.2, 0.75

    def __init__(self, idx):
        self.idx = idx
        self.fields = idx.fields()
        self.docs = list(idx.docs.items())
        self.stats = {}
        self.hl_terms = {}  # field -> set of terms (for highlighting)

    def ftype(self, field):
        spec = self.fields.get(field)
        return spec.get("type", "object") if spec else None

    def field_stats(self, field):
        if field not in self.stats:
            df, total_len, n = {}, 0, 0
            for _, d in self.docs:
                toks = d["tokens"].get(field)
                if toks is None:
                    continue
                n += 1
                total_len += len(toks)
                for t in set(toks):
                    df[t] = df.get(t, 0) + 1
            self.stats[field] = (n, (total_len / n) if n else 1.0, df)
        return self.stats[field]

    def bm25(self, field, term, doc):
        toks = doc["tokens"].get(field)
        if not toks:
            return 0.0
        tf = toks.count(term)
        if not tf:
            return 0.0
        n, avg, df = self.field_stats(field)
        d = df.get(term, 0)
        idf = math.log(1 + (n - d + 0.5) / (d + 0.5))
        return idf * tf * (self.K1 + 1) / (tf + self.K1 * (1 - self.B + self.B * len(toks) / avg))

    def expand_fields(self, patterns):
        out = []
        for p in patterns:
            boost = 1.0
            if "^" in p:
                p, b = p.rsplit("^", 1)
                try:
                    boost = float(b)
                except ValueError:
                    raise bad("parsing_exception", "[multi_match] bad field boost [%s]" % b)
            for f in sorted(self.fields):
                t = self.ftype(f)
                if t in ("object", "nested"):
                    continue
                if f == p or ("*" in p and fnmatch.fnmatchcase(f, p)):
                    if "*" in p and t not in ("text", "keyword"):
                        continue
                    out.append((f, boost))
        return out

    def values(self, doc, field):
        return doc["fields"].get(field, [])

    def coerce_query_value(self, field, v):
        t = self.ftype(field)
        spec = self.fields.get(field, {})
        try:
            if t == "date":
                return parse_date(v if not isinstance(v, str) else v, spec.get("format"))
            if t in NUMERIC:
                if isinstance(v, bool):
                    raise ValueError
                return float(v)
            if t == "boolean":
                if v in (True, "true"):
                    return True
                if v in (False, "false", ""):
                    return False
                raise ValueError
            if t == "keyword":
                s = v if isinstance(v, str) else json.dumps(v)
                for f in self.idx.normalizers.get(spec.get("normalizer"), {}).get("filter", []):
                    s = s.lower() if f == "lowercase" else s.upper() if f == "uppercase" else s
                return s
        except (ValueError, TypeError):
            raise bad("query_shard_exception", "failed to create query: For input string: \"%s\"" % v,
                      index=self.idx.name, index_uuid=self.idx.uuid)
        return v

    def analyze(self, field, text):
        t = self.ftype(field)
        if t == "text":
            return terms_of(str(text))
        if t is None:
            return []
        return [self.coerce_query_value(field, text)]

    def term_match(self, doc, field, value):
        t = self.ftype(field)
        if field == "_id":
            return doc["_id"] == str(value)
        if t is None:
            return False
        if t == "text":
            return str(value) in doc["tokens"].get(field, [])
        cv = self.coerce_query_value(field, value)
        if t in NUMERIC:
            return any(float(x) == cv for x in self.values(doc, field))
        return cv in self.values(doc, field)

    def score_terms(self, doc, field, qterms, operator, boost, msm=None):
        """match-style query of analyzed terms on one field -> (matched, score)."""
        t = self.ftype(field)
        if not qterms:
            return False, 0.0
        hits, score = 0, 0.0
        for qt in qterms:
            if t == "text":
                s = self.bm25(field, qt, doc)
                if s > 0:
                    hits += 1
                    score += s
            elif qt in [(float(x) if t in NUMERIC else x) for x in self.values(doc, field)]:
                hits += 1
                score += 1.0
        if operator == "and":
            ok = hits == len(qterms)
        else:
            ok = hits >= (msm or 1)
        return ok, score * boost if ok else 0.0

    def phrase_match(self, doc, field, qterms):
        if self.ftype(field) != "text":
            return bool(qterms) and self.term_match(doc, field, " ".join(qterms))
        for text in doc["texts"].get(field, []):
            toks = terms_of(text)
            n = len(qterms)
            for i in range(len(toks) - n + 1):
                if toks[i:i + n] == qterms:
                    return True
        return False

    def note_terms(self, field, terms):
        self.hl_terms.setdefault(field, set()).update(terms)

    # each query type: returns function doc -> (matched, score)
    def compile(self, q, scoring=True):
        if not isinstance(q, dict):
            raise bad("parsing_exception", "[_na] query malformed, must start with start_object", line=1, col=1)
        if len(q) != 1:
            if not q:
                raise bad("parsing_exception", "query malformed, empty clause found", line=1, col=1)
            raise bad("parsing_exception", "[%s] malformed query, expected [END_OBJECT] but found [FIELD_NAME]"
                      % list(q)[0], line=1, col=1)
        qtype, body = next(iter(q.items()))
        fn = getattr(self, "q_" + qtype, None)
        if fn is None:
            raise bad("parsing_exception", "unknown query [%s]" % qtype, line=1, col=1)
        if not isinstance(body, dict):
            raise bad("parsing_exception", "[%s] query malformed, no start_object after query name" % qtype,
                      line=1, col=1)
        return fn(body, scoring)

    def q_match_all(self, b, scoring):
        boost = float(b.get("boost", 1.0))
        return lambda d: (True, boost)

    def q_match_none(self, b, scoring):
        return lambda d: (False, 0.0)

    def q_bool(self, b, scoring):
        for k in b:
            if k not in ("must", "filter", "should", "must_not", "minimum_should_match", "boost", "_name"):
                raise bad("parsing_exception", "[bool] query does not support [%s]" % k, line=1, col=1)

        def clauses(k, sc):
            v = b.get(k, [])
            if isinstance(v, dict):
                v = [v]
            if not isinstance(v, list):
                raise bad("parsing_exception", "[bool] query does not support [%s]" % k, line=1, col=1)
            return [self.compile(c, sc) for c in v]
        must = clauses("must", scoring)
        flt = clauses("filter", False)
        should = clauses("should", scoring)
        saved = dict((k, set(v)) for k, v in self.hl_terms.items())
        must_not = clauses("must_not", False)
        self.hl_terms = saved
        msm = b.get("minimum_should_match")
        if msm is None:
            msm = 0 if (must or flt) else (1 if should else 0)
        else:
            s = str(msm)
            if s.endswith("%"):
                msm = int(len(should) * int(s[:-1]) / 100)
            else:
                msm = int(s)
                if msm < 0:
                    msm = max(0, len(should) + msm)
        boost = float(b.get("boost", 1.0))

        def run(d):
            score = 0.0
            for c in must:
                ok, s = c(d)
                if not ok:
                    return False, 0.0
                score += s
            for c in flt:
                if not c(d)[0]:
                    return False, 0.0
            for c in must_not:
                if c(d)[0]:
                    return False, 0.0
            n = 0
            for c in should:
                ok, s = c(d)
                if ok:
                    n += 1
                    score += s
            if n < msm:
                return False, 0.0
            if not must and not should and not scoring:
                return True, 0.0
            if not must and not should:
                return True, 0.0
            return True, score * boost
        return run

    def q_constant_score(self, b, scoring):
        if "filter" not in b:
            raise bad("parsing_exception", "[constant_score] requires a 'filter' element", line=1, col=1)
        f = self.compile(b["filter"], False)
        boost = float(b.get("boost", 1.0))
        return lambda d: (f(d)[0], boost if f(d)[0] else 0.0)

    def field_body(self, b, qtype, key):
        field, v = one_key({k: x for k, x in b.items() if k not in ("boost", "_name")}, qtype)
        if isinstance(v, dict):
            if key not in v:
                raise bad("parsing_exception", "[%s] query does not support [%s]" % (qtype, ",".join(v)), line=1, col=1)
            return field, v[key], v
        return field, v, {}

    def q_term(self, b, scoring):
        field, value, opts = self.field_body(b, "term", "value")
        if isinstance(value, (dict, list)):
            raise bad("parsing_exception", "[term] query does not support array of values", line=1, col=1)
        boost = float(opts.get("boost", 1.0))
        ci = opts.get("case_insensitive", False)
        if self.ftype(field) in ("text", "keyword"):
            self.note_terms(field, [str(value).lower() if self.ftype(field) == "text" else str(value)])

        def run(d):
            if ci and self.ftype(field) == "keyword":
                ok = str(value).lower() in [str(x).lower() for x in self.values(d, field)]
            else:
                ok = self.term_match(d, field, value)
            return ok, boost if ok else 0.0
        return run

    def q_terms(self, b, scoring):
        b2 = {k: v for k, v in b.items() if k not in ("boost", "_name")}
        field, values = one_key(b2, "terms")
        if not isinstance(values, list):
            raise bad("parsing_exception", "[terms] query does not support [%s]" % field, line=1, col=1)
        boost = float(b.get("boost", 1.0))
        if self.ftype(field) in ("text", "keyword"):
            self.note_terms(field, [str(v) for v in values])
        return lambda d: ((True, boost) if any(self.term_match(d, field, v) for v in values) else (False, 0.0))

    def q_ids(self, b, scoring):
        vals = set(str(v) for v in b.get("values", []))
        return lambda d: ((True, 1.0) if d["_id"] in vals else (False, 0.0))

    def q_exists(self, b, scoring):
        field = b.get("field")
        if not isinstance(field, str):
            raise bad("parsing_exception", "[exists] must be provided with a [field]", line=1, col=1)
        return lambda d: ((True, 1.0) if self.values(d, field) else (False, 0.0))

    def q_prefix(self, b, scoring):
        field, value, opts = self.field_body(b, "prefix", "value")
        t = self.ftype(field)
        p = str(value).lower() if t == "text" or opts.get("case_insensitive") else str(value)

        def run(d):
            if t == "text":
                ok = any(x.startswith(p) for x in d["tokens"].get(field, []))
            else:
                ok = any(str(x).lower().startswith(p) if opts.get("case_insensitive") else str(x).startswith(p)
                         for x in self.values(d, field))
            return ok, 1.0 if ok else 0.0
        return run

    def q_range(self, b, scoring):
        field, spec = one_key({k: v for k, v in b.items() if k not in ("boost", "_name")}, "range")
        if not isinstance(spec, dict):
            raise bad("parsing_exception", "[range] query malformed, no start_object after query name", line=1, col=1)
        t = self.ftype(field)
        fmt = spec.get("format")
        bounds = {}
        for k, v in spec.items():
            if k in ("format", "boost", "time_zone", "relation"):
                continue
            if k in ("from", "to", "include_lower", "include_upper"):
                raise bad("parsing_exception", "[range] query does not support [%s]" % k, line=1, col=1)
            if k not in ("gte", "gt", "lte", "lt"):
                raise bad("parsing_exception", "[range] query does not support [%s]" % k, line=1, col=1)
            if v is None:
                continue
            if t == "date":
                try:
                    bounds[k] = parse_date(v, fmt or self.fields[field].get("format"))
                except ValueError:
                    raise bad("parse_exception", "failed to parse date field [%s] with format [%s]: [failed to parse date field [%s] with format [%s]]"
                              % (v, fmt or "strict_date_optional_time||epoch_millis", v, fmt or "strict_date_optional_time||epoch_millis"))
            elif t in NUMERIC:
                try:
                    if isinstance(v, bool):
                        raise ValueError
                    bounds[k] = float(v)
                except (TypeError, ValueError):
                    raise bad("number_format_exception", "For input string: \"%s\"" % v)
            elif t == "text":
                raise bad("illegal_argument_exception", "Text fields are not optimised for operations that require "
                          "per-document field data like aggregations and sorting, so these operations are disabled by default.")
            else:
                bounds[k] = v
        boost = float(spec.get("boost", 1.0))

        def inside(x):
            if t in NUMERIC:
                x = float(x)
            if "gte" in bounds and not x >= bounds["gte"]:
                return False
            if "gt" in bounds and not x > bounds["gt"]:
                return False
            if "lte" in bounds and not x <= bounds["lte"]:
                return False
            if "lt" in bounds and not x < bounds["lt"]:
                return False
            return True
        return lambda d: ((True, boost) if any(inside(x) for x in self.values(d, field)) else (False, 0.0))

    def q_match(self, b, scoring):
        field, query, opts = self.field_body(b, "match", "query")
        for k in opts:
            if k not in ("query", "operator", "boost", "fuzziness", "analyzer", "minimum_should_match",
                         "lenient", "zero_terms_query", "auto_generate_synonyms_phrase_query", "prefix_length",
                         "max_expansions"):
                raise bad("parsing_exception", "[match] query does not support [%s]" % k, line=1, col=1)
        operator = str(opts.get("operator", "or")).lower()
        if operator not in ("or", "and"):
            raise bad("illegal_argument_exception", "No enum constant org.opensearch.index.search.MatchQuery.Operator.%s"
                      % operator.upper())
        qterms = self.analyze(field, query)
        self.note_terms(field, [str(x) for x in qterms])
        boost = float(opts.get("boost", 1.0))
        return lambda d: self.score_terms(d, field, qterms, operator, boost)

    def q_match_phrase(self, b, scoring):
        field, query, opts = self.field_body(b, "match_phrase", "query")
        qterms = self.analyze(field, query)
        self.note_terms(field, [str(x) for x in qterms])

        def run(d):
            if not self.phrase_match(d, field, qterms):
                return False, 0.0
            return True, self.score_terms(d, field, qterms, "and", 1.0)[1]
        return run

    def q_multi_match(self, b, scoring):
        for k in b:
            if k not in ("query", "fields", "type", "operator", "tie_breaker", "boost", "fuzziness", "lenient",
                         "minimum_should_match", "analyzer", "zero_terms_query", "_name"):
                raise bad("parsing_exception", "[multi_match] query does not support [%s]" % k, line=1, col=1)
        if "query" not in b:
            raise bad("parsing_exception", "No text specified for multi_match query", line=1, col=1)
        mtype = b.get("type", "best_fields")
        if mtype not in ("best_fields", "most_fields", "cross_fields", "phrase", "phrase_prefix", "bool_prefix"):
            raise bad("parsing_exception", "failed to parse [multi_match] query type [%s]. unknown type." % mtype,
                      line=1, col=1)
        operator = str(b.get("operator", "or")).lower()
        fields = self.expand_fields(b.get("fields", ["*"]))
        tie = float(b.get("tie_breaker", 0.0))
        boost = float(b.get("boost", 1.0))
        per_field = []
        for f, fb in fields:
            try:
                qterms = self.analyze(f, b["query"])
            except OSError_:
                if b.get("lenient") or len(fields) > 1:
                    continue
                raise
            self.note_terms(f, [str(x) for x in qterms])
            per_field.append((f, fb, qterms))

        def run(d):
            scores = []
            for f, fb, qterms in per_field:
                if mtype in ("phrase", "phrase_prefix"):
                    ok = self.phrase_match(d, f, qterms)
                    s = self.score_terms(d, f, qterms, "and", fb)[1] if ok else 0.0
                else:
                    ok, s = self.score_terms(d, f, qterms, operator, fb)
                if ok:
                    scores.append(s)
            if not scores:
                return False, 0.0
            if mtype == "most_fields":
                return True, sum(scores) * boost
            best = max(scores)
            return True, (best + tie * (sum(scores) - best)) * boost
        return run

    SQS_TOKEN = re.compile(r'\s*([+\-|()]|"[^"]*"?|[^\s+|()"]+)')

    def q_simple_query_string(self, b, scoring):
        """Never fails on syntax, as OpenSearch: + - | "phrase" prefix* ( ) ~N."""
        for k in b:
            if k not in ("query", "fields", "default_operator", "analyzer", "flags", "lenient", "boost",
                         "minimum_should_match", "analyze_wildcard", "auto_generate_synonyms_phrase_query",
                         "fuzzy_max_expansions", "fuzzy_prefix_length", "fuzzy_transpositions", "quote_field_suffix",
                         "_name"):
                raise bad("parsing_exception", "[simple_query_string] unsupported field [%s]" % k, line=1, col=1)
        if "query" not in b:
            raise bad("parsing_exception", "[simple_query_string] query text missing", line=1, col=1)
        op = str(b.get("default_operator", "or")).lower()
        fields = self.expand_fields(b.get("fields", ["*"]))
        boost = float(b.get("boost", 1.0))
        toks = [m.group(1) for m in self.SQS_TOKEN.finditer(str(b["query"])) if m.group(1)]

        # clauses: list of groups joined by |, each group a list of (sign, kind, text)
        groups, cur, sign = [[]], None, ""
        for tok in toks:
            if tok in ("(", ")"):
                continue
            if tok == "|":
                groups.append([])
                continue
            if tok in ("+", "-"):
                sign = tok
                continue
            kind = "term"
            if tok.startswith('"'):
                kind, tok = "phrase", tok.strip('"')
            elif tok.endswith("*"):
                kind, tok = "prefix", tok.rstrip("*")
            tok = re.sub(r"~\d*$", "", tok)
            groups[-1].append((sign, kind, tok))
            sign = ""

        def clause_fn(kind, text):
            parts = []
            for f, fb in fields:
                t = self.ftype(f)
                if kind == "prefix":
                    p = text.lower() if t == "text" else text
                    if t == "text":
                        self.note_terms(f, [p + "*"])
                    parts.append((f, fb, "prefix", p))
                    continue
                if t == "text":
                    qt = terms_of(text)
                elif t == "keyword":
                    qt = [self.coerce_query_value(f, text)]
                else:
                    try:
                        qt = [self.coerce_query_value(f, text)]
                    except OSError_:
                        continue
                if not qt:
                    continue
                self.note_terms(f, [str(x) for x in qt])
                parts.append((f, fb, kind, qt))

            def run(d):
                best = None
                for f, fb, k, qt in parts:
                    if k == "prefix":
                        ok = any(x.startswith(qt) for x in (d["tokens"].get(f, []) if self.ftype(f) == "text"
                                                          else [str(v) for v in self.values(d, f)]))
                        s = fb if ok else 0.0
                    elif k == "phrase" or len(qt) > 1:
                        # several tokens from one word ("RE-2024/0815") behave as a phrase
                        ok = self.phrase_match(d, f, qt)
                        s = self.score_terms(d, f, qt, "and", fb)[1] if ok else 0.0
                    else:
                        ok, s = self.score_terms(d, f, qt, "or", fb)
                    if ok and (best is None or s > best):
                        best = s
                return (best is not None), (best or 0.0)
            return run

        compiled = []
        for g in groups:
            compiled.append([(s, clause_fn(k, t)) for s, k, t in g if t or k == "prefix"])

        def run(d):
            total, any_group = 0.0, False
            for g in compiled:
                if not g:
                    continue
                pos = [(s, fn) for s, fn in g if s != "-"]
                neg = [fn for s, fn in g if s == "-"]
                if any(fn(d)[0] for fn in neg):
                    continue
                if not pos:
                    any_group = True
                    continue
                res = [(s, fn(d)) for s, fn in pos]
                req = [r for s, r in res if s == "+" or op == "and"]
                if any(not r[0] for r in req):
                    continue
                if not any(r[0] for _, r in res):
                    continue
                any_group = True
                total += sum(r[1] for _, r in res if r[0])
            return (True, total * boost) if any_group else (False, 0.0)
        return run


# ---------------------------------------------------------------- search

def sort_spec(sort, searcher):
    if sort is None:
        return [("_score", "desc", "_last", None)]
    if not isinstance(sort, list):
        sort = [sort]
    out = []
    for s in sort:
        if isinstance(s, str):
            field, order, missing, unmapped = s, ("desc" if s == "_score" else "asc"), "_last", None
        elif isinstance(s, dict) and len(s) == 1:
            field, o = next(iter(s.items()))
            if isinstance(o, str):
                order, missing, unmapped = o, "_last", None
            elif isinstance(o, dict):
                for k in o:
                    if k not in ("order", "missing", "unmapped_type", "mode", "format", "numeric_type"):
                        raise bad("parsing_exception", "[field_sort] unknown field [%s]" % k, line=1, col=1)
                order = o.get("order", "desc" if field == "_score" else "asc")
                missing, unmapped = o.get("missing", "_last"), o.get("unmapped_type")
            else:
                raise bad("parsing_exception", "[sort] malformed", line=1, col=1)
        else:
            raise bad("parsing_exception", "[sort] malformed", line=1, col=1)
        if order not in ("asc", "desc"):
            raise bad("illegal_argument_exception", "Unknown SortOrder [%s]" % order)
        if field not in ("_score", "_id", "_doc"):
            t = searcher.ftype(field)
            if t is None and unmapped is None:
                raise bad("query_shard_exception", "No mapping found for [%s] in order to sort on" % field,
                          index=searcher.idx.name, index_uuid=searcher.idx.uuid)
            if t == "text":
                raise bad("illegal_argument_exception",
                          "Text fields are not optimised for operations that require per-document field data like "
                          "aggregations and sorting, so these operations are disabled by default. Please use a keyword "
                          "field instead. Alternatively, set fielddata=true on [%s] in order to load field data by "
                          "uninverting the inverted index. Note that this can use significant memory." % field)
            if t in ("object", "nested"):
                raise bad("illegal_argument_exception", "sorting on an object field [%s] is not supported" % field)
        out.append((field, order, missing, unmapped))
    return out


def sort_value(searcher, d, score, field, order, missing):
    """The value OpenSearch reports in hit.sort (and expects back in search_after)."""
    if field == "_score":
        return score
    if field == "_id":
        return d["_id"]
    if field == "_doc":
        return d["seq"]
    t = searcher.ftype(field)
    vals = searcher.values(d, field)
    if not vals:
        if t in ("keyword", None):
            return None
        return LONG_MIN if order == "desc" else LONG_MAX
    v = max(vals) if order == "desc" else min(vals)
    if t == "boolean":
        return 1 if v else 0
    if t in NUMERIC and t not in INTEGRAL:
        return float(v)
    return v


def cmp_key(searcher, vals, spec):
    """A tuple ordering hits: ascending tuple order == requested order."""
    key = []
    for v, (field, order, missing, _) in zip(vals, spec):
        if v is None:  # missing keyword
            last = missing != "_first"
            key.append((1 if last else -1, 0))
            continue
        if isinstance(v, str):
            k = Rev(v) if order == "desc" else v
        else:
            k = -v if order == "desc" else v
        key.append((0, k))
    return tuple(key)


class Rev:
    __slots__ = ("s",)

    def __init__(self, s):
        self.s = s

    def __lt__(self, o):
        return self.s > o.s

    def __eq__(self, o):
        return self.s == o.s

    def __gt__(self, o):
        return self.s < o.s


def coerce_after(searcher, v, field):
    t = searcher.ftype(field) if field not in ("_score", "_id", "_doc") else field
    if v is None:
        return None
    try:
        if t == "date" and isinstance(v, str):
            return parse_date(v)
        if t in NUMERIC or t in ("_score", "date", "_doc"):
            if isinstance(v, bool):
                raise ValueError
            return float(v) if t not in ("date", "_doc") and t not in INTEGRAL else int(v)
        if t == "boolean":
            return 1 if v in (True, 1, "true") else 0
    except (TypeError, ValueError):
        raise bad("illegal_argument_exception", "Failed to parse search_after value for field [%s]." % field)
    if not isinstance(v, str) and t in ("keyword", "_id"):
        raise bad("illegal_argument_exception", "Failed to parse search_after value for field [%s]." % field)
    return v


def highlight(searcher, d, hl):
    if not isinstance(hl, dict) or "fields" not in hl:
        raise bad("parsing_exception", "[highlight] requires [fields]", line=1, col=1)
    pre = hl.get("pre_tags", ["<em>"])[0]
    post = hl.get("post_tags", ["</em>"])[0]
    out = {}
    fields = hl["fields"]
    if isinstance(fields, list):
        merged = {}
        for f in fields:
            merged.update(f)
        fields = merged
    for pattern, opts in fields.items():
        opts = opts or {}
        size = int(opts.get("fragment_size", hl.get("fragment_size", 100)))
        nfrag = int(opts.get("number_of_fragments", hl.get("number_of_fragments", 5)))
        for field in sorted(searcher.fields):
            if not (field == pattern or fnmatch.fnmatchcase(field, pattern)):
                continue
            if searcher.ftype(field) not in ("text", "keyword"):
                continue
            terms = set()
            if hl.get("require_field_match", True) and opts.get("require_field_match", True):
                terms = searcher.hl_terms.get(field, set())
            else:
                for ts in searcher.hl_terms.values():
                    terms |= ts
            if not terms:
                continue
            frags = []
            for text in d["texts"].get(field, []):
                if searcher.ftype(field) == "keyword":
                    if text in terms:
                        frags.append(pre + text + post)
                    continue
                spans = [(s, e) for t, s, e in tokenize(text)
                         if t in terms or any(x.endswith("*") and t.startswith(x[:-1]) for x in terms)]
                if not spans:
                    continue
                if nfrag == 0:
                    windows = [(0, len(text))]
                else:
                    windows = []
                    for s, e in spans:
                        if windows and s < windows[-1][1]:
                            continue
                        start = max(0, s - size // 3)
                        while start > 0 and not text[start - 1].isspace() and s - start < size // 2:
                            start -= 1
                        end = min(len(text), start + max(size, e - start))
                        while end < len(text) and not text[end].isspace() and end - start < size + 20:
                            end += 1
                        windows.append((start, end))
                for ws, we in windows:
                    parts, pos = [], ws
                    for s, e in spans:
                        if s >= ws and e <= we:
                            parts.append(text[pos:s] + pre + text[s:e] + post)
                            pos = e
                    parts.append(text[pos:we])
                    frags.append("".join(parts).strip())
            if frags:
                out[field] = frags if nfrag == 0 else frags[:nfrag]
    return out


def aggregate(searcher, aggs, docs):
    if not isinstance(aggs, dict):
        raise bad("parsing_exception", "Expected [START_OBJECT] under [aggs], but got a [%s]" % type(aggs).__name__,
                  line=1, col=1)
    out = {}
    for name, spec in aggs.items():
        if not isinstance(spec, dict):
            raise bad("parsing_exception", "Expected [START_OBJECT] under [%s]" % name, line=1, col=1)
        sub = spec.get("aggs", spec.get("aggregations"))
        kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
        if len(kinds) != 1:
            raise bad("parsing_exception", "Expected [START_OBJECT] under [%s], found more than one aggregation type"
                      % name if kinds else "Missing definition for aggregation [%s]" % name, line=1, col=1)
        kind = kinds[0]
        body = spec[kind]
        fn = AGGS.get(kind)
        if fn is None:
            raise bad("parsing_exception", "Unknown aggregation type [%s]" % kind, line=1, col=1)
        field = body.get("field")
        if not isinstance(field, str):
            raise bad("illegal_argument_exception", "Required one of fields [field, script], but none were specified.")
        t = searcher.ftype(field)
        if t == "text":
            raise bad("illegal_argument_exception",
                      "Text fields are not optimised for operations that require per-document field data like "
                      "aggregations and sorting, so these operations are disabled by default. Please use a keyword "
                      "field instead. Alternatively, set fielddata=true on [%s] in order to load field data by "
                      "uninverting the inverted index. Note that this can use significant memory." % field)
        out[name] = fn(searcher, body, field, t, docs, sub)
    return out


def agg_terms(searcher, body, field, t, docs, sub):
    size = int(body.get("size", 10))
    if size <= 0:
        raise bad("illegal_argument_exception", "[size] must be greater than 0. Found [%d] in [terms]" % size)
    min_count = int(body.get("min_doc_count", 1))
    counts = {}
    members = {}
    for d in docs:
        for v in set(searcher.values(d, field)):
            counts[v] = counts.get(v, 0) + 1
            members.setdefault(v, []).append(d)
    order = body.get("order", {"_count": "desc"})
    if isinstance(order, list):
        order = order[0]
    (okey, odir), = order.items()

    def key(item):
        k, c = item
        if okey == "_key":
            return (k if odir == "asc" else Rev(k) if isinstance(k, str) else -k,)
        return ((c if odir == "asc" else -c), k if not isinstance(k, bool) else int(k))
    items = sorted(((k, c) for k, c in counts.items() if c >= min_count), key=key)
    buckets = []
    for k, c in items[:size]:
        b = {"key": k, "doc_count": c}
        if t == "boolean":
            b = {"key": 1 if k else 0, "key_as_string": "true" if k else "false", "doc_count": c}
        elif t == "date":
            b = {"key": k, "key_as_string": fmt_date(k, searcher.fields[field].get("format")), "doc_count": c}
        elif t in NUMERIC and t not in INTEGRAL:
            b["key"] = float(k)
        if sub:
            b.update(aggregate(searcher, sub, members[k]))
        buckets.append(b)
    return {"doc_count_error_upper_bound": 0,
            "sum_other_doc_count": sum(c for _, c in items[size:]), "buckets": buckets}


def month_floor(ms, unit):
    dt = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    if unit == "year":
        dt = dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    elif unit == "quarter":
        dt = dt.replace(month=(dt.month - 1) // 3 * 3 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
    elif unit == "month":
        dt = dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elif unit == "week":
        dt = (dt - datetime.timedelta(days=dt.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    elif unit == "day":
        dt = dt.replace(hour=0, minute=0, second=0, microsecond=0)
    elif unit == "hour":
        dt = dt.replace(minute=0, second=0, microsecond=0)
    return calendar.timegm(dt.timetuple()) * 1000


def month_next(ms, unit):
    dt = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    if unit in ("month", "quarter", "year"):
        n = {"month": 1, "quarter": 3, "year": 12}[unit]
        m = dt.month - 1 + n
        dt = dt.replace(year=dt.year + m // 12, month=m % 12 + 1)
        return calendar.timegm(dt.timetuple()) * 1000
    return ms + {"week": 7 * 86400000, "day": 86400000, "hour": 3600000}[unit]


def agg_date_histogram(searcher, body, field, t, docs, sub):
    if t not in ("date", None):
        raise bad("illegal_argument_exception", "Field [%s] of type [%s] is not supported for aggregation [date_histogram]"
                  % (field, t))
    units = {"month": "month", "1M": "month", "year": "year", "1y": "year", "quarter": "quarter", "1q": "quarter",
             "week": "week", "1w": "week", "day": "day", "1d": "day", "hour": "hour", "1h": "hour"}
    ci = body.get("calendar_interval", body.get("interval"))
    if "fixed_interval" in body:
        raise bad("illegal_argument_exception", "fixed_interval is not supported by this test double")
    if ci is None:
        raise bad("illegal_argument_exception", "Invalid interval specified, must be non-null and non-empty")
    if ci not in units:
        raise bad("illegal_argument_exception", "The supplied interval [%s] could not be parsed as a calendar interval." % ci)
    unit = units[ci]
    fmt = body.get("format")
    min_count = int(body.get("min_doc_count", 0))
    members = {}
    for d in docs:
        for v in set(month_floor(x, unit) for x in searcher.values(d, field)):
            members.setdefault(v, []).append(d)
    buckets = []
    if members:
        k, last = min(members), max(members)
        while k <= last:
            c = len(members.get(k, []))
            if c >= min_count:
                b = {"key_as_string": fmt_date(k, fmt), "key": k, "doc_count": c}
                if sub:
                    b.update(aggregate(searcher, sub, members.get(k, [])))
                buckets.append(b)
            k = month_next(k, unit)
    return {"buckets": buckets}


def agg_metric(kind):
    def run(searcher, body, field, t, docs, sub):
        vals = [float(v) if not isinstance(v, str) else v for d in docs for v in searcher.values(d, field)]
        if kind == "value_count":
            return {"value": len(vals)}
        if kind == "cardinality":
            return {"value": len(set(vals))}
        nums = [v for v in vals if not isinstance(v, str)]
        if kind == "sum":
            return {"value": float(sum(nums))}
        if not nums:
            return {"value": None}
        v = {"min": min, "max": max, "avg": lambda x: sum(x) / len(x)}[kind](nums)
        r = {"value": float(v)}
        if t == "date":
            r["value_as_string"] = fmt_date(int(v))
        return r
    return run


AGGS = {"terms": agg_terms, "date_histogram": agg_date_histogram}
for _k in ("min", "max", "sum", "avg", "value_count", "cardinality"):
    AGGS[_k] = agg_metric(_k)


def source_filter(src, spec):
    if spec is True or spec is None:
        return src
    if spec is False:
        return None
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, list):
        inc, exc = spec, []
    elif isinstance(spec, dict):
        inc, exc = spec.get("includes", spec.get("include", [])), spec.get("excludes", spec.get("exclude", []))
        inc = [inc] if isinstance(inc, str) else inc
        exc = [exc] if isinstance(exc, str) else exc
    else:
        raise bad("parsing_exception", "[_source] malformed", line=1, col=1)
    out = {}
    for k, v in src.items():
        if inc and not any(fnmatch.fnmatchcase(k, p) or p.startswith(k + ".") for p in inc):
            continue
        if any(fnmatch.fnmatchcase(k, p) for p in exc):
            continue
        out[k] = v
    return out


SEARCH_KEYS = {"query", "size", "from", "sort", "search_after", "track_total_hits", "aggs", "aggregations",
               "highlight", "_source", "timeout", "min_score", "track_scores", "version", "seq_no_primary_term",
               "explain", "stored_fields", "docvalue_fields", "terminate_after"}


def run_search(idx, body, params):
    if not isinstance(body, dict):
        raise bad("parsing_exception", "Unknown key for a START_ARRAY in [_na].", line=1, col=1)
    for k, v in body.items():
        if k not in SEARCH_KEYS:
            kind = {dict: "START_OBJECT", list: "START_ARRAY", str: "VALUE_STRING", bool: "VALUE_BOOLEAN"}.get(
                type(v), "VALUE_NUMBER")
            raise bad("parsing_exception", "Unknown key for a %s in [%s]." % (kind, k), line=1, col=1)
    t0 = time.time()
    searcher = Searcher(idx)

    def intval(name, default):
        v = params.get(name, body.get(name, default))
        try:
            if isinstance(v, bool):
                raise ValueError
            return int(v)
        except (TypeError, ValueError):
            raise bad("illegal_argument_exception", "Failed to parse int parameter [%s] with value [%s]" % (name, v))
    size, from_ = intval("size", 10), intval("from", 0)
    if size < 0:
        raise bad("illegal_argument_exception", "[size] parameter cannot be negative, found [%d]" % size)
    if from_ < 0:
        raise bad("illegal_argument_exception", "[from] parameter cannot be negative, found [%d]" % from_)
    window = int(idx.settings.get("max_result_window", MAX_RESULT_WINDOW))
    if from_ + size > window:
        raise bad("illegal_argument_exception",
                  "Result window is too large, from + size must be less than or equal to: [%d] but was [%d]. See the "
                  "scroll api for a more efficient way to request large data sets. This limit can be set by changing "
                  "the [index.max_result_window] index level setting." % (window, from_ + size))
    match = searcher.compile(body.get("query", {"match_all": {}}), True)
    spec = sort_spec(body.get("sort"), searcher)
    after = body.get("search_after")
    if after is not None:
        if not isinstance(after, list):
            raise bad("parsing_exception", "[search_after] must be an array", line=1, col=1)
        if len(after) != len(spec):
            raise bad("illegal_argument_exception", "search_after has %d value(s) but sort has %d."
                      % (len(after), len(spec)))
        if from_ > 0:
            raise bad("illegal_argument_exception", "`from` parameter must be set to 0 when `search_after` is used.")
        after = [coerce_after(searcher, v, f) for v, (f, _, _, _) in zip(after, spec)]
    min_score = body.get("min_score")

    matched = []
    for doc_id, d in searcher.docs:
        ok, score = match(d)
        if not ok or (min_score is not None and score < float(min_score)):
            continue
        score = round(score, 6)
        vals = [sort_value(searcher, d, score, f, o, m) for f, o, m, _ in spec]
        matched.append((cmp_key(searcher, vals, spec) + ((0, d["seq"]),), d, score, vals))
    matched.sort(key=lambda x: x[0])
    total = len(matched)
    pool = matched
    if after is not None:
        akey = cmp_key(searcher, after, spec)
        pool = [m for m in matched if m[0][:len(spec)] > akey]
    page = pool[from_:from_ + size]

    sorted_by_score_only = [s[0] for s in spec] == ["_score"]
    track_scores = body.get("track_scores", False) or any(s[0] == "_score" for s in spec)
    hits = []
    for _, d, score, vals in page:
        h = {"_index": idx.name, "_id": d["_id"], "_score": score if track_scores else None}
        if body.get("version"):
            h["_version"] = d["version"]
        src = source_filter(d["source"], body.get("_source", True))
        if src is not None:
            h["_source"] = src
        if not sorted_by_score_only:
            h["sort"] = vals
        if "highlight" in body:
            hlr = highlight(searcher, d, body["highlight"])
            if hlr:
                h["highlight"] = hlr
        hits.append(h)

    max_score = None
    if track_scores and matched:
        max_score = max(m[2] for m in matched)
    resp = {"took": int((time.time() - t0) * 1000), "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"max_score": max_score, "hits": hits}}
    tth = params.get("track_total_hits", body.get("track_total_hits", MAX_RESULT_WINDOW))
    if tth in ("true", True):
        tth = None
    elif tth in ("false", False):
        tth = False
    else:
        try:
            tth = int(tth)
        except (TypeError, ValueError):
            raise bad("illegal_argument_exception", "Failed to parse value [%s] for [track_total_hits]" % tth)
    if tth is not False:
        if tth is not None and total > tth:
            resp["hits"]["total"] = {"value": tth, "relation": "gte"}
        else:
            resp["hits"]["total"] = {"value": total, "relation": "eq"}
        if params.get("rest_total_hits_as_int") == "true":
            resp["hits"]["total"] = total
    aggs = body.get("aggs", body.get("aggregations"))
    if aggs is not None:
        resp["aggregations"] = aggregate(searcher, aggs, [m[1] for m in matched])
    return resp


# ---------------------------------------------------------------- the store

class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.indices = {}
        self.seq = 0

    def get(self, name):
        idx = self.indices.get(name)
        if idx is None:
            raise index_not_found(name)
        return idx

    def create(self, name, body):
        check_index_name(name)
        if not isinstance(body, dict):
            raise bad("parsing_exception", "Failed to parse create index request body", line=1, col=1)
        for k in body:
            if k not in ("settings", "mappings", "aliases"):
                raise bad("parsing_exception", "unknown key [%s] for create index" % k, line=1, col=1)
        settings = normalize_settings(body.get("settings", {}))
        mappings = body.get("mappings", {})
        if not isinstance(mappings, dict):
            raise bad("mapper_parsing_exception", "Failed to parse mapping [_doc]: Expected map for property [mappings]")
        if "_doc" in mappings and len(mappings) == 1:
            mappings = mappings["_doc"]
        for k in mappings:
            if k not in ("properties", "dynamic", "_source", "date_detection", "dynamic_templates", "_meta",
                         "_routing", "numeric_detection"):
                raise bad("mapper_parsing_exception", "Root mapping definition has unsupported parameters:  [%s : %s]"
                          % (k, json.dumps(mappings[k])))
        if mappings.get("dynamic", True) not in (True, False, "true", "false", "strict"):
            raise bad("mapper_parsing_exception", "Could not convert [dynamic] to boolean")
        norms = settings.get("analysis", {}).get("normalizer", {}) if isinstance(settings.get("analysis"), dict) else {}
        try:
            validate_properties(mappings.get("properties", {}), "", norms)
        except OSError_ as e:
            e.reason = "Failed to parse mapping [_doc]: " + e.reason
            raise
        with self.lock:
            if name in self.indices:
                raise bad("resource_already_exists_exception", "index [%s/%s] already exists"
                          % (name, self.indices[name].uuid), index=name, index_uuid=self.indices[name].uuid)
            self.indices[name] = Index(name, settings, json.loads(json.dumps(mappings)))
        return {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def auto_create(self, name):
        check_index_name(name)
        if name not in self.indices:
            self.indices[name] = Index(name, {}, {})
        return self.indices[name]

    def write(self, idx, op, doc_id, source, extra=None):
        """Returns (status, item body) for one index/create/update/delete."""
        if op in ("index", "create") and not doc_id:
            doc_id = base64.urlsafe_b64encode(uuid.uuid4().bytes)[:20].decode()
        item = {"_index": idx.name, "_id": doc_id}
        cur = idx.docs.get(doc_id)
        if op == "delete":
            idx.seq_no += 1
            if cur is None:
                item.update({"_version": 1, "result": "not_found",
                             "_shards": {"total": 2, "successful": 1, "failed": 0},
                             "_seq_no": idx.seq_no, "_primary_term": 1})
                return 404, item
            del idx.docs[doc_id]
            item.update({"_version": cur["version"] + 1, "result": "deleted",
                         "_shards": {"total": 2, "successful": 1, "failed": 0},
                         "_seq_no": idx.seq_no, "_primary_term": 1})
            return 200, item
        if op == "create" and cur is not None:
            raise OSError_(409, "version_conflict_engine_exception",
                           "[%s]: version conflict, document already exists (current version [%d])"
                           % (doc_id, cur["version"]), {"index": idx.name, "shard": "0", "index_uuid": idx.uuid})
        if op == "update":
            if not isinstance(source, dict) or not ("doc" in source or "script" in source):
                raise bad("action_request_validation_exception", "Validation Failed: 1: script or doc is missing;")
            if "script" in source:
                raise bad("illegal_argument_exception", "scripts are not supported by this test double")
            if cur is None:
                if not source.get("doc_as_upsert") and "upsert" not in source:
                    raise OSError_(404, "document_missing_exception", "[%s]: document missing" % doc_id,
                                   {"index": idx.name, "shard": "0", "index_uuid": idx.uuid})
                merged = source.get("upsert", source["doc"]) if not source.get("doc_as_upsert") else source["doc"]
            else:
                merged = json.loads(json.dumps(cur["source"]))

                def deep(a, b):
                    for k, v in b.items():
                        if isinstance(v, dict) and isinstance(a.get(k), dict):
                            deep(a[k], v)
                        else:
                            a[k] = v
                deep(merged, source["doc"])
            source = merged
        if not isinstance(source, dict):
            raise bad("mapper_parsing_exception", "failed to parse, document is empty" if source is None
                      else "failed to parse")
        fields = index_document(idx, doc_id, source)
        texts, tokens = {}, {}
        for f, spec in idx.fields().items():
            if spec.get("type") == "text" and f in fields:
                texts[f] = fields[f]
                tokens[f] = [t for v in fields[f] for t in terms_of(v)]
            elif spec.get("type") == "keyword" and f in fields:
                texts[f] = fields[f]
        idx.seq_no += 1
        self.seq += 1
        version = cur["version"] + 1 if cur else 1
        idx.docs[doc_id] = {"_id": doc_id, "source": source, "fields": fields, "texts": texts, "tokens": tokens,
                            "version": version, "seq": self.seq}
        item.update({"_version": version, "result": "updated" if cur else "created",
                     "_shards": {"total": 2, "successful": 1, "failed": 0},
                     "_seq_no": idx.seq_no, "_primary_term": 1})
        if op == "update" and cur is not None and cur["source"] == source:
            item["result"] = "noop"
            idx.docs[doc_id]["version"] = cur["version"]
            item["_version"] = cur["version"]
        return (200 if cur else 201), item


# ---------------------------------------------------------------- HTTP

def parse_json(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise bad("json_parse_exception", "Invalid UTF-8 start byte: %s" % e)
    except json.JSONDecodeError as e:
        raise OSError_(400, "json_parse_exception", "Unexpected character: %s at [Source: (byte[])\"...\"; line: %d, column: %d]"
                       % (e.msg, e.lineno, e.colno))


def bulk(store, raw, default_index, params):
    if not raw:
        raise bad("action_request_validation_exception", "Validation Failed: 1: no requests added;")
    if not raw.endswith(b"\n"):
        raise bad("illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
    lines = raw.split(b"\n")[:-1]
    actions = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        try:
            meta = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise bad("illegal_argument_exception", "Malformed action/metadata line [%d], expected START_OBJECT or "
                      "END_OBJECT but found [VALUE_STRING]" % i)
        if not isinstance(meta, dict) or len(meta) != 1:
            raise bad("illegal_argument_exception", "Malformed action/metadata line [%d], expected START_OBJECT but "
                      "found [%s]" % (i, "START_ARRAY" if isinstance(meta, list) else "VALUE"))
        op, m = next(iter(meta.items()))
        if op not in ("index", "create", "delete", "update"):
            raise bad("illegal_argument_exception", "Malformed action/metadata line [%d], expected field [create], "
                      "[delete], [index] or [update] but found [%s]" % (i, op))
        if not isinstance(m, dict):
            raise bad("illegal_argument_exception", "Malformed action/metadata line [%d], expected START_OBJECT but "
                      "found [VALUE]" % i)
        for k in m:
            if k not in ("_index", "_id", "routing", "version", "version_type", "if_seq_no", "if_primary_term",
                         "pipeline", "require_alias", "retry_on_conflict", "_source", "dynamic_templates"):
                raise bad("illegal_argument_exception", "Action/metadata line [%d] contains an unknown parameter [%s]"
                          % (i, k))
        index = m.get("_index", default_index)
        if not index:
            raise bad("action_request_validation_exception", "Validation Failed: 1: index is missing;")
        doc_id = m.get("_id")
        if doc_id is not None and not isinstance(doc_id, str):
            doc_id = str(doc_id)
        if op == "delete" and not doc_id:
            raise bad("action_request_validation_exception", "Validation Failed: 1: id is missing;")
        if op == "update" and not doc_id:
            raise bad("action_request_validation_exception", "Validation Failed: 1: id is missing;")
        if doc_id is not None and len(doc_id.encode()) > 512:
            raise bad("action_request_validation_exception", "Validation Failed: 1: id [%s] is too long, must be no "
                      "longer than 512 bytes but was: %d;" % (doc_id, len(doc_id.encode())))
        src_raw = None
        if op != "delete":
            if i >= len(lines):
                raise bad("illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
            src_raw = lines[i]
            i += 1
        actions.append((op, index, doc_id, src_raw))
    if not actions:
        raise bad("action_request_validation_exception", "Validation Failed: 1: no requests added;")

    t0 = time.time()
    items, errors = [], False
    with store.lock:
        for op, index, doc_id, src_raw in actions:
            try:
                try:
                    check_index_name(index)
                except OSError_ as e:
                    raise e
                if op in ("delete",):
                    idx = store.get(index)
                elif op == "update":
                    idx = store.get(index)
                else:
                    idx = store.auto_create(index)
                source = None
                if src_raw is not None:
                    try:
                        source = json.loads(src_raw.decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError) as e:
                        err = bad("mapper_parsing_exception", "failed to parse")
                        err.caused_by = {"type": "json_parse_exception", "reason": "Unexpected character: %s" % e}
                        raise err
                status, item = store.write(idx, op, doc_id, source)
                item["status"] = status
                items.append({op: item})
            except OSError_ as e:
                errors = True
                cause = e.cause()
                if e.caused_by:
                    cause["caused_by"] = e.caused_by
                items.append({op: {"_index": index, "_id": doc_id, "status": e.status, "error": cause}})
    return {"took": int((time.time() - t0) * 1000), "errors": errors, "items": items}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "opensearch-double"

    def log_message(self, fmt, *args):
        if os.environ.get("OPENSEARCH_DOUBLE_LOG"):
            sys.stderr.write("opensearch-double: " + (fmt % args) + "\n")

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline()
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(n))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, obj, headers=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def dispatch(self, method):
        srv = self.server
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        with srv.ctl_lock:
            srv.counters["requests"] = srv.counters.get("requests", 0) + 1
        if path.startswith("/_double/"):
            body = self.read_body()
            return self.control(method, path, body)
        mode, delay = srv.take_fault()
        if mode == "down":
            # as if the node had gone: the connection is dropped without an answer
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body = self.read_body()
        if mode == "slow":
            time.sleep(delay / 1000.0)
        elif mode in ("500", "503", "429"):
            code = int(mode)
            etype = {500: "exception", 503: "cluster_block_exception",
                     429: "es_rejected_execution_exception"}[code]
            reason = {500: "internal error injected by the test double",
                      503: "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];",
                      429: "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
                           "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_"
                           "primary_bytes=0]"}[code]
            return self.send(code, OSError_(code, etype, reason).body())
        if srv.auth:
            h = self.headers.get("Authorization", "")
            ok = h.startswith("Basic ") and base64.b64decode(h[6:].encode()).decode("utf-8", "replace") == srv.auth
            if not ok:
                return self.send(401, OSError_(401, "security_exception",
                                               "missing authentication credentials for REST request [%s]" % self.path).body(),
                                 {"WWW-Authenticate": 'Basic realm="security" charset="UTF-8"'})
        try:
            status, obj = self.route(method, path, params, body)
        except OSError_ as e:
            status, obj = e.status, e.body()
        except Exception as e:  # a bug in the double: say so loudly
            import traceback
            traceback.print_exc()
            status, obj = 500, OSError_(500, "exception", "test double bug: %r" % e).body()
        self.send(status, obj)

    def control(self, method, path, body):
        srv = self.server
        if path == "/_double/fail":
            if method == "GET":
                with srv.ctl_lock:
                    return self.send(200, {"mode": srv.mode, "count": srv.count, "delay_ms": srv.delay_ms})
            try:
                spec = json.loads(body or b"{}")
                mode = spec["mode"]
                if mode not in ("ok", "down", "500", "503", "429", "slow"):
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                return self.send(400, bad("illegal_argument_exception",
                                          "mode must be ok, down, 500, 503, 429 or slow").body())
            with srv.ctl_lock:
                srv.mode = mode
                srv.count = spec.get("count")
                srv.delay_ms = int(spec.get("delay_ms", 2000))
            return self.send(200, {"acknowledged": True, "mode": mode})
        if path == "/_double/reset" and method == "POST":
            with srv.store.lock:
                srv.store.indices.clear()
            with srv.ctl_lock:
                srv.counters.clear()
                srv.mode, srv.count = "ok", None
            return self.send(200, {"acknowledged": True})
        if path == "/_double/stats":
            with srv.ctl_lock:
                return self.send(200, dict(srv.counters))
        return self.send(404, bad("illegal_argument_exception", "unknown control endpoint", 404).body())

    def route(self, method, path, params, body):
        srv = self.server
        store = srv.store
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p != ""]
        if body and method in ("POST", "PUT"):
            ct = self.headers.get("Content-Type")
            mt = (ct or "").split(";")[0].strip().lower()
            if mt not in ("application/json", "application/x-ndjson"):
                # OpenSearch answers an unsupported Content-Type with a bare-string error
                return 406, {"error": "Content-Type header [%s] is not supported" % (ct or ""), "status": 406}

        def method_not_allowed(allowed):
            return 405, {"error": "Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]"
                         % (self.path, method, ", ".join(allowed)), "status": 405}

        def jbody(required=False):
            if not body:
                if required:
                    raise bad("parse_exception", "request body is required")
                return None
            return parse_json(body)

        if not parts:
            if method not in ("GET", "HEAD"):
                return method_not_allowed(["GET", "HEAD"])
            return 200, {"name": "double-node-1", "cluster_name": "opensearch-double", "cluster_uuid": srv.cluster_uuid,
                         "version": {"distribution": "opensearch", "number": VERSION, "build_type": "tar",
                                     "build_hash": "0" * 40, "build_date": "2023-11-24T00:00:00Z",
                                     "build_snapshot": False, "lucene_version": "9.7.0",
                                     "minimum_wire_compatibility_version": "7.10.0",
                                     "minimum_index_compatibility_version": "7.0.0"},
                         "tagline": "The OpenSearch Project: https://opensearch.org/"}
        if parts[0] == "_cluster" and len(parts) >= 2 and parts[1] == "health":
            if method != "GET":
                return method_not_allowed(["GET"])
            with store.lock:
                names = parts[2].split(",") if len(parts) > 2 else list(store.indices)
                for n in names:
                    if n not in store.indices:
                        raise index_not_found(n)
                yellow = any(store.indices[n].replicas() > 0 for n in names)
                shards = len(names)
            return 200, {"cluster_name": "opensearch-double", "status": "yellow" if yellow else "green",
                         "timed_out": False, "number_of_nodes": 1, "number_of_data_nodes": 1,
                         "discovered_master": True, "discovered_cluster_manager": True,
                         "active_primary_shards": shards, "active_shards": shards, "relocating_shards": 0,
                         "initializing_shards": 0,
                         "unassigned_shards": sum(store.indices[n].replicas() for n in names),
                         "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0,
                         "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
                         "active_shards_percent_as_number": 100.0 if not yellow else 50.0}
        if parts[0] == "_bulk":
            if method not in ("POST", "PUT"):
                return method_not_allowed(["POST", "PUT"])
            srv.bump("bulk")
            return 200, bulk(store, body, None, params)
        if parts[0] == "_search":
            raise bad("illegal_argument_exception", "searching all indices is not supported by this test double")
        if parts[0].startswith("_"):
            return 400, {"error": "no handler found for uri [%s] and method [%s]" % (self.path, method), "status": 400}

        name = parts[0]
        if len(parts) == 1:
            if method == "PUT":
                b = jbody() or {}
                return 200, store.create(name, b)
            with store.lock:
                if method == "HEAD":
                    return (200 if name in store.indices else 404), None
                idx = store.get(name)
                if method == "GET":
                    return 200, {name: {"aliases": {}, "mappings": idx.mappings,
                                        "settings": {"index": dict(
                                            {"number_of_shards": "1", "number_of_replicas": str(idx.replicas()),
                                             "uuid": idx.uuid, "provided_name": name,
                                             "creation_date": str(idx.created),
                                             "version": {"created": "136327827"}},
                                            **{k: v for k, v in idx.settings.items()
                                               if k not in ("number_of_shards", "number_of_replicas")})}}}
                if method == "DELETE":
                    del store.indices[name]
                    return 200, {"acknowledged": True}
            return method_not_allowed(["GET", "HEAD", "PUT", "DELETE"])

        op = parts[1]
        if op == "_mapping":
            if method != "GET":
                return method_not_allowed(["GET"])
            with store.lock:
                return 200, {name: {"mappings": store.get(name).mappings}}
        if op == "_refresh":
            if method not in ("POST", "GET"):
                return method_not_allowed(["GET", "POST"])
            with store.lock:
                store.get(name)
            return 200, {"_shards": {"total": 2, "successful": 1, "failed": 0}}
        if op == "_bulk":
            if method not in ("POST", "PUT"):
                return method_not_allowed(["POST", "PUT"])
            check_index_name(name)
            srv.bump("bulk")
            return 200, bulk(store, body, name, params)
        if op in ("_search", "_count"):
            if method not in ("GET", "POST"):
                return method_not_allowed(["GET", "POST"])
            srv.bump("search")
            b = jbody() or {}
            with store.lock:
                idx = store.get(name)
                if op == "_count":
                    if not isinstance(b, dict) or any(k != "query" for k in b):
                        raise bad("parsing_exception", "request does not support [%s]"
                                  % (list(b)[0] if isinstance(b, dict) and b else "body"), line=1, col=1)
                    r = run_search(idx, {"query": b.get("query", {"match_all": {}}), "size": 0,
                                         "track_total_hits": True}, {})
                    return 200, {"count": r["hits"]["total"]["value"],
                                 "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}}
                return 200, run_search(idx, b, params)
        if op in ("_doc", "_create") and len(parts) in (2, 3):
            doc_id = parts[2] if len(parts) == 3 else None
            with store.lock:
                if method in ("PUT", "POST") and (doc_id or (op == "_doc" and method == "POST")):
                    src = jbody(required=True)
                    idx = store.auto_create(name)
                    wop = "create" if op == "_create" or params.get("op_type") == "create" else "index"
                    status, item = store.write(idx, wop, doc_id, src)
                    return status, item
                if op == "_doc" and doc_id and method in ("GET", "HEAD"):
                    idx = store.get(name)
                    d = idx.docs.get(doc_id)
                    if d is None:
                        return 404, {"_index": name, "_id": doc_id, "found": False}
                    return 200, {"_index": name, "_id": doc_id, "_version": d["version"], "_seq_no": 0,
                                 "_primary_term": 1, "found": True, "_source": d["source"]}
                if op == "_doc" and doc_id and method == "DELETE":
                    idx = store.get(name)
                    return store.write(idx, "delete", doc_id, None)
            return method_not_allowed(["GET", "PUT", "POST", "DELETE"])
        if op == "_update" and len(parts) == 3:
            if method != "POST":
                return method_not_allowed(["POST"])
            with store.lock:
                idx = store.get(name)
                return store.write(idx, "update", parts[2], jbody(required=True))
        return 400, {"error": "no handler found for uri [%s] and method [%s]" % (self.path, method), "status": 400}


class DoubleServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr):
        super().__init__(addr, Handler)
        self.store = Store()
        self.ctl_lock = threading.Lock()
        self.mode = os.environ.get("OPENSEARCH_DOUBLE_FAIL", "ok") or "ok"
        self.count = None
        self.delay_ms = 2000
        self.counters = {}
        self.auth = os.environ.get("OPENSEARCH_DOUBLE_AUTH") or None
        self.cluster_uuid = base64.urlsafe_b64encode(uuid.uuid4().bytes)[:22].decode()

    def bump(self, name):
        with self.ctl_lock:
            self.counters[name] = self.counters.get(name, 0) + 1

    def take_fault(self):
        with self.ctl_lock:
            mode = self.mode
            if mode != "ok" and self.count is not None:
                self.count -= 1
                if self.count <= 0:
                    self.mode, self.count = "ok", None
            if mode != "ok":
                self.counters["faults"] = self.counters.get("faults", 0) + 1
            return mode, self.delay_ms


def main():
    ap = argparse.ArgumentParser(description="in-memory OpenSearch test double")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the bound port here once listening")
    a = ap.parse_args()
    srv = DoubleServer((a.host, a.port))
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, a.port_file)
    sys.stderr.write("opensearch-double listening on http://%s:%d\n" % (a.host, port))
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
