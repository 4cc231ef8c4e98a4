"""Crash-safe file writes and checksums, shared by every artifact writer (store, SAE, feature database,
organism): a reader never sees half a file, because each write goes to a temp file in the same directory,
is fsynced, replaces the target with one atomic ``os.replace``, and the directory entry is fsynced too (so
the rename itself survives a power cut, not only the bytes)."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's bytes, or a directory's entries, to disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then move the result onto ``path``; on any failure the temp file is removed
    and ``path`` is left as it was. Whatever ``write`` did, the temp file is fsynced before the rename and
    the directory after it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_path(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()



def sort_safetensors_header(path: str | os.PathLike) -> None:
    """Rewrite a safetensors file's JSON header in place with its keys sorted.

    safetensors writes `__metadata__` from a hash map, so two saves of the same tensors and metadata (two
    processes, or two calls) can differ in their header bytes, and a rebuilt artifact's checksum changes though
    nothing in it did. The tensors' offsets do not depend on key order, so the sorted header is padded with
    spaces (as the format allows) to the original length and written over the old one: no tensor data is
    read or copied, whatever the file's size.
    """
    import json
    import struct

    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.dumps(json.loads(f.read(n)), sort_keys=True, separators=(",", ":")).encode()
        if len(header) > n:              # cannot happen for safetensors' compact JSON; leave the file as it is
            return
        f.seek(8)
        f.write(header + b" " * (n - len(header)))


def atomic_save_safetensors(path: str | os.PathLike, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Write tensors as a safetensors file atomically and byte-reproducibly (see `sort_safetensors_header`)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}

    def write(tmp: str) -> None:
        save_file(tensors, tmp, metadata=metadata)
        sort_safetensors_header(tmp)

    atomic_write(path, write)
