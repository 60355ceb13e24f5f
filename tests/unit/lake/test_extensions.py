"""The lake loads DuckLake from its PyPI package, then DuckDB checks extension signatures again."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from headwater.lake import Lake


def test_the_lake_opens_with_ducklake_loaded(tmp_path: Path) -> None:
    with Lake(str(tmp_path / "catalog.ducklake"), str(tmp_path / "data")) as lake:
        loaded = {r[0] for r in lake.fetchall("SELECT extension_name FROM duckdb_extensions() WHERE loaded")}
        assert "ducklake" in loaded
        lake.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert lake.fetchall("SELECT x FROM t") == [(1,)]


def test_an_unsigned_extension_is_refused_after_the_lake_opens(tmp_path: Path) -> None:
    # A copy of DuckLake's extension whose signature (its last bytes) is broken.
    with Lake(str(tmp_path / "catalog.ducklake"), str(tmp_path / "data")) as lake:
        (original,) = lake.fetchone(
            "SELECT install_path FROM duckdb_extensions() WHERE extension_name = 'ducklake'"
        ) or ("",)
        assert lake.fetchone("SELECT current_setting('allow_unsigned_extensions')") == (False,)
        data = bytearray(Path(original).read_bytes())
        data[-10] ^= 0xFF
        forged = tmp_path / "forged" / "forged.duckdb_extension"  # (a name not loaded yet)
        forged.parent.mkdir()
        forged.write_bytes(bytes(data))
        with pytest.raises(duckdb.IOException, match="signature"):
            lake.execute(f"LOAD '{forged}'")
