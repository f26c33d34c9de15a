"""GSM 03.38 (GSM-7) awareness for SMS: which texts fit the 7-bit alphabet, how many segments they take,
and fitting a text into a number of segments without losing its end (the acknowledgement link).

A single SMS carries 160 GSM-7 characters (153 per part when concatenated); one character outside the alphabet
switches the whole message to UCS-2: 70 characters (67 per part). French needs care: é è ù à É are in the
alphabet, but ê â î ô û ç ë ï œ and typographic quotes are not, so they are transliterated first (a message in
plain GSM-7 costs half as much as its UCS-2 twin and displays the same on every phone).
"""

from __future__ import annotations

__all__ = ["BASIC", "EXTENDED", "is_gsm7", "septets", "segments", "to_gsm7", "fit"]

BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà")
EXTENDED = frozenset("^{}\\[~]|€\f")          # escape + character: two septets each

_TRANSLIT = str.maketrans({
    "â": "a", "ê": "e", "î": "i", "ô": "o", "û": "u", "ë": "e", "ï": "i", "ÿ": "y", "ç": "c", "á": "a",
    "í": "i", "ó": "o", "ú": "u", "À": "A", "Â": "A", "È": "E", "Ê": "E", "Ë": "E", "Î": "I", "Ï": "I",
    "Ô": "O", "Û": "U", "Ù": "U", "’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "–": "-",
    "—": "-", "\u00a0": " ", "\u202f": " ", "°": "o", "µ": "u", "²": "2", "³": "3", "\t": " ",
})
_MULTI = {"œ": "oe", "Œ": "OE", "…": "...", "æ": "ae"}


def is_gsm7(text: str) -> bool:
    return all(c in BASIC or c in EXTENDED for c in text)


def septets(text: str) -> int:
    return sum(2 if c in EXTENDED else 1 for c in text)


def segments(text: str) -> int:
    """Number of SMS parts the text needs (GSM-7 when possible, else UCS-2)."""
    if is_gsm7(text):
        n, single, part = septets(text), 160, 153
    else:
        n, single, part = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if n <= single else -(-n // part)


def to_gsm7(text: str) -> str:
    """Transliterate what has a plain equivalent; characters without one stay (and force UCS-2)."""
    for src, dst in _MULTI.items():
        text = text.replace(src, dst)
    return text.translate(_TRANSLIT)


def _capacity(text: str, max_segments: int) -> int:
    if is_gsm7(text):
        return 160 if max_segments == 1 else 153 * max_segments
    return 70 if max_segments == 1 else 67 * max_segments


def _size(text: str) -> int:
    return septets(text) if is_gsm7(text) else len(text.encode("utf-16-le")) // 2


def fit(body: str, suffix: str = "", max_segments: int = 2) -> str:
    """``body`` + ``suffix`` in at most ``max_segments`` parts: the body is shortened (at a word when possible,
    marked with "...") and the suffix always kept whole."""
    body, suffix = to_gsm7(body), to_gsm7(suffix)
    joiner = " " if body and suffix else ""
    whole = body + joiner + suffix
    capacity = _capacity(whole, max_segments)
    if _size(whole) <= capacity:
        return whole
    room = capacity - _size(joiner + suffix) - 3
    cut = body
    while cut and _size(cut) > room:
        cut = cut[:-1]
    if " " in cut[len(cut) // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "..." + joiner + suffix
