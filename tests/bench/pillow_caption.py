"""The captioning job done the way a user would do it without imgcap: Pillow
(Debian's python3-pil), memory to memory, so that it is comparable with the
floors and with imgcap-render --repeat.

Per image: open the JPEG, add a black band below it as tall as the wrapped
text plus padding, draw the text in white with DejaVu Sans at 12 px (greedy
word wrap by measured width, words longer than a line split between
characters), save at quality 90.

Usage: pillow_caption.py IN.jpg FONT.ttf TEXT [iterations [rounds] [OUT.jpg]]
Prints one line of JSON: {"pillow_ms":..,"iterations":..,"rounds":..,"version":..}
(the lowest per-round mean, like floors.c). OUT.jpg, if given, receives one
result so that it can be looked at.
"""
import io
import json
import sys
import time

from PIL import Image, ImageDraw, ImageFont, __version__ as PIL_VERSION

PADDING = 4


def wrap(text, font, width):
    lines = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            candidate = word if not line else line + " " + word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
                line = ""
            while font.getlength(word) > width:
                cut = 1
                while cut < len(word) and font.getlength(word[:cut + 1]) <= width:
                    cut += 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def caption(data, font, text):
    src = Image.open(io.BytesIO(data))
    src.load()
    ascent, descent = font.getmetrics()
    line_height = ascent + descent
    lines = wrap(text, font, src.width - 2 * PADDING)
    band = len(lines) * line_height + 2 * PADDING
    out = Image.new("RGB", (src.width, src.height + band), (0, 0, 0))
    out.paste(src.convert("RGB"), (0, 0))
    draw = ImageDraw.Draw(out)
    y = src.height + PADDING
    for line in lines:
        draw.text((PADDING, y), line, font=font, fill=(255, 255, 255))
        y += line_height
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    path, font_path, text = sys.argv[1:4]
    iterations = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    with open(path, "rb") as f:
        data = f.read()
    font = ImageFont.truetype(font_path, 12)
    result = b""
    for _ in range(3):
        result = caption(data, font, text)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(iterations):
            caption(data, font, text)
        best = min(best, (time.perf_counter() - t0) * 1e3 / iterations)
    if len(sys.argv) > 6:
        with open(sys.argv[6], "wb") as f:
            f.write(result)
    print(json.dumps({"pillow_ms": round(best, 4), "iterations": iterations,
                      "rounds": rounds, "version": PIL_VERSION, "out_bytes": len(result)}))


if __name__ == "__main__":
    main()
