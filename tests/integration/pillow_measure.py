"""Measures text widths with Pillow (an independent FreeType client), for
test_layout_independent.py. Runs under Debian's /usr/bin/python3 (python3-pil).
stdin: {"font": path, "size": px, "texts": [...]}; stdout: [width, ...]."""
import json
import sys

from PIL import ImageFont

req = json.load(sys.stdin)
# Pillow's default engine (libraqm: HarfBuzz, unhinted advances, GPOS kerning)
# where it has one; it shares no code with imgcap's layout.
font = ImageFont.truetype(req["font"], req["size"])
json.dump([font.getlength(t) for t in req["texts"]], sys.stdout)
