"""Captions in every script, rendered by imgcap-render --once and compared
with a reference rendering of the same line by Pillow with libraqm (HarfBuzz
and FriBiDi, an independent client) in the same font and size: the band's ink
must correlate with the reference's (pillow_script_ref.py explains the
measure). The same line drawn without shaping or bidi (Pillow's basic
engine: isolated letters, logical order) is the control that the measure
tells wrong text from right. Thai must break between words.

The renderings are kept for a person to look at when SCRIPTS_SAVE_DIR is set
(tests/data/scripts/ holds the ones committed)."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import BIN_DIR, DATA_DIR, ROOT

PILLOW_PYTHON = "/usr/bin/python3"  # Debian's, with python3-pil and libraqm0
HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pillow_script_ref.py")
IMAGE = os.path.join(DATA_DIR, "camera_674x480.jpg")
SIZE = 28
# Same text, font and size: the inks correlate at 0.9 and more when right.
# Unshaped Arabic, Devanagari without its conjuncts and reversed Hebrew score
# far lower (the control below shows by how much).
MIN_SCORE = 0.8

# name: (text, the family imgcap must pick for it, right-to-left, emoji)
SAMPLES = {
    "arabic": ("مرحبا بالعالم، كاميرا دبي", "DejaVu Sans", True, False),
    "hebrew": ("שלום עולם, מצלמה בתל אביב", "DejaVu Sans", True, False),
    "mixed": ("المصدر: Camera 17 (Dubai) ٢٠٢٤", "DejaVu Sans", True, False),
    "devanagari": ("नमस्ते दुनिया, क्षत्रिय स्त्री प्रकाश", "Noto Sans Devanagari", False, False),
    "thai": ("ระบบสร้างภาพกล้องวงจรปิด", "Noto Sans Thai", False, False),
    "chinese": ("上海的摄像头，交通繁忙。", "Noto Sans CJK JP", False, False),
    "japanese": ("東京のカメラ「渋谷交差点」", "Noto Sans CJK JP", False, False),
    "emoji": ("😀👍🏽🚗🇮🇳", "Noto Color Emoji", False, True),
}

# A Thai sentence as its words: every line break must fall between two of them.
THAI_WORDS = ["ระบบ", "สร้าง", "ภาพ", "กล้อง", "วงจร", "ปิด", "หมายเลข", "สิบ", "เจ็ด", "ใน",
              "กรุงเทพ", "มหานคร", "ประเทศ", "ไทย", "กำลัง", "บันทึก", "การ", "จราจร", "บน",
              "ถนน", "สุขุมวิท"]


def env(**kw):
    e = dict(os.environ, IMGCAP_ENV_FILE="/dev/null", FONTS_DIR=os.path.join(ROOT, "fonts"),
             FONT_NAME="DejaVu Sans", FONT_SIZE=str(SIZE), TEXT_PADDING="4")
    e.update(kw)
    return e


def render(text, out, **kw):
    subprocess.run([os.path.join(BIN_DIR, "imgcap-render"), "--once", IMAGE, out, "--text", text],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(**kw), check=True)


def layout(text, **kw):
    p = subprocess.run([os.path.join(BIN_DIR, "imgcap-render"), "--once", IMAGE, "/dev/null",
                        "--layout", "--text", text], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env(**kw), check=True)
    return json.loads(p.stdout)


def font_file(family):
    """fontconfig's file and face index for a family, as imgcap would open it."""
    out = subprocess.run(["fc-match", "-f", "%{file}\n%{index}\n", family],
                         stdout=subprocess.PIPE, check=True).stdout.decode().split("\n")
    return out[0], int(out[1] or 0)


def compare(band_path, text, family, rtl, emoji, engine, save=None):
    path, index = font_file(family)
    req = {"band": band_path, "band_top": 480, "font": path, "index": index, "size": SIZE,
           "text": text, "rtl": rtl, "engine": engine, "emoji": emoji}
    if save:
        req["save"] = save
    p = subprocess.run([PILLOW_PYTHON, HELPER], input=json.dumps(req).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        raise AssertionError("pillow_script_ref.py: %s" % p.stderr.decode()[-500:])
    return json.loads(p.stdout)


class ScriptsRender(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.save = os.environ.get("SCRIPTS_SAVE_DIR")

    def tearDown(self):
        self.tmp.cleanup()

    def test_each_script_like_the_reference(self):
        for name, (text, family, rtl, emoji) in SAMPLES.items():
            with self.subTest(script=name):
                lay = layout(text)
                self.assertEqual(len(lay["lines"]), 1, lay)
                self.assertEqual(lay["directions"], ["rtl" if rtl else "ltr"])
                self.assertIn(family, lay["fonts"][0])
                out = os.path.join(self.tmp.name, name + ".jpg")
                render(text, out)
                save = os.path.join(self.save, name + ".png") if self.save else None
                r = compare(out, text, family, rtl, emoji, "raqm", save)
                self.assertGreaterEqual(r["score"], MIN_SCORE, "%s: %s" % (name, r))
                # the ink has the reference's size, within a few pixels
                self.assertLessEqual(abs(r["ink_size"][0] - r["ref_size"][0]),
                                     max(4, r["ref_size"][0] // 20), r)
                self.assertLessEqual(abs(r["ink_size"][1] - r["ref_size"][1]), 4, r)

    def test_control_unshaped_text_scores_low(self):
        """The measure fails wrong text: imgcap's correct rendering against
        Pillow's unshaped, logical-order one (basic engine)."""
        for name in ("arabic", "hebrew", "devanagari"):
            text, family, rtl, emoji = SAMPLES[name]
            with self.subTest(script=name):
                out = os.path.join(self.tmp.name, name + ".jpg")
                render(text, out)
                r = compare(out, text, family, rtl, emoji, "basic")
                self.assertLess(r["score"], MIN_SCORE, "%s: %s" % (name, r))

    def test_rtl_aligned_right(self):
        out = os.path.join(self.tmp.name, "rtl.jpg")
        render(SAMPLES["hebrew"][0], out)
        p = subprocess.run([PILLOW_PYTHON, "-c", (
            "import sys\nfrom PIL import Image\n"
            "im = Image.open(sys.argv[1]).convert('L')\n"
            "print(im.crop((0, 480, im.width, im.height)).point(lambda v: 255 if v > 64 else 0)"
            ".getbbox())"), out], stdout=subprocess.PIPE, check=True)
        box = eval(p.stdout)  # (left, top, right, bottom) of the band's ink
        self.assertGreater(box[2], 674 - 4 - 3, "RTL line does not end at the right padding")
        self.assertGreater(box[0], 100, "RTL line starts at the left")

    def test_thai_breaks_between_words(self):
        text = "".join(THAI_WORDS)
        bounds, pos = set(), 0
        for w in THAI_WORDS:
            pos += len(w)
            bounds.add(pos)
        wrapped = 0
        for size in (20, 24, 28, 32, 40):
            with self.subTest(size=size):
                lay = layout(text, FONT_SIZE=str(size))
                self.assertEqual("".join(lay["lines"]), text)
                wrapped += len(lay["lines"]) > 1
                at = 0
                for line in lay["lines"][:-1]:
                    at += len(line)
                    self.assertIn(at, bounds, "break inside a word: %r|" % line[-6:])
        self.assertGreater(wrapped, 2)


if __name__ == "__main__":
    unittest.main()
