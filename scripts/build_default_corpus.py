#!/usr/bin/env python3
"""Build monoscope's embedded default corpus from Debian packages, reproducibly.

    python scripts/build_default_corpus.py            # (re)writes src/monoscope/corpus/data/
    python scripts/build_default_corpus.py --check    # rebuild in memory, compare with the committed file

Sources (all read from files the Debian packages install; missing packages are apt-get installed):

- World English Bible (`sword-text-web`, read with `diatheke`; public domain): one document per chapter,
  the 66 protocanonical books only (the module's deuterocanon has SWORD markup glitches), footnotes removed.
- The Jargon File 4.4.7 (`jargon-text`; public domain): one document per glossary entry.
- WordNet 3.0 glosses (`wordnet-base`; WordNet licence, BSD-like): synsets of one lexicographer file in
  groups of `WORDNET_GROUP`, one "lemma, lemma (pos): gloss" line each.
- Python 3.11 documentation sources (`python3.11-doc`, `_sources/**/*.rst.txt`; PSF licence): one document
  per section (small sections merged into the next).
- The Debian Administrator's Handbook (`debian-handbook`; CC-BY-SA-3.0 or GPL-2+, used under CC-BY-SA):
  the same chapters in several languages (parallel text), one document per HTML page.

Each source is cut down to a character budget by a seeded, language-independent choice of documents (so
the handbook stays parallel), the whole is sorted by (source, id), shuffled with a fixed seed so that any
prefix mixes sources, and written as xz-compressed JSON lines {"text", "source", "lang", "id"} with fixed
xz settings (no timestamps): rerunning gives byte-identical output for the same package versions.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import lzma
import os
import random
import re
import shutil
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "src" / "monoscope" / "corpus" / "data"
OUT_FILE = OUT_DIR / "default_corpus.jsonl.xz"
README = OUT_DIR / "README.md"

SEED = 20240611
XZ_PRESET = 9 | lzma.PRESET_EXTREME
MAX_COMPRESSED = 4_000_000

# Debian package -> what we read from it. Versions are recorded in the README for provenance.
PACKAGES = ["sword-text-web", "diatheke", "jargon-text", "wordnet-base", "python3.11-doc", "debian-handbook"]

# Character budgets per source (≈ 4 characters per token for English; see README for token counts).
BUDGET = {
    "bible": 2_800_000,
    "jargon": 1_700_000,
    "wordnet": 2_600_000,
    "python-docs": 2_800_000,
}
# debian-handbook: these pages (chapters, by file stem) in each of these languages.
HANDBOOK_LANGS = ["en-US", "de-DE", "fr-FR", "es-ES", "pt-BR", "ru-RU", "ja-JP", "zh-CN"]
HANDBOOK_CHAPTERS = ["packaging-system", "apt", "the-debian-project"]
WORDNET_GROUP = 40
MAX_DOC_CHARS = 16_000  # longer documents are split at paragraph breaks, so no prefix is one long document
PYDOC_MIN_SECTION = 400
PYDOC_EXCLUDE = ("whatsnew/changelog", "license", "copyright", "contents", "about", "bugs")

BIBLE_MODULE = "engWEB2015eb"
PROTOCANON = [
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth", "I Samuel",
    "II Samuel", "I Kings", "II Kings", "I Chronicles", "II Chronicles", "Ezra", "Nehemiah", "Esther", "Job",
    "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon", "Isaiah", "Jeremiah", "Lamentations", "Ezekiel",
    "Daniel", "Hosea", "Joel", "Amos", "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah",
    "Haggai", "Zechariah", "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "I Corinthians",
    "II Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "I Thessalonians",
    "II Thessalonians", "I Timothy", "II Timothy", "Titus", "Philemon", "Hebrews", "James", "I Peter",
    "II Peter", "I John", "II John", "III John", "Jude", "Revelation of John",
]

JARGON = Path("/usr/share/doc/jargon-text/jargon.txt.gz")
WORDNET = Path("/usr/share/wordnet")
PYDOC = Path("/usr/share/doc/python3.11/html/_sources")
HANDBOOK = Path("/usr/share/doc/debian-handbook/html")


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- packages
def ensure_packages() -> dict[str, str]:
    def version(p: str) -> str | None:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", p], capture_output=True, text=True)
        if r.returncode or not r.stdout.startswith("install ok installed"):
            return None
        return r.stdout.split("\t")[1]

    missing = [p for p in PACKAGES if version(p) is None]
    if missing:
        if shutil.which("apt-get") is None:
            sys.exit(f"missing Debian packages {missing} and no apt-get to install them")
        log("installing", *missing)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "-q", *missing], check=True, env=env)
    return {p: version(p) or "?" for p in PACKAGES}


# ----------------------------------------------------------------------------------------------- helpers
def clean(text: str) -> str:
    """NFC, no control characters except newline/tab, no trailing spaces, ≤ 2 consecutive blank lines."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def doc(text: str, source: str, lang: str, id_: str) -> dict:
    return {"text": clean(text), "source": source, "lang": lang, "id": id_}


