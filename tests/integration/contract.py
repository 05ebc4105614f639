"""Checks every answer the integration tests receive against the api's OpenAPI
document (services/api/openapi.json), with an independent JSON Schema
validator (python3-jsonschema, Draft 2020-12: the dialect of OpenAPI 3.1).

For an answer to METHOD PATH with STATUS it finds the operation (the path
template matching PATH, the method; HEAD falls back to GET), the response (the
status, else its range "4XX", else "default"), the media type (the
Content-Type without parameters), and validates a JSON body against that
media type's schema. An answer with no operation (an unknown path, a method the
path does not have) must be the 404 / 405 problem the document promises for
them. Every 4xx/5xx answer must be application/problem+json unless its
documented response names another media type, and a problem's "status" must be
the HTTP status. Required response headers must be present.

check() raises ContractError naming the method, path, status and what did not
match. IMGCAP_TEST_CONTRACT selects what happens: "1" (default) raises, "report"
only appends the mismatch to the file IMGCAP_TEST_CONTRACT_LOG (one JSON line
each; to count mismatches over a whole run), "0" checks nothing.
"""
import json
import os
import re
import sys
import threading
import unittest

import jsonschema

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC_PATH = os.path.join(ROOT, "services", "api", "openapi.json")
MODE = os.environ.get("IMGCAP_TEST_CONTRACT", "1")
REPORT_LOG = os.environ.get("IMGCAP_TEST_CONTRACT_LOG", "")
PROBLEM = "application/problem+json"


class ContractError(AssertionError):
    pass


# RFC 3339 date-time (the "date-time" format): jsonschema checks it only with
# an optional package Debian does not install, so it is checked here.
RFC3339 = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:"
                     r"([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$")
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time")
def _date_time(value):
    return not isinstance(value, str) or RFC3339.match(value) is not None


def _media_type(content_type):
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_json(media_type):
    return media_type == "application/json" or media_type.endswith("+json")


def _nullable_to_31(schema):
    """An OpenAPI 3.0 schema's `nullable: true` as the 3.1 (JSON Schema) type
    list; a 3.1 document has none, this keeps the checker right for either."""
    if isinstance(schema, dict):
        out = {k: _nullable_to_31(v) for k, v in schema.items() if k != "nullable"}
        if schema.get("nullable") is True:
            t = out.get("type")
            if isinstance(t, str):
                out["type"] = [t, "null"]
            elif isinstance(t, list) and "null" not in t:
                out["type"] = t + ["null"]
            elif "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
                out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(schema, list):
        return [_nullable_to_31(v) for v in schema]
    return schema


# Problems may carry extension members (RFC 9457, 3.2): their schemas stay
# open. Every other object schema is closed, so that a member the document does
# not declare is reported (an answer grown without its contract).
OPEN_SCHEMAS = ("Problem", "ImageFailed")


