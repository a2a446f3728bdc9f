"""Shared plumbing of the bench scripts: a throw-away database, production settings, gunicorn,
a light HTTP client and a fixed-time load runner.

Everything a script starts is stopped and dropped on exit, also on Ctrl-C or an error.
"""

import contextlib
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "Bench-pass-2026-correct-horse"
TENANT_HOST = "demo.localhost"
CORES = os.cpu_count() or 1

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def say(*parts):
    print(*parts, flush=True)


def load_note():
    """One line on what else the machine was doing: the figures are only read as ratios."""
    one, five, _fifteen = os.getloadavg()
    return f"{CORES} cores, load average {one:.2f} (1 min) / {five:.2f} (5 min) at the start"


def admin_url():
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path="/postgres"))


@contextlib.contextmanager
def scratch_database(name):
    """A fresh PostgreSQL database on the server of DATABASE_URL, dropped afterwards."""
    import psycopg

    server = admin_url()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urllib.parse.urlunsplit(urllib.parse.urlsplit(server)._replace(path=f"/{name}"))
    try:
        yield url
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production_env(database_url, **extra):
    """The environment of a production deploy, on plain HTTP loopback.

    TLS is off on loopback, so SECURE_SSL_REDIRECT is off and the client says
    X-Forwarded-Proto: https like a TLS-terminating proxy would; secure cookies are then set and
    our client sends them back as a browser behind TLS would. TRUSTED_PROXY_COUNT=1 is the
    setting of a deploy behind one proxy: the client gives each simulated user its own
    X-Forwarded-For address, so allauth's per-IP sign-in limit counts users, not the bench.
    """
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/6")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SECURE_SSL_REDIRECT": "False",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": f"bench-{secrets.token_hex(4)}",
        "TRUSTED_PROXY_COUNT": "1",
        "LOG_LEVEL": "ERROR",  # the probes of missing pages log 404s
        "DEBUG": "False",
    }
    env.pop("PORTAL_TESTING", None)
    env.update(extra)
    return env


def setup_django(env):
    """Configure Django in this process with env (for seeding and in-process measurements)."""
    os.environ.update(env)
    import django

    django.setup()
    from tenants.scoping import all_tenants_for_this_script

    all_tenants_for_this_script()  # the bench seeds and reads every tenant


def manage(env, *args):
    subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, check=True,
        stdout=subprocess.DEVNULL,
    )


def prepare(env):
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")