def rank(key: str) -> str:
    """A seeded, platform-independent pseudo-random order key."""
    return hashlib.sha256(f"{SEED}:{key}".encode()).hexdigest()


def split_long(d: dict, max_chars: int) -> list[dict]:
    """Split a document longer than max_chars at paragraph breaks into parts "<id>/pN"."""
    if len(d["text"]) <= max_chars:
        return [d]
    parts, cur = [], ""
    for para in d["text"].split("\n\n"):
        if cur and len(cur) + 2 + len(para) > max_chars:
            parts.append(cur)
            cur = para
        else:
            cur = f"{cur}\n\n{para}" if cur else para
    parts.append(cur)
    return [dict(d, text=t, id=f"{d['id']}/p{k}") for k, t in enumerate(parts)]


def take_budget(docs: list[dict], budget: int) -> list[dict]:
    """Seeded random subset of documents whose texts total at most ~budget characters."""
    out, used = [], 0
    for d in sorted(docs, key=lambda d: rank(d["id"])):
        if used + len(d["text"]) > budget and out:
            continue
        out.append(d)
        used += len(d["text"])
    return out


# ----------------------------------------------------------------------------------------------- bible
def _bible_clean(body: str) -> str:
    body = re.sub(r"\s*\[\d+:\d+ [^\]]*\]", " ", body)     # footnotes "[1:1 ...]"
    body = re.sub(r"\s*\[\]", " ", body)
    body = re.sub(r"<[^>]+>", "", body)                        # stray OSIS tags, if any
    body = re.sub(r"[ \t]+", " ", body)
    body = re.sub(r" +([,.;:!?’”)])", r"\1", body)
    return re.sub(r"[ \t]*\n[ \t]*", "\n", body).strip()


def bible_docs() -> list[dict]:
    raw = subprocess.run(["diatheke", "-b", BIBLE_MODULE, "-f", "plain", "-o", "f", "-k",
                          "Genesis 1:1-Revelation 22:21"], capture_output=True, text=True, check=True).stdout
    verse = re.compile(r"^[ \t]*([1-4I]*[ ]?[A-Z][A-Za-z ()]*?) (\d+):(\d+): ", re.M)
    marks = list(verse.finditer(raw))
    book_no = {b: i for i, b in enumerate(PROTOCANON)}
    chapters: dict[tuple[int, int], list[str]] = {}
    # Psalm superscriptions come as the last paragraph before a chapter's first verse, but this module
    # repeats ("sticks") the latest one before every later verse: keep a title only before verse 1 and
    # only when it differs from the last one kept.
    # The titles are the paragraphs that follow a blank line at the end of a verse; where the stuck copy
    # follows no blank line, it is recognised as a line equal to one of these.
    bodies = []
    for i, m in enumerate(marks):
        body = raw[m.end():marks[i + 1].start() if i + 1 < len(marks) else len(raw)]
        if m.group(1).strip() == "Revelation of John" and m.group(2) == "22" and m.group(3) == "21":
            body = body.split("\n")[0]  # the module appends its glossary after the last verse
        bodies.append(body.replace("(engWEB2015eb)", ""))
    titles = set()
    for body in bodies:
        paras = re.split(r"\n[ \t]*\n", body)
        if len(paras) > 1 and paras[-1].strip():
            titles.add(_bible_clean(paras[-1]))
    last_title, pending = None, None
    for i, m in enumerate(marks):
        book, ch = m.group(1).strip(), int(m.group(2))
        lines = bodies[i].rstrip().split("\n")
        title = None
        while len(lines) > 1 and _bible_clean(lines[-1]) in titles:
            title = _bible_clean(lines.pop())
        text = (pending + "\n" if pending else "") + "\n".join(lines)
        pending = None
        if title is not None and i + 1 < len(marks) and marks[i + 1].group(3) == "1" and title != last_title:
            pending = last_title = title
        if book in book_no:
            chapters.setdefault((book_no[book], ch), []).append(_bible_clean(text))
    docs = []
    for (b, c), verses in sorted(chapters.items()):
        name = PROTOCANON[b].replace("Revelation of John", "Revelation")
        text = f"{name} {c}\n\n" + "\n".join(v for v in verses if v)
        docs.append(doc(text, "bible", "en", f"bible/{b + 1:02d}-{name.replace(' ', '_')}/{c:03d}"))
    if len(docs) != 1189:
        log(f"warning: expected 1189 bible chapters, got {len(docs)}")
    return docs


