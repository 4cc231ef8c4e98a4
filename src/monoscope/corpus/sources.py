"""Text sources: the embedded default corpus, local files and folders, and Hugging Face datasets.

A corpus is named by one *spec* string (it is what a harvest records in its manifest):

- ``"default"``: the embedded corpus (Bible, Jargon File, WordNet glosses, Python docs, and the Debian
  handbook in eight languages; see ``corpus/data/README.md``). ``"default:bible,ja"`` keeps only documents
  whose source or language is one of the names given.
- a file: ``.txt``/``.md`` (one document per file, or per blank-line-separated paragraph group with
  ``txt_split="paragraph"``), ``.jsonl``/``.ndjson`` (one JSON object per line with a text field,
  ``text_key``), ``.parquet`` (a text column, ``text_key``). Text and JSON lines files may also be
  compressed (``.gz``, ``.xz``, ``.bz2``, e.g. ``data.jsonl.gz``).
- a folder: every supported file below it, recursively, in sorted path order.
- ``"hf:NAME[:CONFIG][@SPLIT]"``: a Hugging Face dataset read in streaming mode (needs ``datasets``,
  ``pip install 'monoscope[hf]'``, and the network or a populated cache). SPLIT defaults to ``train``.

Every reader yields `Document`s lazily and in a deterministic order; empty texts are skipped.
"""
from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import warnings
from collections.abc import Iterator
from itertools import islice
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any
from ..errors import UserError

DEFAULT_CORPUS_FILE = "default_corpus.jsonl.xz"

_TEXT_EXT = (".txt", ".text", ".md")
_JSONL_EXT = (".jsonl", ".ndjson")
_PARQUET_EXT = (".parquet",)
_COMPRESSION = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}
SUPPORTED_SUFFIXES = tuple(
    [*_TEXT_EXT, *_JSONL_EXT, *_PARQUET_EXT]
    + [e + c for e in (*_TEXT_EXT, *_JSONL_EXT) for c in _COMPRESSION]
)
SPEC_HELP = ("a corpus spec is 'default' (the embedded corpus), 'default:NAME[,NAME]' (only those sources or "
             "languages), a path to a file (" + ", ".join(SUPPORTED_SUFFIXES) + ") or a folder of such files, or "
             "'hf:NAME[:CONFIG][@SPLIT]' (a Hugging Face dataset, streamed)")


class CorpusError(UserError):
    """A corpus spec or file that cannot be read, with what was wrong and what would be right."""


@dataclass(frozen=True)
class Document:
    """One document: its text, the collection it came from, an id unique within that, and extra fields."""

    text: str
    source: str = ""
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


# ------------------------------------------------------------------------------------------ dispatch
def iter_documents(spec: str | Path = "default", *, text_key: str = "text", txt_split: str = "file",
                   limit: int | None = None) -> Iterator[Document]:
    """Yield the documents of a corpus spec (see the module docstring), lazily and deterministically.

    text_key: the field (JSON lines) or column (Parquet, Hugging Face) that holds the text.
    txt_split: ``"file"`` (a text file is one document) or ``"paragraph"`` (blank-line-separated groups).
    limit: stop after this many documents.
    """
    if txt_split not in ("file", "paragraph"):
        raise CorpusError(f"txt_split must be 'file' or 'paragraph', got {txt_split!r}")
    if limit is not None and limit < 0:
        raise CorpusError(f"limit must be >= 0 or None, got {limit}")
    it = _dispatch(spec, text_key=text_key, txt_split=txt_split)  # eager: a bad spec fails here, not later
    return it if limit is None else islice(it, limit)


def _dispatch(spec: str | Path, *, text_key: str, txt_split: str) -> Iterator[Document]:
    if isinstance(spec, Path):
        return _iter_path(spec, text_key=text_key, txt_split=txt_split)
    if not isinstance(spec, str) or not spec.strip():
        raise CorpusError(f"empty or non-string corpus spec {spec!r}: {SPEC_HELP}")
    spec = spec.strip()
    if spec == "default" or spec.startswith("default:"):
        if spec == "default" or not Path(spec).exists():
            names = [n.strip() for n in spec.partition(":")[2].split(",") if n.strip()]
            return _iter_default(names)
    if spec.startswith("hf:"):
        return _iter_hf(spec, text_key=text_key)
    path = Path(spec).expanduser()
    if not path.exists():
        raise CorpusError(f"corpus {spec!r}: no such file or folder. {SPEC_HELP[0].upper()}{SPEC_HELP[1:]}")
    return _iter_path(path, text_key=text_key, txt_split=txt_split)


