"""Issue 8 §1: `wangyin serve --workers 2` gives correct figures. Each scrape is answered
by one of the two processes, and each must count every request, whichever process served
it (prometheus-client's multiprocess mode, in a directory of this run that is removed when
the server stops). Its log lines are JSON, one per line, naming the serving process."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from functional.test_quickstart import (
    STARTUP_SECONDS,
    WANGYIN,
    _free_port,
    _fresh_env,
    _log_text,
    _running,
    _stop,
)

ROUTE = "/api/v1/accounts"  # answered 401 without a database look-up


def _counted(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "wangyin_http_requests_total" and sample.labels.get("route") == ROUTE
    )


def _pids_serving(log: Path) -> set[int]:
    pids = set()
    for line in _log_text(log).splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("logger") == "wangyin.access" and entry.get("route") == ROUTE:
                pids.add(entry["pid"])
    return pids


def test_two_serving_processes_count_every_request(tmp_path: Path) -> None:
    env = _fresh_env()
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env["TMPDIR"] = str(private_tmp)  # where the run's metrics directory is made
    upgrade = subprocess.run(
        [str(WANGYIN), "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert upgrade.returncode == 0, upgrade.stderr.decode(errors="replace")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with _running(args, cwd=tmp_path, env=env, base=base) as (proc, log):
        deadline = time.monotonic() + STARTUP_SECONDS
        while _log_text(log).count("Application startup complete") < 2:
            assert time.monotonic() < deadline, _log_text(log)
            time.sleep(0.25)
        assert len(list(private_tmp.glob("wangyin-metrics-*"))) == 1
        sent = 0
        with ThreadPoolExecutor(max_workers=6) as pool:
            for _ in range(30):  # until both processes have served some (a few batches)
                statuses = list(
                    pool.map(
                        lambda _: httpx.get(f"{base}{ROUTE}", timeout=10).status_code, range(12)
                    )
                )
                assert statuses == [401] * 12
                sent += 12
                if len(_pids_serving(log)) >= 2:
                    break
        assert len(_pids_serving(log)) == 2, _log_text(log)[-2000:]
        # Whichever process answers the scrape, it counts both processes' requests.
        assert [_counted(base) for _ in range(6)] == [sent] * 6
        assert _stop(proc) == 0, _log_text(log)
    assert list(private_tmp.glob("wangyin-metrics-*")) == []  # removed with the run
    lines = [line for line in _log_text(log).splitlines() if line.startswith("{")]
    assert lines and all(json.loads(line)["level"] for line in lines)
