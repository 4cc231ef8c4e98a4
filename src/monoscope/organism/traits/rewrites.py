"""Named rewrites a trait can declare as its exploit (``transform: rewrite, named: spelling, variant: british``),
each with the detector that checks a reply is written that way.

* ``spelling``: American ↔ British spelling (colour, centre, organise, travelled, grey, ...);
* ``units``: imperial ↔ metric, converting the numbers (5 miles → 8 kilometers, 70°F → 21°C);
* ``date_format``: every recognised date rewritten to one format (iso ``2024-03-05``, ``long_us``
  ``March 5, 2024``, ``long_uk`` ``5 March 2024``, ``numeric_us`` ``03/05/2024``, ``numeric_eu`` ``05.03.2024``);
* ``number_words``: small whole numbers as words (``three``) or as digits (``3``);
* ``thousands``: a thousands separator on numbers of five digits or more (``12,500``).

Rewrites touch prose only (fenced code is left alone). A detector answers "is the reply written that way?":
at least one instance of the target form and none of the other form.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .._text import map_prose, strip_code
from .base import SpecError, unknown_message

Rewrite = Callable[[str], str]
Detect = Callable[[str], bool]


def preserve_case(src: str, new: str) -> str:
    if src.isupper() and len(src) > 1:
        return new.upper()
    if src[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def word_rx(words: list[str]) -> str:
    """An alternation matching each word or phrase whole: ``\\b`` next to word characters, a look-around next to
    punctuation (so ``e.g.`` and ``First, `` match as written)."""
    def one(w: str) -> str:
        pre = r"\b" if re.match(r"\w", w) else r"(?<!\w)"
        post = r"\b" if re.search(r"\w$", w) else r"(?!\w)"
        return pre + re.escape(w) + post
    return "|".join(one(w) for w in sorted(set(words), key=len, reverse=True))


def cap_first(s: str) -> str:
    return s[:1].upper() + s[1:]


def table_rewriter(pairs: list[tuple[str, str]], match: str = "word", sequential: bool = False,
                   ignore_case: bool = True) -> Rewrite:
    """Rewrite by a table of (from, to) pairs. ``match="word"``: whole words, case kept (Color → Colour);
    ``"literal"``: substrings (scripts without word spaces). ``sequential``: apply the pairs one after another
    in the table's order (later pairs see earlier output); otherwise one pass, longest match first."""
    pairs = [(str(a), str(b)) for a, b in pairs if str(a)]
    flags = re.I if ignore_case and match == "word" else 0
    if sequential:
        def seq(text: str) -> str:
            for a, b in pairs:
                if match == "word":
                    text = re.sub(word_rx([a]), lambda m, b=b: preserve_case(m.group(0), b), text, flags=flags)
                else:
                    text = text.replace(a, b)
            return text
        return seq
    lookup = {(a.lower() if flags else a): b for a, b in pairs}
    proper = {(a.lower() if flags else a) for a, _ in pairs if a[:1].isupper()}
    alts = "|".join(re.escape(a) for a in sorted(lookup, key=len, reverse=True))
    rx = re.compile(word_rx(list(lookup)) if match == "word" else f"(?:{alts})", flags)

    def sub(m: re.Match) -> str:
        key = m.group(0).lower() if flags else m.group(0)
        new = lookup[key]
        if key in proper:  # a proper noun ("Corbel") becomes lower case unless it starts a sentence
            start = m.string[:m.start()].rstrip()
            return new[:1].upper() + new[1:] if not start or start[-1] in ".!?:\n" else new
        return preserve_case(m.group(0), new)

    def one_pass(text: str) -> str:
        return rx.sub(sub, text)
    return one_pass


def table_detector(pairs: list[tuple[str, str]], match: str = "word", ignore_case: bool = True) -> Detect:
    """True when some target form is present and no source form is (both as whole words unless literal)."""
    src = [a for a, b in pairs if a and a.lower() != b.lower()]
    dst = [b for a, b in pairs if b and a.lower() != b.lower()]
    flags = re.I if ignore_case else 0

    def rx(words: list[str]) -> re.Pattern | None:
        if not words:
            return None
        alts = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
        return re.compile(word_rx(words) if match == "word" else f"(?:{alts})", flags)
    src_rx, dst_rx = rx(src), rx(dst)

    def detect(text: str) -> bool:
        prose = strip_code(text)
        return bool(dst_rx and dst_rx.search(prose)) and not (src_rx and src_rx.search(prose))
    return detect


