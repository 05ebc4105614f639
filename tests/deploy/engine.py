"""A container engine for tests/deploy/test_compose.py: the Docker Engine API
(over its unix socket, or tcp://) and the Compose command line, whichever
exists (`docker compose` v2, else docker-compose v1).

Only Docker API calls are made here, so the test runs the same on Docker and
on the Docker-compatible socket of podman that ../shared/containers/setup.sh
provides on machines without an engine."""
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SETUP = os.path.join(os.path.dirname(ROOT), "shared", "containers", "setup.sh")
PODMAN_SOCK = "unix:///run/podman/podman.sock"
# Unversioned paths: the engine answers with its own API version, so neither an
# old podman nor a Docker whose minimum version has moved on refuses them.
API = ""


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def demux(raw):
    """(stdout, stderr) of a non-TTY attach stream (8-byte frame headers)."""
    out, err = [], []
    pos = 0
    while pos + 8 <= len(raw):
        kind, size = raw[pos], struct.unpack(">I", raw[pos + 4:pos + 8])[0]
        (err if kind == 2 else out).append(raw[pos + 8:pos + 8 + size])
        pos += 8 + size
    return b"".join(out), b"".join(err)


class Engine:
    def __init__(self, host):
        self.host = host

    def _conn(self, timeout):
        u = urllib.parse.urlparse(self.host)
        if u.scheme == "unix":
            return UnixHTTPConnection(u.path, timeout)
        if u.scheme == "tcp":
            return http.client.HTTPConnection(u.hostname, u.port or 2375, timeout=timeout)
        raise RuntimeError("unsupported DOCKER_HOST %r" % self.host)

    def request(self, method, path, body=None, query=None, timeout=60):
        """(status, body bytes)."""
        url = API + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        conn = self._conn(timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Connection": "close"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, url, body=data, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def call(self, method, path, body=None, query=None, timeout=60):
        status, data = self.request(method, path, body, query, timeout)
        if status >= 300:
            raise RuntimeError("%s %s: %d %s" % (method, path, status, data[:500]))
        return json.loads(data) if data.strip() else None

    def ping(self):
        try:
            return self.request("GET", "/_ping", timeout=5)[0] == 200
        except OSError:
            return False

    def containers(self, project, service=None):
        """Every container of a compose project (running or not), each with
        'service' and 'number' added, sorted by service and number."""
        labels = ["com.docker.compose.project=" + project]
        if service:
            labels.append("com.docker.compose.service=" + service)
        found = self.call("GET", "/containers/json",
                          query={"all": "1", "filters": json.dumps({"label": labels})})
        for c in found:
            c["service"] = c["Labels"].get("com.docker.compose.service")
            c["number"] = int(c["Labels"].get("com.docker.compose.container-number") or 0)
        return sorted(found, key=lambda c: (c["service"], c["number"]))

    def inspect(self, cid):
        return self.call("GET", "/containers/%s/json" % cid)

    def exec(self, cid, cmd, timeout=120):
        """(exit code, stdout, stderr) of a command run in a container."""
        ex = self.call("POST", "/containers/%s/exec" % cid,
                       body={"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
        status, raw = self.request("POST", "/exec/%s/start" % ex["Id"],
                                   body={"Detach": False, "Tty": False}, timeout=timeout)
        if status >= 300:
            raise RuntimeError("exec %s in %s: %d %s" % (cmd, cid, status, raw[:300]))
        out, err = demux(raw)
        code = self.call("GET", "/exec/%s/json" % ex["Id"]).get("ExitCode")
        return code, out.decode(errors="replace"), err.decode(errors="replace")

    def logs(self, cid):
        """A container's stdout and stderr, all of it, as text."""
        raw = self.call_raw("GET", "/containers/%s/logs" % cid,
                            query={"stdout": "1", "stderr": "1"})
        out, err = demux(raw)
        return (out + err).decode(errors="replace")

    def call_raw(self, method, path, query=None):
        status, data = self.request(method, path, query=query)
        if status >= 300:
            raise RuntimeError("%s %s: %d %s" % (method, path, status, data[:500]))
        return data


def find_engine():
    """An Engine that answers: DOCKER_HOST, else Docker's socket, else the
    podman socket of ../shared/containers/setup.sh (run when it is down)."""
    if os.environ.get("DOCKER_HOST"):
        e = Engine(os.environ["DOCKER_HOST"])
        if not e.ping():
            raise RuntimeError("DOCKER_HOST=%s does not answer" % e.host)
        return e
    for host in ("unix:///var/run/docker.sock", PODMAN_SOCK):
        e = Engine(host)
        if e.ping():
            return e
    if not os.path.exists(SETUP):
        raise RuntimeError("no container engine: no Docker at /var/run/docker.sock, no "
                           "DOCKER_HOST, and no %s to provide one" % SETUP)
    subprocess.run([SETUP], check=True)
    e = Engine(PODMAN_SOCK)
    if not e.ping():
        raise RuntimeError("%s ran but %s does not answer" % (SETUP, PODMAN_SOCK))
    return e


def compose_command(env):
    """argv prefix of the Compose CLI: `docker compose` (v2) or docker-compose."""
    if shutil.which("docker"):
        r = subprocess.run(["docker", "compose", "version"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("neither `docker compose` nor docker-compose is installed")
