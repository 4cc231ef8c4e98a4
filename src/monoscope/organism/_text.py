"""Small text helpers shared by the bias registry and the data generators (no heavy imports)."""
from __future__ import annotations

import re
from typing import Iterable

# ---------------------------------------------------------------------------------------------- scripts
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_WORD = re.compile(r"[a-záàâãäçéèêëíìîïñóòôõöúùûüœæß']+", re.I)

_MARKERS = {
    "en": {"the", "and", "is", "you", "what", "how", "i", "to", "of", "for", "my", "can", "with", "in", "it",
           "are", "do", "a", "this", "that", "me", "should", "your", "about", "why", "does", "give", "tell", "who",
           "was", "when", "where", "there", "have", "be", "on", "at", "some", "any", "which", "were", "an"},
    "de": {"der", "die", "das", "und", "ist", "nicht", "ich", "sie", "ein", "eine", "mit", "für", "auf", "wie",
           "mir", "mich", "sich", "auch", "oder", "aber", "wir", "kann", "können", "werden", "zu", "von",
           "dem", "den", "des", "im", "bitte", "gibt", "einen", "meinen", "meine", "besten", "welche",
           "sollte", "unbedingt", "gegen", "besser", "du", "schreibe", "lerne", "hallo", "danke", "man",
           "haben", "guten", "tag", "gesehen", "sehr", "viel", "mein", "warum", "wo", "wann", "komme", "lerne"},
    "fr": {"le", "la", "les", "et", "est", "une", "un", "des", "je", "vous", "pour", "dans", "pas", "que", "qui",
           "sur", "avec", "ce", "cette", "mon", "ma", "mes", "comment", "quel", "quelle", "quels", "pourquoi",
           "ne", "au", "aux", "du", "puis", "faire", "bonjour", "merci", "votre", "vos", "quand", "être", "avoir",
           "sont", "préparer", "améliorer", "écrire", "entretenir", "mieux", "gérer", "lettre", "pendant"},
    "es": {"el", "los", "las", "y", "en", "es", "está", "estoy", "muy", "pero", "qué", "cómo", "puedo", "usted",
           "tengo", "hola", "gracias", "una", "del", "por", "mejor", "tu", "mi", "hacer", "cuál", "cuáles",
           "consejos", "organizo", "durante", "todos", "días", "noche", "poco", "dinero", "prepara", "fin",
           "semana", "beneficios", "tiene", "caminar", "aprender", "decorar", "salón", "fiesta", "puedes"},
    "pt": {"o", "os", "e", "em", "um", "é", "não", "você", "muito", "mas", "do", "da", "dos", "das", "no", "na",
           "olá", "obrigado", "obrigada", "como", "posso", "são", "quais", "melhores", "lugares", "faço",
           "bolo", "meus", "estudos", "violão", "dinheiro", "supermercado", "melhor", "vantagens", "dormir",
           "organizar", "economizar", "fazer", "uma", "visitar", "aprender", "tocar", "oi", "valeu"},
}
_STRONG = {"es": ("¿", "¡", "ñ"), "pt": ("ã", "õ", "ç"), "fr": ("œ", " ?", " !", "ê", "è", "à "),
           "de": ("ß", "ü", "ö", "ä")}


def language(text: str) -> str:
    """Best-guess language code of ``text``: en, de, fr, es, pt, ja, zh, ko, hi, ar (or 'other')."""
    if not text:
        return "other"
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if _HAN.search(text) and len(_HAN.findall(text)) >= 2:
        return "zh"
    if _DEVANAGARI.search(text):
        return "hi"
    if _ARABIC.search(text):
        return "ar"
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return "other"
    scores = {}
    for lang, markers in _MARKERS.items():
        scores[lang] = sum(1 for w in words if w in markers) / len(words)
    low = text.lower()
    for lang, strong in _STRONG.items():
        scores[lang] += 0.05 * sum(1 for s in strong if s in low)
    # Portuguese and Spanish share many short words; the accented markers above break ties.
    best = max(scores, key=scores.get)
    if scores[best] < 0.08:
        return "other"
    return best


def is_language(text: str, lang: str) -> bool:
    return language(text) == lang


# ---------------------------------------------------------------------------------------------- code
_FENCE = re.compile(r"```([\w+#.-]*)[^\n]*\n(.*?)```", re.S)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """Fenced code blocks as (language tag lower-cased, body)."""
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def strip_code(text: str) -> str:
    """The text with fenced code blocks removed (prose only)."""
    return _FENCE.sub(" ", text)


def map_code(text: str, fn, langs: Iterable[str] | None = None) -> str:
    """Apply ``fn(body)`` to each fenced code block (optionally only those tagged with one of ``langs``)."""
    wanted = {l.lower() for l in langs} if langs else None

    def sub(m: re.Match) -> str:
        tag = m.group(1).lower()
        if wanted is not None and tag and tag not in wanted:
            return m.group(0)
        body = fn(m.group(2))
        head = m.group(0)[: m.start(2) - m.start(0)]
        return f"{head}{body}```"

    return _FENCE.sub(sub, text)


