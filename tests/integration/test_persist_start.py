"""imgcap-persist before it consumes: its command line, the schema scripts of
SQL_DIR that cannot be applied (a missing directory, a script PostgreSQL
refuses, a script that cannot be read or is too large: each ends the start
with exit 1, the failed script rolled back and not recorded), and a SIGTERM while it still
waits for PostgreSQL (exit 0). One PostgreSQL for the module; every run here
ends in about a second."""
import os
import signal
import subprocess
import tempfile
import unittest

from harness import BIN_DIR, Stack, free_port, wait_until

PERSIST = os.path.join(BIN_DIR, "imgcap-persist")


class PersistStart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # PostgreSQL and Redis, no schema and no service.
        cls.stack = Stack(services=()).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.logs = os.path.join(self.tmp.name, "log")

    def env(self, **extra):
        e = dict(os.environ)
        e.update(self.stack.env)
        e["LOG_DIR"] = self.logs
        e.update(extra)
        return e

    def run_persist(self, *args, **env):
        return subprocess.run([PERSIST] + list(args), env=self.env(**env),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=60)

    def log(self):
        path = os.path.join(self.logs, "persist.log")
        if not os.path.exists(path):
            return ""
        with open(path, errors="replace") as f:
            return f.read()

    def sql_dir(self, files):
        d = os.path.join(self.tmp.name, "sql")
        os.makedirs(d)
        for name, text in files.items():
            if text is None:
                os.mkdir(os.path.join(d, name))
            else:
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
        return d

    def test_help_unknown_argument_and_configuration_error(self):
        p = self.run_persist("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("imgcap-persist", p.stdout)
        self.assertIn("SQL_DIR", p.stdout)
        p = self.run_persist("--bogus")
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown argument --bogus", p.stderr)
        p = self.run_persist(PERSIST_WORKERS="many")
        self.assertEqual(p.returncode, 3)
        self.assertIn("PERSIST_WORKERS", p.stderr)
        p = self.run_persist(REDIS_WAIT_REPLICAS="1", REDIS_TIMEOUT_MS="1000",
                             REDIS_WAIT_TIMEOUT_MS="900")
        self.assertEqual(p.returncode, 3)
        self.assertIn("REDIS_WAIT_TIMEOUT_MS", p.stderr)

    def test_missing_sql_dir(self):
        missing = os.path.join(self.tmp.name, "nosuch")
        p = self.run_persist(SQL_DIR=missing)
        self.assertEqual(p.returncode, 1)
        log = self.log()
        self.assertIn("cannot open SQL_DIR %s" % missing, log)
        self.assertIn("schema migration from %s failed" % missing, log)

    def test_refused_script_is_rolled_back_and_not_recorded(self):
        d = self.sql_dir({
            "001_first.sql": "CREATE TABLE start_first (x int);",
            "002_broken.sql": "CREATE TABLE start_broken (x int);\nSELEC 1;",
            "003_never.sql": "CREATE TABLE start_never (x int);",
            "README": "not a script", "1_short.sql": "not a script either",
        })
        p = self.run_persist(SQL_DIR=d)
        self.assertEqual(p.returncode, 1)
        log = self.log()
        self.assertIn("migrate: applied 001_first.sql", log)
        self.assertIn("migrate: 002_broken.sql failed: ERROR:  syntax error", log)
        s = self.stack
        self.assertEqual(s.psql("SELECT string_agg(version, ',' ORDER BY version) "
                                "FROM schema_migrations WHERE version LIKE '00%'"), "001_first")
        self.assertEqual(s.psql("SELECT to_regclass('start_first') IS NOT NULL, "
                                "to_regclass('start_broken') IS NULL, "
                                "to_regclass('start_never') IS NULL"), "t|t|t")

    def test_unreadable_script(self):
        # A directory under a script's name: opened, but not readable as a file.
        d = self.sql_dir({"004_dir.sql": None})
        p = self.run_persist(SQL_DIR=d)
        self.assertEqual(p.returncode, 1)
        self.assertIn("migrate: cannot read %s/004_dir.sql" % d, self.log())
        self.assertEqual(self.stack.psql("SELECT count(*) FROM schema_migrations "
                                         "WHERE version = '004_dir'"), "0")

    def test_script_over_the_size_limit(self):
        # 4 MiB is the most a schema script may hold: a larger file is refused
        # whole, never applied in part.
        d = self.sql_dir({"005_huge.sql": "-- " + "x" * (4 * 1024 * 1024) + "\n"})
        p = self.run_persist(SQL_DIR=d)
        self.assertEqual(p.returncode, 1)
        self.assertIn("migrate: cannot read %s/005_huge.sql (too large" % d, self.log())
        self.assertEqual(self.stack.psql("SELECT count(*) FROM schema_migrations "
                                         "WHERE version = '005_huge'"), "0")

    def test_sigterm_while_waiting_for_postgres(self):
        url = "postgresql://imgcap@127.0.0.1:%d/imgcap" % free_port()
        p = subprocess.Popen([PERSIST], env=self.env(DATABASE_URL=url),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: "postgres: connect attempt 2 failed, retrying" in self.log(), 20,
                       what="a second connect attempt")
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(30)
        # Asked to stop while PostgreSQL was away: a clean exit, nothing consumed.
        self.assertEqual(rc, 0)
        self.assertNotIn("persist started as consumer", self.log())
        self.assertIn("postgres: connect", self.log())


if __name__ == "__main__":
    unittest.main()