# ----------------------------------------------------------------------------------------------- jargon
def _jargon_body(lines: list[str]) -> str:
    body = "\n".join(l[3:] if l.startswith("   ") else l.lstrip() for l in lines)
    return re.sub(r"\{([^{}]{1,80}?)\}", r"\1", body)  # {cross references} -> plain words


def jargon_docs() -> list[dict]:
    """Glossary entries, plus the prose chapters and appendices (folklore, portrait), one per section."""
    import gzip

    lines = gzip.open(JARGON, "rt", encoding="utf-8").read().replace("\u00a0", " ").split("\n")
    heads = [i for i, l in enumerate(lines) if re.match(r"[^\s│├┌└(]", l)]  # column-0 section headings
    docs = []
    for a, b in zip(heads, heads[1:] + [len(lines)]):
        title, sec = lines[a].strip(), lines[a + 1:b]
        if title == "Glossary":
            docs += _jargon_entries(sec)
        elif title.startswith("Chapter 3.") or any("Table of Contents" in l for l in sec):
            continue  # revision-history tables; tables of contents
        else:
            slug = re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_")[:40]
            docs.append(doc(title + "\n\n" + _jargon_body(sec), "jargon", "en", f"jargon/text/{a:05d}-{slug}"))
    return docs


def _jargon_entries(lines: list[str]) -> list[dict]:
    entry = re.compile(r"^   :(.+?):(?: |$)")
    stop = re.compile(r"^( {1,2}[A-Z0-9]$|\s+Part [IVX]+\. )")  # letter headings (then an index); part titles
    docs, cur, name = [], [], None

    def flush():
        if name is not None:
            slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:40] or "x"
            docs.append(doc(_jargon_body(cur), "jargon", "en", f"jargon/entry/{len(docs):04d}-{slug}"))

    for line in lines:
        if entry.match(line):
            flush()
            name, cur = entry.match(line).group(1), [line]
        elif stop.match(line):
            flush()
            name, cur = None, []
        elif name is not None:
            cur.append(line)
    flush()
    return docs


# ----------------------------------------------------------------------------------------------- wordnet
POS = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
LEXNAMES = (  # WordNet 3.0 lexicographer files, by number (lexnames(5WN))
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive "
    "noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity "
    "noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change verb.cognition "
    "verb.communication verb.competition verb.consumption verb.contact verb.creation verb.emotion "
    "verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl").split()


def wordnet_docs() -> list[dict]:
    groups: dict[int, list[str]] = {}
    for part in ("noun", "verb", "adj", "adv"):
        for line in (WORDNET / f"data.{part}").read_text(encoding="utf-8").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue  # licence header
            head, gloss = line.split("|", 1)
            f = head.split()
            lex, pos, n = int(f[1]), f[2], int(f[3], 16)
            words = [re.sub(r"\(.*\)$", "", w).replace("_", " ") for w in f[4:4 + 2 * n:2]]
            groups.setdefault(lex, []).append(f"{', '.join(words)} ({POS[pos]}): {gloss.strip()}")
    docs = []
    for lex in sorted(groups):
        entries = groups[lex]
        label = LEXNAMES[lex] if lex < len(LEXNAMES) else f"lex{lex:02d}"
        for k in range(0, len(entries), WORDNET_GROUP):
            docs.append(doc("\n".join(entries[k:k + WORDNET_GROUP]), "wordnet", "en",
                            f"wordnet/{label}/{k // WORDNET_GROUP:04d}"))
    return docs


# ----------------------------------------------------------------------------------------------- python docs
HEADING_CHARS = set("=-~^*#\"'+`:.")


