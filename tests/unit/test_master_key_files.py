"""Development key files live beside the data directory, never in it; one written by an older
version inside it is moved out; racing first uses agree on one key."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor

from infra import keys
from infra.testing import env


def test_a_key_file_is_made_owner_only_beside_the_data_directory(tmp_path):
    data = tmp_path / "var"
    with env(SESP_DATA_DIR=str(data), SESP_MASTER_KEY="", SESP_KEY_DIR=""):
        key = keys.master_key("licensing")
        assert keys.master_key("licensing") == key and len(key) == 32
    path = tmp_path / "var.keys" / "licensing.master.key"
    assert path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not list(data.glob("*.key"))


def test_a_key_file_left_in_the_data_directory_is_moved_out(tmp_path):
    data = tmp_path / "var"
    data.mkdir()
    (data / "insurance.master.key").write_bytes(b"k" * 32)
    with env(SESP_DATA_DIR=str(data), SESP_MASTER_KEY="", SESP_KEY_DIR=str(tmp_path / "k")):
        assert keys.master_key("insurance") == b"k" * 32
    assert not (data / "insurance.master.key").exists()
    assert (tmp_path / "k" / "insurance.master.key").read_bytes() == b"k" * 32


def test_racing_first_uses_agree_on_one_key(tmp_path):
    with env(SESP_DATA_DIR=str(tmp_path / "var"), SESP_MASTER_KEY="", SESP_KEY_DIR=""):
        with ThreadPoolExecutor(8) as pool:
            found = set(pool.map(lambda _: keys.master_key("blacklist"), range(32)))
    assert len(found) == 1
