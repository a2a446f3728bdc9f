"""Private servers for fault tests: they are stopped and broken on purpose, never the shared ones."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, up: bool = True, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            is_up = sock.connect_ex(("127.0.0.1", port)) == 0
        if is_up == up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not come {'up' if up else 'down'}")


class PrivateRedis:
    """A redis-server of our own on a spare loopback port, to stop and start at will."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
            wait_for_port(self.port, up=False)


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (initdb) on a spare port, owned by the postgres user."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.data = self.dir / "data"
        self.bin = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *cmd):
        return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True,
                              capture_output=True, text=True)

    def init(self):
        shutil.chown(self.dir, "postgres")
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        return self

    def start(self):
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start",
        )
        return self

    def stop(self, mode="fast"):
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


ROOT = Path(__file__).resolve().parents[2]


def portal_env(**overrides) -> dict:
    """The environment of a portal process started by a test: no pytest, production-like errors."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST", "DJANGO_SETTINGS", "DJANGO_ALLOW_ASYNC"))}
    env.update({"DJANGO_ENV": "development", "DEBUG": "false", "LOG_LEVEL": "WARNING"})
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(*args, timeout=180, **env):
    """Run manage.py in a subprocess (e.g. migrate against a private cluster)."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=portal_env(**env),
        capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def database_url_for(name: str) -> str:
    """The configured PostgreSQL server's URL with another database name (the test database)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


class PortalNode:
    """One web node: gunicorn serving the portal on a spare loopback port, as in production."""

    def __init__(self, workers=1, **env):
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.process = None
        self.log = tempfile.NamedTemporaryFile(prefix="portal-node-", suffix=".log", delete=False)

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--timeout", "30",
             "--graceful-timeout", "2"],
            cwd=ROOT, env=portal_env(**self.env), stdout=self.log, stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, timeout=30)
        except TimeoutError:
            self.process.kill()
            raise RuntimeError(f"the portal node did not start:\n{self.output()}") from None
        return self

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        Path(self.log.name).unlink(missing_ok=True)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")


class Browser:
    """An HTTP client with one cookie jar, sending a tenant's Host header to any node.

    Cookies are kept for 127.0.0.1 (the address, not the port), so every node gets them, as a
    browser behind a load balancer would send them to whichever node answers.
    """

    def __init__(self, host: str, language: str = "en"):
        self.http = requests.Session()
        self.http.headers.update({"Host": host, "Accept-Language": language})

    def get(self, node, path, **kwargs):
        return self.http.get(node.base + path, allow_redirects=False, timeout=10, **kwargs)

    def csrf_token(self, node, path):
        """GET the form page so the CSRF cookie is set; return the token to post with it."""
        self.get(node, path)
        return self.http.cookies.get("csrftoken")

    def post(self, node, path, data, token=None, **kwargs):
        token = token or self.http.cookies.get("csrftoken") or self.csrf_token(node, path)
        return self.http.post(node.base + path, data={**data, "csrfmiddlewaretoken": token},
                              allow_redirects=False, timeout=10, **kwargs)

    def sign_in(self, node, email, password):
        self.csrf_token(node, "/accounts/login/")
        return self.post(node, "/accounts/login/", {"login": email, "password": password})