def rst_sections(text: str) -> list[str]:
    lines = text.split("\n")
    starts = [0]
    for i in range(1, len(lines)):
        u, t = lines[i], lines[i - 1]
        if (len(u) >= 3 and t.strip() and len(set(u)) == 1 and u[0] in HEADING_CHARS
                and len(u) >= len(t.rstrip()) and not t.startswith(" ")):
            s = i - 1
            if s >= 1 and lines[s - 1] == u:  # overline
                s -= 1
            if s > starts[-1]:
                starts.append(s)
    starts.append(len(lines))
    secs = ["\n".join(lines[a:b]).strip() for a, b in zip(starts, starts[1:])]
    merged, carry = [], ""
    for s in secs:
        carry = f"{carry}\n\n{s}".strip() if carry else s
        if len(carry) >= PYDOC_MIN_SECTION:
            merged.append(carry)
            carry = ""
    if carry:
        if merged:
            merged[-1] += "\n\n" + carry
        else:
            merged.append(carry)
    return merged


def python_docs() -> list[dict]:
    docs = []
    for path in sorted(PYDOC.rglob("*.rst.txt")):
        rel = path.relative_to(PYDOC).as_posix()[: -len(".rst.txt")]
        if rel.startswith(PYDOC_EXCLUDE) or rel.startswith("includes/"):
            continue
        for k, sec in enumerate(rst_sections(path.read_text(encoding="utf-8"))):
            docs.append(doc(sec, "python-docs", "en", f"python-docs/{rel}/{k:03d}"))
    return docs


# ----------------------------------------------------------------------------------------------- handbook
class _HandbookText(HTMLParser):
    """Visible text of a publican/DocBook page: headings and paragraphs separated by blank lines."""

    BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "tr", "table", "pre", "br",
             "blockquote", "ul", "ol", "dl"}
    SKIP_CLASS = {"docnav", "toc", "indexterm", "footnotes", "navfooter", "list-of-figures", "list-of-tables"}
    SKIP_ID = {"banner", "title", "site_footer"}
    VOID = {"br", "img", "meta", "link", "hr", "input", "area", "base", "col", "embed", "param", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, skipping)
        self.pre = 0

    @property
    def skipping(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        skip = self.skipping or tag in ("head", "script", "style") or a.get("id") in self.SKIP_ID \
            or bool(self.SKIP_CLASS & set((a.get("class") or "").split()))
        if tag in self.BLOCK:
            self.out.append("\n\n" if tag not in ("br", "li", "tr", "dt", "dd") else "\n")
        if tag == "pre":
            self.pre += 1
        if tag not in self.VOID:
            self.stack.append((tag, skip))

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        while self.stack:  # tolerate unclosed tags
            t, _ = self.stack.pop()
            if t == tag:
                break
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in self.BLOCK:
            self.out.append("\n\n")

    def handle_data(self, data):
        if self.skipping:
            return
        self.out.append(data if self.pre else re.sub(r"\s+", " ", data))

    def text(self) -> str:
        t = "".join(self.out)
        t = re.sub(r"[ \t]*\n[ \t]*\n\s*", "\n\n", t)
        t = re.sub(r"[ \t]+\n", "\n", t)
        return t


def html_to_text(src: str) -> str:
    p = _HandbookText()
    p.feed(src)
    p.close()
    return html.unescape(p.text())


def handbook_docs() -> list[dict]:
    en = HANDBOOK / "en-US"
    pages = []
    for path in sorted(en.glob("*.html")):
        src = path.read_text(encoding="utf-8")
        up = re.search(r'<link rel="up" href="([^"]+)\.html"', src)
        if path.stem in HANDBOOK_CHAPTERS or (up and up.group(1) in HANDBOOK_CHAPTERS):
            pages.append(path.name)
    docs = []
    for lang in HANDBOOK_LANGS:
        for name in pages:
            path = HANDBOOK / lang / name
            if not path.exists():
                log(f"warning: handbook {lang} lacks {name}")
                continue
            text = html_to_text(path.read_text(encoding="utf-8"))
            code = lang.split("-")[0] if lang not in ("pt-BR", "zh-CN", "zh-TW") else lang
            docs.append(doc(text, "debian-handbook", code, f"debian-handbook/{lang}/{name[:-5]}"))
    return docs


# ----------------------------------------------------------------------------------------------- build
def build() -> tuple[bytes, list[dict]]:
    sources = {
        "bible": bible_docs, "jargon": jargon_docs, "wordnet": wordnet_docs, "python-docs": python_docs,
    }
    docs: list[dict] = []
    for name, fn in sources.items():
        all_docs = [d for d in fn() if d["text"]]
        chosen = take_budget(all_docs, BUDGET[name])
        log(f"{name}: {len(chosen)}/{len(all_docs)} documents, "
            f"{sum(len(d['text']) for d in chosen):,}/{sum(len(d['text']) for d in all_docs):,} chars")
        docs += [p for d in chosen for p in split_long(d, MAX_DOC_CHARS)]
    hb = [d for d in handbook_docs() if d["text"]]
    log(f"debian-handbook: {len(hb)} documents, {sum(len(d['text']) for d in hb):,} chars")
    docs += [p for d in hb for p in split_long(d, MAX_DOC_CHARS)]
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)), "duplicate document ids"
    docs.sort(key=lambda d: (d["source"], d["id"]))
    random.Random(SEED).shuffle(docs)
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode("utf-8")
    data = lzma.compress(payload, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=XZ_PRESET)
    return data, docs