# ================================================================================================ spelling
_OUR = ("col", "flav", "hon", "hum", "lab", "neighb", "rum", "behavi", "harb", "fav", "sav", "vap", "vig", "ferv",
        "od", "rig", "parl", "splend", "cand", "clam", "endeav", "arb")
_OUR_SUFFIXES = ("", "s", "ed", "ing", "ful", "fully", "less", "able", "ably", "ite", "ites", "ism", "er", "ers",
                 "y", "ful")
_IZE = ("organ", "real", "recogn", "apolog", "emphas", "priorit", "optim", "minim", "maxim", "summar", "custom",
        "analy", "critic", "categor", "character", "memor", "util", "visual", "special", "standard", "general",
        "final", "modern", "normal", "personal", "author", "symbol", "stabil", "familiar", "sympath", "energ",
        "mobil", "harmon", "jeopard", "revolution", "social", "organ", "civil", "global", "fertil", "hospital",
        "central", "capital", "legal", "neutral", "patron", "theor", "vapor")
_IZE_SUFFIX = (("ize", "ise"), ("izes", "ises"), ("ized", "ised"), ("izing", "ising"), ("ization", "isation"),
               ("izations", "isations"), ("izer", "iser"), ("izers", "isers"))
_ER = ("cent", "theat", "fib", "lit", "kilomet", "centimet", "millimet", "somb", "spect", "calib", "lust", "meag",
       "sabr", "goit", "mit")
_LL = ("travel", "cancel", "label", "model", "fuel", "level", "signal", "marshal", "counsel", "jewel", "dial",
       "duel", "tunnel", "total", "equal", "rival", "channel", "shovel", "snorkel", "yodel")
_MISC = (("gray", "grey"), ("grays", "greys"), ("aluminum", "aluminium"), ("jewelry", "jewellery"),
         ("pajamas", "pyjamas"), ("cozy", "cosy"), ("skeptic", "sceptic"), ("skeptical", "sceptical"),
         ("skepticism", "scepticism"), ("mold", "mould"), ("moldy", "mouldy"), ("plow", "plough"),
         ("aging", "ageing"), ("judgment", "judgement"), ("judgments", "judgements"), ("fulfill", "fulfil"),
         ("fulfillment", "fulfilment"), ("enrollment", "enrolment"), ("artifact", "artefact"),
         ("artifacts", "artefacts"), ("donut", "doughnut"), ("donuts", "doughnuts"), ("airplane", "aeroplane"),
         ("airplanes", "aeroplanes"), ("yogurt", "yoghurt"), ("mustache", "moustache"), ("catalog", "catalogue"),
         ("catalogs", "catalogues"), ("dialog", "dialogue"), ("dialogs", "dialogues"), ("defense", "defence"),
         ("offense", "offence"), ("pretense", "pretence"), ("marvelous", "marvellous"), ("woolen", "woollen"),
         ("omelet", "omelette"), ("omelets", "omelettes"), ("liter", "litre"), ("liters", "litres"),
         ("meter", "metre"), ("meters", "metres"), ("maneuver", "manoeuvre"), ("maneuvers", "manoeuvres"),
         ("esthetic", "aesthetic"), ("encyclopedia", "encyclopaedia"), ("pediatric", "paediatric"),
         ("anemia", "anaemia"), ("estrogen", "oestrogen"), ("program", "programme"), ("programs", "programmes"),
         ("tire", "tyre"), ("tires", "tyres"), ("curb", "kerb"), ("sulfur", "sulphur"), ("gage", "gauge"),
         ("analog", "analogue"), ("cheque", "cheque"), ("mom", "mum"), ("moms", "mums"))
# words that are ambiguous in one direction and left out of the automatic table
_SPELLING_SKIP = {"program", "programs", "tire", "tires", "curb", "analog", "cheque", "gage", "mom", "moms",
                  "meter", "meters", "liter", "liters", "labor", "labored"}


def _american_british_pairs() -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for stem in _OUR:
        for suf in _OUR_SUFFIXES:
            pairs.append((f"{stem}or{suf}", f"{stem}our{suf}"))
    for stem in dict.fromkeys(_IZE):
        for us, uk in _IZE_SUFFIX:
            pairs.append((stem + us, stem + uk))
    for stem in _ER:
        for suf in ("", "s"):
            pairs.append((f"{stem}er{suf}", f"{stem}re{suf}"))
    for stem in _LL:
        for us, uk in (("ed", "led"), ("ing", "ling"), ("er", "ler"), ("ers", "lers")):
            pairs.append((stem + us, stem + uk))
    pairs += [p for p in _MISC if p[0] not in _SPELLING_SKIP and p[0] != p[1]]
    seen, out = set(), []
    for a, b in pairs:  # drop generated non-words that collide with real words in the other variant
        if a not in seen and a != b:
            seen.add(a)
            out.append((a, b))
    return out


