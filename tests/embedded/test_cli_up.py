"""``dongne up`` as a newcomer runs it: real processes, real servers, real sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dongne.db.migrate import load_migrations
from dongne.embedded.postgres import EmbeddedPostgres
from dongne.embedded.redis import EmbeddedRedis
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

DONGNE = [sys.executable, "-m", "dongne"]


def _env(home: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONGNE_")}
    env.update({"DONGNE_HOME": str(home), "DONGNE_API_PORT": str(port), **extra})
    return env


class Service:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.log = home.parent / f"up-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*DONGNE, "up"],
                env=_env(self.home, self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("dongne up did not become ready:\n" + self.log.read_text())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*DONGNE, *args],
            env=_env(self.home, self.port),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def psql(self, sql: str) -> str:
        result = self.cli("db", "psql", "-XAtc", sql)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path / "home")
    yield svc
    if svc.process and svc.process.poll() is None:
        svc.stop(signal.SIGINT)
    EmbeddedPostgres.under(svc.home).stop()
    EmbeddedRedis.under(svc.home).stop()


def test_up_serves_regions_and_keeps_data_across_restarts(service: Service) -> None:
    service.start()
    assert "docs http://127.0.0.1" in service.log.read_text()
    regions = httpx.get(f"{service.url}/api/v1/regions", timeout=10).json()
    assert regions["total"] == 47

    second = Service(service.home)
    result = second.cli("up")
    assert result.returncode == 1
    assert "already in use by dongne" in result.stderr
    assert "Traceback" not in result.stderr

    service.psql("INSERT INTO users (email, nickname) VALUES ('kept@example.kr', '남는이웃')")
    service.cli("regions", "load")

    # A crash: the servers outlive it and the next start adopts them.
    service.stop(signal.SIGKILL)
    service.start()
    assert service.psql("SELECT nickname FROM users WHERE email = 'kept@example.kr'") == "남는이웃"

    # Ctrl-C stops everything cleanly.
    assert service.stop(signal.SIGINT) == 0
    assert not EmbeddedPostgres.under(service.home).is_running()
    assert not EmbeddedRedis.under(service.home).is_running()
    assert "dongne stopped" in service.log.read_text()

    # A cold start from the stopped servers still has the data.
    service.start()
    assert service.psql("SELECT count(*) FROM users WHERE email = 'kept@example.kr'") == "1"
    assert httpx.get(f"{service.url}/api/v1/regions", timeout=10).json()["total"] == 47
    assert service.stop(signal.SIGTERM) == 0


def test_external_urls_bypass_the_embedded_servers(
    tmp_path: Path, database_url: str, redis_server: EmbeddedRedis
) -> None:
    home = tmp_path / "external-home"
    result = subprocess.run(
        [*DONGNE, "db", "status"],
        env=_env(
            home, free_port(), DONGNE_DATABASE_URL=database_url, DONGNE_REDIS_URL=redis_server.url
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"current version: {len(load_migrations())}" in result.stdout
    assert not (home / "postgres").exists()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["regions", "resolve", "37.5665", "126.978"], {}, "서비스 지역"),
        (["regions", "load", "--file", "/nonexistent.geojson"], {}, "cannot read boundary file"),
        (["db", "status"], {"DONGNE_ENVIRONMENT": "production"}, "production requires"),
        (["db", "status"], {"DONGNE_API_PORT": "99999"}, "invalid configuration api_port"),
        (["seed"], {}, "pass --demo"),
    ],
)
def test_cli_errors_are_one_plain_line(
    tmp_path: Path,
    database_url: str,
    redis_server: EmbeddedRedis,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    base = {"DONGNE_DATABASE_URL": database_url, "DONGNE_REDIS_URL": redis_server.url}
    environment = _env(tmp_path, free_port(), **{**base, **env})
    if "DONGNE_API_PORT" in env:
        environment["DONGNE_API_PORT"] = env["DONGNE_API_PORT"]
    result = subprocess.run(
        [*DONGNE, *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dongne: error:")
    assert message in lines[0]
