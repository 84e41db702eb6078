"""`schema.graphql` is generated: it must match the live schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from schema import sdl

ROOT = Path(__file__).resolve().parent.parent


def test_committed_schema_matches_the_live_schema() -> None:
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == sdl(), "schema.graphql is stale: run `storefront export-schema`"


def test_export_schema_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "export-schema", "--output", str(target)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8") == sdl()
