"""gunicorn throughput for `make bench`: two workers on loopback, a bounded load from a few client
threads, requests per second on a page and on the floor, and each worker's peak memory.

The load is bounded in count and time: REQUESTS per URL (stopped early after TIME_LIMIT seconds),
sent by THREADS keep-alive connections (http.client), each signed in with the same session
cookie obtained by posting the sign-in form. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
WORKERS = 2
THREADS = 4
REQUESTS = 2_000
TIME_LIMIT = 90.0
WARMUP = 20


class ServeFailed(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _sign_in(port: int, email: str, password: str) -> str:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    body = f"email={email}&password={password}"
    connection.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    response.read()
    cookies = [v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
    connection.close()
    if response.status != 302 or not cookies:
        raise ServeFailed(f"sign-in answered {response.status}")
    return "; ".join(cookies)


def _load(port: int, path: str, cookie: str, requests: int) -> dict[str, Any]:
    """``requests`` GETs of ``path`` spread over THREADS keep-alive connections; per-thread counts."""
    deadline = time.monotonic() + TIME_LIMIT
    done = [0] * THREADS
    failures: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(index: int, share: int) -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=60)
        mine = []
        try:
            for _ in range(share):
                if time.monotonic() > deadline:
                    break
                start = time.perf_counter()
                connection.request("GET", path, headers={"Cookie": cookie})
                response = connection.getresponse()
                response.read()
                mine.append(time.perf_counter() - start)
                if response.status != 200:
                    with lock:
                        failures.append(f"{path} answered {response.status}")
                    break
                done[index] += 1
        except (OSError, http.client.HTTPException) as error:
            with lock:
                failures.append(f"{path}: {error!r}")
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)

    shares = [requests // THREADS + (1 if i < requests % THREADS else 0) for i in range(THREADS)]
    threads = [threading.Thread(target=worker, args=(i, shares[i])) for i in range(THREADS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise ServeFailed(failures[0])
    latencies.sort()
    total = sum(done)
    return {
        "url": path,
        "requests": total,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(total / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
        "p95_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000, 2) if latencies else None,
        "stopped_by_time_limit": total < requests,
    }


def measure(database_url: str, email: str, password: str, pages: dict[str, str], requests: int | None = None) -> dict[str, Any]:
    """Start gunicorn (WORKERS sync workers) on a free loopback port over ``database_url``, load
    each of ``pages`` (name -> path), stop it; requests/s per page and the workers' peak RSS.
    ``requests`` per page: BENCH_SERVE_REQUESTS, else REQUESTS."""
    requests = requests or int(os.environ.get("BENCH_SERVE_REQUESTS", REQUESTS))
    port = _free_port()
    env = {**os.environ, "BENCH_WSGI_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(WORKERS),
        "-b",
        f"{HOST}:{port}",
        "--log-level",
        "warning",
        "tests.benchmarks.bench_wsgi:app",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise ServeFailed(f"gunicorn exited with {server.returncode}")
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise ServeFailed("gunicorn did not start listening within 30 s")
        cookie = _sign_in(port, email, password)
        results: dict[str, Any] = {
            "workers": WORKERS,
            "client_threads": THREADS,
            "requests_per_page": requests,
            "bind": f"{HOST}:{port}",
            "app": "tests.benchmarks.bench_wsgi (testing configuration, as the in-process pages)",
            "pages": {},
        }
        for name, path in pages.items():
            _load(port, path, cookie, WARMUP * THREADS)  # every worker has served it before timing
            results["pages"][name] = _load(port, path, cookie, requests)
        workers = _children(server.pid)
        results["worker_peak_rss_mb"] = {str(pid): round(_status_kb(pid, "VmHWM") / 1024, 1) for pid in workers}
        results["max_worker_peak_rss_mb"] = max(results["worker_peak_rss_mb"].values(), default=None)
        return results
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