def _closed(schema):
    """schema with additionalProperties: false on every object that declares
    its properties and says nothing about others (not through $ref)."""
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (_closed(v) if k in ("properties", "items", "anyOf", "oneOf", "allOf",
                                   "prefixItems") else v) for k, v in schema.items()}
    if "properties" in out:
        out["properties"] = {k: _closed(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in out and "unevaluatedProperties" not in out:
            out["additionalProperties"] = False
    return out


def _rewrite_refs(node):
    """'#/components/schemas/X' -> '#/$defs/X', so a response schema can be
    validated on its own with the components beside it as $defs."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/components/schemas/"):
                out[k] = "#/$defs/" + v[len("#/components/schemas/"):]
            else:
                out[k] = _rewrite_refs(v)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


class Contract:
    def __init__(self, path=DOC_PATH):
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)
        if self.doc.get("openapi", "").startswith("3.0"):
            self.doc = _nullable_to_31(self.doc)
        schemas = self.doc.get("components", {}).get("schemas", {})
        self.defs = _rewrite_refs({name: schema if name in OPEN_SCHEMAS else _closed(schema)
                                   for name, schema in schemas.items()})
        jsonschema.Draft202012Validator.check_schema({"$defs": self.defs})
        self.templates = []
        for template, item in self.doc["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            self.templates.append((re.compile(pattern), template, item))
        self.validators = {}
        self.lock = threading.Lock()

    def _resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ContractError("unsupported $ref %s" % ref)
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _validator(self, schema):
        key = json.dumps(schema, sort_keys=True)
        with self.lock:
            v = self.validators.get(key)
            if v is None:
                root = dict(_rewrite_refs(schema))
                root["$defs"] = self.defs
                v = jsonschema.Draft202012Validator(
                    root, format_checker=FORMATS)
                self.validators[key] = v
            return v

    @staticmethod
    def _normalize(path):
        """The path the api routes on: no query, empty segments skipped."""
        p = path.split("?", 1)[0].split("#", 1)[0]
        segments = [s for s in p.split("/") if s]
        return "/" + "/".join(segments)

    def operation(self, method, path):
        """(template, operation or None, path item or None)."""
        norm = self._normalize(path)
        for pattern, template, item in self.templates:
            if pattern.match(norm):
                op = item.get(method.lower())
                if op is None and method.upper() == "HEAD":
                    op = item.get("get")
                return template, op, item
        return None, None, None

    def _response(self, op, status):
        responses = op.get("responses", {})
        for key in (str(status), "%dXX" % (status // 100), "%dxx" % (status // 100), "default"):
            if key in responses:
                return self._resolve(responses[key])
        return None

    def mismatches(self, method, path, status, headers, body):
        """The list of ways this answer departs from the document (empty: none)."""
        out = []
        hdr = {k.lower(): v for k, v in headers}
        media = _media_type(hdr.get("content-type"))
        head = method.upper() == "HEAD"
        template, op, item = self.operation(method, path)
        if op is None:
            # No operation: the document promises 404 (unknown path) and 405
            # with Allow (a path without this method), both problems.
            want = 404 if template is None else 405
            if status != want:
                out.append("no operation for %s %s, and the answer is %d, not %d"
                           % (method, template or self._normalize(path), status, want))
            response = {"content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        else:
            response = self._response(op, status)
            if response is None:
                out.append("status %d is not documented for %s %s (documented: %s)"
                           % (status, method, template, ", ".join(sorted(op.get("responses", {})))))
                return out
        content = response.get("content")
        if status >= 400 and media != PROBLEM and not (content and media in content):
            out.append("a %d answer is %r, not %s" % (status, media or "(no Content-Type)",
                                                      PROBLEM))
        for name, h in (response.get("headers") or {}).items():
            h = self._resolve(h)
            value = hdr.get(name.lower())
            if value is None:
                if h.get("required"):
                    out.append("required header %s is missing" % name)
                continue
            if (h.get("schema") or {}).get("type") == "integer" and not re.match(r"^\d+$", value):
                out.append("header %s: %r is not an integer" % (name, value))
        if not content:
            if body and not head:
                out.append("the document describes no body, and %d bytes came" % len(body))
            return out
        if media not in content:
            if body or media:
                out.append("Content-Type %r is not one of the documented %s"
                           % (media or "(none)", ", ".join(content)))
            return out
        if head or not _is_json(media):
            return out
        schema = content[media].get("schema")
        try:
            doc = json.loads(body)
        except ValueError as e:
            out.append("the %s body is not JSON: %s" % (media, e))
            return out
        if schema is not None:
            v = self._validator(schema)
            for err in sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))[:5]:
                where = "/".join(str(p) for p in err.absolute_path) or "(root)"
                out.append("body at %s: %s" % (where, err.message[:300]))
        if media == PROBLEM and isinstance(doc, dict) and doc.get("status") != status:
            out.append("the problem's status %r is not the HTTP status %d"
                       % (doc.get("status"), status))
        return out


_contract = None
_contract_lock = threading.Lock()
_report_lock = threading.Lock()


def contract():
    global _contract
    with _contract_lock:
        if _contract is None:
            _contract = Contract()
        return _contract


def _current_test():
    """The id of the test whose code made this request, if it is on the stack."""
    frame = sys._getframe(1)
    while frame is not None:
        obj = frame.f_locals.get("self")
        if isinstance(obj, unittest.TestCase):
            return obj.id()
        frame = frame.f_back
    return threading.current_thread().name


def check(method, path, status, headers, body):
    """Checks one answer (headers: (name, value) pairs). Raises ContractError
    (or, with IMGCAP_TEST_CONTRACT=report, logs) when it departs from the
    document; returns the list of mismatches."""
    if MODE == "0":
        return []
    found = contract().mismatches(method, path, status, headers, body)
    if not found:
        return found
    msg = "%s %s -> %d does not match services/api/openapi.json:\n  %s" % (
        method, path[:300], status, "\n  ".join(found))
    if MODE == "report":
        if REPORT_LOG:
            with _report_lock, open(REPORT_LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps({"method": method, "path": path[:300], "status": status,
                                    "mismatches": found,
                                    "test": _current_test()}) + "\n")
        return found
    raise ContractError(msg)


# The schema of each event type's data line of GET /api/events.
EVENT_SCHEMAS = {"stored": "StoredEvent", "failed": "FailedEvent", "deleted": "DeletedEvent"}


def check_event(event, data):
    """Checks the decoded data of one `event: <event>` of the stream against
    its schema in the document, like check() an answer."""
    if MODE == "0":
        return []
    name = EVENT_SCHEMAS.get(event)
    if name is None:
        found = ["event type %r is not one the document describes" % event]
    else:
        v = contract()._validator({"$ref": "#/components/schemas/" + name})
        found = ["data at %s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(root)",
                                     e.message[:300]) for e in v.iter_errors(data)]
    if not found:
        return found
    msg = "event: %s of GET /api/events does not match services/api/openapi.json:\n  %s" % (
        event, "\n  ".join(found))
    if MODE == "report":
        if REPORT_LOG:
            with _report_lock, open(REPORT_LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps({"event": event, "mismatches": found,
                                    "test": _current_test()}) + "\n")
        return found
    raise ContractError(msg)
