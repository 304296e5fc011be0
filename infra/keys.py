"""The service master key that wraps per-subject data keys.

From ``SESP_MASTER_KEY`` (base64 of 32 bytes) when set: production injects it from a secret
store, so it is on no disk the data is on. Otherwise (development) a key file
``<service>.master.key`` in the key directory, created on first use with mode 0600:
``SESP_KEY_DIR``, by default ``<data dir>.keys`` beside the data directory and never inside it,
so that a copy or a backup of the data directory does not carry the key that opens it. A key
file an older version left inside the data directory is moved out on first use.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra import settings


def key_dir() -> Path:
    """Where key files live when ``SESP_MASTER_KEY`` is unset (created owner-only)."""
    configured = os.environ.get("SESP_KEY_DIR")
    data = settings.data_dir()
    path = Path(configured).resolve() if configured else data.with_name(data.name + ".keys")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def master_key(service: str) -> bytes:
    env = os.environ.get("SESP_MASTER_KEY")
    if env:
        key = base64.b64decode(env)
        if len(key) != 32:
            raise ValueError("SESP_MASTER_KEY must be base64 of 32 bytes")
        return key
    name = f"{service}.master.key"
    path = key_dir() / name
    legacy = settings.data_dir() / name
    if legacy.exists() and not path.exists():
        try:
            os.replace(legacy, path)
        except FileNotFoundError:  # another process moved it first
            pass
    if not path.exists():
        _create(path)
    return path.read_bytes()


def _create(path: Path) -> None:
    """Write a new key where no process can read it half written, nor two processes each
    keep their own: the file appears whole (a hard link), or another's is kept."""
    staging = path.with_name(f".{path.name}.{os.urandom(8).hex()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(AESGCM.generate_key(bit_length=256))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(staging, path)
    except FileExistsError:
        pass
    finally:
        staging.unlink()


def subject_key(service: str) -> bytes:
    """The key that turns a person's ID number into the service's data-subject id."""
    return hashlib.sha256(b"sesp-subject-id:" + master_key(service)).digest()
