"""Structure of the Docker deployment, checked without a Docker engine: the
compose files as docker-compose itself resolves them (`docker-compose config`),
deploy/Dockerfile, deploy/redis.conf, .env and .dockerignore.

Needs docker-compose (v1), PyYAML (Debian: python3-yaml, a dependency of
docker-compose) to read its YAML output (v1 has no JSON output), and
redis-server to load deploy/redis.conf."""
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVICES = {"api", "render", "persist", "redis", "postgres"}
OWN = ("api", "render", "persist")
DESIGN_VARS = ("REDIS_URL REDIS_PREFIX DATABASE_URL STORAGE_DIR FONT_NAME FONT_PATH FONT_SIZE "
               "TEXT_PADDING BAND_MODE JPEG_QUALITY API_HOST API_PORT MAX_UPLOAD_BYTES "
               "MAX_PIXELS QUEUE_MAX_DEPTH MAX_ATTEMPTS LEASE_SECONDS API_WORKERS "
               "RENDER_WORKERS PERSIST_WORKERS LOG_DIR LOG_LEVEL SHUTDOWN_SECONDS").split()
EXTRA_VARS = ("LOG_STDERR FONTS_DIR SQL_DIR CONSUMER_NAME SWAGGER_UI_URL API_TOKEN API_TOKEN_READS "
              "IDEMPOTENCY_TTL "
              "EVENTS_MAX_CLIENTS API_PER_IP_CONNECTIONS THUMBNAIL_SIZE RETENTION "
              "STORAGE_MIN_FREE STORAGE_RECYCLE "
              "POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB LOCAL_REDIS_PORT LOCAL_PG_PORT "
              "VAR_DIR").split()