def _iter_path(path: Path, *, text_key: str, txt_split: str) -> Iterator[Document]:
    if path.is_dir():
        return _iter_folder(path, text_key=text_key, txt_split=txt_split)
    if not path.exists():
        raise CorpusError(f"corpus {str(path)!r}: no such file or folder. {SPEC_HELP[0].upper()}{SPEC_HELP[1:]}")
    return _iter_file(path, text_key=text_key, txt_split=txt_split)


def _kind(path: Path) -> tuple[str, Any] | None:
    """('text'|'jsonl'|'parquet', opener) for a supported file name, else None."""
    name = path.name.lower()
    opener: Any = open
    for ext, op in _COMPRESSION.items():
        if name.endswith(ext):
            name, opener = name[: -len(ext)], op
            break
    if name.endswith(_TEXT_EXT):
        return "text", opener
    if name.endswith(_JSONL_EXT):
        return "jsonl", opener
    if name.endswith(_PARQUET_EXT) and opener is open:
        return "parquet", opener
    return None


def _iter_file(path: Path, *, text_key: str, txt_split: str, source: str | None = None) -> Iterator[Document]:
    kind = _kind(path)
    if kind is None:
        raise CorpusError(f"unsupported corpus file type: {path.name!r}. Supported: "
                          f"{', '.join(SUPPORTED_SUFFIXES)} (or a folder of them, 'default', 'hf:NAME')")
    source = source or str(path)
    if kind[0] == "text":
        return _iter_text(path, kind[1], txt_split, source)
    if kind[0] == "jsonl":
        return _iter_jsonl(path, kind[1], text_key, source)
    return _iter_parquet(path, text_key, source)


def _iter_folder(root: Path, *, text_key: str, txt_split: str) -> Iterator[Document]:
    files, skipped = [], set()
    for p in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if _kind(p) is None:
            skipped.add("".join(p.suffixes[-2:]) or p.name)
        else:
            files.append(p)
    if not files:
        found = f" (found only: {', '.join(sorted(skipped))})" if skipped else " (it is empty)"
        raise CorpusError(f"corpus folder {str(root)!r} holds no supported files{found}. "
                          f"Supported: {', '.join(SUPPORTED_SUFFIXES)}")
    if skipped:
        warnings.warn(f"corpus folder {root}: skipping files of unsupported types {sorted(skipped)}", stacklevel=4)
    # open (and so validate) each file only when reached: a big folder starts streaming at once
    return (d for p in files
            for d in _iter_file(p, text_key=text_key, txt_split=txt_split, source=p.relative_to(root).as_posix()))


# ------------------------------------------------------------------------------------------ readers
def _open_text(path: Path, opener) -> IO[str]:
    return opener(path, "rt", encoding="utf-8", newline=None)


def _read_failed(path: Path, e: Exception) -> CorpusError:
    if isinstance(e, UnicodeDecodeError):
        return CorpusError(f"{path}: not valid UTF-8 at byte {e.start} ({e.reason}); re-encode the file as UTF-8")
    return CorpusError(f"{path}: cannot be read ({type(e).__name__}: {e})")


def _iter_text(path: Path, opener, txt_split: str, source: str) -> Iterator[Document]:
    try:
        with _open_text(path, opener) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError, EOFError, lzma.LZMAError) as e:
        raise _read_failed(path, e) from e
    if txt_split == "file":
        if text.strip():
            yield Document(text=text.strip("\n"), source=source, id=source, meta={"path": str(path)})
        return
    k = 0
    for para in re.split(r"\n(?:[ \t]*\n)+", text):
        if para.strip():
            yield Document(text=para.strip("\n"), source=source, id=f"{source}#{k}",
                           meta={"path": str(path), "paragraph": k})
            k += 1


def _iter_jsonl(path: Path, opener, text_key: str, source: str) -> Iterator[Document]:
    try:
        f = _open_text(path, opener)
    except OSError as e:
        raise _read_failed(path, e) from e
    with f:
        lineno = 0
        try:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise CorpusError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno}); each line "
                                      f"of a .jsonl file must be one JSON object like {{\"{text_key}\": \"...\"}}") \
                        from None
                if isinstance(rec, str):
                    text, meta = rec, {}
                elif isinstance(rec, dict):
                    if text_key not in rec:
                        raise CorpusError(f"{path}:{lineno}: no {text_key!r} field; the record has fields "
                                          f"{sorted(rec)}. Pass text_key=<one of them>")
                    text, meta = rec[text_key], {k: v for k, v in rec.items() if k != text_key}
                else:
                    raise CorpusError(f"{path}:{lineno}: expected a JSON object with a {text_key!r} field, got "
                                      f"{type(rec).__name__}")
                if text is None:
                    continue
                if not isinstance(text, str):
                    raise CorpusError(f"{path}:{lineno}: field {text_key!r} holds {type(text).__name__}, "
                                      f"expected a string")
                if text.strip():
                    rid = meta.get("id")
                    yield Document(text=text, source=str(meta.get("source", source)),
                                   id=str(rid) if isinstance(rid, (str, int)) else f"{source}:{lineno}",
                                   meta=meta | {"line": lineno})
        except (OSError, UnicodeDecodeError, EOFError, lzma.LZMAError) as e:
            raise _read_failed(path, e) from e


