"""`flight-gateway simulate redshift` as a process: banner, a working login, a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import redshift_connector


def test_simulate_redshift_cli_starts_serves_and_stops(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "flight_gateway.cli", "simulate", "redshift", "--data-dir", str(tmp_path / "sim")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # noqa: S603
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        banner = "".join(lines)
        assert "Ctrl-C stops the simulator." in banner, banner
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", banner).group(1))  # type: ignore[union-attr]
        password = re.search(r"tenant user acme: password (\S+)", banner).group(1)  # type: ignore[union-attr]
        assert "[[engines]]" in banner and f"port = {port}" in banner and 'type = "redshift"' in banner
        conn = redshift_connector.connect(
            host="127.0.0.1", port=port, user="acme", password=password, database="dev", ssl=False
        )
        cursor = conn.cursor()
        cursor.execute("select current_user, count(*) from sales group by 1")
        assert [list(row) for row in cursor.fetchall()] == [["acme", 50000]]
        conn.close()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "Redshift simulator stopped" in output
    pid_file = tmp_path / "sim" / "postgres" / "pgdata" / "postmaster.pid"
    assert not pid_file.exists()  # PostgreSQL shut down with the simulator
    assert os.path.exists(tmp_path / "sim" / "demo-passwords.json")