def flush_cache_prefix(env):
    import redis

    client = redis.Redis.from_url(env["REDIS_URL"])
    keys = list(client.scan_iter(match=f"{env['CACHE_KEY_PREFIX']}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start:start + 1000])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn with `workers` sync workers on a free loopback port."""

    def __init__(self, env, workers=CORES):
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "portal.wsgi:application", "--workers", str(self.workers),
             "--bind", f"127.0.0.1:{self.port}", "--backlog", "256", "--timeout", "60",
             "--log-level", "warning"],
            cwd=ROOT, env=self.env, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited at start")
            with contextlib.suppress(OSError):
                status, _h, _b = HttpClient(self.port, "localhost").request("GET", "/healthz")
                if status == 200 and len(self.worker_pids()) == self.workers:
                    return self
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def worker_pids(self):
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def peak_rss_mb(self):
        """VmHWM (peak resident set) of each worker, in MB."""
        peaks = {}
        for pid in self.worker_pids():
            status = Path(f"/proc/{pid}/status").read_text()
            kib = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
            peaks[pid] = kib / 1024
        return peaks

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class HttpClient:
    """One browser-like user: keeps cookies (secure ones too, as behind TLS), follows nothing.

    Plain sockets and HTTP/1.0, as a proxy in front of gunicorn speaks by default (nginx's
    proxy_http_version): one connection per request, which gunicorn's sync workers close
    anyway. http.client parsed each response's headers with the e-mail package; the load
    client shares the cores with the server, so its CPU is kept small (bench/README.md).
    """

    def __init__(self, port, host, forwarded_for=None):
        self.port = port
        self.host = host
        self.cookies = {}
        lines = [f"Host: {host}", "X-Forwarded-Proto: https", "Accept-Language: en",
                 "User-Agent: portal-bench"]
        if forwarded_for:
            lines.append(f"X-Forwarded-For: {forwarded_for}")
        self.fixed_headers = "\r\n".join(lines)

    def request(self, method, path, form=None, headers=None):
        head = [f"{method} {path} HTTP/1.0", self.fixed_headers]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        body = b""
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            head += ["Content-Type: application/x-www-form-urlencoded",
                     f"Content-Length: {len(body)}", f"Origin: https://{self.host}",
                     f"Referer: https://{self.host}{path}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        with socket.create_connection(("127.0.0.1", self.port), timeout=120) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            chunks = []
            while chunk := sock.recv(262144):
                chunks.append(chunk)
        raw_head, _, data = b"".join(chunks).partition(b"\r\n\r\n")
        status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise OSError(f"not an HTTP response: {status_line[:80]!r}")
        response_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                cookie_value = rest.split(";", 1)[0]
                if "max-age=0" in value.lower() or cookie_value in ('""', ""):
                    self.cookies.pop(cookie_name, None)
                else:
                    self.cookies[cookie_name] = cookie_value
            response_headers[name] = value
        return int(parts[1]), response_headers, data

    def follow(self, method, path, form=None, limit=5):
        """Request and follow redirects; returns (status, final path, body)."""
        status, headers, body = self.request(method, path, form=form)
        while status in (301, 302, 303) and limit:
            path = urllib.parse.urlsplit(headers["location"])
            path = path.path + (f"?{path.query}" if path.query else "")
            status, headers, body = self.request("GET", path)
            limit -= 1
        return status, path, body



CSRF_RE = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


def sign_in(client, email, password=PASSWORD, login_path="/accounts/login/"):
    """GET the sign-in page, POST it with its CSRF token; returns the redirect target or None."""
    status, _h, body = client.request("GET", login_path)
    match = CSRF_RE.search(body)
    if status != 200 or not match:
        raise RuntimeError(f"sign-in page answered {status}")
    status, headers, _b = client.request(
        "POST", login_path,
        form={"login": email, "password": password, "csrfmiddlewaretoken": match.group(1).decode()},
    )
    if status != 302:
        raise RuntimeError(f"sign-in POST answered {status} (wrong password or throttled?)")
    return headers["location"]


def run_for(seconds, clients, operation, make_state, ramp=0.0):
    """Run operation(state) in `clients` threads; count and time the calls that end in a window.

    The window is `seconds` long and opens `ramp` seconds after the start, so work already in
    progress when it opens is counted and work in progress when it closes is not: with the
    server busy throughout, the two balance. Returns (completed, errors, latencies in s, window
    length in s). The clients' states (e.g. signed-in sessions) are made before the clock starts.
    """
    states = [make_state(i) for i in range(clients)]
    opens = time.monotonic() + ramp
    deadline = opens + seconds
    latencies, errors = [], []
    lock = threading.Lock()

    def loop(state):
        while True:
            started = time.monotonic()
            if started >= deadline:
                return
            try:
                operation(state)
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                with lock:
                    errors.append(repr(exc))
                continue
            finished = time.monotonic()
            if opens <= finished <= deadline:
                with lock:
                    latencies.append(finished - started)

    threads = [threading.Thread(target=loop, args=(state,), daemon=True) for state in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), errors, latencies, seconds


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_process(worker_pids):
    """{pid: (role, CPU seconds so far)} of every process, the role told by its name.

    This process is the load client (its threads) and nothing else during a load slice. Two
    readings, before and after a slice, say where the machine's CPU went: cpu_by_role().
    """
    me = os.getpid()
    readings = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
        pid = int(entry.name)
        if pid in worker_pids:
            role = "web workers"
        elif pid == me:
            role = "load client"
        elif command.startswith("postgres"):
            role = "PostgreSQL"
        elif command.startswith("redis-server"):
            role = "Redis"
        else:
            role = "other"
        readings[pid] = (role, seconds)
    return readings


def cpu_by_role(before, after):
    """CPU seconds per role between two readings of cpu_seconds_by_process.

    A process that ended in between is left out (a database connection that reached its age);
    one that started counts from zero.
    """
    roles = dict.fromkeys(("web workers", "PostgreSQL", "Redis", "load client", "other"), 0.0)
    for pid, (role, seconds) in after.items():
        _role, earlier = before.get(pid, (role, 0.0))
        roles[role] += seconds - earlier
    return roles


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values):
    return statistics.median(values) if values else float("nan")


def verdict(ok, gap):
    return "MET" if ok else f"NOT MET ({gap})"


def one_password_hash(password=PASSWORD):
    """One real hash with the configured hasher, reused for every seeded user (seeding speed)."""
    from django.contrib.auth.hashers import make_password

    return make_password(password)


def bulk_users(tenant, emails, encoded_password, batch=5000, **fields):
    """Users and their allauth e-mail rows, as provision_user makes them, in bulk."""
    from allauth.account.models import EmailAddress

    from accounts.models import User

    made = []
    for start in range(0, len(emails), batch):
        chunk = [
            User(tenant=tenant, email=email, password=encoded_password, **fields)
            for email in emails[start:start + batch]
        ]
        User.objects.bulk_create(chunk, batch_size=batch)
        EmailAddress.objects.bulk_create(
            [EmailAddress(user=u, email=u.email, primary=True, verified=True) for u in chunk],
            batch_size=batch,
        )
        made.extend(chunk)
    return made


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def statements(captured):
    """SQL statements of a CaptureQueriesContext, transaction control not counted."""
    return len([q for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)])
