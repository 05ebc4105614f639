"""imgcap-render --once against files it cannot read or write, and fonts it
cannot use: an input that does not exist, an output or thumbnail in a
directory that does not exist, FONT_PATH naming a file that is not a font,
FONTS_DIR naming a directory that does not exist; and an input larger than the
first read buffer (read whole); and the argument combinations it refuses.
Each run takes well under a second."""
import os
import shutil
import tempfile
import unittest

from harness import DATA_DIR, decode_jpeg
from test_render_cli import CAMERA, run


class OnceFiles(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imgcap-render-io-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def test_input_that_does_not_exist(self):
        missing = self.path("missing.jpg")
        p = run("--once", missing, self.path("out.jpg"), "--text", "x")
        self.assertEqual(p.returncode, 1)
        self.assertIn(("cannot read %s: No such file or directory" % missing).encode(), p.stderr)
        self.assertFalse(os.path.exists(self.path("out.jpg")))

    def test_output_that_cannot_be_written(self):
        out = self.path("nodir", "out.jpg")
        p = run("--once", CAMERA, out, "--text", "x")
        self.assertEqual(p.returncode, 1)
        self.assertIn(("cannot write %s" % out).encode(), p.stderr)

    def test_thumbnail_that_cannot_be_written(self):
        thumb = self.path("nodir", "thumb.jpg")
        p = run("--once", CAMERA, self.path("out.jpg"), "--text", "x", "--thumbnail", thumb)
        self.assertEqual(p.returncode, 1)
        self.assertIn(("cannot write %s" % thumb).encode(), p.stderr)
        # The caption itself was written before the thumbnail failed.
        with open(self.path("out.jpg"), "rb") as f:
            self.assertEqual(decode_jpeg(f.read())[0], 674)

    def test_font_path_that_is_not_a_font(self):
        not_font = os.path.join(DATA_DIR, "not_a_jpeg.jpg")
        p = run("--once", CAMERA, self.path("out.jpg"), "--text", "x",
                env={"FONT_PATH": not_font})
        self.assertEqual(p.returncode, 1)
        self.assertIn(("cannot open font %s" % not_font).encode(), p.stderr)
        self.assertFalse(os.path.exists(self.path("out.jpg")))

    def test_fonts_dir_that_does_not_exist(self):
        # Not searched (a warning), and fontconfig's own fonts still serve.
        missing = self.path("nofonts")
        p = run("--once", CAMERA, self.path("out.jpg"), "--text", "x",
                env={"FONTS_DIR": missing}, check=True)
        self.assertIn(("fonts dir %s not readable, not searched" % missing).encode(), p.stderr)
        self.assertTrue(os.path.exists(self.path("out.jpg")))

    def test_input_larger_than_the_first_read(self):
        big = os.path.join(DATA_DIR, "synthetic_640x480.jpg")  # over 64 KiB
        self.assertGreater(os.path.getsize(big), 65536)
        p = run("--once", big, self.path("out.jpg"), "--text", "big input", check=True)
        self.assertEqual(p.returncode, 0)
        with open(self.path("out.jpg"), "rb") as f:
            w, h = decode_jpeg(f.read())[:2]
        self.assertEqual(w, 640)
        self.assertGreater(h, 480)


if __name__ == "__main__":
    unittest.main()


class Arguments(unittest.TestCase):
    def test_combinations_refused_with_usage(self):
        """Exit 2 and the usage for every combination the CLI does not take."""
        out = os.path.join(tempfile.gettempdir(), "imgcap-never-written.jpg")
        for args in (("--once", CAMERA, out),                       # no --text
                     ("--text", "x"),                                # --text without --once
                     ("--layout",), ("--repeat", "2"), ("--thumbnail", out),
                     ("--once", CAMERA, out, "--text", "x", "--check"),
                     ("--once", CAMERA, out, "--text", "x", "--layout", "--thumbnail", out),
                     ("--once", CAMERA),                             # too few operands
                     ("--bogus",)):
            p = run(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(b"usage: imgcap-render", p.stderr, args)
            self.assertFalse(os.path.exists(out), args)
        for count in ("0", "x", "1000001", "5x"):
            p = run("--once", CAMERA, out, "--text", "x", "--repeat", count)
            self.assertEqual(p.returncode, 2, count)
            self.assertIn(b"--repeat wants a count from 1 to 1000000", p.stderr)
        p = run("--once", CAMERA, out, "--text", "x",
                env={"REDIS_WAIT_REPLICAS": "1", "REDIS_TIMEOUT_MS": "1000",
                     "REDIS_WAIT_TIMEOUT_MS": "900"})
        self.assertEqual(p.returncode, 3)  # a configuration error (shared/service.h)
        self.assertIn(b"imgcap-render: configuration: REDIS_WAIT_TIMEOUT_MS", p.stderr)