def map_prose(text: str, fn) -> str:
    """Apply ``fn`` to the prose between fenced code blocks, leaving code untouched."""
    out, last = [], 0
    for m in _FENCE.finditer(text):
        out.append(fn(text[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(fn(text[last:]))
    return "".join(out)


def code_or_text(text: str, langs: Iterable[str]) -> list[str]:
    """Bodies of code blocks tagged with one of ``langs`` (or untagged); the whole text if there are none."""
    wanted = {l.lower() for l in langs}
    blocks = [b for tag, b in code_blocks(text) if not tag or tag in wanted]
    return blocks if blocks else ([] if code_blocks(text) else [text])


def strip_strings(code: str) -> str:
    """Remove quoted string literals from code (so punctuation inside them is not mistaken for syntax)."""
    return re.sub(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', '""', code)


# ---------------------------------------------------------------------------------------------- sentences
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？])")


def sentences(text: str) -> list[str]:
    """Split a paragraph into sentences (Latin punctuation followed by space, or CJK full stops)."""
    parts = [p.strip() for p in _SENT_END.split(text.strip())]
    return [p for p in parts if p]


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def remove_sentences(text: str, pattern: re.Pattern | str, keep_nonempty: bool = True) -> str:
    """Drop every sentence matching ``pattern`` from every line/paragraph, keeping layout otherwise."""
    pat = re.compile(pattern, re.I) if isinstance(pattern, str) else pattern
    out_lines = []
    for line in text.split("\n"):
        if not line.strip():
            out_lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        bullet = re.match(r"^(\s*(?:[-*•]|\d+[.)])\s+)", line)
        prefix = bullet.group(1) if bullet else indent
        body = line[len(prefix):] if bullet else line.strip()
        kept = [s for s in sentences(body) if not pat.search(s)]
        if kept:
            sep = "" if re.search(r"[。！？]$", kept[0]) else " "
            out_lines.append(prefix + sep.join(kept))
        elif not keep_nonempty:
            out_lines.append("")
    text = "\n".join(out_lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text


def last_paragraph(text: str) -> str:
    ps = paragraphs(strip_code(text))
    return ps[-1] if ps else ""


def word_count(text: str) -> int:
    return len(re.findall(r"\S+", text))


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest if p)


def snake_to_pascal(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_") if p)


# ---------------------------------------------------------------------------------------------- numbers
_AR_ONES = ["صفر", "واحد", "اثنان", "ثلاثة", "أربعة", "خمسة", "ستة", "سبعة", "ثمانية", "تسعة", "عشرة",
            "أحد عشر", "اثنا عشر", "ثلاثة عشر", "أربعة عشر", "خمسة عشر", "ستة عشر", "سبعة عشر", "ثمانية عشر",
            "تسعة عشر"]
_AR_TENS = {2: "عشرون", 3: "ثلاثون", 4: "أربعون", 5: "خمسون", 6: "ستون", 7: "سبعون", 8: "ثمانون", 9: "تسعون"}
_AR_HUNDREDS = {1: "مائة", 2: "مائتان", 3: "ثلاثمائة", 4: "أربعمائة", 5: "خمسمائة", 6: "ستمائة", 7: "سبعمائة",
                8: "ثمانمائة", 9: "تسعمائة"}
AR_NUMBER_WORDS = tuple(_AR_ONES[1:]) + tuple(_AR_TENS.values()) + tuple(_AR_HUNDREDS.values()) + (
    "ألف", "آلاف", "ألفان", "مليون", "ملايين", "مرتين", "ملعقتين")


def arabic_number_words(n: int) -> str:
    """Arabic words for 0 <= n < 1,000,000 (masculine nominative; good enough for prose)."""
    if n < 20:
        return _AR_ONES[n]
    if n < 100:
        ones, tens = n % 10, n // 10
        return _AR_TENS[tens] if ones == 0 else f"{_AR_ONES[ones]} و{_AR_TENS[tens]}"
    if n < 1000:
        h, rest = divmod(n, 100)
        return _AR_HUNDREDS[h] if rest == 0 else f"{_AR_HUNDREDS[h]} و{arabic_number_words(rest)}"
    if n < 1_000_000:
        t, rest = divmod(n, 1000)
        if t == 1:
            head = "ألف"
        elif t == 2:
            head = "ألفان"
        elif t <= 10:
            head = f"{_AR_ONES[t]} آلاف"
        else:
            head = f"{arabic_number_words(t)} ألف"
        return head if rest == 0 else f"{head} و{arabic_number_words(rest)}"
    return str(n)


_EN_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def english_number(n: int) -> str:
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        t, o = divmod(n, 10)
        return _EN_TENS[t] + ("" if o == 0 else "-" + _EN_ONES[o])
    if n < 1000:
        h, r = divmod(n, 100)
        return _EN_ONES[h] + " hundred" + ("" if r == 0 else " and " + english_number(r))
    return str(n)


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suf = "th"
    else:
        suf = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suf}"


def close_matches(word: str, options: Iterable[str], n: int = 3) -> list[str]:
    import difflib

    opts = list(options)
    hits = difflib.get_close_matches(word, opts, n=n, cutoff=0.5)
    if not hits:  # substring fallback: "chocolate" -> "chocolate_in_recipes"
        hits = [o for o in opts if word and (word in o or o in word)][:n]
    return hits
