"""The start-up banner's connection snippet works when copied literally."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import PASSWORD
from serve_process import start_serve


def test_the_banners_adbc_snippet_connects_without_a_warning(tmp_path: Path) -> None:
    serving = start_serve(tmp_path)
    try:
        assert serving.process.stdout is not None
        banner: list[str] = []
        while not banner or not banner[-1].startswith("try it:"):  # the banner is written in one flush
            line = serving.process.stdout.readline()
            assert line, f"the banner ended early: {banner}"
            banner.append(line.rstrip("\n"))
        start = banner.index("connect with ADBC (Python):") + 1
        snippet_lines = []
        for line in banner[start:]:
            if not line.startswith("  "):
                break
            snippet_lines.append(line)
        # The README's copy of the banner shows the same snippet.
        readme = (Path(__file__).parents[1] / "README.md").read_text()
        for line in snippet_lines:
            assert line.replace(serving.uri, "grpc://127.0.0.1:8815") in readme.splitlines(), line
        snippet = textwrap.dedent("\n".join(snippet_lines)).replace("<password>", PASSWORD)
        assert "flight_sql.connect(" in snippet
        script = snippet + textwrap.dedent(
            """
            with conn.cursor() as cur:
                cur.execute("select 42 as answer")
                print(cur.fetchone())
            conn.close()
            """
        )
        done = subprocess.run(  # noqa: S603 - our interpreter, the banner's own code
            [sys.executable, "-W", "always", "-c", script], capture_output=True, text=True, timeout=120, check=False
        )
    finally:
        serving.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(42,)"
    assert "Cannot disable autocommit" not in done.stderr
    assert "Warning" not in done.stderr, done.stderr
