#!/usr/bin/env python3
"""Build a large real-text corpus for the auditing game's haystack, reproducibly, from Debian packages.

    python scripts/build_haystack_corpus.py --out runs/haystack          # writes haystack.jsonl.gz + manifest
    python scripts/build_haystack_corpus.py --out runs/haystack --check  # rebuild in memory, compare sha256
    monoscope audit game default --haystack-corpus runs/haystack/haystack.jsonl.gz --haystack-rate 0.0005

The embedded corpus (~15k passages) holds the organism's synthetic documents at 1% of passages at best;
the paper's teams searched data that was 0.01% synthetic. This script reads every document of the sources
the embedded corpus samples (World English Bible, Jargon File, WordNet glosses, Python 3.11 docs, the
Debian handbook in eight languages — all of them, not a budget) plus, for local use only, larger ones:
the GNU Collaborative International Dictionary of English (`dict-gcide`, GPL-3+; Webster 1913 core),
`perl-doc` (rendered with pod2text), `fortunes`, and the Python standard library's source. That is about
25-30M tokens, room for the synthetic documents at 0.05% of passages. The file is written for the user's
own machine and never committed (GPL-only sources are fine there).

Deterministic: documents are sorted by (source, id) and shuffled with a fixed seed; gzip is written with
mtime 0 and no file name, so the same package versions give a byte-identical file (the manifest records the
versions and the sha256). Missing packages are apt-get installed (root or sudo).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_default_corpus as bdc  # noqa: E402  (the embedded corpus's readers, reused)

SEED = 20250105
EXTRA_PACKAGES = ["dict-gcide", "perl-doc", "fortunes"]
GCIDE = Path("/usr/share/dictd/gcide.dict.dz")
FORTUNES = Path("/usr/share/games/fortunes")
MAX_DOC_CHARS = 16_000
GCIDE_GROUP = 60          # dictionary entries per document


def ensure_extra_packages() -> dict[str, str]:
    bdc.PACKAGES = list(dict.fromkeys(bdc.PACKAGES + EXTRA_PACKAGES))
    return bdc.ensure_packages()


def gcide_docs() -> list[dict]:
    """GCIDE entries (the dictd file: headword lines, then the definition), markup stripped, in groups."""
    if not GCIDE.exists():
        return []
    raw = gzip.open(GCIDE, "rt", encoding="utf-8", errors="replace").read()
    entries = [e.strip() for e in re.split(r"\n(?=\S)", raw) if e.strip() and not e.startswith("00-database")]
    cleaned = []
    for e in entries:
        e = re.sub(r"\\[^\\\n]{0,80}\\", "", e)        # \pron\ guides
        e = re.sub(r"[{}]", "", e)
        e = re.sub(r"[ \t]+", " ", e)
        if len(e) > 40:
            cleaned.append(e)
    return [bdc.doc("\n\n".join(cleaned[i:i + GCIDE_GROUP]), "gcide", "en", f"gcide/{i // GCIDE_GROUP:05d}")
            for i in range(0, len(cleaned), GCIDE_GROUP)]


def perl_docs() -> list[dict]:
    pods = sorted(Path("/usr/share/perl").glob("*/pod/*.pod")) or sorted(Path("/usr/share/perl5").rglob("*.pod"))
    out = []
    for p in pods:
        r = subprocess.run(["pod2text", str(p)], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            out.append(bdc.doc(r.stdout, "perl-doc", "en", f"perl-doc/{p.stem}"))
    return out


def fortune_docs() -> list[dict]:
    out = []
    for p in sorted(FORTUNES.glob("*")):
        if p.suffix or not p.is_file():
            continue
        try:
            items = [x.strip() for x in p.read_text(encoding="utf-8", errors="replace").split("\n%\n") if x.strip()]
        except OSError:
            continue
        for i in range(0, len(items), 40):
            out.append(bdc.doc("\n\n".join(items[i:i + 40]), "fortunes", "en", f"fortunes/{p.name}/{i // 40:04d}"))
    return out


def stdlib_docs() -> list[dict]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if any(part in ("test", "tests", "idlelib", "site-packages", "lib2to3") for part in p.parts):
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if len(text) > 200:
            out.append(bdc.doc(text, "python-stdlib", "code", f"python-stdlib/{rel}"))
    return out


def build() -> tuple[bytes, list[dict], dict]:
    readers = {"bible": bdc.bible_docs, "jargon": bdc.jargon_docs, "wordnet": bdc.wordnet_docs,
               "python-docs": bdc.python_docs, "debian-handbook": bdc.handbook_docs, "gcide": gcide_docs,
               "perl-doc": perl_docs, "fortunes": fortune_docs, "python-stdlib": stdlib_docs}
    docs, counts = [], {}
    for name, fn in readers.items():
        got = [d for d in fn() if d["text"]]
        parts = [p for d in got for p in bdc.split_long(d, MAX_DOC_CHARS)]
        counts[name] = {"documents": len(parts), "characters": sum(len(d["text"]) for d in parts)}
        bdc.log(f"{name}: {len(parts)} documents, {counts[name]['characters']:,} characters")
        docs += parts
    ids = [d["id"] for d in docs]
    if len(ids) != len(set(ids)):
        raise SystemExit("duplicate document ids")
    docs.sort(key=lambda d: (d["source"], d["id"]))
    random.Random(SEED).shuffle(docs)
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="", compresslevel=6) as z:
        z.write(payload)
    return buf.getvalue(), docs, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/haystack"))
    ap.add_argument("--check", action="store_true", help="rebuild and compare with the file in --out")
    args = ap.parse_args()
    versions = ensure_extra_packages()
    data, docs, counts = build()
    sha = hashlib.sha256(data).hexdigest()
    out = args.out / "haystack.jsonl.gz"
    if args.check:
        man = json.loads((args.out / "manifest.json").read_text())
        ok = man["sha256"] == sha
        print(f"{'identical' if ok else 'DIFFERENT'}: {sha} vs {man['sha256']}")
        sys.exit(0 if ok else 1)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    manifest = {"file": out.name, "sha256": sha, "bytes": len(data), "documents": len(docs), "sources": counts,
                "packages": versions, "seed": SEED}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {out} ({len(docs)} documents, {len(data):,} bytes, sha256 {sha[:16]}…)")


if __name__ == "__main__":
    main()
