"""Integration tests of what imgcap-api serves to browsers from its own
binary: the Swagger UI page and its assets (no CDN needed), with their caching
headers. The rendering in a real browser is tested in tests/browser/."""
import hashlib
import os
import re
import unittest

from harness import ROOT, Stack, StackTestCase

WEB = os.path.join(ROOT, "services", "api", "web")


def read(*parts):
    with open(os.path.join(*parts), "rb") as f:
        return f.read()


class Docs(StackTestCase):
    STACK_SERVICES = ("api",)

    def test_docs_page_uses_the_embedded_swagger_ui(self):
        r = self.stack.request("GET", "/docs")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        page = r.body.decode()
        self.assertIn('src="/assets/swagger-ui/swagger-ui-bundle.js"', page)
        self.assertIn('href="/assets/swagger-ui/swagger-ui.css"', page)
        self.assertIn("/api/openapi.json", page)
        # Nothing in the page points outside the api.
        self.assertNotRegex(page, r"(src|href)=\"(https?:)?//")

    def test_swagger_ui_assets_are_the_vendored_files(self):
        for name, ctype in (("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
                            ("swagger-ui.css", "text/css; charset=utf-8"),
                            ("LICENSE", "text/plain; charset=utf-8"),
                            ("NOTICE", "text/plain; charset=utf-8"),
                            ("swagger-ui-bundle.js.LICENSE.txt", "text/plain; charset=utf-8")):
            with self.subTest(name=name):
                want = read(WEB, "swagger-ui", name)
                r = self.stack.request("GET", "/assets/swagger-ui/" + name)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, want)
                self.assertEqual(r.header("Content-Type"), ctype)
                self.assertEqual(r.header("Content-Length"), str(len(want)))
                self.assertEqual(r.header("ETag"),
                                 '"%s"' % hashlib.sha256(want).hexdigest()[:32])
                self.assertEqual(r.header("Cache-Control"), "no-cache")

    def test_etag_revalidation(self):
        path = "/assets/swagger-ui/swagger-ui.css"
        r = self.stack.request("GET", path)
        etag = r.header("ETag")
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
        for inm in (etag, 'W/"x", ' + etag, "*"):
            with self.subTest(if_none_match=inm):
                r304 = self.stack.request("GET", path, headers={"If-None-Match": inm})
                self.assertEqual(r304.status, 304)
                self.assertEqual(r304.body, b"")
                self.assertEqual(r304.header("ETag"), etag)
        r = self.stack.request("GET", path, headers={"If-None-Match": '"0123"'})
        self.assertEqual(r.status, 200)
        h = self.stack.request("HEAD", "/assets/swagger-ui/swagger-ui-bundle.js")
        self.assertEqual(h.status, 200)
        self.assertEqual(h.body, b"")
        self.assertEqual(h.header("Content-Length"),
                         str(len(read(WEB, "swagger-ui", "swagger-ui-bundle.js"))))

    def test_openapi_document_has_an_etag(self):
        r = self.stack.request("GET", "/api/openapi.json")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, read(ROOT, "services", "api", "openapi.json"))
        r304 = self.stack.request("GET", "/api/openapi.json",
                                  headers={"If-None-Match": r.header("ETag")})
        self.assertEqual(r304.status, 304)

    def test_gallery_page_and_its_assets(self):
        r = self.stack.request("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        self.assertEqual(r.body, read(WEB, "index.html"))
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        page = r.body.decode()
        self.assertIn('href="/assets/gallery.css"', page)
        self.assertIn('src="/assets/gallery.js"', page)
        for name, ctype in (("gallery.css", "text/css; charset=utf-8"),
                            ("gallery.js", "text/javascript; charset=utf-8")):
            with self.subTest(name=name):
                a = self.stack.request("GET", "/assets/" + name)
                self.assertEqual(a.status, 200)
                self.assertEqual(a.header("Content-Type"), ctype)
                self.assertEqual(a.body, read(WEB, name))
                again = self.stack.request("GET", "/assets/" + name,
                                           headers={"If-None-Match": a.header("ETag")})
                self.assertEqual(again.status, 304)
        # Nothing the page loads comes from another host (no CDN, no web fonts).
        for name in ("index.html", "gallery.css", "gallery.js"):
            with self.subTest(offline=name):
                text = read(WEB, name).decode()
                self.assertNotRegex(text, r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}")
                self.assertNotIn("@import", text)
                self.assertNotIn("@font-face", text)

    def test_unknown_assets_are_404(self):
        for path in ("/assets/nope.js", "/assets/swagger-ui/nope.js", "/assets/swagger-ui",
                     "/assets/openapi.json", "/assets/index.html", "/index.html", "/assets/swagger-ui/..%2F..%2Fopenapi.json",
                     "/assets/" + "x" * 300):
            with self.subTest(path=path):
                r = self.stack.request("GET", path)
                self.assertEqual(r.status, 404)
                self.assertEqual(r.header("Content-Type"), "application/problem+json")
        r = self.stack.request("POST", "/assets/swagger-ui/swagger-ui.css", body=b"x")
        self.assertEqual(r.status, 405)


class DocsFromCdn(unittest.TestCase):
    def test_swagger_ui_url_points_docs_at_a_cdn(self):
        url = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
        with Stack(services=("api",), env={"SWAGGER_UI_URL": url + "/"}) as s:
            page = s.request("GET", "/docs").body.decode()
            self.assertIn('src="%s/swagger-ui-bundle.js"' % url, page)
            self.assertIn('href="%s/swagger-ui.css"' % url, page)
            self.assertNotIn("/assets/swagger-ui", page)


if __name__ == "__main__":
    unittest.main()
