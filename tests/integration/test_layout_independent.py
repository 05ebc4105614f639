"""Line breaks agree with an independent measurement of the same font: Pillow's
FreeType layout (basic engine, kerning on) measures every line imgcap-render
chose. No line is wider than the text area, and no break was made where the
next segment (to the next space, or through a hyphen) would still have fitted."""
import json
import os
import subprocess
import unittest

from harness import BIN_DIR, DATA_DIR, ROOT

FONT = os.path.join(ROOT, "fonts", "DejaVuSans.ttf")
PILLOW_PYTHON = "/usr/bin/python3"  # Debian's, with python3-pil
PADDING = 4
# Pillow keeps fractional advances; imgcap rounds the pen position per glyph.
# Half a pixel per side covers that rounding without hiding a wrong break.
TOLERANCE = 1.0

CAPTIONS = [
    "С начала фазы запрещающего сигнала прошло: 7 секунд",
    ("Нарушение зафиксировано камерой: транспортное средство пересекло стоп-линию "
     "на запрещающий сигнал светофора, спустя семь секунд после начала фазы. "
     "Скорость 47 км/ч, полоса 2, направление на север, погода ясно"),
    ("AVATAR WAVE Tyre LTA Vo Yo — kerning pairs everywhere: AV AW AY LT LV LW LY "
     "TA Te To Tr Ty VA Va Ve WA Wa We YA Ya Ye. " * 2).strip(),
    "Ёжик в тумане, ЙОГУРТ, щётка и «кавычки» — " * 4,
]


def joiner(line):
    """What the break after line dropped: a space, or nothing after a hyphen
    (UAX #14 allows a break after "-" as well)."""
    return "" if line.endswith("-") else " "


def first_segment(line):
    """The line's text up to its first break opportunity (a space, or just
    after a hyphen)."""
    cut = len(line)
    if " " in line:
        cut = line.index(" ")
    if "-" in line[:cut]:
        cut = line.index("-") + 1
    return line[:cut]


def render_layout(text, image, size):
    env = dict(os.environ, IMGCAP_ENV_FILE="/dev/null", FONT_PATH=FONT, FONT_SIZE=str(size),
               TEXT_PADDING=str(PADDING))
    out = subprocess.run([os.path.join(BIN_DIR, "imgcap-render"), "--once",
                          os.path.join(DATA_DIR, image), "/dev/null", "--layout", "--text", text],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=True)
    return json.loads(out.stdout)


def pillow_widths(texts, size):
    out = subprocess.run([PILLOW_PYTHON, os.path.join(os.path.dirname(__file__),
                                                      "pillow_measure.py")],
                         input=json.dumps({"font": FONT, "size": size, "texts": texts}).encode(),
                         stdout=subprocess.PIPE, check=True)
    return json.loads(out.stdout)


class IndependentMeasurement(unittest.TestCase):
    def check(self, text, image, size):
        lay = render_layout(text, image, size)
        lines = lay["lines"]
        avail = lay["width"] - 2 * PADDING
        self.assertGreaterEqual(len(lines), 1)
        self.assertEqual("".join(l + joiner(l) for l in lines).split(), text.split(),
                         "words lost or changed")
        probes = list(lines)
        for i in range(len(lines) - 1):
            probes.append(lines[i] + joiner(lines[i]) + first_segment(lines[i + 1]))
        widths = pillow_widths(probes, size)
        for line, w in zip(lines, widths):
            self.assertLessEqual(w, avail + TOLERANCE,
                                 "line wider than %d px (%.2f): %r" % (avail, w, line))
        for i, w in enumerate(widths[len(lines):]):
            self.assertGreater(w, avail - TOLERANCE,
                               "break after %r although the next word fits (%.2f <= %d)"
                               % (lines[i], w, avail))
        return lay

    def test_sizes_widths_and_scripts(self):
        checked = 0
        for size in (10, 12, 16, 24):
            for image in ("camera_640x480_progressive.jpg", "camera_674x480.jpg"):
                for text in CAPTIONS:
                    with self.subTest(size=size, image=image, text=text[:20]):
                        self.check(text, image, size)
                        checked += 1
        self.assertEqual(checked, 32)

    def test_multi_line_captions_really_wrap(self):
        lay = self.check(CAPTIONS[1], "camera_640x480_progressive.jpg", 12)
        self.assertGreaterEqual(len(lay["lines"]), 3)


if __name__ == "__main__":
    unittest.main()