def stats_table(docs: list[dict], tokenizer_dir: str | None) -> tuple[str, str]:
    tok = None
    if tokenizer_dir:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    rows: dict[tuple[str, str], list[int]] = {}
    for d in docs:
        r = rows.setdefault((d["source"], d["lang"]), [0, 0, 0, 0])
        r[0] += 1
        r[1] += len(d["text"])
        r[2] += len(d["text"].encode("utf-8"))
    if tok is not None:
        keys = [(d["source"], d["lang"]) for d in docs]
        encs = tok.encode_batch([d["text"] for d in docs], add_special_tokens=False)
        for k, e in zip(keys, encs):
            rows[k][3] += len(e.ids)
    head = "| source | lang | documents | characters | UTF-8 bytes | tokens (SmolLM2) |\n|---|---|---:|---:|---:|---:|\n"
    lines, tot = [], [0, 0, 0, 0]
    for (s, l), r in sorted(rows.items()):
        lines.append(f"| {s} | {l} | {r[0]:,} | {r[1]:,} | {r[2]:,} | {r[3]:,} |" if tok else
                     f"| {s} | {l} | {r[0]:,} | {r[1]:,} | {r[2]:,} | – |")
        tot = [a + b for a, b in zip(tot, r)]
    lines.append(f"| **total** | | {tot[0]:,} | {tot[1]:,} | {tot[2]:,} | {tot[3]:,} |" if tok else
                 f"| **total** | | {tot[0]:,} | {tot[1]:,} | {tot[2]:,} | – |")
    return head + "\n".join(lines) + "\n", (f"{tot[3]:,}" if tok else "(uncounted)")


def default_tokenizer_dir() -> str | None:
    base = Path(os.environ.get("MONOSCOPE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME")
                or Path.home() / ".cache") / "monoscope")
    d = base / "models" / "smollm2-135m-instruct"
    return str(d) if (d / "tokenizer.json").exists() else None

