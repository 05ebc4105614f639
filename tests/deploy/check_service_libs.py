"""Each service loads only the libraries of its own job (readelf's NEEDED
entries of the built binaries): render talks to Redis and draws JPEGs, so no
PostgreSQL or HTTP library; persist writes files and rows, so no HTTP, JPEG or
font library; the api serves HTTP over Redis and PostgreSQL, so no font or
JPEG library. A library creeping into a binary that does not use it is a
dependency the image and every host must carry for nothing.

Usage: check_service_libs.py BUILD_DIR ; exit 0 when every binary is clean.
Stdlib only."""
import os
import re
import subprocess
import sys

FORBIDDEN = {
    "imgcap-render": ("libpq", "libulfius", "libmicrohttpd", "liborcania"),
    "imgcap-persist": ("libulfius", "libmicrohttpd", "liborcania", "libjpeg", "libturbojpeg",
                       "libfreetype", "libfontconfig", "libharfbuzz", "libfribidi", "libicu"),
    "imgcap-api": ("libjpeg", "libturbojpeg", "libfreetype", "libfontconfig", "libharfbuzz",
                   "libfribidi", "libicu"),
}
# What each one must load: the check above proves nothing about a binary
# that failed to link its libraries at all.
REQUIRED = {
    "imgcap-render": ("libhiredis", "libjpeg", "libfreetype"),
    "imgcap-persist": ("libhiredis", "libpq"),
    "imgcap-api": ("libhiredis", "libpq", "libulfius", "libmicrohttpd"),
}


def needed(path):
    out = subprocess.run(["readelf", "-d", path], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def main(build):
    bad = []
    for binary in sorted(FORBIDDEN):
        libs = needed(os.path.join(build, binary))
        print("%-15s %s" % (binary, " ".join(libs)))
        for prefix in FORBIDDEN[binary]:
            bad += ["%s loads %s" % (binary, l) for l in libs if l.startswith(prefix + ".")
                    or l.startswith(prefix + "-")]
        for prefix in REQUIRED[binary]:
            if not any(l.startswith(prefix + ".") for l in libs):
                bad.append("%s does not load %s" % (binary, prefix))
    for line in bad:
        print("check_service_libs: " + line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build"))
