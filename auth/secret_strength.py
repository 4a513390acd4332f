"""How guessable a configured secret key is: the one place that decides whether a key is random enough.

Every secret key the gateway is configured with (token signing keys, JWT shared secrets) must be
random, not a phrase, a placeholder copied from the docs or a pattern. The estimate is the smaller
of two numbers of bits:

* Shannon entropy of the key's own character distribution times its length, and
* the cost of the cheapest description of the key as a sequence of pieces: single characters
  (log2 of the alphabet of the character classes it uses), repeats of an earlier part
  (`abcabc…`, `aaaa…`), runs of consecutive characters (`0123…`, `abcd…`) and common words
  (`password`, `secret`, `change`, `example`, …).

Keys with whitespace, control or non-ASCII characters (phrases, `<placeholders>`, `…`) and keys made
of letters with the vowel rate of English text are refused outright. Messages never contain the key.
"""

from __future__ import annotations

import math
import string
from collections import Counter

MIN_BITS = 128
GENERATE = "openssl rand -hex 32"
_MAX_ANALYSED = 256  # a longer key is judged by its first 256 characters
_PRINTABLE = frozenset(chr(c) for c in range(33, 127))
_SEPARATORS = frozenset("-_.:")

# Common English words, words of weak passwords and words of placeholders ("paste the output of …").
_WORDS = frozenset(
    """
    the and for are but not you all any can had her was one our out day get has him his how man new now old see
    two way who boy did its let put say she too use that with have this will your from they know want been good
    much some time very when come here just like long make many more only over such take than them well were
    what word about after again below could every first found great house large learn never other place plant
    point right small sound spell still study their there these thing think three water where which world would
    write because before between change different follow following number people should something through
    together under without year years back give most tell work call hand high keep last life little look
    must name need part same show side tell turn where while also each even find help home into kind line
    live mean move must near next open read real seem set start state story talk test thought tree walk
    white big end why ask went men off air away play spell add land here must big even such follow act why
    letmein welcome dragon monkey master shadow football baseball sunshine iloveyou trustno princess login
    admin administrator root superman batman qwerty qwertyuiop asdf asdfgh asdfghjkl zxcv zxcvbnm azerty
    abc abcd abcdef password passwd pass word secret secrets private public changeme change changeit replace
    replaceme default dummy sample example examples placeholder todo fixme insert paste output here value
    your yours mine my key keys token tokens signing sign signature hmac jwt shared secure security strong
    random rand openssl hex base bytes string generate generated gateway flight server client tenant tenants
    acme globex finance marketing production prod staging stage dev development local localhost test
    testing demo company corp internal cluster database data please enter type this that hunter hello
    world love lovely happy summer winter spring autumn october november december january february march
    april june july august september monday friday letme super long longer longest very really nobody
    guess guessing phrase passphrase correct horse battery staple apple orange banana cheese coffee
    """.split()
)
_MAX_WORD = max(len(word) for word in _WORDS)
_SEQUENCE_STEPS = (-1, 1)


def weakness(secret: str | bytes, min_bits: int = MIN_BITS) -> str | None:
    """None if `secret` looks random enough; otherwise why not, with the fix (never the secret itself)."""
    text = secret.decode("latin-1") if isinstance(secret, bytes) else secret
    fix = f"generate a random key with `{GENERATE}`"
    # Raw random bytes are judged as bytes; bytes that read as text (an encoded string) as that text.
    textual = isinstance(secret, str) or all(32 <= b < 127 or b in b"\t\n\r" for b in secret)
    if textual and not set(text) <= _PRINTABLE:
        return "contains spaces, control or non-ASCII characters, so it is a phrase or a placeholder, not a key; " + fix
    if _reads_like_text(text):
        return "reads like words, not a random key; " + fix
    bits = estimate_bits(text)
    if bits < min_bits:
        return (
            f"is too predictable: about {bits:.0f} bits of entropy estimated, at least {min_bits} needed "
            f"(short, repeated, sequential or common-word keys are guessable); {fix}"
        )
    return None


def estimate_bits(secret: str) -> float:
    """Estimated entropy of `secret` in bits (see the module docstring)."""
    text = secret[:_MAX_ANALYSED]
    if not text:
        return 0.0
    return min(_shannon_bits(text), _description_bits(text))


def _shannon_bits(text: str) -> float:
    n = len(text)
    return -n * sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _alphabet(text: str) -> int:
    classes = (string.digits, string.ascii_lowercase, string.ascii_uppercase)
    size = sum(len(chars) for chars in classes if any(ch in chars for ch in text))
    others = {ch for ch in text if not any(ch in chars for chars in classes)}
    if others:
        size += 32 if all(ch in _PRINTABLE for ch in others) else 256
    return max(size, 2)


def _description_bits(text: str) -> float:
    """Cheapest encoding of `text` as literals, repeats, character runs and common words."""
    n = len(text)
    literal = math.log2(_alphabet(text))
    position = math.log2(max(n, 2))
    word = math.log2(len(_WORDS)) + 1  # which word, and whether it is capitalised
    cost = [0.0] + [math.inf] * n
    for i in range(n):
        steps: list[tuple[int, float]] = [(i + 1, literal)]
        longest = _longest_earlier_match(text, i)
        steps += [(end, 2 * position) for end in range(i + 3, i + longest + 1)]  # where the copy starts, how long
        for step in _SEQUENCE_STEPS:
            end = i + 1
            while end < n and ord(text[end]) - ord(text[end - 1]) == step:
                end += 1
                if end - i >= 3:
                    steps.append((end, literal + position + 1))
        lowered = text[i : i + _MAX_WORD].lower()
        steps += [(i + length, word) for length in range(3, len(lowered) + 1) if lowered[:length] in _WORDS]
        for end, bits in steps:
            cost[end] = min(cost[end], cost[i] + bits)
    return cost[n]


def _longest_earlier_match(text: str, i: int) -> int:
    """Length of the longest prefix of text[i:] that also starts at an earlier position (overlap allowed)."""
    best = 0
    n = len(text)
    for j in range(i):
        k = 0
        while i + k < n and text[j + k] == text[i + k]:
            k += 1
        best = max(best, k)
    return best


def _reads_like_text(text: str) -> bool:
    """Letters only (maybe with separators) at the vowel rate of English (~38%); random letters have ~19%."""
    letters = [ch for ch in text if ch not in _SEPARATORS]
    if len(letters) < 8 or not all(ch in string.ascii_letters for ch in letters):
        return False
    vowels = sum(ch in "aeiouAEIOU" for ch in letters)
    return vowels / len(letters) >= 0.3
