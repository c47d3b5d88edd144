"""Files that hold secrets are their owner's alone: the data directory 0700, the SQLite databases (and their
-wal and -shm files) and the embedded credentials 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from fpscore.config import Settings
from fpscore.db import make_engine
from fpscore.merchant.connect import connect


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual one, under which files are made world-readable
    yield
    os.umask(previous)


def test_a_new_sqlite_database_is_the_owners_alone(tmp_path):
    path = tmp_path / "data" / "processor.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # WAL mode: the -wal and -shm files appear with the first write
        conn.execute(text("CREATE TABLE secrets (value TEXT)"))
        conn.execute(text("INSERT INTO secrets VALUES ('key')"))
        files = [path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")]
        assert {file.name: _mode(file) for file in files} == {file.name: 0o600 for file in files}
    engine.dispose()
    assert _mode(path.parent) == 0o700
    assert os.umask(0o022) == 0o022  # the process umask was left alone


def test_an_existing_world_readable_database_is_narrowed(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    path = folder / "merchant.sqlite3"
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        file.touch(mode=0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert [_mode(file) for file in folder.iterdir()] == [0o600] * 3
    assert _mode(folder) == 0o755  # a folder it did not make is not the engine's to change


def test_the_embedded_merchant_keeps_its_data_directory_private(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)  # made by an earlier version
    merchant = connect(Settings.from_env({"FPS_DATA_DIR": str(data_dir)}))
    merchant.close()
    assert _mode(data_dir) == 0o700
    assert _mode(data_dir / "credentials.json") == 0o600
    for name in ("processor.sqlite3", "merchant.sqlite3"):
        assert _mode(data_dir / name) == 0o600
