"""A real Prometheus (Debian's package) on a free loopback port, scraping given targets every second."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from labmon.testing import free_port, wait_until


class PrometheusServer:
    """Starts `prometheus` in a temporary directory; `query` runs PromQL through its HTTP API."""

    def __init__(self, targets: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="labmon-prometheus-"))
        scrape = json.dumps(targets)
        (self._dir / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: labmon\n    static_configs:\n      - targets: {scrape}\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrometheusServer:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus is not installed: apt-get install -y prometheus (scripts/setup does)")
        self._process = subprocess.Popen(
            [
                binary,
                f"--config.file={self._dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self._dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_for(lambda: self._get("/-/ready") is not None, "Prometheus to be ready")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=15)
        shutil.rmtree(self._dir, ignore_errors=True)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Return the instant vector result of `promql` (empty while nothing matches)."""
        body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        if body is None:
            return []
        data = json.loads(body)
        return list(data["data"]["result"]) if data.get("status") == "success" else []

    def wait_for(self, condition: Any, what: str, timeout: float = 30.0) -> Any:
        """Poll `condition()` until it is truthy (returned) or fail after `timeout` seconds."""
        return wait_until(condition, timeout, what, every=0.2)  # Prometheus scrapes on its own clock

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return bytes(response.read())
        except OSError:
            return None
