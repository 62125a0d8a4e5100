"""A real load balancer (Debian's HAProxy) in front of server processes on loopback, for
the tests and `make bench` (issue 21). The configuration is the one `docs/deploy.md` shows:
it checks each server's `/health/ready` and names the client in `X-Forwarded-For`, which the
servers trust only with `OTP_TRUSTED_PROXIES`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.server.processes import free_port

HAPROXY_CONFIG = """\
global
    maxconn 256

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    option redispatch
    retries 2

frontend otp
    bind 127.0.0.1:{port}
    default_backend servers

backend servers
    balance roundrobin
    http-request del-header X-Forwarded-For
    option forwardfor
    option httpchk GET /health/ready
    default-server check inter 300ms fall 1 rise 1
{servers}
"""


@contextmanager
def haproxy(backends: list[str], tmp: Path) -> Iterator[str]:
    """HAProxy on a loopback port in front of `backends` (base URLs); yields its URL."""
    port = free_port()
    servers = "\n".join(
        f"    server s{i} {url.removeprefix('http://')}" for i, url in enumerate(backends)
    )
    config = tmp / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
    process = subprocess.Popen(
        ["haproxy", "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:  # ready when every server passed its first check
            try:
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "haproxy did not come up"
            time.sleep(0.2)
        time.sleep(1)  # one more check interval: both servers marked up
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