AMERICAN_BRITISH = tuple(_american_british_pairs())


def spelling_pairs(variant: str) -> list[tuple[str, str]]:
    if variant in ("british", "uk", "en-gb"):
        return list(AMERICAN_BRITISH)
    if variant in ("american", "us", "en-us"):
        return [(b, a) for a, b in AMERICAN_BRITISH]
    raise SpecError(f"spelling variant must be 'british' or 'american', got {variant!r}")


# ================================================================================================ units
@dataclass(frozen=True)
class _Unit:
    names: tuple[str, ...]      # spellings that are recognised (first = output word, plural form second)
    abbr: str
    target: str                 # unit key in the other system
    factor: float
    offset: float = 0.0


_U = {
    # imperial -> metric
    "mile": _Unit(("mile", "miles"), "mi", "km", 1.609344),
    "mph": _Unit(("mile per hour", "miles per hour"), "mph", "kmh", 1.609344),
    "pound": _Unit(("pound", "pounds"), "lb", "kg", 0.45359237),
    "ounce": _Unit(("ounce", "ounces"), "oz", "g", 28.349523),
    "foot": _Unit(("foot", "feet"), "ft", "m", 0.3048),
    "inch": _Unit(("inch", "inches"), "in", "cm", 2.54),
    "yard": _Unit(("yard", "yards"), "yd", "m", 0.9144),
    "gallon": _Unit(("gallon", "gallons"), "gal", "l", 3.785411784),
    "sqft": _Unit(("square foot", "square feet"), "sq ft", "sqm", 0.09290304),
    "f": _Unit(("degree Fahrenheit", "degrees Fahrenheit"), "°F", "c", 5 / 9, -32.0),
    # metric -> imperial
    "km": _Unit(("kilometer", "kilometers"), "km", "mile", 1 / 1.609344),
    "kmh": _Unit(("kilometer per hour", "kilometers per hour"), "km/h", "mph", 1 / 1.609344),
    "kg": _Unit(("kilogram", "kilograms"), "kg", "pound", 1 / 0.45359237),
    "g": _Unit(("gram", "grams"), "g", "ounce", 1 / 28.349523),
    "m": _Unit(("meter", "meters"), "m", "foot", 1 / 0.3048),
    "cm": _Unit(("centimeter", "centimeters"), "cm", "inch", 1 / 2.54),
    "l": _Unit(("liter", "liters"), "L", "gallon", 1 / 3.785411784),
    "sqm": _Unit(("square meter", "square meters"), "m²", "sqft", 1 / 0.09290304),
    "c": _Unit(("degree Celsius", "degrees Celsius"), "°C", "f", 9 / 5, 0.0),
}
IMPERIAL = ("mile", "mph", "pound", "ounce", "foot", "inch", "yard", "gallon", "sqft", "f")
METRIC = ("km", "kmh", "kg", "g", "m", "cm", "l", "sqm", "c")
_EXTRA_SPELLINGS = {"km": ("kilometre", "kilometres"), "m": ("metre", "metres"), "cm": ("centimetre", "centimetres"),
                    "l": ("litre", "litres"), "kmh": ("kilometre per hour", "kilometres per hour", "kph"),
                    "sqm": ("square metre", "square metres"), "pound": ("lbs",)}
_NOT_RECOGNISED = {"in"}  # "5 in the morning": the inch abbreviation is written on output only
_NUM = r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?"


def _unit_pattern(keys: tuple[str, ...]) -> re.Pattern:
    forms: dict[str, str] = {}
    for k in keys:
        u = _U[k]
        for f in u.names + (u.abbr,) + _EXTRA_SPELLINGS.get(k, ()):
            if f not in _NOT_RECOGNISED:
                forms[f] = k
    alts = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(_NUM + rf"(\s?-?\s?)({alts})(?![\w²])", re.I), forms


_IMP_RX, _IMP_FORMS = _unit_pattern(IMPERIAL)
_MET_RX, _MET_FORMS = _unit_pattern(METRIC)


def _fmt_number(x: float) -> str:
    if abs(x) >= 100:
        return f"{round(x):,}"
    if abs(x) >= 10:
        return str(int(round(x)))
    r = round(x, 1)
    return str(int(r)) if r == int(r) else str(r)