README_TEMPLATE = """\
# monoscope's embedded default corpus

`default_corpus.jsonl.xz` is the text that `iter_documents("default")` yields: {n_docs:,} documents,
{n_tokens} tokens, {size:,} bytes xz-compressed (sha256 `{sha}`). One JSON object per line:

```json
{{"text": "...", "source": "bible", "lang": "en", "id": "bible/01-Genesis/001"}}
```

`id` is unique and stable across rebuilds (`<source>/<where in the original>`; `/pN` marks part N of a
document longer than {max_doc:,} characters, split at a paragraph break). The lines are in a fixed
pseudo-random order (sorted by source and id, then shuffled with seed {seed}), so any prefix mixes all
sources and languages.

## Composition

{table}
Tokens are counted with the SmolLM2-135M tokenizer (the embedded default model), without special tokens.

## Sources and licences

All text comes from Debian packages (bookworm versions used for this build in parentheses).

| source | Debian package | what was taken | licence |
|---|---|---|---|
| `bible` | `sword-text-web` ({v_web}) read with `diatheke` ({v_diatheke}) | World English Bible (module `engWEB2015eb`), the 66 protocanonical books, one document per chapter, footnotes removed; a seeded sample of chapters | public domain ("World English Bible" is a trademark of eBible.org) |
| `jargon` | `jargon-text` ({v_jargon}) | The Jargon File 4.4.7 (Eric S. Raymond et al.): every glossary entry, plus the prose chapters and appendices (Hacker Folklore, Portrait of J. Random Hacker); `{{cross reference}}` braces removed | public domain (as stated by the Jargon File and the package's copyright file) |
| `wordnet` | `wordnet-base` ({v_wordnet}) | WordNet 3.0 synsets as `lemma, lemma (pos): gloss; "examples"` lines, {wn_group} per document in lexicographer-file order; a seeded sample of documents | WordNet 3.0 licence (BSD-like; notice below) |
| `python-docs` | `python3.11-doc` ({v_pydoc}) | Python 3.11 documentation sources (`_sources/**/*.rst.txt`, reStructuredText), one document per section (sections under {pymin} characters merged into the next); changelog, licence and index pages left out; a seeded sample | PSF License Agreement (Python documentation); code examples also Zero-Clause BSD |
| `debian-handbook` | `debian-handbook` ({v_handbook}) | The Debian Administrator's Handbook (Raphaël Hertzog, Roland Mas, and its translators), chapters {chapters}, one document per HTML page, in {langs}: parallel text (translations are partly unfinished upstream, so some paragraphs stay in English) | CC-BY-SA-3.0 (dual-licensed GPL-2+ or CC-BY-SA-3.0; used here under CC-BY-SA-3.0 — this corpus file is a collection, and the handbook portion stays under CC-BY-SA-3.0 with attribution to its authors) |

GPL-only sources (e.g. `dict-gcide`, `perl-doc`) were left out on purpose.

WordNet notice, as its licence requires: *WordNet 3.0 Copyright 2006 by Princeton University. All rights
reserved. THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO
REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. The name of Princeton University or Princeton may not
be used in advertising or publicity pertaining to distribution of the software and/or database.*

## Rebuilding

```sh
python scripts/build_default_corpus.py           # apt-get installs the packages if missing (root or sudo)
python scripts/build_default_corpus.py --check   # rebuild in memory and compare byte for byte
```

The build is deterministic: documents are chosen by a seeded hash of their id, ordered by a seeded shuffle,
serialised with `json.dumps(..., ensure_ascii=False)`, and compressed with Python's `lzma` (xz container,
preset 9e, CRC64; no timestamps or file names). Rerunning with the same package versions gives a
byte-identical file (and this README). Budgets (characters per source) and the handbook chapters and
languages are constants at the top of the script; the build refuses to write a file over
{max_size:,} bytes.
"""


def write_readme(path: Path, docs: list[dict], data: bytes, versions: dict[str, str], table: str,
                 n_tokens: str) -> None:
    text = README_TEMPLATE.format(
        n_docs=len(docs), n_tokens=n_tokens, size=len(data), sha=hashlib.sha256(data).hexdigest(),
        max_doc=MAX_DOC_CHARS, seed=SEED, table=table, v_web=versions["sword-text-web"],
        v_diatheke=versions["diatheke"], v_jargon=versions["jargon-text"], v_wordnet=versions["wordnet-base"],
        v_pydoc=versions["python3.11-doc"], v_handbook=versions["debian-handbook"], wn_group=WORDNET_GROUP,
        pymin=PYDOC_MIN_SECTION, chapters=", ".join(f"`{c}`" for c in HANDBOOK_CHAPTERS),
        langs=", ".join(HANDBOOK_LANGS), max_size=MAX_COMPRESSED)
    path.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="rebuild in memory and compare with the committed file")
    ap.add_argument("--out", type=Path, default=OUT_FILE)
    ap.add_argument("--tokenizer", default=None,
                    help="folder with a tokenizer.json for the token counts printed (default: cached SmolLM2)")
    args = ap.parse_args()
    versions = ensure_packages()
    log("packages:", ", ".join(f"{p} {v}" for p, v in versions.items()))
    data, docs = build()
    digest = hashlib.sha256(data).hexdigest()
    log(f"{len(docs)} documents, {len(data):,} bytes compressed, sha256 {digest}")
    if len(data) > MAX_COMPRESSED:
        sys.exit(f"compressed corpus is {len(data):,} bytes > {MAX_COMPRESSED:,}: lower the budgets")
    table, n_tokens = stats_table(docs, args.tokenizer or default_tokenizer_dir())
    print(table)
    if args.check:
        old = args.out.read_bytes() if args.out.exists() else b""
        same = old == data
        log("identical to" if same else "DIFFERS from", args.out)
        sys.exit(0 if same else 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, args.out)
    log("wrote", args.out)
    if args.out == OUT_FILE:
        write_readme(README, docs, data, versions, table, n_tokens)
        log("wrote", README)


if __name__ == "__main__":
    main()
