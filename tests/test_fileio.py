"""The atomic writers: a safetensors file's bytes depend only on its content (safetensors orders its metadata
by a hash map, so without sorting two saves of the same tensors differed and a rebuilt artifact's checksum
changed), and the sorted file still loads with its tensors and metadata intact."""
from __future__ import annotations

import subprocess
import sys

import torch
from safetensors import safe_open

from monoscope.fileio import atomic_save_safetensors

META = {f"key{i}": f"value {i}" for i in range(12)}


def test_safetensors_are_byte_reproducible_across_processes_and_load_unchanged(tmp_path):
    """Fails if the header is written in hash-map order (12 keys: two processes agree by chance ~1 in 10⁸)
    or if sorting the header corrupts the tensors' offsets."""
    tensors = {"b": torch.arange(6, dtype=torch.float32).reshape(2, 3), "a": torch.ones(5, dtype=torch.bfloat16)}
    atomic_save_safetensors(tmp_path / "here.safetensors", tensors, META)
    code = ("import torch; from monoscope.fileio import atomic_save_safetensors as s; "
            f"s({str(tmp_path / 'there.safetensors')!r}, {{'b': torch.arange(6, dtype=torch.float32).reshape(2, 3), "
            f"'a': torch.ones(5, dtype=torch.bfloat16)}}, {META!r})")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "here.safetensors").read_bytes() == (tmp_path / "there.safetensors").read_bytes()
    with safe_open(str(tmp_path / "there.safetensors"), "pt") as f:
        assert f.metadata() == META
        for k, v in tensors.items():
            assert torch.equal(f.get_tensor(k), v)