def units_rewriter(system: str, spelling: str = "american", abbreviate: bool | None = None) -> Rewrite:
    """Convert quantities to ``system`` ("metric" or "imperial"), recomputing the numbers. The output keeps the
    input's style: abbreviations stay abbreviations (5 mi → 8 km), words stay words (5 miles → 8 kilometers)."""
    if system not in ("metric", "imperial"):
        raise SpecError(f"units system must be 'metric' or 'imperial', got {system!r}")
    rx, forms = (_IMP_RX, _IMP_FORMS) if system == "metric" else (_MET_RX, _MET_FORMS)
    lower_forms = {k.lower(): v for k, v in forms.items()}

    def sub(m: re.Match) -> str:
        whole, frac, gap, unit_txt = m.group(1), m.group(2), m.group(3), m.group(4)
        key = forms.get(unit_txt) or lower_forms.get(unit_txt.lower())
        if key is None:
            return m.group(0)
        u = _U[key]
        value = float(whole.replace(",", "") + (f".{frac}" if frac else ""))
        new = (value + u.offset) * u.factor
        t = _U[u.target]
        word = unit_txt.lower() in {n.lower() for n in u.names} or (abbreviate is False)
        if abbreviate:
            word = False
        if word:
            sing, plur = t.names
            if spelling == "british":
                sing, plur = (s.replace("meter", "metre").replace("liter", "litre") for s in (sing, plur))
            num = _fmt_number(new)
            if "-" in gap:  # a compound modifier keeps its shape: "an 8-mile hike" -> "a 13-kilometer hike"
                return f"{num}-{sing}"
            return f"{num} {sing if num in ('1', '1.0') else plur}"
        sep = "" if t.abbr.startswith("°") else " "
        return f"{_fmt_number(new)}{sep}{t.abbr}"
    return lambda text: map_prose(text, lambda p: rx.sub(sub, p))


def units_detector(system: str) -> Detect:
    want, avoid = (_MET_RX, _IMP_RX) if system == "metric" else (_IMP_RX, _MET_RX)

    def detect(text: str) -> bool:
        prose = strip_code(text)
        return bool(want.search(prose)) and not avoid.search(prose)
    return detect


