"""The service master key that wraps per-subject data keys.

From ``SESP_MASTER_KEY`` (base64 of 32 bytes) when set (production: inject from a secret store);
otherwise a key file ``<data dir>/<service>.master.key`` created on first use with mode 0600.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra import settings


def master_key(service: str) -> bytes:
    env = os.environ.get("SESP_MASTER_KEY")
    if env:
        key = base64.b64decode(env)
        if len(key) != 32:
            raise ValueError("SESP_MASTER_KEY must be base64 of 32 bytes")
        return key
    path = settings.data_dir() / f"{service}.master.key"
    if not path.exists():
        key = AESGCM.generate_key(bit_length=256)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
    return path.read_bytes()
