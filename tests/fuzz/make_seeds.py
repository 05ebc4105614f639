#!/usr/bin/env python3
"""Writes the seed corpora tests/fuzz/seeds/<target>/ (small, committed files).
Run from anywhere; it rewrites the files it makes and leaves the others, such as
the regress-* inputs that once crashed a target. The seeds give the
fuzzers the shape of real inputs so they spend their time past the framing."""
import json
import os
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SEEDS = os.path.join(HERE, "seeds")
DATA = os.path.join(ROOT, "tests", "data")
UUID = "018f3c2a-7b1d-7c3e-9a4f-0123456789ab"


def jpeg(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def tiny_jpeg():
    """The headers of a real JPEG and the first bytes of its scan: enough to
    look like one, small enough for a seed."""
    return jpeg("camera_674x480.jpg")[:700]


def write(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def wire(desc, body, extra=None, cl=None):
    h = {"id": UUID, "received_at": "2026-11-28T12:34:56.789Z", "description": desc,
         "content_length": len(body) if cl is None else cl}
    h.update(extra or {})
    return b"IMGCAP1\n" + json.dumps(h, ensure_ascii=False).encode() + b"\n" + body


def multipart(fields, boundary="xyz"):
    out = b""
    for name, value, filename in fields:
        disp = 'form-data; name="%s"' % name
        if filename:
            disp += '; filename="%s"' % filename
        out += ("--%s\r\nContent-Disposition: %s\r\n" % (boundary, disp)).encode()
        if filename:
            out += b"Content-Type: image/jpeg\r\n"
        out += b"\r\n" + value + b"\r\n"
    return out + ("--%s--\r\n" % boundary).encode()


def exif(order, entries, ifd_off=8):
    """An APP1 payload: Exif\\0\\0 + TIFF header + IFD0 with (tag, type, count, value)."""
    be = order == b"MM"
    e = ">" if be else "<"
    tiff = order + struct.pack(e + "HI", 42, ifd_off) + b"\0" * (ifd_off - 8)
    tiff += struct.pack(e + "H", len(entries))
    for tag, typ, count, value in entries:
        tiff += struct.pack(e + "HHI", tag, typ, count) + struct.pack(e + "H", value) + b"\0\0"
    return b"Exif\0\0" + tiff + struct.pack(e + "I", 0)


def main():
    body = tiny_jpeg()
    write("wire", "ok", wire("Красный сигнал: 7 секунд", body))
    write("wire", "rendered", wire("a\nb \"q\" \\", body, {"width": 674, "height": 496}))
    write("wire", "emoji", wire("\U0001F6A6" * 10, b"\xff\xd8\xff\xd9"))
    write("wire", "bad_length", wire("x", body, cl=5))
    write("wire", "bad_json", b"IMGCAP1\n{\"id\":\n\xff\xd8")
    write("wire", "dup_key", b'IMGCAP1\n{"id":"a","id":"b"}\n')
    write("wire", "camera_thumb", wire("x", body + body[:40], {"camera": "cam-12.north",
                                                               "thumbnail_length": 40,
                                                               "width": 8, "height": 8},
                                       cl=len(body)))

    write("utf8", "ascii", "Camera 12, lane 3")
    write("utf8", "cyrillic", "С начала фазы запрещающего сигнала прошло: 7 секунд")
    write("utf8", "mixed", "日本語 \U0001F6A6 é\u0301 \u00a0\u2028")
    write("utf8", "invalid", b"\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82 \x00 \xff")
    write("consumer_ident", "hostname", "3f2a9c1d0b7e-6-5d41402a-effffffc-a1b2c3d4")
    write("consumer_ident", "named", "camera-7-render-4194304-00000000-f0000436-0000ffff")
    write("consumer_ident", "legacy", "3f2a9c1d0b7e-6")

    with open(os.path.join(ROOT, ".env"), "rb") as f:
        write("config", "repo_env", f.read())
    write("config", "quotes", "export FONT_SIZE = '14'\nBAND_MODE=\"overlay\" # c\n"
          "MAX_PIXELS=40e6\r\nLOG_LEVEL=warning\nAPI_TOKEN_READS=yes\n")
    write("config", "bad_values", "JPEG_QUALITY=101\nAPI_PORT=0x50\nMAX_PIXELS=1e19\n")
    write("config", "bad_line", "FOO\n'unterminated=\nA='x\n")
    write("config", "frame_store", "RETENTION=30d\nSTORAGE_MIN_FREE=2.5%\nSTORAGE_RECYCLE=1\n"
          "THUMBNAIL_SIZE=200\n")
    write("config", "space_bytes", "STORAGE_MIN_FREE=500MB\nRETENTION=90s\n")

    for name, url in (("tcp", "redis://:secret@redis.example:6380/2"),
                      ("bare", "redis://127.0.0.1"), ("unix", "unix:///run/redis/redis.sock"),
                      ("v6", "redis://[::1]:6379/0"), ("bad_port", "redis://h:99999")):
        write("rqueue_url", name, url)
    for name, id_ in (("v7", "0192f0c8-1234-7abc-8def-0123456789ab"),
                      ("upper", "0192F0C8-1234-7ABC-8DEF-0123456789AB"),
                      ("short", "0192f0c8-1234-7abc-8def-0123456789a"),
                      ("dashes", "0192f0c81234-7abc-8def-0123456789ab-")):
        write("uuid", name, id_)
    for name, key in (("token", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
                      ("quoted", '"a key \\"with\\" escapes\\\\"'),
                      ("spaces", "  k1\t"), ("empty", '""'),
                      ("value", "%s 0192f0c8-1234-7abc-8def-0123456789ab 2026-12-06T18:30:00.123Z"
                       % ("ab" * 32))):
        write("idem", name, key)

    jp = body[:64]
    desc = "Камера 12: зелёный".encode()
    write("upload", "ok", b"multipart/form-data; boundary=xyz\0" +
          multipart([("image", jp, "a.jpg"), ("description", desc, None)]))
    write("upload", "quoted_boundary", b'multipart/form-data; charset=utf-8; boundary="a b;c"\0' +
          multipart([("description", b"d", None), ("image", jp, "a.jpg")], "a b;c"))
    write("upload", "not_jpeg", b"multipart/form-data; boundary=xyz\0" +
          multipart([("image", b"GIF89a", "a.gif"), ("description", b"x", None)]))
    write("upload", "repeated", b"multipart/form-data; boundary=xyz\0" +
          multipart([("image", jp, "a.jpg"), ("image", jp, "b.jpg"),
                     ("description", b"\xff", None)]))
    write("upload", "preamble", b"MULTIPART/FORM-DATA;boundary=xyz\0preamble\r\n" +
          multipart([("image", jp, None), ("description", b"x" * 201, None)]) + b"epilogue")
    write("upload", "json", b"application/json\0{\"image\":1}")
    write("upload", "camera", b"multipart/form-data; boundary=xyz\0" +
          multipart([("camera", b"gate-3.north_1", None), ("image", jp, "a.jpg"),
                     ("description", desc, None)]))
    write("upload", "camera_bad", b"multipart/form-data; boundary=xyz\0" +
          multipart([("image", jp, "a.jpg"), ("description", desc, None), ("camera", b"", None),
                     ("camera", b"gate 3", None)]))

    # listquery: a mask of the present fields (limit, before, from, to, q,
    # camera), then their values separated by NULs.
    write("listquery", "all", b"\x3f" + b"\0".join([
        b"20", UUID.encode(), b"2026-12-06T10:30:00.25+01:00", b"2026-12-07T00:00:00Z",
        "Камера 50%_\\".encode(), b"gate-3.n_1"]))
    write("listquery", "window", b"\x0c\0\0002026-12-06T09:30:00Z\0002026-12-06 10:30:00 01:00")
    write("listquery", "q_only", b"\x10\0\0\0\0" + "ΑΘΗΝΑ 東京 مرحبا".encode())
    write("listquery", "bad_to", b"\x0c\0\0002026-12-06T09:30:00Z\0002026-12-06T09:30:00Z")
    write("params", "limit", b"\x00100")
    write("params", "wait", b"\x01030")
    write("params", "id", b"\x02018F3C2A-7B1D-7C3E-9A4F-0123456789AB")
    write("params", "etag", b'\x03W/"0190a3b4-0000-7000-8000-000000000000", "x", *')
    write("params", "time", b"\x042026-12-06T10:30:00.123456789+01:00")
    write("params", "q", "\x05Вокзал 50%_".encode())
    write("params", "camera", b"\x06gate-3.north")

    # router: selector byte (0 route, 1 decode, 2 token), then two NUL-separated strings.
    write("router", "image", b"\x00GET\0/api/images/" + UUID.encode())
    write("router", "odd_path", b"\x00POST\0//api//images/%2F%00+%zz/")
    write("router", "asset", b"\x00HEAD\0/assets/swagger-ui/swagger-ui.css")
    write("router", "thumbnail", b"\x00GET\0/api/images/" + UUID.encode() + b"/thumbnail")
    write("router", "delete", b"\x00DELETE\0/api/images/" + UUID.encode())
    write("router", "decode", b"\x01\0a%41%4a+%%00%4%")
    write("router", "token", b"\x02s3cret\0bearer   s3cret")

    write("exif", "le", exif(b"II", [(0x0110, 2, 4, 0), (0x0112, 3, 1, 6)]))
    write("exif", "be", exif(b"MM", [(0x0112, 3, 1, 8)], ifd_off=12))
    write("exif", "no_orientation", exif(b"II", [(0x010F, 2, 4, 0)]))
    write("exif", "short", b"Exif\0\0II*\0\x08\0\0\0\x01\0")

    # width, padding, mode (bit 0: the real fonts), text
    for name, w, pad, mode, text in (
            ("w674", 674, 4, 0, "С начала фазы запрещающего сигнала прошло: 7 секунд"),
            ("w64", 64, 0, 0, "averyveryverylongwordthatmustbesplit and more"),
            ("w640", 640, 8, 0, "\n\nline one\nline two\n\n  spaced   words  \n"),
            ("w3", 3, 2, 0, "\U0001F6A6\u2003\u00a0x"),
            ("arabic", 200, 4, 1, "مرحبا بالعالم، كاميرا 17 (Dubai) في دبي"),
            ("hebrew", 120, 4, 0, "שלום עולם, מצלמה 17 בתל אביב"),
            ("devanagari", 150, 4, 1, "नमस्ते दुनिया, क्षत्रिय स्त्री"),
            ("thai", 100, 2, 1, "ระบบสร้างภาพกล้องวงจรปิดในกรุงเทพ"),
            ("cjk", 90, 2, 0, "上海的摄像头第十七号，交通繁忙。東京のカメラ「渋谷」"),
            ("emoji", 80, 0, 1, "Hi 😀 👍🏽 👨\u200d👩\u200d👧 🇮🇱 ❤️ \U0010fffd"),
            ("bidi", 60, 0, 0, "a\u202eb\u2067c\u2069d\u202c (e) [f] 1.2 \u05d0")):
        write("layout", name, struct.pack("<HBB", w, pad, mode) + text.encode())

    write("sentinel", "addr", b"10.231.0.11:26379, s2 ,[fd00::1]:5000\n"
          b"*2\r\n$10\r\n10.231.0.3\r\n$4\r\n6379\r\n")
    write("sentinel", "role", b"s1\n*3\r\n$6\r\nmaster\r\n:1234\r\n*0\r\n"
          b"*5\r\n$5\r\nslave\r\n$2\r\nh1\r\n:6379\r\n$9\r\nconnected\r\n:9\r\n")
    write("sentinel", "errors", b"[::1\n$-1\r\n-READONLY replica\r\n-IDONTKNOW x\r\n")

    render_seeds()


def run(args, data=None):
    return subprocess.run(args, input=data, stdout=subprocess.PIPE, check=True).stdout


def app1_orientation(jpg, value):
    """Inserts an EXIF APP1 with Orientation=value after the SOI."""
    payload = exif(b"MM", [(0x0112, 3, 1, value)])
    return jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpg[2:]


def render_seeds():
    """Small pictures (MAX_PIXELS is tiny in the render target) of every JPEG
    flavour render handles, each prefixed with the target's option byte."""
    src = run(["djpeg", "-scale", "1/8", "-ppm"], jpeg("camera_674x480.jpg"))  # 85x60
    gray = run(["djpeg", "-scale", "1/8", "-grayscale", "-pnm"], jpeg("camera_674x480.jpg"))
    odd = run(["convert", "ppm:-", "-crop", "37x23+0+0", "ppm:-"], src)
    mcu = run(["convert", "ppm:-", "-crop", "80x48+0+0", "ppm:-"], src)  # lossless path
    flavours = {
        "lossless420": (["cjpeg"], mcu),
        "lossless444": (["cjpeg", "-sample", "1x1"], mcu),
        "420": (["cjpeg", "-quality", "80"], src),
        "444": (["cjpeg", "-sample", "1x1"], src),
        "422": (["cjpeg", "-sample", "2x1"], src),
        "gray": (["cjpeg"], gray),
        "progressive": (["cjpeg", "-progressive"], src),
        "arithmetic": (["cjpeg", "-arithmetic"], src),
        "restart": (["cjpeg", "-restart", "1B"], src),
        "odd": (["cjpeg", "-sample", "2x2"], odd),
    }
    for i, (name, (args, img)) in enumerate(sorted(flavours.items())):
        write("render", name, bytes([i % 8]) + run(args, img))
    base = run(["cjpeg"], odd)
    write("render", "exif6", b"\x00" + app1_orientation(base, 6))
    write("render", "exif3_overlay", b"\x01" + app1_orientation(base, 3))
    cmyk = run(["convert", "jpg:-", "-colorspace", "CMYK", "jpg:-"], base)
    write("render", "cmyk", b"\x02" + cmyk)
    write("render", "truncated", b"\x00" + run(["cjpeg"], src)[:600])
    write("render", "not_jpeg", b"\x00" + jpeg("not_a_jpeg.jpg"))
    # The splice walker takes the JPEG alone: the sequential Huffman flavours.
    for name in ("lossless420", "lossless444", "restart", "gray", "420", "odd"):
        with open(os.path.join(SEEDS, "render", name), "rb") as f:
            write("splice", name, f.read()[1:])
    thumb_seeds()


def thumb_seeds():
    """The thumbnail target: render's seeds with its own option byte (the
    thumbnail size), and the camera picture at half size (337x240, within the
    target's MAX_PIXELS), to 64 px."""
    for i, name in enumerate(sorted(os.listdir(os.path.join(SEEDS, "render")))):
        if name.startswith("regress-"):
            continue
        with open(os.path.join(SEEDS, "render", name), "rb") as f:
            write("thumb", name, bytes([i % 4]) + f.read()[1:])
    half = run(["djpeg", "-scale", "1/2", "-ppm"], jpeg("camera_674x480.jpg"))
    cam = run(["cjpeg", "-quality", "80"], half)
    write("thumb", "camera", b"\x01" + cam)
    # render's output of it by the entropy splice (a DRI, one RST0 before the
    # band): what thumb.c's split decode takes. Needs build/imgcap-render.
    write("thumb", "spliced", b"\x01" + render_once(cam, "Seed 17: spliced"))


def render_once(jpg, text):
    """jpg captioned by build/imgcap-render --once."""
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "in.jpg"), os.path.join(d, "out.jpg")
        with open(src, "wb") as f:
            f.write(jpg)
        subprocess.run([os.path.join(ROOT, "build", "imgcap-render"), "--once", src, out,
                        "--text", text], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        with open(out, "rb") as f:
            return f.read()

if __name__ == "__main__":
    main()
