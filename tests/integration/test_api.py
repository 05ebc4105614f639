"""Integration tests of imgcap-api against real redis-server and PostgreSQL
(docs/api.md, every row of the route table).

Each class starts one private Stack for its tests; nothing is mocked.
"""
import json
import os
import re
import socket
import subprocess
import threading
import time
import unittest
import uuid

from harness import (BIN_DIR, ROOT, Stack, StackTestCase, decode_jpeg, multipart, read_data,
                     wait_until)

CAPTION = "С начала фазы запрещающего сигнала прошло: 7 секунд"
JPEG = read_data("camera_640x480_progressive.jpg")


def is_problem(test, r, status):
    """Asserts r is an RFC 9457 problem with this status; returns the document."""
    test.assertEqual(r.status, status, r.body[:500])
    test.assertEqual(r.header("Content-Type"), "application/problem+json")
    doc = r.json()
    for key in ("type", "title", "status", "detail"):
        test.assertIn(key, doc)
    test.assertEqual(doc["status"], status)
    return doc


def raw_post(stack, body, content_type, extra_headers=None):
    headers = {"Content-Type": content_type} if content_type else {}
    headers.update(extra_headers or {})
    return stack.request("POST", "/api/images", body=body, headers=headers)


class UploadValidation(StackTestCase):
    """Malformed uploads get exactly the documented code and a problem body,
    and the API still accepts the next good upload. Only the api runs: the
    uploads stay queued."""

    STACK_SERVICES = ("api",)
    STACK_ENV = {"MAX_UPLOAD_BYTES": "200000"}

    def assert_still_accepts(self):
        r = self.stack.upload(JPEG, "still fine")
        self.assertEqual(r.status, 202, r.body)

    def check(self, r, status, field=None):
        doc = is_problem(self, r, status)
        if field is not None:
            self.assertIn(field, [e["field"] for e in doc.get("errors", [])], doc)
        self.assert_still_accepts()
        return doc

    def test_good_upload(self):
        r = self.stack.upload(JPEG, CAPTION)
        self.assertEqual(r.status, 202, r.body)
        doc = r.json()
        self.assertEqual(set(doc), {"id", "status", "received_at", "description", "camera"})
        self.assertIsNone(doc["camera"])
        self.assertEqual(doc["status"], "queued")
        self.assertEqual(doc["description"], CAPTION)
        self.assertEqual(uuid.UUID(doc["id"]).version, 7)
        self.assertRegex(doc["received_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(r.header("Location"), "/api/images/" + doc["id"])
        self.assertEqual(r.header("Content-Type"), "application/json")
        # The message really is in Redis, in the wire format, before the 202.
        self.assertEqual(self.stack.redis("HGET", "imgcap:status:" + doc["id"], "stage"), b"queued")
        payload = self.stack.redis("GET", "imgcap:msg:render:" + doc["id"])
        self.assertTrue(payload.startswith(b"IMGCAP1\n"))
        self.assertTrue(payload.endswith(JPEG))

    def test_not_multipart(self):
        self.check(raw_post(self.stack, JPEG, "image/jpeg"), 415)
        self.check(raw_post(self.stack, b"image=x&description=y",
                            "application/x-www-form-urlencoded"), 415)
        self.check(raw_post(self.stack, JPEG, None), 415)
        self.check(raw_post(self.stack, JPEG, "multipart/form-data"), 415)

    def test_image_not_jpeg(self):
        r = self.stack.upload(read_data("not_a_jpeg.jpg"), "x")
        self.check(r, 415, "image")
        r = self.stack.upload(b"\xff\xd8", "two bytes")
        self.check(r, 415, "image")

    def test_missing_and_empty_parts(self):
        self.check(self.stack.upload(None, "no image"), 422, "image")
        self.check(self.stack.upload(JPEG, None), 422, "description")
        self.check(self.stack.upload(b"", "empty image"), 422, "image")
        self.check(self.stack.upload(JPEG, ""), 422, "description")
        doc = self.check(self.stack.upload(None, None), 422)
        self.assertEqual(sorted(e["field"] for e in doc["errors"]), ["description", "image"])

    def test_repeated_part(self):
        body, ctype = multipart([("image", JPEG, "a.jpg", "image/jpeg"),
                                 ("image", JPEG, "b.jpg", "image/jpeg"),
                                 ("description", b"twice", None, None)])
        self.check(raw_post(self.stack, body, ctype), 422, "image")

    def test_description_length_in_code_points(self):
        r = self.stack.upload(JPEG, "Ж" * 200)  # 400 bytes, 200 code points
        self.assertEqual(r.status, 202, r.body)
        self.assertEqual(r.json()["description"], "Ж" * 200)
        self.check(self.stack.upload(JPEG, "Ж" * 201), 422, "description")
        self.check(self.stack.upload(JPEG, "a" * 201), 422, "description")
        self.assertEqual(self.stack.upload(JPEG, "\U0001F6A6" * 200).status, 202)

    def test_invalid_utf8(self):
        for raw in (b"a\xc0\x80z", b"\xed\xa0\x80", b"ok\xd0", b"\xe2\x82", b"\xff", b"a\x00b"):
            with self.subTest(raw=raw):
                self.check(self.stack.upload(JPEG, raw), 422, "description")

    def test_broken_multipart_framing(self):
        body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n" + JPEG)
        self.check(raw_post(self.stack, body, "multipart/form-data; boundary=XyZ"), 422, "body")
        self.check(raw_post(self.stack, b"garbage", "multipart/form-data; boundary=XyZ"), 422)

    def test_too_large(self):
        big = b"\xff\xd8\xff" + b"\0" * 200001
        self.check(self.stack.upload(big, "big"), 413)
        # Chunked: no Content-Length, the capped body decides.
        body, ctype = multipart([("image", big, "big.jpg", "image/jpeg"),
                                 ("description", b"big", None, None)])
        # An iterable body is sent with Transfer-Encoding: chunked.
        resp = self.stack.request(
            "POST", "/api/images",
            body=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
            headers={"Content-Type": ctype})
        self.assertEqual(resp.status, 413)
        self.assertEqual(resp.json()["status"], 413)
        self.assert_still_accepts()

    def test_pending_image(self):
        r = self.stack.upload(JPEG, "pending")
        image_id = r.json()["id"]
        r = self.stack.request("GET", "/api/images/" + image_id)
        self.assertEqual(r.status, 202)
        self.assertEqual(r.json(), {"id": image_id, "status": "queued"})
        self.assertEqual(r.header("Retry-After"), "1")
        # ?wait gives up after its time and still answers 202.
        r = self.stack.request("GET", "/api/images/%s?wait=1" % image_id)
        self.assertEqual(r.status, 202)

    def test_bad_ids_and_params(self):
        self.assertEqual(is_problem(self, self.stack.request("GET", "/api/images/" + str(uuid.uuid4())),
                                    404)["title"], "Not Found")
        for path, field in (("/api/images/not-a-uuid", "id"),
                            ("/api/images/%s?wait=31" % uuid.uuid4(), "wait"),
                            ("/api/images/%s?wait=x" % uuid.uuid4(), "wait"),
                            ("/api/images?limit=0", "limit"),
                            ("/api/images?limit=1001", "limit"),
                            ("/api/images?limit=abc", "limit"),
                            ("/api/images?before=nope", "before")):
            with self.subTest(path=path):
                doc = is_problem(self, self.stack.request("GET", path), 422)
                self.assertEqual(doc["errors"][0]["field"], field)

    def test_unknown_route_and_wrong_method(self):
        is_problem(self, self.stack.request("GET", "/nope"), 404)
        is_problem(self, self.stack.request("POST", "/api/nope", body=b"x"), 404)
        r = self.stack.request("DELETE", "/api/images")
        is_problem(self, r, 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD, POST")
        r = self.stack.request("POST", "/api/images/" + str(uuid.uuid4()), body=b"x")
        is_problem(self, r, 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD, DELETE")
        r = self.stack.request("PUT", "/health", body=b"x")
        is_problem(self, r, 405)

    def test_route_matching_by_segments(self):
        # The API routes by path segment (empty segments skipped, the id
        # segment %-decoded), as Ulfius's endpoint matching did.
        image_id = self.stack.upload(JPEG, "routes").json()["id"]
        encoded = "".join("%%%02X" % ord(ch) for ch in image_id[:8]) + image_id[8:]
        for path in ("/api/images/" + image_id, "//api//images/%s/" % image_id,
                     "/api/images/" + encoded, "/api/images/%s?wait=0" % image_id.upper()):
            with self.subTest(path=path):
                r = self.stack.request("GET", path)
                self.assertEqual(r.status, 202, r.body)
                self.assertEqual(r.json()["id"], image_id)
        for path in ("/api/images/%s/x" % image_id, "/api/imagesx", "/api", "/healthz",
                     "/api/openapi.json/x"):
            with self.subTest(path=path):
                is_problem(self, self.stack.request("GET", path), 404)
        for path in ("/health/", "//metrics", "/api/openapi.json", "/docs/", "/", "//"):
            with self.subTest(path=path):
                self.assertEqual(self.stack.request("GET", path).status, 200)
        doc = is_problem(self, self.stack.request("GET", "/api/images/" + "a" * 300), 422)
        self.assertEqual(doc["errors"][0]["field"], "id")
        line = "GET //api//images/%s/ 202" % image_id
        wait_until(lambda: line in self.stack.log("api"), 10, what="the access log line")

    def test_openapi_document(self):
        r = self.stack.request("GET", "/api/openapi.json")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        doc = r.json()
        with open(os.path.join(ROOT, "services", "api", "openapi.json"), "rb") as f:
            self.assertEqual(json.loads(f.read()), doc, "served document is the repo's")
        check_openapi_31(self, doc)


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError("external $ref " + ref)
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def check_openapi_31(test, doc):
    """The structural basics of OpenAPI 3.1 plus the routes of docs/api.md."""
    test.assertRegex(doc["openapi"], r"^3\.1\.\d+$")
    test.assertIn("title", doc["info"])
    test.assertIn("version", doc["info"])
    expected = {"/api/images": {"get", "post", "head"},
                "/api/images/{id}": {"get", "head"},
                "/health": {"get"}, "/api/openapi.json": {"get"}, "/docs": {"get"},
                "/metrics": {"get"}}
    for path, methods in expected.items():
        test.assertIn(path, doc["paths"])
        test.assertTrue(methods <= set(doc["paths"][path]), path)
    operation_ids = set()
    for path, item in doc["paths"].items():
        test.assertTrue(path.startswith("/"))
        templated = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            test.assertIn(method, {"get", "put", "post", "delete", "options", "head", "patch",
                                   "trace", "parameters", "summary", "description", "servers"})
            test.assertNotIn(op["operationId"], operation_ids)
            operation_ids.add(op["operationId"])
            test.assertTrue(op["responses"], (path, method))
            for code, resp in op["responses"].items():
                test.assertRegex(code, r"^([1-5]\d\d|[1-5]XX|default)$")
                test.assertIn("description", resolve(doc, resp))
                for media in resolve(doc, resp).get("content", {}).values():
                    resolve(doc, media.get("schema", {}))
            path_params = set()
            for p in op.get("parameters", []):
                p = resolve(doc, p)
                test.assertIn(p["in"], {"query", "header", "path", "cookie"})
                test.assertIn("schema", p)
                if p["in"] == "path":
                    test.assertTrue(p["required"])
                    path_params.add(p["name"])
            test.assertEqual(path_params, templated, (path, method))
    # Every error the table lists is documented where it can happen.
    post = doc["paths"]["/api/images"]["post"]
    for code in ("202", "413", "415", "422", "503"):
        test.assertIn(code, post["responses"])
    test.assertIn("multipart/form-data", post["requestBody"]["content"])
    get_image = doc["paths"]["/api/images/{id}"]["get"]
    for code in ("200", "202", "304", "404", "422"):
        test.assertIn(code, get_image["responses"])
    for code in ("200", "422", "503"):
        test.assertIn(code, doc["paths"]["/api/images"]["get"]["responses"])
    test.assertIn("503", doc["paths"]["/health"]["get"]["responses"])
    for schema in doc["components"]["schemas"].values():
        test.assertIn("type", schema)
    # RFC 9457: a problem's "status" is the HTTP status number, in every schema and
    # example of a problem answer (a failed image's once said "failed").
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for code, resp in op["responses"].items():
                media = resolve(doc, resp).get("content", {}).get("application/problem+json")
                if not media:
                    continue
                schema = resolve(doc, media["schema"])
                for alt in schema.get("oneOf") or schema.get("anyOf") or [schema]:
                    status = resolve(doc, alt)["properties"]["status"]
                    test.assertEqual(status["type"], "integer", (path, method, code))
                examples = [media["example"]] if "example" in media else []
                examples += [resolve(doc, e)["value"] for e in media.get("examples", {}).values()]
                for example in examples:
                    test.assertEqual(example["status"], int(code), (path, method, code))
    test.assertIn(CAPTION, json.dumps(doc, ensure_ascii=False))


class Pipeline(StackTestCase):
    """api + render + persist: upload, wait, fetch, cache, list."""

    def upload_and_wait(self, jpeg=JPEG, text=CAPTION):
        r = self.stack.upload(jpeg, text)
        self.assertEqual(r.status, 202, r.body)
        image_id = r.json()["id"]
        return image_id, self.stack.request("GET", "/api/images/%s?wait=10" % image_id)

    def test_upload_then_wait_returns_the_image(self):
        image_id, r = self.upload_and_wait()
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.header("Content-Type"), "image/jpeg")
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        w, h, _, _ = decode_jpeg(r.body)
        self.assertEqual(w, 640)
        self.assertGreater(h, 480)  # the caption band
        etag = r.header("ETag")
        self.assertEqual(etag, '"%s"' % image_id)
        self.assertEqual(r.header("Cache-Control"), "public, max-age=31536000, immutable")
        # The ?wait answer came through Ulfius; a plain GET now finds the
        # row cached and is answered by the ready response (sendfile): the
        # same bytes and headers.
        for _ in range(2):
            again = self.stack.request("GET", "/api/images/" + image_id)
            self.assertEqual(again.status, 200)
            self.assertEqual(again.body, r.body)
            for name in ("Content-Type", "Content-Length", "ETag", "Cache-Control"):
                self.assertEqual(again.header(name), r.header(name), name)

        head = self.stack.request("HEAD", "/api/images/" + image_id)
        self.assertEqual(head.status, 200)
        self.assertEqual(head.body, b"")
        self.assertEqual(head.header("Content-Length"), str(len(r.body)))
        self.assertEqual(head.header("ETag"), etag)

        for inm in (etag, "W/" + etag, '"other", ' + etag, "*"):
            with self.subTest(if_none_match=inm):
                nm = self.stack.request("GET", "/api/images/" + image_id,
                                        headers={"If-None-Match": inm})
                self.assertEqual(nm.status, 304)
                self.assertEqual(nm.body, b"")
                self.assertEqual(nm.header("ETag"), etag)
                self.assertEqual(nm.header("Cache-Control"), "public, max-age=31536000, immutable")
        other = self.stack.request("GET", "/api/images/" + image_id,
                                   headers={"If-None-Match": '"nope"'})
        self.assertEqual(other.status, 200)
        self.assertEqual(other.body, r.body)

    def head_then_get(self, path, headers=b""):
        """Sends HEAD path, then GET /health on the same kept-alive connection:
        returns (the HEAD's header block, every byte after it). A HEAD answer
        is its headers only, so the bytes after them are the GET's answer."""
        sock = socket.create_connection(("127.0.0.1", self.stack.api_port), timeout=30)
        try:
            sock.sendall(b"HEAD " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + headers +
                         b"\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                self.assertTrue(chunk, "connection closed inside the HEAD's headers")
                data += chunk
            head, rest = data.split(b"\r\n\r\n", 1)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        finally:
            sock.close()
        return head.decode("latin-1"), rest

    def test_head_sends_headers_only_on_every_route(self):
        image_id, r = self.upload_and_wait()
        self.assertEqual(r.status, 200)
        self.stack.request("GET", "/api/images/%s/thumbnail?wait=10" % image_id)
        pending = self.stack.upload(JPEG, "pending").json()["id"]
        self.stack.stop_service("render")  # keeps `pending` pending
        try:
            cases = [("/", b""), ("/docs", b""), ("/health", b""), ("/metrics", b""),
                     ("/api/openapi.json", b""), ("/api/images", b""), ("/api/events", b""),
                     ("/assets/gallery.js", b""), ("/assets/swagger-ui/swagger-ui.css", b""),
                     ("/api/images/" + image_id, b""),
                     ("/api/images/%s/thumbnail" % image_id, b""),
                     ("/api/images/" + image_id, b'If-None-Match: "%s"\r\n' % image_id.encode()),
                     ("/api/images/" + str(uuid.uuid4()), b""), ("/api/images?limit=0", b""),
                     ("/nope", b"")]
            if self.stack.psql("SELECT count(*) FROM images WHERE id = '%s'" % pending) == "0":
                cases.append(("/api/images/" + pending, b""))
            for path, headers in cases:
                with self.subTest(path=path, headers=headers):
                    head, rest = self.head_then_get(path, headers)
                    self.assertRegex(head, r"^HTTP/1\.1 [0-9]{3} ")
                    self.assertNotIn("transfer-encoding", head.lower())
                    self.assertTrue(rest.startswith(b"HTTP/1.1 200 "),
                                    "after the HEAD's headers: %r" % rest[:60])
            head, _ = self.head_then_get("/api/events")
            self.assertIn("content-type: text/event-stream", head.lower())
        finally:
            self.stack.start_service("render")
            # The class's other tests expect a live render consumer.
            wait_until(lambda: self.stack.request("GET", "/health").json()["workers"]["render"],
                       30, what="render's heartbeat")

    def test_encoded_nul_is_refused(self):
        image_id, r = self.upload_and_wait()
        self.assertEqual(r.status, 200)
        # Without the NUL check each of these read as the part before %00.
        for path in ("/api/images/%s%%00garbage" % image_id,
                     "/api/images/%s%%00/thumbnail" % image_id,
                     "/assets/gallery.js%00.map", "/api%00/images"):
            with self.subTest(path=path):
                doc = is_problem(self, self.stack.request("GET", path), 404)
                self.assertIn("NUL", doc["detail"])
        for path, field in (("/api/images?limit=1%00abc", "limit"),
                            ("/api/images?q=ab%00c", "q"),
                            ("/api/images?limit=5&camera=gate%00", "camera"),
                            ("/api/images/%s?wait=1%%00x" % image_id, "wait"),
                            ("/api/images?li%00mit=5", "li%00mit")):
            with self.subTest(path=path):
                doc = is_problem(self, self.stack.request("GET", path), 422)
                self.assertEqual(doc["errors"][0]["field"], field)
                self.assertIn("NUL", doc["errors"][0]["message"])
        # "%2500" is the text "%00", not a NUL: an ordinary value.
        r = self.stack.request("GET", "/api/images?q=%2500")
        self.assertEqual(r.status, 200, r.body)

    def test_stored_path_escaping_storage_dir_is_refused(self):
        for path in ("../../../../etc/passwd", "/etc/passwd", "2026/01/01/missing.jpg"):
            with self.subTest(path=path):
                # Sorts below every UUIDv7, so list pages in other tests never see it.
                image_id = "00000000-0000-4000-8000-%s" % uuid.uuid4().hex[:12]
                self.stack.psql("INSERT INTO images (id, received_at, description, path, bytes) "
                                "VALUES ('%s', now(), 'evil', '%s', 10)" % (image_id, path))
                r = self.stack.request("GET", "/api/images/" + image_id)
                doc = is_problem(self, r, 500)
                self.assertNotIn("root:", r.body.decode())
                self.assertNotIn("passwd", doc["detail"])
        self.assertIn("escapes STORAGE_DIR", self.stack.log("api"))

    def test_vanished_file_is_not_served_from_the_cache(self):
        image_id, r = self.upload_and_wait(JPEG, "to be removed")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.stack.request("GET", "/api/images/" + image_id).status, 200)
        rel = self.stack.psql("SELECT path FROM images WHERE id = '%s'" % image_id)
        os.unlink(os.path.join(self.stack.storage_dir, rel))
        is_problem(self, self.stack.request("GET", "/api/images/" + image_id), 500)
        self.assertIn("id=%s cached file is gone" % image_id, self.stack.log("api"))
        # Conditional requests need no file: still 304.
        r = self.stack.request("GET", "/api/images/" + image_id,
                               headers={"If-None-Match": '"%s"' % image_id})
        self.assertEqual(r.status, 304)

    def test_deleted_file_is_not_held_open_by_a_ready_response(self):
        # A ready response (images.h) holds its file open, and an open file
        # keeps its disk space after the janitor or another api deleted it.
        # The guard's periodic sweep must close it although no read asks for
        # the image again.
        image_id, r = self.upload_and_wait(JPEG, "held then deleted")
        self.assertEqual(r.status, 200)
        rel = self.stack.psql("SELECT path FROM images WHERE id = '%s'" % image_id)
        path = os.path.realpath(os.path.join(self.stack.storage_dir, rel))
        fd_dir = "/proc/%d/fd" % self.stack.procs["api"].pid

        def held():
            n = 0
            for fd in os.listdir(fd_dir):
                try:
                    target = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    continue  # closed while listed
                n += target in (path, path + " (deleted)")
            return n

        # The first read resolves the path; the next ones open the ready response.
        for _ in range(3):
            self.assertEqual(self.stack.request("GET", "/api/images/" + image_id).body, r.body)
        self.assertGreater(held(), 0, "the ready response holds the file open")
        os.unlink(path)  # as the janitor does: the file only, the api is not told
        wait_until(lambda: held() == 0, 10, what="the api to close the deleted file")

    def test_replaced_file_is_not_served_from_memory(self):
        # The second GET is answered from the in-memory copy; a file replaced
        # under the same name (another inode) must be read again.
        image_id, r = self.upload_and_wait(JPEG, "to be replaced")
        self.assertEqual(r.status, 200)
        self.assertEqual(self.stack.request("GET", "/api/images/" + image_id).body, r.body)
        rel = self.stack.psql("SELECT path FROM images WHERE id = '%s'" % image_id)
        path = os.path.join(self.stack.storage_dir, rel)
        other = bytearray(r.body)
        other[-3] ^= 1  # same size, another byte before EOI
        with open(path + ".new", "wb") as f:
            f.write(other)
        os.rename(path + ".new", path)
        again = self.stack.request("GET", "/api/images/" + image_id)
        self.assertEqual(again.status, 200)
        self.assertEqual(again.body, bytes(other))
        self.assertIn("id=%s cached file is gone" % image_id, self.stack.log("api"))
        head = self.stack.request("HEAD", "/api/images/" + image_id)
        self.assertEqual(head.status, 200)
        self.assertEqual(head.header("Content-Length"), str(len(r.body)))

    def test_failed_image_is_422_with_reason(self):
        image_id, r = self.upload_and_wait(read_data("truncated.jpg"), "broken")
        # A problem like any other: "status" is the HTTP status number (it was the
        # pipeline's "failed", which generic RFC 9457 clients cannot read).
        doc = is_problem(self, r, 422)
        self.assertEqual(doc["type"], "urn:imgcap:problem:image-failed")
        self.assertEqual(doc["state"], "failed")
        self.assertEqual(doc["id"], image_id)
        self.assertIn("Premature end of JPEG file", doc["reason"])
        self.assertIn(doc["reason"], doc["detail"])

    def test_keyset_pages(self):
        ids = []
        for i in range(5):
            r = self.stack.upload(JPEG, "page %d" % i)
            self.assertEqual(r.status, 202)
            ids.append(r.json()["id"])
        self.stack.wait_stored(ids)
        seen, url, pages = [], "/api/images?limit=2", 0
        while url is not None:
            r = self.stack.request("GET", url)
            self.assertEqual(r.status, 200, r.body)
            doc = r.json()
            self.assertLessEqual(len(doc["items"]), 2)
            for item in doc["items"]:
                self.assertEqual(set(item), {"id", "received_at", "description", "camera", "url",
                                             "thumbnail_url"})
                self.assertEqual(item["url"], "/api/images/" + item["id"])
                self.assertIsNone(item["camera"])
            seen += [item["id"] for item in doc["items"]]
            if doc["next"] is not None:
                self.assertEqual(r.header("Link"), '<%s>; rel="next"' % doc["next"])
            else:
                self.assertIsNone(r.header("Link"))
            url = doc["next"]
            pages += 1
            self.assertLess(pages, 100)
        self.assertEqual(seen, sorted(seen, reverse=True), "newest first")
        self.assertEqual(len(seen), len(set(seen)), "no duplicates across pages")
        self.assertEqual(seen[:5], list(reversed(ids)), "the 5 newest uploads lead")
        first = self.stack.request("GET", "/api/images?limit=1").json()
        self.assertEqual(first["items"][0]["description"], "page 4")
        self.assertRegex(first["items"][0]["received_at"], r"\.\d{3}Z$")

    def test_health(self):
        r = self.stack.request("GET", "/health")
        self.assertEqual(r.status, 200, r.body)
        doc = r.json()
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(doc["redis"], "ok")
        self.assertEqual(doc["postgres"], "ok")
        for q in ("render", "persist"):
            self.assertEqual(set(doc["queues"][q]), {"waiting", "in_flight", "dead"})
            self.assertGreaterEqual(doc["workers"][q], 1)

    def test_metrics(self):
        image_id, r = self.upload_and_wait()
        self.assertEqual(r.status, 200)
        text = self.stack.request("GET", "/metrics").body.decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        self.assertGreaterEqual(values["imgcap_uploads_accepted_total"], 1)
        self.assertGreaterEqual(values["imgcap_images_stored_total"], 1)
        self.assertIn("imgcap_images_failed_total", values)
        self.assertGreaterEqual(values['imgcap_http_requests_total{route="/api/images",'
                                       'method="POST",status="202"}'], 1)
        self.assertGreaterEqual(values['imgcap_http_request_duration_seconds_count'
                                       '{route="/api/images/{id}"}'], 1)
        self.assertIn('imgcap_queue_waiting{queue="render"}', values)
        self.assertIn('imgcap_queue_waiting{queue="persist"}', values)
        self.assertGreaterEqual(values['imgcap_queue_consumers{queue="render"}'], 1)
        self.assertGreaterEqual(values["imgcap_pipeline_latency_seconds_count"], 1)
        self.assertEqual(values["imgcap_events_subscribed"], 1)
        # The image fetched above is held in memory.
        self.assertGreaterEqual(values["imgcap_api_cached_images"], 1)
        self.assertGreaterEqual(values["imgcap_api_cached_bytes"], len(r.body))


class Backpressure(unittest.TestCase):
    def test_queue_full_is_503(self):
        with Stack(services=("api",), env={"QUEUE_MAX_DEPTH": "2"}) as s:
            self.assertEqual(s.upload(JPEG, "1").status, 202)
            self.assertEqual(s.upload(JPEG, "2").status, 202)
            r = s.upload(JPEG, "3")
            doc = is_problem(self, r, 503)
            self.assertEqual(doc["type"], "urn:imgcap:problem:queue-full")
            self.assertTrue(r.header("Retry-After"))
            self.assertEqual(s.redis("LLEN", "imgcap:q:render"), 2)


def retry_503(call, attempts=20):
    """Repeats call while it answers 503, sleeping as Retry-After says."""
    for _ in range(attempts):
        r = call()
        if r.status != 503:
            return r
        time.sleep(min(float(r.header("Retry-After") or 1), 1.0) / 4)
    return r


def run_check(stack):
    """imgcap-api --check (the Docker healthcheck) against the stack's api."""
    env = dict(os.environ)
    env.update(stack.env)
    return subprocess.run([os.path.join(BIN_DIR, "imgcap-api"), "--check"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)


class DependenciesDown(unittest.TestCase):
    def test_redis_down_then_back(self):
        with Stack(services=("api",)) as s:
            self.assertEqual(s.upload(JPEG, "before").status, 202)
            check = run_check(s)
            self.assertEqual(check.returncode, 0, check.stdout)
            self.assertTrue(check.stdout.startswith("200 "), check.stdout)
            s.stop_redis()
            check = run_check(s)
            self.assertEqual(check.returncode, 1, check.stdout)
            self.assertTrue(check.stdout.startswith("503 "), check.stdout)
            r = s.upload(JPEG, "while down")
            doc = is_problem(self, r, 503)
            self.assertTrue(r.header("Retry-After"))
            self.assertEqual(doc["type"], "urn:imgcap:problem:dependency-unavailable")
            h = s.request("GET", "/health")
            self.assertEqual(h.status, 503)
            body = h.json()
            self.assertEqual((body["status"], body["redis"], body["postgres"]),
                             ("unavailable", "down", "ok"))
            self.assertIn("queues", body)
            self.assertIn("workers", body)
            # Reads that need only PostgreSQL keep working.
            self.assertEqual(s.request("GET", "/api/images").status, 200)
            # The API also starts while Redis is down, instead of crash-looping.
            self.assertEqual(s.stop_service("api"), 0)
            s.start_service("api")
            self.assertEqual(s.request("GET", "/health").status, 503)
            is_problem(self, s.upload(JPEG, "still down"), 503)
            s.start_redis()
            # A thread that saw Redis refuse waits a second before it reconnects
            # (server.h): clients that honour Retry-After get through.
            r = retry_503(lambda: s.upload(JPEG, "after"))
            self.assertEqual(r.status, 202, r.body)
            self.assertEqual(retry_503(lambda: s.request("GET", "/health")).status, 200)

    def test_postgres_down_then_back(self):
        with Stack(services=("api",)) as s:
            self.assertEqual(s.request("GET", "/api/images").status, 200)
            s.stop_pg_server()
            # Another limit than the page just cached (the list's cache may
            # answer that one for up to a second): this one needs PostgreSQL.
            r = s.request("GET", "/api/images?limit=7")
            is_problem(self, r, 503)
            h = s.request("GET", "/health")
            self.assertEqual(h.status, 503)
            self.assertEqual(h.json()["postgres"], "down")
            # Uploads need only Redis.
            self.assertEqual(s.upload(JPEG, "db down").status, 202)
            s.start_pg_server()
            ok = retry_503(lambda: s.request("GET", "/api/images"))
            self.assertEqual(ok.status, 200, ok.body)


class Shutdown(unittest.TestCase):
    def test_sigterm_releases_held_waits_and_exits_0(self):
        with Stack(services=("api",)) as s:
            image_id = s.upload(JPEG, "never rendered").json()["id"]
            result = {}

            def hold():
                try:
                    result["r"] = s.request("GET", "/api/images/%s?wait=30" % image_id, timeout=60)
                except OSError as e:
                    result["error"] = e
            t = threading.Thread(target=hold)
            t.start()

            def waiters():
                text = s.request("GET", "/metrics").body.decode()
                return re.search(r"^imgcap_api_waiters 1$", text, re.M)
            wait_until(waiters, 20, what="the request to be held")
            self.assertEqual(s.stop_service("api"), 0)
            t.join(60)
            self.assertFalse(t.is_alive())
            self.assertNotIn("error", result)
            self.assertEqual(result["r"].status, 202)
            self.assertEqual(result["r"].json()["status"], "queued")


class AccessLog(unittest.TestCase):
    """One line per request, written in batches (services/api/accesslog.h)."""

    def access_lines(self, s, path):
        with open(os.path.join(s.log_dir, path), errors="replace") as f:
            return [line for line in f.read().splitlines() if " INFO api[" in line and
                    " http: " in line]

    def test_every_request_is_logged_and_a_stop_writes_the_rest(self):
        with Stack(services=("api",)) as s:
            image_id = s.upload(JPEG, "logged").json()["id"]
            for i in range(200):
                s.request("GET", "/api/images/%s?n=%d" % (image_id, i))
            s.request("GET", "/api/images?limit=0")
            s.upload(read_data("not_a_jpeg.jpg"), "what is this")
            s.request("GET", "/nope%0aforged")
            wait_until(lambda: any("/nope" in x for x in self.access_lines(s, "api.log")), 10,
                       what="the batch to be written")
            self.assertEqual(s.stop_service("api"), 0)
            for dest in ("api.log", "api.stderr"):
                with self.subTest(dest=dest):
                    lines = self.access_lines(s, dest)
                    gets = [x for x in lines if "GET /api/images/" in x]
                    self.assertEqual(len(gets), 200)
                    self.assertTrue(all(" 202 " in x and "id=" + image_id in x for x in gets))
                    self.assertEqual(len([x for x in lines if "POST /api/images 202" in x]), 1)
                    # The same line format as every other log line.
                    self.assertRegex(gets[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                                     r"INFO api\[\d+\] http: GET /api/images/\S+\?n=0 202 "
                                     r"\d+\.\dms id=")
                    self.assertEqual(gets[-1].split(" http: ")[1].split(" ")[1],
                                     "/api/images/%s?n=199" % image_id)
                    self.assertTrue(any("GET /nope%0aforged 404" in x for x in lines))
                    # A refused request says why (it said only its status), 2xx do not.
                    status = {x: int(x.split(" http: ")[1].split(" ")[2]) for x in lines}
                    refused = {str(status[x]): x for x in lines if status[x] >= 400}
                    self.assertEqual(set(refused), {"404", "415", "422"}, refused)
                    self.assertFalse(any("why=" in x for x in lines if status[x] < 400))
                    self.assertTrue(refused["404"].endswith(
                        ' why="there is no resource at this path"'), refused["404"])
                    self.assertRegex(refused["422"], r'GET /api/images\?limit=0 422 [\d.]+ms '
                                     r'id=- why="a parameter is not valid \(limit: ')
                    self.assertRegex(refused["415"], r'POST /api/images 415 [\d.]+ms id=- '
                                     r'why="[^"]*JPEG')

    def test_rotated_file_is_reopened(self):
        with Stack(services=("api",)) as s:
            log = os.path.join(s.log_dir, "api.log")
            # Not /health: an answered health probe's line is DEBUG.
            s.request("GET", "/api/openapi.json")
            wait_until(lambda: self.access_lines(s, "api.log"), 10, what="the first line")
            os.rename(log, log + ".1")
            s.request("GET", "/api/openapi.json?after=rotation")
            wait_until(lambda: os.path.exists(log) and any(
                "after=rotation" in x for x in self.access_lines(s, "api.log")), 10,
                what="the line in a new api.log")
            self.assertFalse(any("after=rotation" in x for x in self.access_lines(s, "api.log.1")))


class HeldRequests(unittest.TestCase):
    def test_held_requests_delay_nobody_else(self):
        # Requests sent while 8 ?wait requests are being held, some of them at
        # the same moment, are all answered while the 8 are still held.
        with Stack(services=("api",)) as s:
            image_id = s.upload(JPEG, "never rendered").json()["id"]
            results = []

            def hold():
                results.append(s.request("GET", "/api/images/%s?wait=30" % image_id, timeout=60))
            threads = [threading.Thread(target=hold) for _ in range(8)]
            for t in threads:
                t.start()
            for _ in range(20):
                self.assertEqual(s.request("GET", "/api/images", timeout=20).status, 200)

            def held():
                text = s.request("GET", "/metrics", timeout=20).body.decode()
                return re.search(r"^imgcap_api_waiters 8$", text, re.M)
            wait_until(held, 20, what="8 held requests")
            for _ in range(20):
                self.assertEqual(s.request("GET", "/health", timeout=20).status, 200)
            self.assertEqual(s.upload(JPEG, "while held").status, 202)
            self.assertTrue(all(t.is_alive() for t in threads), "the 8 are still held")
            self.assertEqual(s.stop_service("api"), 0)
            for t in threads:
                t.join(60)
            self.assertEqual([r.status for r in results], [202] * 8)


class Token(unittest.TestCase):
    def test_bearer_token(self):
        with Stack(services=("api",), env={"API_TOKEN": "s3cret"}) as s:
            r = s.upload(JPEG, "no token")
            is_problem(self, r, 401)
            self.assertTrue(r.header("WWW-Authenticate").startswith("Bearer"))
            is_problem(self, s.upload(JPEG, "bad", headers={"Authorization": "Bearer nope"}), 401)
            ok = s.upload(JPEG, "good", headers={"Authorization": "Bearer s3cret"})
            self.assertEqual(ok.status, 202, ok.body)
            self.assertEqual(s.request("GET", "/api/images").status, 200)  # reads stay open
            self.assertEqual(s.stop_service("api"), 0)
            s.env["API_TOKEN_READS"] = "1"
            s.start_service("api")
            is_problem(self, s.request("GET", "/api/images"), 401)
            self.assertEqual(s.request("GET", "/api/images",
                                       headers={"Authorization": "Bearer s3cret"}).status, 200)
            self.assertEqual(s.request("GET", "/health").status, 200)


if __name__ == "__main__":
    unittest.main()