def compose_config(*files):
    """The resolved configuration; with no files, what Compose loads by itself
    in the repository root."""
    args = ["docker-compose"]
    for f in files:
        args += ["-f", os.path.join(ROOT, f)]
    r = subprocess.run(args + ["config"], cwd=ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise AssertionError("docker-compose %s config failed:\n%s" % (" ".join(files), r.stderr))
    return yaml.safe_load(r.stdout)


def normalized(value, key=None):
    """A resolved configuration with each service's volumes sorted: merging
    files may reorder them without changing them."""
    if isinstance(value, dict):
        return {k: normalized(v, k) for k, v in value.items()}
    if isinstance(value, list) and key == "volumes":
        return sorted(value, key=repr)
    return value


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def dotenv():
    values = {}
    for n, line in enumerate(read(".env").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if not m:
            raise AssertionError(".env line %d is not NAME=value: %r" % (n, line))
        values[m.group(1)] = m.group(2)
    return values


def mounts(service):
    """[(source, target, read_only)] of a resolved service's volumes."""
    result = []
    for v in service.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            result.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
        else:
            result.append((v.get("source"), v["target"], bool(v.get("read_only"))))
    return result


class ComposeBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cfg = compose_config("docker-compose.yml")
        cls.svc = cls.cfg["services"]

    def test_five_services(self):
        self.assertEqual(set(self.svc), SERVICES)

    def test_healthchecks(self):
        for name, s in self.svc.items():
            self.assertIn("healthcheck", s, name)
            self.assertTrue(s["healthcheck"].get("test"), name)
        self.assertEqual(self.svc["render"]["healthcheck"]["test"],
                         ["CMD", "imgcap-render", "--check"])
        self.assertEqual(self.svc["persist"]["healthcheck"]["test"],
                         ["CMD", "imgcap-persist", "--check"])
        self.assertEqual(self.svc["api"]["healthcheck"]["test"], ["CMD", "imgcap-api", "--check"])
        self.assertIn("pg_isready -h 127.0.0.1", " ".join(self.svc["postgres"]["healthcheck"]["test"]))
        self.assertIn("redis-cli ping", " ".join(self.svc["redis"]["healthcheck"]["test"]))

    def test_healthy_dependency_order(self):
        want = {"api": {"redis", "postgres"}, "render": {"redis"},
                "persist": {"redis", "postgres"}}
        for name, deps in want.items():
            got = self.svc[name].get("depends_on", {})
            self.assertIsInstance(got, dict, name)
            self.assertEqual(set(got), deps, name)
            for d in deps:
                self.assertEqual(got[d].get("condition"), "service_healthy", "%s -> %s" % (name, d))
        for name in ("redis", "postgres"):
            self.assertNotIn("depends_on", self.svc[name])

    def test_restart_and_hardening(self):
        for name, s in self.svc.items():
            self.assertEqual(s.get("restart"), "unless-stopped", name)
            self.assertIs(s.get("read_only"), True, name)
            self.assertIn("no-new-privileges:true", s.get("security_opt", []), name)
            # No server is pid 1, so a crash of any ends its container and the
            # restart policy applies (make test-compose crashes each).
            self.assertIs(s.get("init"), True, name)
        self.assertEqual(self.svc["postgres"].get("stop_signal"), "SIGINT")

    def test_only_api_port_published(self):
        for name, s in self.svc.items():
            if name == "api":
                ports = s.get("ports", [])
                self.assertEqual(len(ports), 1)
                p = ports[0]
                target = p["target"] if isinstance(p, dict) else int(str(p).split(":")[-1])
                self.assertEqual(int(target), 8000)
            else:
                self.assertFalse(s.get("ports"), "%s publishes a port in the base file" % name)

    def test_workers_scale(self):
        for name in ("render", "persist"):
            self.assertNotIn("container_name", self.svc[name])
            self.assertFalse(self.svc[name].get("ports"))
            self.assertNotIn("CONSUMER_NAME", self.svc[name].get("environment", {}))

    def test_images_from_project_dockerfile(self):
        for name in OWN:
            s = self.svc[name]
            self.assertEqual(s["build"]["dockerfile"], "deploy/Dockerfile", name)
            self.assertEqual(s["command"][0], "imgcap-" + name)
        self.assertTrue(self.svc["redis"]["image"].startswith("redis:7"))
        self.assertTrue(self.svc["postgres"]["image"].startswith("postgres:15"))

    def test_named_volumes(self):
        self.assertTrue({"images", "logs", "pgdata", "redisdata"} <= set(self.cfg["volumes"]))
        api = {t: (src, ro) for src, t, ro in mounts(self.svc["api"])}
        persist = {t: (src, ro) for src, t, ro in mounts(self.svc["persist"])}
        self.assertEqual(api["/data/images"], ("images", True))
        self.assertEqual(persist["/data/images"], ("images", False))
        for name in OWN:
            self.assertIn(("logs", "/var/log/imgcap", False), mounts(self.svc[name]), name)
        self.assertIn(("pgdata", "/var/lib/postgresql/data", False),
                      mounts(self.svc["postgres"]))
        self.assertIn(("redisdata", "/data", False), mounts(self.svc["redis"]))

    def test_init_sql_mounted(self):
        found = [m for m in mounts(self.svc["postgres"])
                 if m[1] == "/docker-entrypoint-initdb.d"]
        self.assertEqual(len(found), 1)
        self.assertEqual(os.path.realpath(found[0][0]), os.path.join(ROOT, "deploy", "sql"))
        self.assertTrue(any(f.endswith(".sql") for f in os.listdir(found[0][0])))

    def test_redis_appendonly(self):
        conf = {m[1]: m for m in mounts(self.svc["redis"])}
        src = conf["/usr/local/etc/redis/redis.conf"][0]
        self.assertEqual(os.path.realpath(src), os.path.join(ROOT, "deploy", "redis.conf"))
        self.assertIn("/usr/local/etc/redis/redis.conf", self.svc["redis"]["command"])
        settings = {}
        for line in read("deploy/redis.conf").splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.strip().partition(" ")
                settings[key] = value.strip()
        self.assertEqual(settings.get("appendonly"), "yes")
        self.assertEqual(settings.get("appendfsync"), "always")
        self.assertEqual(settings.get("maxmemory-policy"), "noeviction")

    def test_redis_conf_loads(self):
        # A real redis-server reads the file as the container and local.sh do
        # (the command line only places it), on a unix socket, no TCP port.
        with tempfile.TemporaryDirectory() as tmp:
            sock = os.path.join(tmp, "redis.sock")
            proc = subprocess.Popen(
                ["redis-server", os.path.join(ROOT, "deploy", "redis.conf"), "--port", "0",
                 "--unixsocket", sock, "--dir", tmp, "--daemonize", "no"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                deadline = time.monotonic() + 10
                while not os.path.exists(sock):
                    if proc.poll() is not None:
                        self.fail("redis-server refused deploy/redis.conf:\n" + proc.stdout.read())
                    self.assertLess(time.monotonic(), deadline, "redis-server did not start")
                    time.sleep(0.05)
                got = {}
                for key in ("appendonly", "appendfsync", "maxmemory-policy"):
                    out = subprocess.run(["redis-cli", "-s", sock, "CONFIG", "GET", key],
                                         stdout=subprocess.PIPE, text=True, check=True).stdout
                    got[key] = out.split()[1]
                self.assertEqual(got, {"appendonly": "yes", "appendfsync": "always",
                                       "maxmemory-policy": "noeviction"})
            finally:
                proc.terminate()
                proc.communicate(timeout=10)

    def test_container_environment(self):
        for name in OWN:
            env = self.svc[name]["environment"]
            self.assertEqual(env["REDIS_URL"], "redis://redis:6379/0")
            self.assertTrue(env["DATABASE_URL"].startswith("postgresql://"), name)
            self.assertIn("@postgres:5432/", env["DATABASE_URL"])
            self.assertEqual(env["STORAGE_DIR"], "/data/images")
            self.assertEqual(env["LOG_DIR"], "/var/log/imgcap")
        self.assertEqual(self.svc["api"]["environment"]["API_HOST"], "0.0.0.0")

    def test_api_has_room_for_its_connections(self):
        # A thread and a descriptor per connection, up to 8192 (services/api/server.h).
        api = self.svc["api"]
        # No ulimits: with them podman refuses every exec (the healthcheck); the
        # api raises its own soft open-file limit.
        self.assertNotIn("ulimits", api)
        self.assertGreaterEqual(int(api["pids_limit"]), 8192 + 64)
        self.assertEqual(api["environment"]["API_PER_IP_CONNECTIONS"], "64")

    def test_credentials_come_from_env_file(self):
        raw = yaml.safe_load(read("docker-compose.yml"))
        pg = raw["services"]["postgres"]["environment"]
        for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
            self.assertEqual(pg[key], "${%s}" % key)
        self.assertNotIn(dotenv()["POSTGRES_PASSWORD"], read("docker-compose.yml"))


class ComposeDefault(unittest.TestCase):
    """Compose merges compose.override.yml whenever it runs without -f: what
    `docker compose up` starts must be docker-compose.yml alone."""

    def test_override_is_loaded_and_changes_nothing(self):
        base = normalized(compose_config("docker-compose.yml"))
        self.assertEqual(normalized(compose_config()), base)
        self.assertEqual(normalized(compose_config("docker-compose.yml", "compose.override.yml")),
                         base)

    def test_override_is_loaded_by_default(self):
        # The premise of the test above, shown on a copy with a visible change.
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("docker-compose.yml", ".env"):
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(read(name))
            with open(os.path.join(tmp, "compose.override.yml"), "w") as f:
                f.write("services:\n  api:\n    environment:\n      LOG_LEVEL: marker\n")
            r = subprocess.run(["docker-compose", "config"], cwd=tmp, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            api = yaml.safe_load(r.stdout)["services"]["api"]
            self.assertEqual(api["environment"]["LOG_LEVEL"], "marker")


class ComposeDev(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = compose_config("docker-compose.yml", "compose.dev.yml")["services"]
        cls.env = dotenv()

    def published(self, name):
        result = []
        for p in self.svc[name].get("ports", []):
            if isinstance(p, dict):
                result.append((p.get("host_ip"), int(p["published"]), int(p["target"])))
            else:
                ip, pub, target = str(p).split("/")[0].split(":")
                result.append((ip, int(pub), int(target)))
        return result

    def test_local_ports_on_loopback(self):
        self.assertEqual(self.published("redis"),
                         [("127.0.0.1", int(self.env["LOCAL_REDIS_PORT"]), 6379)])
        self.assertEqual(self.published("postgres"),
                         [("127.0.0.1", int(self.env["LOCAL_PG_PORT"]), 5432)])

    def test_debug_logs_in_the_logs_volume(self):
        # A host directory bind-mounted there is created by the engine as
        # root, and the services (uid 10001) could not open their log files.
        for name in OWN:
            self.assertEqual(self.svc[name]["environment"]["LOG_LEVEL"], "debug")
            logs = [m for m in mounts(self.svc[name]) if m[1] == "/var/log/imgcap"]
            self.assertEqual(logs, [("logs", "/var/log/imgcap", False)], name)


class Dockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = read("deploy/Dockerfile")
        cls.stages = re.split(r"(?m)^FROM ", cls.text)[1:]

    def test_multi_stage_bookworm(self):
        self.assertGreaterEqual(len(self.stages), 2)
        for s in self.stages:
            self.assertTrue(s.startswith("debian:bookworm-slim"), s.splitlines()[0])
        self.assertIn("make", self.stages[0])
        self.assertRegex(self.stages[-1], r"COPY --from=build ")

    def test_runtime_stage_non_root(self):
        users = re.findall(r"(?m)^USER\s+(\S+)", self.stages[-1])
        self.assertTrue(users, "no USER in the runtime stage")
        uid = users[-1].split(":")[0]
        self.assertTrue(uid.isdigit() and int(uid) != 0, "USER %s is not a fixed non-root uid" % uid)

    def test_runtime_has_no_dev_packages(self):
        sys.path.insert(0, os.path.dirname(__file__))
        import check_runtime_libs
        pkgs = check_runtime_libs.runtime_packages()
        self.assertIn("libpq5", pkgs)
        self.assertFalse([p for p in pkgs if p.endswith("-dev")], pkgs)
        for needed in ("fontconfig", "libfontconfig1", "libfreetype6"):
            self.assertIn(needed, pkgs)

    def test_ships_fonts_sql_and_binaries(self):
        runtime = self.stages[-1]
        self.assertRegex(runtime, r"COPY fonts/")
        self.assertRegex(runtime, r"COPY deploy/sql/")
        for b in ("imgcap-api", "imgcap-render", "imgcap-persist"):
            self.assertIn(b, runtime)

    def test_dockerignore_keeps_secrets_out(self):
        lines = [l.strip() for l in read(".dockerignore").splitlines()
                 if l.strip() and not l.startswith("#")]
        self.assertEqual(lines[0], "*", "the context should be an allowlist")
        self.assertNotIn("!.env", lines)
        self.assertNotIn("!.git", lines)


class DotEnv(unittest.TestCase):
    def test_every_variable_with_a_default(self):
        env = dotenv()
        for name in DESIGN_VARS + EXTRA_VARS:
            self.assertIn(name, env)
        for name in ("STORAGE_DIR", "FONT_NAME", "FONT_SIZE", "FONTS_DIR", "TEXT_PADDING",
                     "LOG_DIR", "SQL_DIR", "LEASE_SECONDS", "MAX_ATTEMPTS"):
            self.assertTrue(env[name], "%s has no default" % name)

    def test_local_values(self):
        env = dotenv()
        # local.sh computes the URLs of the private servers it starts.
        self.assertEqual(env["REDIS_URL"], "")
        self.assertEqual(env["DATABASE_URL"], "")
        self.assertEqual(env["LOCAL_REDIS_PORT"], "6390")
        self.assertEqual(env["LOCAL_PG_PORT"], "5440")
        self.assertEqual(env["VAR_DIR"], "./var")
        for name in ("STORAGE_DIR", "LOG_DIR"):
            self.assertTrue(env[name].startswith("./var/"), name)

    def test_every_variable_commented(self):
        lines = read(".env").splitlines()
        for i, line in enumerate(lines):
            if re.match(r"^[A-Z_]+=", line):
                self.assertTrue(i > 0 and lines[i - 1].startswith("#"),
                                "%s has no comment above it" % line.split("=")[0])


if __name__ == "__main__":
    unittest.main(verbosity=1)
