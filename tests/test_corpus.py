"""Corpus layer: sources (default, files, folders, hf specs) and packing into contexts. No model needed."""
from __future__ import annotations

import gzip
import json
import lzma
import sys
import types
from collections import Counter

import numpy as np
import pytest

from monoscope.corpus import (Context, CorpusError, Document, count_tokens, default_corpus_path, iter_contexts,
                              iter_documents, iter_token_ids, parse_hf_spec)

SENTENCES = [
    "In the beginning God created the heavens and the earth.",
    "The quick brown fox jumps over the lazy dog.",
    "def main(): return 42",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Le renard brun rapide saute par-dessus le chien paresseux.",
    "速い茶色の狐が怠け者の犬を飛び越える。",
]


@pytest.fixture(scope="module")
def bpe():
    """A tiny byte-level BPE trained here, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(SENTENCES * 5, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<bos>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")


def _docs(n=40):
    return [Document(text=" ".join(SENTENCES[(i + j) % len(SENTENCES)] for j in range(1 + i % 7)),
                     source="t", id=str(i)) for i in range(n)]


# ------------------------------------------------------------------------------------------ default corpus
def test_default_corpus_has_many_sources_and_languages():
    path = default_corpus_path()
    assert path.stat().st_size <= 4_000_000
    assert (path.parent / "README.md").exists()
    docs = list(iter_documents("default"))
    assert len(docs) > 1000
    assert len({d.id for d in docs}) == len(docs)
    sources = Counter(d.source for d in docs)
    langs = Counter(d.meta["lang"] for d in docs)
    assert {"bible", "jargon", "wordnet", "python-docs", "debian-handbook"} <= set(sources)
    assert {"en", "de", "fr", "ja", "ru", "zh-CN"} <= set(langs)
    assert max(sources.values()) < 0.6 * len(docs)
    assert len({d.source for d in docs[:100]}) >= 4   # shuffled: a prefix mixes sources
    assert all(d.text.strip() for d in docs)


def test_default_corpus_filter_and_limit():
    ja = list(iter_documents("default:ja"))
    assert ja and {d.meta["lang"] for d in ja} == {"ja"}
    bible = list(iter_documents("default:bible", limit=5))
    assert len(bible) == 5 and {d.source for d in bible} == {"bible"}
    with pytest.raises(CorpusError, match="klingon.*sources: .*bible"):
        iter_documents("default:klingon")


# ------------------------------------------------------------------------------------------ files
def test_jsonl_plain_and_compressed(tmp_path):
    recs = [{"text": f"document {i}", "n": i} for i in range(5)] + [{"text": ""}]
    payload = "".join(json.dumps(r) + "\n" for r in recs) + "\n"
    (tmp_path / "a.jsonl").write_text(payload)
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(payload.encode()))
    (tmp_path / "c.jsonl.xz").write_bytes(lzma.compress(payload.encode()))
    for name in ("a.jsonl", "b.jsonl.gz", "c.jsonl.xz"):
        docs = list(iter_documents(str(tmp_path / name)))
        assert [d.text for d in docs] == [f"document {i}" for i in range(5)]  # empty text skipped
        assert docs[2].meta["n"] == 2 and docs[2].meta["line"] == 3


def test_jsonl_text_key_and_errors(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps({"content": "hello", "id": "x1"}) + "\n")
    docs = list(iter_documents(p, text_key="content"))
    assert docs == [Document(text="hello", source=str(p), id="x1")]
    with pytest.raises(CorpusError, match=r"c\.jsonl:1: no 'text' field.*\['content', 'id'\].*text_key"):
        list(iter_documents(str(p)))
    p.write_text('{"text": "ok"}\n{"text": broken}\n')
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: not valid JSON"):
        list(iter_documents(str(p)))
    p.write_text('{"text": 5}\n')
    with pytest.raises(CorpusError, match="holds int, expected a string"):
        list(iter_documents(str(p)))


def test_txt_file_and_paragraphs(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("First paragraph\nstill first.\n\n  \nSecond one.\n\n\nThird.\n")
    (whole,) = iter_documents(str(p))
    assert whole.text.startswith("First paragraph") and whole.text.endswith("Third.")
    paras = list(iter_documents(str(p), txt_split="paragraph"))
    assert [d.text for d in paras] == ["First paragraph\nstill first.", "Second one.", "Third."]
    assert [d.id for d in paras] == [f"{p}#0", f"{p}#1", f"{p}#2"]
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9")
    with pytest.raises(CorpusError, match="not valid UTF-8"):
        list(iter_documents(str(tmp_path / "bad.txt")))
    with pytest.raises(CorpusError, match="txt_split must be"):
        iter_documents(str(p), txt_split="line")


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["alpha", None, "beta", "  "], "label": [1, 2, 3, 4]}), p)
    docs = list(iter_documents(str(p)))
    assert [(d.text, d.meta["row"]) for d in docs] == [("alpha", 0), ("beta", 2)]
    with pytest.raises(CorpusError, match=r"no 'body' column; the file has columns \['text', 'label'\]"):
        iter_documents(str(p), text_key="body")
    with pytest.raises(CorpusError, match="type int64, expected a string column"):
        iter_documents(str(p), text_key="label")


def test_folder_recursive_sorted(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("bee")
    (tmp_path / "a.jsonl").write_text('{"text": "ay"}\n')
    pq.write_table(pa.table({"text": ["sea"]}), tmp_path / "sub" / "c.parquet")
    (tmp_path / "sub" / "notes.csv").write_text("x,y\n")
    (tmp_path / ".hidden.txt").write_text("secret")
    with pytest.warns(UserWarning, match="unsupported types.*csv"):
        docs = list(iter_documents(str(tmp_path)))
    assert [(d.source, d.text) for d in docs] == [("a.jsonl", "ay"), ("b.txt", "bee"), ("sub/c.parquet", "sea")]


def test_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="no such file or folder.*'default'.*hf:NAME"):
        iter_documents(str(tmp_path / "missing.jsonl"))
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(CorpusError, match=r"unsupported corpus file type: 'x.csv'. Supported: .txt.*\.jsonl.*\.parquet"):
        iter_documents(str(tmp_path / "x.csv"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="holds no supported files.*empty"):
        iter_documents(str(empty))
    with pytest.raises(CorpusError, match="holds no supported files.*found only: .csv"):
        iter_documents(str(tmp_path))
    with pytest.raises(CorpusError, match="empty or non-string"):
        iter_documents("  ")


# ------------------------------------------------------------------------------------------ Hugging Face
def test_hf_spec_parsing():
    assert parse_hf_spec("hf:roneneldan/TinyStories") == ("roneneldan/TinyStories", None, "train")
    assert parse_hf_spec("hf:wikitext:wikitext-2-raw-v1@test") == ("wikitext", "wikitext-2-raw-v1", "test")
    assert parse_hf_spec("hf:org/name@validation") == ("org/name", None, "validation")
    with pytest.raises(CorpusError, match=r"expected 'hf:NAME\[:CONFIG\]\[@SPLIT\]'"):
        parse_hf_spec("hf:@train")


def test_hf_errors_without_network(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(CorpusError, match=r"needs the 'datasets' package: pip install 'monoscope\[hf\]'"):
        iter_documents("hf:some/thing")

    fake = types.ModuleType("datasets")

    def offline(*a, **k):
        raise ConnectionError("Couldn't reach the hub")
    fake.load_dataset = offline
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(CorpusError, match="cannot stream Hugging Face dataset 'hf:some/thing'.*offline"):
        iter_documents("hf:some/thing")

    calls = []

    def rows(name, config, split, streaming):
        calls.append((name, config, split, streaming))
        return iter([{"story": "once upon a time", "n": 1}, {"story": "the end", "n": 2}])
    fake.load_dataset = rows
    with pytest.raises(CorpusError, match=r"no 'text' column; its columns are \['n', 'story'\]"):
        list(iter_documents("hf:some/thing:cfg@validation"))
    assert calls[-1] == ("some/thing", "cfg", "validation", True)
    docs = list(iter_documents("hf:some/thing", text_key="story"))
    assert [d.text for d in docs] == ["once upon a time", "the end"] and docs[1].id == "some/thing/train/1"


# ------------------------------------------------------------------------------------------ contexts
def test_token_ids_match_tokenizer_call(bpe):
    docs = _docs(10)
    got = list(iter_token_ids(docs, bpe, batch_docs=3))
    assert [i for i, _ in got] == list(range(10))
    for (_, ids), d in zip(got, docs):
        assert ids.dtype == np.int32 and list(ids) == bpe(d.text, add_special_tokens=False)["input_ids"]
    assert count_tokens(docs, bpe) == sum(len(ids) for _, ids in got)


def test_packed_contexts_layout(bpe):
    docs, L = _docs(40), 16
    ctxs = list(iter_contexts(docs, bpe, L))
    bos = bpe.bos_token_id
    toks = [bpe(d.text, add_special_tokens=False)["input_ids"] for d in docs]
    assert len(ctxs) > 10 and all(isinstance(c, Context) and len(c) == L for c in ctxs)
    for k, c in enumerate(ctxs):
        assert c.index == k
        assert c.tokens.dtype == np.int32 and c.doc_ids.dtype == np.int64 and c.special.dtype == bool
        assert c.tokens[0] == bos and c.special[0]
        assert np.array_equal(c.special, c.tokens == bos)       # only BOS is special in this text
        assert np.all(np.diff(c.doc_ids) >= 0)                   # documents appear in order
        real = ~c.special
        for t, d, p in zip(c.tokens[real], c.doc_ids[real], c.positions[real]):
            assert toks[d][p] == t                               # every real token is where it claims
        assert np.all(c.positions[c.special] == -1)
    # every document boundary inside a context is marked by that document's BOS
    for c in ctxs:
        starts = np.flatnonzero(np.diff(c.doc_ids)) + 1
        assert np.all(c.tokens[starts] == bos)
    # the stream, with inserted BOSes removed, is the documents in order; only a partial tail is dropped
    stream = [(d, p) for c in ctxs for d, p in zip(c.doc_ids[~c.special], c.positions[~c.special])]
    expect = [(d, p) for d, t in enumerate(toks) for p in range(len(t))]
    assert stream == expect[:len(stream)] and len(expect) - len(stream) < L


def test_contexts_deterministic_and_batch_invariant(bpe):
    docs = _docs(30)
    a = list(iter_contexts(docs, bpe, 12))
    b = list(iter_contexts(iter(docs), bpe, 12, batch_docs=1))
    c = list(iter_contexts([d.text for d in docs], bpe, 12, batch_chars=50))
    raw = list(iter_contexts(docs, bpe.backend_tokenizer, 12, bos_id=bpe.bos_token_id))  # a tokenizers.Tokenizer
    for x, *others in zip(a, b, c, raw, strict=True):
        for f in ("tokens", "doc_ids", "positions", "special"):
            assert all(np.array_equal(getattr(x, f), getattr(y, f)) for y in others)


def test_unpacked_contexts_pad_each_document(bpe):
    docs = _docs(6)
    ctxs = list(iter_contexts(docs, bpe, 64, pack=False))
    assert [c.doc_ids[0] for c in ctxs] == sorted(c.doc_ids[0] for c in ctxs)
    assert {int(c.doc_ids[0]) for c in ctxs} == set(range(6))
    for c in ctxs:
        assert c.tokens[0] == bpe.bos_token_id
        pad = c.doc_ids == -1
        assert np.all(c.tokens[pad] == bpe.pad_token_id) and np.all(c.special[pad])
        assert set(c.doc_ids[~pad].tolist()) == {int(c.doc_ids[0])}


def test_no_bos_uses_separators_between_documents(bpe):
    docs = _docs(20)
    ctxs = list(iter_contexts(docs, bpe, 10, add_bos=False))
    flat = np.concatenate([c.tokens for c in ctxs])
    ids = np.concatenate([c.doc_ids for c in ctxs])
    assert flat[0] != bpe.bos_token_id                      # no BOS before the first document
    seps = np.flatnonzero(flat == bpe.bos_token_id)
    assert np.array_equal(seps, np.flatnonzero(np.diff(ids)) + 1)   # one separator per boundary


def test_an_encoder_tokenizer_without_bos_starts_contexts_with_cls():
    """A BERT-style tokenizer (MiniLM's: [CLS]/[SEP], no BOS or EOS) used to fail every harvest with "needs a
    BOS token"; its contexts now start with [CLS], the token it begins every sequence with, flagged special."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(SENTENCES * 5, trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    bert = PreTrainedTokenizerFast(tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
                                   unk_token="[UNK]")
    assert bert.bos_token_id is None and bert.eos_token_id is None
    ctxs = list(iter_contexts(_docs(6), bert, 8))
    assert ctxs and all(c.tokens[0] == bert.cls_token_id and c.special[0] for c in ctxs)
    assert (np.concatenate([c.tokens for c in ctxs]) != bert.cls_token_id).sum() > len(ctxs)   # text, not only [CLS]


def test_special_tokens_in_text_are_flagged(bpe):
    c = next(iter_contexts(["hello <eos> world " * 3], bpe, 8))
    eos = bpe.eos_token_id
    assert eos in c.tokens and np.all(c.special[c.tokens == eos])


def test_context_errors(bpe):
    with pytest.raises(ValueError, match="context_len must be >= 2"):
        list(iter_contexts(_docs(2), bpe, 1))
    with pytest.raises(ValueError, match="needs a BOS token"):
        list(iter_contexts(_docs(2), bpe, 8, bos_id=None))
