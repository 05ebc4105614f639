"""Reference renderings of a caption line by Pillow with libraqm (HarfBuzz,
FriBiDi: an independent shaping and bidi client), and a similarity measure
between imgcap-render's band and that reference, for test_scripts_render.py.
Runs under Debian's /usr/bin/python3 (python3-pil, libraqm0).

stdin: {"band": path of imgcap's output, "band_top": first row of the band,
        "font": path, "index": face index, "size": px, "text": one line,
        "rtl": bool, "engine": "raqm" | "basic", "emoji": bool,
        "save": optional PNG path for a person to look at}
stdout: {"score": normalised cross-correlation of the two inks (-1..1),
         "ink_size": [w, h] of imgcap's ink, "ref_size": [w, h] of the reference's}

The inks are compared where they are: each is cropped to its bounding box,
the reference scaled to imgcap's box, both blurred by a 3x3 box (hinting and
rounding move edges by a pixel), then correlated. A wrong order of letters,
unjoined Arabic or unplaced marks correlate poorly even at the same size."""
import json
import sys

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, features

req = json.load(sys.stdin)
if req["engine"] == "raqm" and not features.check("raqm"):
    sys.exit("Pillow has no libraqm here: install libraqm0 (deploy/deps.sh)")

band = Image.open(req["band"]).convert("L")
band = band.crop((0, req["band_top"], band.width, band.height))

engine = ImageFont.Layout.RAQM if req["engine"] == "raqm" else ImageFont.Layout.BASIC
if req.get("emoji"):
    # colour bitmap strikes exist at 109 px only: draw there, scale down
    font = ImageFont.truetype(req["font"], 109, index=req["index"], layout_engine=engine)
    canvas = Image.new("RGB", (int(len(req["text"]) * 160 + 200), 220), (0, 0, 0))
    ImageDraw.Draw(canvas).text((50, 160), req["text"], font=font, anchor="ls",
                                embedded_color=True)
    canvas = canvas.convert("L")
    box = canvas.getbbox()
    canvas = canvas.crop(box) if box else canvas
    scale = req["size"] / 109.0
    ref = canvas.resize((max(1, round(canvas.width * scale)), max(1, round(canvas.height * scale))),
                        Image.BOX)
else:
    font = ImageFont.truetype(req["font"], req["size"], index=req["index"], layout_engine=engine)
    kw = {"direction": "rtl"} if req["rtl"] and req["engine"] == "raqm" else {}
    w = int(font.getlength(req["text"], **kw)) + 4 * req["size"]
    ref = Image.new("L", (w, 3 * req["size"]), 0)
    ImageDraw.Draw(ref).text((2 * req["size"], 2 * req["size"]), req["text"], font=font,
                             fill=255, anchor="ls", **kw)


def ink(img):
    box = img.point(lambda v: 255 if v > 64 else 0).getbbox()
    if not box:
        sys.exit("no ink")
    return img.crop(box)


mine, theirs = ink(band), ink(ref)
scaled = theirs.resize(mine.size, Image.BILINEAR)


def ncc(a, b):
    a = a.filter(ImageFilter.BoxBlur(1))
    b = b.filter(ImageFilter.BoxBlur(1))
    pa, pb = list(a.getdata()), list(b.getdata())
    n = len(pa)
    ma, mb = sum(pa) / n, sum(pb) / n
    num = sum((x - ma) * (y - mb) for x, y in zip(pa, pb))
    da = sum((x - ma) ** 2 for x in pa) ** 0.5
    db = sum((y - mb) ** 2 for y in pb) ** 0.5
    return num / (da * db) if da and db else 0.0


score = ncc(mine, scaled)
if req.get("save"):
    # imgcap's band above, the reference below, for a person to compare
    out = Image.new("L", (max(band.width, theirs.width + 8), band.height + theirs.height + 12), 40)
    out.paste(band, (0, 0))
    out.paste(theirs, (4, band.height + 8))
    out.save(req["save"])
json.dump({"score": round(score, 4), "ink_size": list(mine.size),
           "ref_size": list(theirs.size)}, sys.stdout)
