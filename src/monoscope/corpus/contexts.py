"""Tokenise documents into fixed-length contexts for harvesting.

Packing (``pack=True``, the default) concatenates documents and cuts the stream into ``context_len``
chunks, so no token is wasted on padding:

- ``add_bos=True``: every document is preceded by BOS, and every context starts with BOS: a context that
  begins in the middle of a document gets a BOS inserted in front of it (so the model never sees a
  context without its attention-sink token), one that begins at a document start uses that document's
  BOS. Document boundaries inside a context are marked by the next document's BOS.
- ``add_bos=False``: documents are joined with one separator token (``bos_id``, i.e. the tokenizer's BOS,
  else CLS, else EOS; none if it has none of them) and the stream is cut into plain chunks.

The trailing partial context of a packed stream is **dropped** (every context is full and real). With
``pack=False`` each document starts its own context(s) and the last one of each document is **padded**
with ``pad_id`` (marked ``special``, ``doc_ids == -1``), so short documents are kept whole.

Per token, a `Context` carries the document index (the position of its document in the input iterable,
counting from 0), the position within that document (-1 for BOS, separators and padding), and whether it
is special (BOS/EOS/padding/any special token of the tokenizer) so that harvesting can skip it.
The output is a pure function of (documents, tokenizer, context_len, options): deterministic, so a harvest
can resume by skipping the first N contexts.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from .sources import Document

class _FromTokenizer:
    """Default for bos_id/pad_id: take the token from the tokenizer."""

    def __repr__(self) -> str:
        return "<from tokenizer>"


_NO_TOKEN: Any = _FromTokenizer()


@dataclass
class Context:
    """One context of ``context_len`` tokens and, per token, where it came from."""

    tokens: np.ndarray     # int32 (context_len,)
    doc_ids: np.ndarray    # int64 (context_len,): index of the source document in the input; -1 for padding
    positions: np.ndarray  # int32 (context_len,): index of the token within its document; -1 if special
    special: np.ndarray    # bool (context_len,): BOS / separator / padding / special tokens
    index: int = 0         # ordinal of this context in the stream

    def __len__(self) -> int:
        return len(self.tokens)


# ------------------------------------------------------------------------------------------ tokenising
def _text(d: Document | str) -> str:
    if isinstance(d, str):
        return d
    if isinstance(d, Document):
        return d.text
    if isinstance(d, dict) and isinstance(d.get("text"), str):
        return d["text"]
    raise TypeError(f"expected Document, str or a dict with 'text', got {type(d).__name__}")


def _encoder(tokenizer: Any):
    """texts -> list of int32 arrays (no special tokens added), as fast as the tokenizer allows."""
    from tokenizers import Tokenizer

    backend = tokenizer if isinstance(tokenizer, Tokenizer) else getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        fast = getattr(backend, "encode_batch_fast", None) or backend.encode_batch

        def enc(texts: list[str]) -> list[np.ndarray]:
            return [np.asarray(e.ids, dtype=np.int32) for e in fast(texts, add_special_tokens=False)]
        return enc
    if callable(tokenizer):  # a slow (python) transformers tokenizer
        def enc_slow(texts: list[str]) -> list[np.ndarray]:
            ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
            return [np.asarray(x, dtype=np.int32) for x in ids]
        return enc_slow
    raise TypeError(f"cannot tokenise with {type(tokenizer).__name__}: pass a transformers tokenizer or a "
                    f"tokenizers.Tokenizer")


def _special_ids(tokenizer: Any) -> np.ndarray:
    ids: set[int] = set(getattr(tokenizer, "all_special_ids", None) or [])
    getter = getattr(tokenizer, "get_added_tokens_decoder", None)
    if getter is not None and not hasattr(tokenizer, "all_special_ids"):  # a raw tokenizers.Tokenizer
        ids |= {i for i, t in getter().items() if getattr(t, "special", False)}
    return np.array(sorted(ids), dtype=np.int32)


def iter_token_ids(documents: Iterable[Document | str], tokenizer: Any, *, batch_docs: int = 256,
                   batch_chars: int = 1 << 20) -> Iterator[tuple[int, np.ndarray]]:
    """(document index, int32 token ids without special tokens added) per document, batch-tokenised."""
    if batch_docs < 1 or batch_chars < 1:
        raise ValueError("batch_docs and batch_chars must be >= 1")
    enc = _encoder(tokenizer)
    texts: list[str] = []
    n_chars, first = 0, 0
    index = 0
    for index, d in enumerate(documents):
        t = _text(d)
        texts.append(t)
        n_chars += len(t)
        if len(texts) >= batch_docs or n_chars >= batch_chars:
            yield from enumerate(enc(texts), first)
            first, texts, n_chars = index + 1, [], 0
    if texts:
        yield from enumerate(enc(texts), first)


def count_tokens(documents: Iterable[Document | str], tokenizer: Any, *, limit_docs: int | None = None) -> int:
    """Total number of tokens in the documents (no special tokens added)."""
    docs = documents if limit_docs is None else islice(documents, limit_docs)
    return sum(len(ids) for _, ids in iter_token_ids(docs, tokenizer))


# ------------------------------------------------------------------------------------------ contexts
def _resolve(explicit: Any, tokenizer: Any, *names: str) -> int | None:
    if explicit is not _NO_TOKEN:
        return None if explicit is None else int(explicit)
    for n in names:
        v = getattr(tokenizer, n, None)
        if v is not None:
            return int(v)
    return None


def iter_contexts(documents: Iterable[Document | str], tokenizer: Any, context_len: int, *,
                  bos_id: int | None = _NO_TOKEN, add_bos: bool = True, pack: bool = True,
                  pad_id: int | None = _NO_TOKEN, batch_docs: int = 256,
                  batch_chars: int = 1 << 20) -> Iterator[Context]:
    """Tokenise `documents` and yield fixed-length `Context`s (see the module docstring for the layout).

    bos_id: the BOS/separator token; default the tokenizer's BOS, else its CLS (a BERT-style encoder has no
        BOS and begins every sequence with [CLS]), else its EOS. Required when add_bos.
    pad_id: the padding token for pack=False; default the tokenizer's PAD, else EOS, else BOS.
    """
    if context_len < (2 if add_bos else 1):
        raise ValueError(f"context_len must be >= {2 if add_bos else 1} (got {context_len})")
    bos = _resolve(bos_id, tokenizer, "bos_token_id", "cls_token_id", "eos_token_id")
    if add_bos and bos is None:
        raise ValueError("add_bos=True needs a BOS token, but the tokenizer has no BOS, CLS or EOS token: "
                         "pass bos_id=<token id> or add_bos=False")
    special_ids = _special_ids(tokenizer)
    extra = [x for x in (bos,) if x is not None]
    if extra:
        special_ids = np.union1d(special_ids, np.array(extra, dtype=np.int32)).astype(np.int32)
    stream = iter_token_ids(documents, tokenizer, batch_docs=batch_docs, batch_chars=batch_chars)
    if pack:
        return _packed(stream, context_len, bos, add_bos, special_ids)
    pad = _resolve(pad_id, tokenizer, "pad_token_id", "eos_token_id", "bos_token_id")
    return _unpacked(stream, context_len, bos if add_bos else None, 0 if pad is None else pad, special_ids)


def _packed(stream: Iterator[tuple[int, np.ndarray]], L: int, bos: int | None, add_bos: bool,
            special_ids: np.ndarray) -> Iterator[Context]:
    # pending stream as parallel arrays; `sep` marks the BOS/separator tokens we insert
    tok = np.empty(0, np.int32)
    doc = np.empty(0, np.int64)
    pos = np.empty(0, np.int32)
    sep = np.empty(0, bool)
    n_out = 0
    started = False
    batch: list[tuple[int, np.ndarray]] = []

    def flush(batch):
        nonlocal tok, doc, pos, sep, started
        parts_t, parts_d, parts_p, parts_s = [tok], [doc], [pos], [sep]
        for i, ids in batch:
            lead = bos is not None and (add_bos or started)  # add_bos=False: separators between documents only
            n = len(ids) + int(lead)
            parts_t.append(np.concatenate(([bos], ids)).astype(np.int32) if lead else ids)
            parts_d.append(np.full(n, i, np.int64))
            p = np.arange(-int(lead), len(ids), dtype=np.int32)
            parts_p.append(p)
            s = np.zeros(n, bool)
            s[0] = lead
            parts_s.append(s)
            started = True
        tok, doc, pos, sep = (np.concatenate(x) for x in (parts_t, parts_d, parts_p, parts_s))

    def emit() -> Iterator[Context]:
        nonlocal tok, doc, pos, sep, n_out
        o = 0
        while True:
            if o >= len(tok):
                break
            if not add_bos or sep[o]:  # plain chunk (it starts at a document's own BOS, or no BOS wanted)
                if len(tok) - o < L:
                    break
                t, d, p, s = tok[o:o + L], doc[o:o + L], pos[o:o + L], sep[o:o + L]
                o += L
            else:  # mid-document: insert a BOS in front
                if len(tok) - o < L - 1:
                    break
                e = o + L - 1
                t = np.concatenate(([bos], tok[o:e])).astype(np.int32)
                d = np.concatenate((doc[o:o + 1], doc[o:e]))
                p = np.concatenate(([-1], pos[o:e])).astype(np.int32)
                s = np.concatenate(([True], sep[o:e]))
                o = e
            special = s | np.isin(t, special_ids)
            p = np.where(special, -1, p).astype(np.int32)
            yield Context(tokens=t.copy(), doc_ids=d.copy(), positions=p, special=special, index=n_out)
            n_out += 1
        tok, doc, pos, sep = tok[o:], doc[o:], pos[o:], sep[o:]

    for item in stream:
        if len(item[1]) == 0:
            continue  # an empty document leaves no trace (not even a separator)
        batch.append(item)
        if len(batch) >= 64:
            flush(batch)
            batch = []
            yield from emit()
    if batch:
        flush(batch)
        yield from emit()
    # the trailing partial context (< context_len tokens) is dropped


def _unpacked(stream: Iterator[tuple[int, np.ndarray]], L: int, bos: int | None, pad: int,
              special_ids: np.ndarray) -> Iterator[Context]:
    n_out = 0
    body = L - (bos is not None)
    for i, ids in stream:
        for k in range(0, len(ids), body):
            chunk = ids[k:k + body]
            t = np.full(L, pad, np.int32)
            d = np.full(L, -1, np.int64)
            p = np.full(L, -1, np.int32)
            s = np.ones(L, bool)
            o = 0
            if bos is not None:
                t[0], d[0] = bos, i
                o = 1
            t[o:o + len(chunk)] = chunk
            d[o:o + len(chunk)] = i
            p[o:o + len(chunk)] = np.arange(k, k + len(chunk), dtype=np.int32)
            s[o:o + len(chunk)] = np.isin(chunk, special_ids)
            p[s] = -1
            yield Context(tokens=t, doc_ids=d, positions=p, special=s, index=n_out)
            n_out += 1
