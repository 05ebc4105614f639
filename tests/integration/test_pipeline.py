"""End to end: upload -> render -> persist -> list -> fetch, on real servers."""
import json
import os
import subprocess
import unittest

from harness import BIN_DIR, DATA_DIR, ROOT, StackTestCase, decode_jpeg, read_data

CAPTION = "С начала фазы запрещающего сигнала прошло: 7 секунд"
LONG_CAPTION = ("Нарушение зафиксировано камерой: транспортное средство пересекло стоп-линию "
                "на запрещающий сигнал светофора, спустя семь секунд после начала фазы. "
                "Скорость 47 км/ч, полоса 2, направление на север, погода ясно")[:200]


def layout(text, image_name):
    """The renderer's own layout for text on that image (imgcap-render --layout)."""
    src = os.path.join(DATA_DIR, image_name)
    out = subprocess.run([os.path.join(BIN_DIR, "imgcap-render"), "--once", src, "/dev/null",
                          "--layout", "--text", text],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
                         env=dict(os.environ, IMGCAP_ENV_FILE="/dev/null",
                                  FONTS_DIR=os.path.join(ROOT, "fonts")))
    return json.loads(out.stdout)


class PipelineTest(StackTestCase):
    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for name, code in cls.stack.exit_codes.items():
            assert code == 0, "%s exited with %s on SIGTERM" % (name, code)

    def upload_and_fetch(self, jpeg, caption):
        s = self.stack
        r = s.upload(jpeg, caption)
        self.assertEqual(r.status, 202, r.body)
        body = r.json()
        self.assertEqual(body["status"], "queued")
        self.assertEqual(body["description"], caption)
        self.assertEqual(r.header("Location"), "/api/images/" + body["id"])
        s.wait_stored([body["id"]])
        img = s.request("GET", "/api/images/" + body["id"])
        self.assertEqual(img.status, 200)
        self.assertEqual(img.header("Content-Type"), "image/jpeg")
        return body, img.body

    def test_camera_image_with_cyrillic_caption(self):
        src = read_data("camera_674x480.jpg")
        body, out = self.upload_and_fetch(src, CAPTION)
        w, h, ch, px = decode_jpeg(out)
        sw, sh, sch, spx = decode_jpeg(src)
        lay = layout(CAPTION, "camera_674x480.jpg")
        self.assertEqual(len(lay["lines"]), 1)
        self.assertEqual(lay["band_height"], lay["line_height"] + 2 * 4)
        self.assertEqual((w, ch), (sw, sch))
        self.assertEqual(h, sh + lay["band_height"])
        # The band: black everywhere but the glyphs, which are white.
        band = px[sh * w * ch:]
        self.assertGreater(band.count(255), 100, "no white text pixels in the band")
        dark = sum(1 for b in band if b < 16)
        self.assertGreater(dark, 0.7 * len(band), "band is not mostly black")
        # Text stays inside the padding: the outer 4-px frame of the band is black.
        for x in range(w):
            for y in list(range(4)) + list(range(lay["band_height"] - 4, lay["band_height"])):
                off = (y * w + x) * ch
                self.assertLess(max(band[off:off + ch]), 48, "text touches the band edge")
        # The picture above the band is untouched (decoded without fancy upsampling).
        _, _, _, px_ns = decode_jpeg(out, nosmooth=True)
        _, _, _, spx_ns = decode_jpeg(src, nosmooth=True)
        self.assertEqual(px_ns[:sh * w * ch], spx_ns, "picture rows changed")

    def test_list_shows_stored_image(self):
        src = read_data("camera_674x480.jpg")
        body, _ = self.upload_and_fetch(src, CAPTION)
        r = self.stack.request("GET", "/api/images")
        self.assertEqual(r.status, 200)
        items = r.json()["items"]
        mine = [i for i in items if i["id"] == body["id"]]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["description"], CAPTION)
        self.assertEqual(mine[0]["received_at"], body["received_at"])
        self.assertEqual(mine[0]["url"], "/api/images/" + body["id"])
        ids = [i["id"] for i in items]
        self.assertEqual(ids, sorted(ids, reverse=True), "list is not newest first")

    def test_200_cyrillic_characters_wrap(self):
        self.assertEqual(len(LONG_CAPTION), 200)
        src = read_data("camera_640x480_progressive.jpg")
        body, out = self.upload_and_fetch(src, LONG_CAPTION)
        w, h, _, _ = decode_jpeg(out)
        lay = layout(LONG_CAPTION, "camera_640x480_progressive.jpg")
        self.assertGreaterEqual(len(lay["lines"]), 3)
        self.assertEqual(lay["band_height"], len(lay["lines"]) * lay["line_height"] + 8)
        self.assertEqual((w, h), (640, 480 + lay["band_height"]))
        # Wrapping loses nothing: the lines hold every word of the caption.
        self.assertEqual(" ".join(lay["lines"]).split(), LONG_CAPTION.split())

    def test_file_and_row_agree(self):
        src = read_data("camera_674x480_gray.jpg")
        body, out = self.upload_and_fetch(src, "gray")
        row = self.stack.psql("SELECT path, bytes, width, height FROM images WHERE id='%s'"
                              % body["id"])
        path, size, width, height = row.split("|")
        self.assertFalse(path.startswith("/"), "path must be relative to STORAGE_DIR")
        with open(os.path.join(self.stack.storage_dir, path), "rb") as f:
            stored = f.read()
        self.assertEqual(stored, out)
        self.assertEqual(int(size), len(out))
        w, h, ch, _ = decode_jpeg(out)
        self.assertEqual((int(width), int(height)), (w, h))
        self.assertEqual(ch, 1, "a grayscale photo stays grayscale")

    def test_queues_empty_at_rest(self):
        from harness import wait_until
        src = read_data("synthetic_640x480.jpg")
        self.upload_and_fetch(src, "rest")
        wait_until(self.stack.queues_at_rest, 10, what="queues at rest")

    def test_function_library_deleted_by_hand_comes_back(self):
        """rqueue's scripts are a Redis function library, checked once per
        connection: one deleted by hand (FUNCTION FLUSH) under running services
        is loaded again by the first call that misses it, and the pipeline goes
        on. An upload whose status FCALL missed it is answered 503 with outcome
        unknown (its SET and LPUSH were applied), never a 202 without a status."""
        from harness import wait_until
        s = self.stack
        src = read_data("synthetic_640x480.jpg")
        self.upload_and_fetch(src, "before")
        libs = s.redis("FUNCTION", "LIST")
        self.assertEqual(len(libs), 1, libs)
        s.redis("FUNCTION", "FLUSH")
        self.assertEqual(s.redis("FUNCTION", "LIST"), [])
        first = s.upload(src, "just after")
        if first.status == 503:
            self.assertEqual(first.json()["outcome"], "unknown", first.body)
        else:
            self.assertEqual(first.status, 202, first.body)
            s.wait_stored([first.json()["id"]])
        self.upload_and_fetch(src, "after")
        self.assertEqual(len(s.redis("FUNCTION", "LIST")), 1)
        wait_until(s.queues_at_rest, 20, what="queues at rest")


if __name__ == "__main__":
    unittest.main()