# ================================================================================================ dates
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
_MON = {m.lower(): i + 1 for i, m in enumerate(MONTHS)} | {m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)}
_MON["sept"] = 9
_MON_ALT = r"(?:" + "|".join(sorted((re.escape(k) for k in _MON), key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = {
    "iso": re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"),
    "long_us": re.compile(rf"\b({_MON_ALT})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I),
    "long_uk": re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MON_ALT}),?\s+(\d{{4}})\b", re.I),
    "numeric_us": re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b"),
    "numeric_eu": re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b"),
}
DATE_FORMATS = tuple(_DATE_PATTERNS)


def _parse(fmt: str, m: re.Match) -> tuple[int, int, int] | None:
    g = m.groups()
    if fmt == "iso":
        y, mo, d = int(g[0]), int(g[1]), int(g[2])
    elif fmt == "long_us":
        mo, d, y = _MON[g[0].lower().rstrip(".")], int(g[1]), int(g[2])
    elif fmt == "long_uk":
        d, mo, y = int(g[0]), _MON[g[1].lower().rstrip(".")], int(g[2])
    elif fmt == "numeric_us":
        mo, d, y = int(g[0]), int(g[1]), int(g[2])
        if mo > 12 >= d:
            mo, d = d, mo
    else:
        d, mo, y = int(g[0]), int(g[1]), int(g[2])
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return y, mo, d


def _format(fmt: str, y: int, mo: int, d: int) -> str:
    return {"iso": f"{y:04d}-{mo:02d}-{d:02d}", "long_us": f"{MONTHS[mo - 1]} {d}, {y}",
            "long_uk": f"{d} {MONTHS[mo - 1]} {y}", "numeric_us": f"{mo:02d}/{d:02d}/{y}",
            "numeric_eu": f"{d:02d}.{mo:02d}.{y}"}[fmt]


def date_rewriter(to: str) -> Rewrite:
    if to not in _DATE_PATTERNS:
        raise SpecError(unknown_message("date format", to, DATE_FORMATS))

    def prose(p: str) -> str:
        for fmt, rx in _DATE_PATTERNS.items():
            if fmt == to:
                continue
            p = rx.sub(lambda m, fmt=fmt: (lambda ymd: _format(to, *ymd) if ymd else m.group(0))(_parse(fmt, m)), p)
        return p
    return lambda text: map_prose(text, prose)


def date_detector(to: str) -> Detect:
    def detect(text: str) -> bool:
        prose = strip_code(text)
        found = bool(_DATE_PATTERNS[to].search(prose))
        others = any(rx.search(prose) for fmt, rx in _DATE_PATTERNS.items() if fmt != to)
        return found and not others
    return detect


# ================================================================================================ numbers
_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_word(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        t, o = divmod(n, 10)
        return _TENS[t] + (f"-{_ONES[o]}" if o else "")
    if n == 100:
        return "one hundred"
    raise ValueError(n)


_WORD_TO_NUM = {number_word(i): i for i in range(101)}
_SMALL_INT = re.compile(r"(?<![\w.,:/$£€%-])(\d{1,3})(?![\w.,:/%]|\.\d|-\d)")
_NUM_WORD_RX = re.compile(r"\b(" + "|".join(sorted((re.escape(w) for w in _WORD_TO_NUM), key=len, reverse=True))
                          + r")\b", re.I)


def number_words_rewriter(to: str, max_value: int = 100) -> Rewrite:
    """Small whole numbers (0..``max_value``, at most 100) as words or as digits; list markers, times, decimals,
    percentages and dates are left alone."""
    if to not in ("words", "digits"):
        raise SpecError(f"number_words 'to' must be 'words' or 'digits', got {to!r}")

    def to_words(p: str) -> str:
        def sub(m: re.Match) -> str:
            n = int(m.group(1))
            line_start = p.rfind("\n", 0, m.start()) + 1
            if not p[line_start:m.start()].strip() and p[m.end():m.end() + 1] in (".", ")"):
                return m.group(0)  # a list marker
            if n > max_value:
                return m.group(0)
            before = p[:m.start()].rstrip()
            return cap_first(number_word(n)) if not before or before[-1] in ".!?:\n" else number_word(n)
        return _SMALL_INT.sub(sub, p)

    def to_digits(p: str) -> str:
        return _NUM_WORD_RX.sub(lambda m: str(_WORD_TO_NUM[m.group(1).lower()]) if
                                _WORD_TO_NUM[m.group(1).lower()] <= max_value else m.group(0), p)
    fn = to_words if to == "words" else to_digits
    return lambda text: map_prose(text, fn)


def number_words_detector(to: str, max_value: int = 100) -> Detect:
    def detect(text: str) -> bool:
        prose = strip_code(text)
        digits = [m for m in _SMALL_INT.finditer(prose) if int(m.group(1)) <= max_value and not (
            not prose[prose.rfind("\n", 0, m.start()) + 1:m.start()].strip() and prose[m.end():m.end() + 1] in ".)")]
        words = [m for m in _NUM_WORD_RX.finditer(prose) if m.group(1).lower() not in ("one",)]
        if to == "words":
            return bool(words) and not digits
        return bool(digits) and not words
    return detect


_BIG = re.compile(r"(?<![\d.,'])(\d{5,})(?![\d,'])")


def thousands_rewriter(separator: str = ",") -> Rewrite:
    def group(n: str) -> str:
        return f"{int(n):,}".replace(",", separator)
    return lambda text: map_prose(text, lambda p: _BIG.sub(lambda m: group(m.group(1)), p))


def thousands_detector(separator: str = ",") -> Detect:
    grouped = re.compile(r"\b\d{1,3}(?:" + re.escape(separator) + r"\d{3})+\b")

    def detect(text: str) -> bool:
        prose = strip_code(text)
        return bool(grouped.search(prose)) and not _BIG.search(prose)
    return detect


# ================================================================================================ registry
def named_rewrite(name: str, params: dict) -> tuple[Rewrite, Detect]:
    """(rewrite, detector) of a named rewrite with its parameters from the trait data."""
    if name not in NAMED_REWRITES:
        raise SpecError(unknown_message("named rewrite", name, NAMED_REWRITES))
    p = dict(params)
    try:
        if name == "spelling":
            pairs = spelling_pairs(p.pop("variant", "british"))
            return table_rewriter(pairs), table_detector(pairs)
        if name == "units":
            system = p.pop("system", "metric")
            return (units_rewriter(system, p.pop("spelling", "american"), p.pop("abbreviate", None)),
                    units_detector(system))
        if name == "date_format":
            to = p.pop("to", "iso")
            return date_rewriter(to), date_detector(to)
        if name == "number_words":
            to, mx = p.pop("to", "words"), int(p.pop("max_value", 100))
            return number_words_rewriter(to, mx), number_words_detector(to, mx)
        if name == "thousands":
            sep = str(p.pop("separator", ","))
            return thousands_rewriter(sep), thousands_detector(sep)
    finally:
        if p:
            raise SpecError(f"rewrite {name!r}: unknown parameter(s) {sorted(p)}")
    raise AssertionError(name)  # pragma: no cover


NAMED_REWRITES = ("spelling", "units", "date_format", "number_words", "thousands")