def _iter_parquet(path: Path, text_key: str, source: str) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise CorpusError(f"{path}: not a readable Parquet file ({e})") from e
    names = pf.schema_arrow.names
    if text_key not in names:
        raise CorpusError(f"{path}: no {text_key!r} column; the file has columns {names}. "
                          f"Pass text_key=<one of them>")
    typ = pf.schema_arrow.field(text_key).type
    if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
        raise CorpusError(f"{path}: column {text_key!r} has type {typ}, expected a string column")

    def gen() -> Iterator[Document]:
        row = 0
        for batch in pf.iter_batches(batch_size=1024, columns=[text_key]):
            for text in batch.column(0).to_pylist():
                if text is not None and text.strip():
                    yield Document(text=text, source=source, id=f"{source}:{row}", meta={"row": row})
                row += 1

    return gen()


# ------------------------------------------------------------------------------------------ default
def default_corpus_path() -> Path:
    """Where the embedded default corpus lives (inside the installed package)."""
    p = resources.files("monoscope.corpus").joinpath("data", DEFAULT_CORPUS_FILE)
    path = Path(str(p))
    if not path.exists():
        raise CorpusError(f"the embedded default corpus is missing ({path}); reinstall monoscope or rebuild it "
                          f"with scripts/build_default_corpus.py")
    return path


DEFAULT_SOURCES = ("bible", "debian-handbook", "jargon", "python-docs", "wordnet")
DEFAULT_LANGS = ("de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN")


def _iter_default(names: list[str]) -> Iterator[Document]:
    path = default_corpus_path()
    wanted = set(names)
    unknown = wanted - set(DEFAULT_SOURCES) - set(DEFAULT_LANGS)
    if unknown:
        raise CorpusError(f"the default corpus has no source or language {sorted(unknown)}; sources: "
                          f"{', '.join(DEFAULT_SOURCES)}; languages: {', '.join(DEFAULT_LANGS)}")

    def gen() -> Iterator[Document]:
        with lzma.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if wanted and rec["source"] not in wanted and rec["lang"] not in wanted:
                    continue
                yield Document(text=rec["text"], source=rec["source"], id=rec["id"], meta={"lang": rec["lang"]})

    return gen()


# ------------------------------------------------------------------------------------------ Hugging Face
def parse_hf_spec(spec: str) -> tuple[str, str | None, str]:
    """'hf:NAME[:CONFIG][@SPLIT]' -> (name, config or None, split, default 'train')."""
    body = spec[3:] if spec.startswith("hf:") else spec
    body, at, split = body.rpartition("@") if "@" in body else (body, "", "train")
    name, _, config = body.partition(":")
    if not name or (at and not split):
        raise CorpusError(f"bad Hugging Face spec {spec!r}: expected 'hf:NAME[:CONFIG][@SPLIT]', "
                          f"e.g. 'hf:roneneldan/TinyStories@validation' or 'hf:wikitext:wikitext-2-raw-v1@test'")
    return name, (config or None), split


def _iter_hf(spec: str, *, text_key: str) -> Iterator[Document]:
    name, config, split = parse_hf_spec(spec)
    try:
        import datasets
    except ImportError as e:
        raise CorpusError(f"{spec!r} needs the 'datasets' package: pip install 'monoscope[hf]' "
                          f"(or use a local file/folder, or 'default')") from e
    try:
        ds = datasets.load_dataset(name, config, split=split, streaming=True)
    except Exception as e:  # offline, unknown dataset, bad config or split: all arrive as assorted types
        hint = ("; you appear to be offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set or the hub is "
                "unreachable): download the data elsewhere and pass a local file or folder instead")
        raise CorpusError(f"cannot stream Hugging Face dataset {spec!r} (name={name!r}, config={config!r}, "
                          f"split={split!r}): {type(e).__name__}: {e}{hint}") from e

    def gen() -> Iterator[Document]:
        for i, rec in enumerate(ds):
            if i == 0 and text_key not in rec:
                raise CorpusError(f"Hugging Face dataset {spec!r} has no {text_key!r} column; its columns are "
                                  f"{sorted(rec)}. Pass text_key=<one of them>")
            text = rec.get(text_key)
            if isinstance(text, str) and text.strip():
                yield Document(text=text, source=spec, id=f"{name}/{split}/{i}", meta={"row": i})

    return gen()
