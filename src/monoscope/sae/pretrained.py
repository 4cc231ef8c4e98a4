"""Pretrained SAEs by name: `saelens:RELEASE/SAE_ID` and `hf:ORG/REPO[/PATH]`, resolved to a local directory.

`hf:` downloads (or finds in the Hugging Face cache; `HF_HUB_OFFLINE=1` works) only the named folder of
the repo through `huggingface_hub.snapshot_download`; the folder may be in any layout `load_sae` reads.
`saelens:` looks the release and id up in SAELens's pretrained registry (`pretrained_saes.yaml`, shipped
with `sae-lens`: `pip install 'monoscope[saelens]'`) and then fetches the repo folder it names, so the
weights are read by monoscope's own importers; the registry's model name fills in what the files lack.
Unknown releases and ids list the nearest known ones.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from .config import SAEError


def resolve(name: str) -> tuple[Path, dict[str, Any]]:
    """(local directory, metadata hints) for a `saelens:` or `hf:` name."""
    if name.startswith("hf:"):
        return resolve_hf(name[3:], source=name)
    if name.startswith("saelens:"):
        return resolve_saelens(name[len("saelens:"):])
    raise SAEError(f"{name!r} is neither saelens:RELEASE/SAE_ID nor hf:ORG/REPO[/PATH]")


def resolve_hf(spec: str, source: str | None = None, hints: dict[str, Any] | None = None) -> tuple[Path, dict]:
    parts = [p for p in spec.strip("/").split("/") if p]
    if len(parts) < 2:
        raise SAEError(f"hf:{spec} must name a repo as hf:ORG/REPO[/PATH], e.g. hf:EleutherAI/sae-llama-3-8b-32x/layers.10")
    repo, sub = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        raise SAEError("hf: names need huggingface_hub (pip install huggingface_hub)") from None
    try:
        root = snapshot_download(repo, allow_patterns=[f"{sub}/*"] if sub else None)
    except LocalEntryNotFoundError:
        raise SAEError(f"hf:{repo} is not in the Hugging Face cache and the hub cannot be reached (offline?); "
                       f"download it once with network access, or pass a local directory") from None
    except HfHubHTTPError as e:
        raise SAEError(f"hf:{repo}: the hub refused ({str(e).splitlines()[0]}); check the repo name") from None
    except OSError as e:
        raise SAEError(f"hf:{repo} could not be fetched ({type(e).__name__}: {e})") from None
    path = Path(root) / sub if sub else Path(root)
    if sub and not path.exists():
        have = sorted(p.name for p in Path(root).iterdir() if not p.name.startswith("."))
        near = difflib.get_close_matches(sub, _subdirs(Path(root)), n=5, cutoff=0.4)
        raise SAEError(f"hf:{repo} has no folder {sub!r}; " +
                       (f"nearest: {', '.join(near)}" if near else f"it holds {', '.join(have[:10]) or 'nothing'}"))
    return path, {**(hints or {}), "source": source or f"hf:{spec}", "repo_id": repo}


def _subdirs(root: Path, limit: int = 5000) -> list[str]:
    out = []
    for p in root.rglob("*"):
        if p.is_dir() and not any(s.startswith(".") for s in p.relative_to(root).parts):
            out.append(str(p.relative_to(root)))
            if len(out) >= limit:
                break
    return out


def saelens_registry() -> dict[str, Any]:
    """SAELens's pretrained registry (release → lookup with repo_id, model, saes_map)."""
    try:
        from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory
    except ImportError:
        raise SAEError("saelens: names need the SAELens registry: pip install 'monoscope[saelens]' "
                       "(or use hf:ORG/REPO/PATH, or a local directory)") from None
    return get_pretrained_saes_directory()


def resolve_saelens(spec: str) -> tuple[Path, dict[str, Any]]:
    release, _, sae_id = spec.partition("/")
    if not release or not sae_id:
        raise SAEError(f"saelens:{spec} must look like saelens:RELEASE/SAE_ID, "
                       f"e.g. saelens:gemma-scope-2b-pt-res-canonical/layer_12/width_16k/canonical")
    reg = saelens_registry()
    if release not in reg:
        near = difflib.get_close_matches(release, list(reg), n=5, cutoff=0.5)
        raise SAEError(f"unknown SAELens release {release!r}; " +
                       (f"did you mean {', '.join(near)}?" if near else f"{len(reg)} releases are known, e.g. "
                        f"{', '.join(sorted(reg)[:5])}"))
    look = reg[release]
    saes = dict(look.saes_map)
    if sae_id not in saes:
        near = difflib.get_close_matches(sae_id, list(saes), n=5, cutoff=0.5)
        raise SAEError(f"release {release!r} has no SAE id {sae_id!r}; " +
                       (f"nearest: {', '.join(near)}" if near else f"it has {len(saes)}, e.g. "
                        f"{', '.join(list(saes)[:5])}"))
    hints = {"model": look.model, "release": release, "sae_id": sae_id}
    return resolve_hf(f"{look.repo_id}/{saes[sae_id]}", source=f"saelens:{spec}", hints=hints)
