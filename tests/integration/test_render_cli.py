"""imgcap-render: the one-shot CLI (--once/--thumbnail/--layout/--repeat/--help/--check)
and the service's worker path on a real redis-server (render only)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

from harness import BIN_DIR, DATA_DIR, ROOT, Stack, decode_jpeg, read_data, wait_until

RENDER = os.path.join(BIN_DIR, "imgcap-render")
CAMERA = os.path.join(DATA_DIR, "camera_674x480.jpg")
CYRILLIC_150 = ("На перекрёстке Ленина и Садовой зафиксировано превышение скорости: ёлка, "
                "съезд и щука в Ёлочкином проезде, грузовик Йошкар-Олы номер ХФЦ 77 едет быстр")


def run(*args, env=None, check=False):
    e = dict(os.environ, IMGCAP_ENV_FILE="/dev/null", FONTS_DIR=os.path.join(ROOT, "fonts"),
             LOG_DIR="", REDIS_URL="redis://127.0.0.1:1")
    e.update(env or {})
    p = subprocess.run([RENDER] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=e, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("imgcap-render %s: exit %d\n%s" % (args, p.returncode, p.stderr))
    return p


def thumb_size(w, h, size):
    """The thumbnail's size (services/render/thumb.h): the longer side becomes
    size, the other rounds to the nearest pixel (halves up), at least 1; never
    upscaled."""
    longest, shortest = max(w, h), min(w, h)
    if longest <= size:
        return w, h
    other = max(1, (2 * shortest * size + longest) // (2 * longest))
    return (size, other) if w >= h else (other, size)


def uuid7():
    ms = int(time.time() * 1000)
    r = uuid.uuid4().int
    value = (ms << 80) | (0x7 << 76) | ((r >> 64) & 0xFFF) << 64 | (0x2 << 62) | (r & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imgcap-render-cli-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def out(self, name="out.jpg"):
        return os.path.join(self.tmp, name)

    def layout(self, image, text, env=None):
        p = run("--once", image, "/dev/null", "--layout", "--text", text, env=env, check=True)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(len(lines), 1, p.stdout)
        return json.loads(lines[0])

    def test_help(self):
        p = run("--help")
        self.assertEqual(p.returncode, 0)
        for word in ("--once", "--thumbnail", "--layout", "--repeat", "--check"):
            self.assertIn(word, p.stdout.decode())
        self.assertEqual(run("--bogus").returncode, 2)
        self.assertEqual(run("--once", CAMERA, self.out()).returncode, 2)  # no --text
        self.assertEqual(run("--once", CAMERA, self.out(), "--text", "x", "--layout",
                             "--thumbnail", self.out("t.jpg")).returncode, 2)
        self.assertEqual(run("--thumbnail", self.out("t.jpg")).returncode, 2)

    def test_layout_json(self):
        doc = self.layout(CAMERA, CYRILLIC_150)
        self.assertEqual(set(doc), {"width", "lines", "directions", "fonts", "line_height",
                                    "band_height"})
        self.assertEqual(doc["directions"], ["ltr", "ltr"])
        self.assertEqual(doc["fonts"], [["DejaVu Sans"], ["DejaVu Sans"]])
        self.assertEqual(doc["width"], 674)
        self.assertEqual(doc["line_height"], 15)
        self.assertEqual(len(doc["lines"]), 2)
        self.assertEqual(" ".join(doc["lines"]), CYRILLIC_150)
        self.assertEqual(doc["band_height"], 2 * 15 + 2 * 4)
        # explicit newlines and quotes survive the JSON round trip
        doc = self.layout(CAMERA, 'say "hi"\n\nback\\slash')
        self.assertEqual(doc["lines"], ['say "hi"', "", "back\\slash"])
        self.assertEqual(doc["fonts"], [["DejaVu Sans"], [], ["DejaVu Sans"]])
        # a right-to-left paragraph after a left-to-right one; fallback fonts named
        doc = self.layout(CAMERA, "Camera 17\n\u05e9\u05dc\u05d5\u05dd 17 \u0928\u092e")
        self.assertEqual(doc["directions"], ["ltr", "rtl"])
        self.assertEqual(sorted(doc["fonts"][1]), ["DejaVu Sans", "Noto Sans Devanagari"])
        # configuration is honoured: bigger font, more padding
        doc = self.layout(CAMERA, "x", env={"FONT_SIZE": "24", "TEXT_PADDING": "10"})
        self.assertGreater(doc["line_height"], 25)
        self.assertEqual(doc["band_height"], doc["line_height"] + 20)

    def test_once_lossless_bit_exact(self):
        p = run("--once", CAMERA, self.out(), "--text", CYRILLIC_150, env={"LOG_LEVEL": "debug"},
                check=True)
        self.assertIn(b"lossless", p.stderr)
        with open(CAMERA, "rb") as f:
            src = decode_jpeg(f.read(), nosmooth=True)
        with open(self.out(), "rb") as f:
            out = decode_jpeg(f.read(), nosmooth=True)
        doc = self.layout(CAMERA, CYRILLIC_150)
        self.assertEqual(out[0], 674)
        self.assertEqual(out[1], 480 + doc["band_height"])
        n = 674 * 480 * 3
        self.assertEqual(out[3][:n], src[3][:n], "picture rows changed")
        band = out[3][n:]
        self.assertGreater(sum(1 for v in band[0::3] if v > 200), 500, "no white text")
        # the last band rows (bottom padding) are black, up to JPEG ringing
        tail = band[-674 * 3 * 2:]
        self.assertLessEqual(max(tail), 32)
        self.assertLess(sum(tail) / len(tail), 2)

    def test_once_overlay_and_fallback(self):
        run("--once", CAMERA, self.out(), "--text", "overlay", env={"BAND_MODE": "overlay"},
            check=True)
        with open(self.out(), "rb") as f:
            w, h, _, _ = decode_jpeg(f.read())
        self.assertEqual((w, h), (674, 480))
        # 479 rows: not whole MCU rows, re-encoded
        src = os.path.join(self.tmp, "odd.jpg")
        subprocess.run(["convert", CAMERA, "-crop", "673x479+0+0", "+repage", src], check=True)
        p = run("--once", src, self.out(), "--text", "odd", env={"LOG_LEVEL": "debug"},
                check=True)
        self.assertIn(b"reencode", p.stderr)
        with open(self.out(), "rb") as f:
            w, h, _, _ = decode_jpeg(f.read())
        self.assertEqual((w, h), (673, 479 + 15 + 8))

    def test_repeat(self):
        p = run("--once", CAMERA, self.out(), "--text", CYRILLIC_150, "--repeat", "5",
                check=True)
        m = re.search(rb"5 renders, mean ([0-9.]+) ms per image", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertGreater(float(m.group(1)), 0)
        # then the service's whole job: the render and the thumbnail
        m = re.search(rb"\n5 renders \+ thumbnails, mean ([0-9.]+) ms per image \(thumbnail "
                      rb"320x246, [0-9]+ bytes\)", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertGreater(float(m.group(1)), 0)
        self.assertTrue(os.path.getsize(self.out()) > 1000)
        self.assertEqual(run("--once", CAMERA, self.out(), "--text", "x", "--repeat", "0")
                         .returncode, 2)

    def test_thumbnail(self):
        """--thumbnail writes the thumbnail of OUT: its longer side THUMBNAIL_SIZE,
        aspect kept, baseline 4:2:0; never larger than OUT."""
        portrait = os.path.join(self.tmp, "portrait.jpg")
        subprocess.run(["convert", CAMERA, "-crop", "301x480+100+0", "+repage", portrait],
                       check=True)
        small = os.path.join(self.tmp, "small.jpg")
        subprocess.run(["convert", CAMERA, "-resize", "150x107!", small], check=True)
        thumb = self.out("thumb.jpg")
        for size in (320, 200):
            for src, text in ((CAMERA, CYRILLIC_150), (portrait, "x"), (small, "x")):
                if os.path.exists(thumb):
                    os.unlink(thumb)
                p = run("--once", src, self.out(), "--text", text, "--thumbnail", thumb,
                        env={"THUMBNAIL_SIZE": str(size)}, check=True)
                with open(self.out(), "rb") as f:
                    w, h, _, _ = decode_jpeg(f.read())
                with open(thumb, "rb") as f:
                    data = f.read()
                tw, th, channels, px = decode_jpeg(data)
                self.assertEqual((tw, th), thumb_size(w, h, size), (src, size, w, h))
                self.assertEqual(channels, 3)
                self.assertLessEqual(max(tw, th), size)
                # baseline (SOF0), 4:2:0 (luma sampled 2x2, chroma 1x1)
                sof = data.index(b"\xff\xc0")
                self.assertEqual(data[sof + 11:sof + 18:3], b"\x22\x11\x11")
                self.assertIn(("thumbnail -> %s: %dx%d" % (thumb, tw, th)).encode(), p.stderr)
        self.assertEqual(thumb_size(674, 518, 320), (320, 246))
        self.assertEqual(thumb_size(674, 518, 200), (200, 154))
        # the band is in the thumbnail: its bottom rows are dark, with some light text
        run("--once", CAMERA, self.out(), "--text", CYRILLIC_150, "--thumbnail", thumb,
            check=True)
        with open(thumb, "rb") as f:
            tw, th, _, px = decode_jpeg(f.read())
        band = px[(th - 12) * tw * 3:]
        self.assertLess(sum(band) / len(band), 60)
        self.assertGreater(max(band), 120)
        # THUMBNAIL_SIZE=0 turns thumbnails off: --thumbnail is refused,
        # --repeat times the caption alone
        p = run("--once", CAMERA, self.out(), "--text", "x", "--thumbnail", thumb,
                env={"THUMBNAIL_SIZE": "0"})
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"THUMBNAIL_SIZE=0", p.stderr)
        p = run("--once", CAMERA, self.out(), "--text", "x", "--repeat", "3",
                env={"THUMBNAIL_SIZE": "0"}, check=True)
        self.assertIn(b"3 renders, mean", p.stdout)
        self.assertNotIn(b"thumbnails", p.stdout)
        # a thumbnail that cannot be written fails the run
        p = run("--once", CAMERA, self.out(), "--text", "x", "--thumbnail",
                os.path.join(self.tmp, "no", "such", "dir.jpg"))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"cannot write", p.stderr)

    def test_failures(self):
        for name, reason in (("truncated.jpg", b"Premature end of JPEG file"),
                             ("not_a_jpeg.jpg", b"Not a JPEG file")):
            p = run("--once", os.path.join(DATA_DIR, name), self.out(), "--text", "x")
            self.assertEqual(p.returncode, 1)
            self.assertIn(reason, p.stderr)
            self.assertFalse(os.path.exists(self.out()))
        p = run("--once", CAMERA, self.out(), "--text", "x", env={"MAX_PIXELS": "1000"})
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"MAX_PIXELS", p.stderr)
        p = run("--once", CAMERA, self.out(), "--text", "x", env={"BAND_MODE": "sideways"})
        self.assertEqual(p.returncode, 3)  # a configuration error (shared/service.h)
        self.assertIn(b"BAND_MODE", p.stderr)
        p = run("--once", CAMERA, self.out(), "--text", "x",
                env={"FONT_PATH": "/nonexistent.ttf"})
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"FONT_PATH", p.stderr)

    def test_fonts(self):
        p = run("--once", CAMERA, self.out(), "--text", "x", env={"FONT_NAME": "Arial"},
                check=True)
        self.assertIn(b"Liberation", p.stderr)  # fonts-liberation2 on this host
        font = os.path.join(ROOT, "fonts", "DejaVuSans.ttf")
        p = run("--once", CAMERA, self.out(), "--text", "x", env={"FONT_PATH": font},
                check=True)
        self.assertIn(font.encode(), p.stderr)
        # a host without system fonts: fontconfig still finds the project's fonts/
        conf = os.path.join(self.tmp, "fonts.conf")
        with open(conf, "w") as f:
            f.write('<?xml version="1.0"?><fontconfig><cachedir>%s</cachedir></fontconfig>'
                    % os.path.join(self.tmp, "fc-cache"))
        p = run("--once", CAMERA, self.out(), "--text", "x \u4e2d",
                env={"FONTCONFIG_FILE": conf}, check=True)
        self.assertIn(b'-> ' + font.encode(), p.stderr)
        self.assertIn(b"U+4E2D, drawing the missing-glyph box", p.stderr)

    def test_check_without_redis(self):
        p = run("--check")
        self.assertEqual(p.returncode, 1)


def wire(msg_id, description, jpeg, camera=None):
    header = {"id": msg_id, "received_at": "2026-11-28T12:34:56.789Z",
              "description": description, "content_length": len(jpeg)}
    if camera is not None:
        header["camera"] = camera
    return (b"IMGCAP1\n" + json.dumps(header, ensure_ascii=False).encode() + b"\n" + jpeg)


def parse_wire(payload):
    """(header, JPEG, thumbnail JPEG or None)."""
    assert payload.startswith(b"IMGCAP1\n")
    head, body = payload[8:].split(b"\n", 1)
    head = json.loads(head)
    n = head["content_length"]
    assert len(body) == n + head.get("thumbnail_length", 0)
    return head, body[:n], body[n:] if "thumbnail_length" in head else None


class ServiceTest(unittest.TestCase):
    """Render alone on a real Redis: good jobs are forwarded to q:persist with the
    new size, their camera and the thumbnail, poison goes to the dead list at
    once with libjpeg's reason."""

    def test_forward_and_dead_letter(self):
        with Stack(services=("render",), env={"THUMBNAIL_SIZE": "200"}) as s:
            r = s.redis
            good, bad, poison = uuid7(), uuid7(), uuid7()
            jobs = ((good, wire(good, CYRILLIC_150, read_data("camera_674x480.jpg"),
                                camera="cam-7.north_1")),
                    (bad, wire(bad, "broken", read_data("truncated.jpg"))),
                    (poison, b"IMGCAP1\n{not json\n"))
            for msg_id, payload in jobs:
                r("SET", "imgcap:msg:render:" + msg_id, payload)
                r("LPUSH", "imgcap:q:render", msg_id)
            wait_until(lambda: r("LLEN", "imgcap:q:persist") == 1
                       and r("LLEN", "imgcap:q:render:dead") == 2, 30,
                       what="render to forward one job and dead-letter two")
            self.assertEqual(r("LRANGE", "imgcap:q:persist", 0, -1), [good.encode()])
            head, jpeg, thumb = parse_wire(r("GET", "imgcap:msg:persist:" + good))
            self.assertEqual(head["id"], good)
            self.assertEqual(head["description"], CYRILLIC_150)
            self.assertEqual(head["camera"], "cam-7.north_1")  # passed through
            w, h, _, _ = decode_jpeg(jpeg)
            self.assertEqual((head["width"], head["height"]), (w, h))
            self.assertEqual((w, h), (674, 480 + 38))
            self.assertEqual(head["thumbnail_length"], len(thumb))
            tw, th, _, _ = decode_jpeg(thumb)
            self.assertEqual((tw, th), (200, 154))
            self.assertIsNone(r("GET", "imgcap:msg:render:" + good))
            status = dict(zip(*[iter(r("HGETALL", "imgcap:status:" + bad))] * 2))
            self.assertEqual(status[b"stage"], b"failed")
            self.assertIn(b"Premature end of JPEG file", status[b"error"])
            status = dict(zip(*[iter(r("HGETALL", "imgcap:status:" + poison))] * 2))
            self.assertEqual(status[b"stage"], b"failed")
            self.assertIn(b"undecodable payload", status[b"error"])
            # each dead letter is logged once (the log file alone: stderr has
            # a copy of each line), at WARN, with its id and reason
            with open(os.path.join(s.log_dir, "render.log"), errors="replace") as f:
                log = f.read().splitlines()
            for msg_id, reason in ((bad, "render failed: "), (poison, "undecodable payload: ")):
                lines = [l for l in log if "id=%s " % msg_id in l and " DEBUG " not in l]
                self.assertEqual(len(lines), 1, lines)
                self.assertIn(" WARN ", lines[0])
                self.assertIn("id=%s dead-lettered from render: %s" % (msg_id, reason), lines[0])
            # the docker healthcheck sees this live consumer
            p = run("--check", env=s.env)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(s.stop_service("render"), 0)
            # with CONSUMER_NAME set, the healthcheck looks for that name (it
            # looked for "<hostname>-" only, so a named consumer was never live)
            s.start_service("render", extra_env={"CONSUMER_NAME": "camera-7-render"})
            named = dict(s.env, CONSUMER_NAME="camera-7-render")
            wait_until(lambda: run("--check", env=named).returncode == 0, 20,
                       what="the named render consumer to be live")
            p = run("--check", env=dict(s.env, CONSUMER_NAME="camera-8-render"))
            self.assertEqual(p.returncode, 1, p.stderr)
            # the name is "camera-7-render-<pid>-<incarnation>": a base that merely
            # starts it is another consumer
            p = run("--check", env=dict(s.env, CONSUMER_NAME="camera-7"))
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(b"no live render consumer", p.stderr)
            self.assertEqual(s.stop_service("render"), 0)
            # THUMBNAIL_SIZE=0: no thumbnails, the image is forwarded without one
            s.start_service("render", extra_env={"THUMBNAIL_SIZE": "0"})
            plain = uuid7()
            r("SET", "imgcap:msg:render:" + plain,
              wire(plain, "x", read_data("camera_674x480.jpg")))
            r("LPUSH", "imgcap:q:render", plain)
            wait_until(lambda: r("LLEN", "imgcap:q:persist") == 2, 30,
                       what="render to forward the job without a thumbnail")
            head, jpeg, thumb = parse_wire(r("GET", "imgcap:msg:persist:" + plain))
            self.assertNotIn("thumbnail_length", head)
            self.assertIsNone(thumb)
            self.assertEqual(len(jpeg), head["content_length"])
            self.assertEqual(s.stop_service("render"), 0)


if __name__ == "__main__":
    unittest.main()
