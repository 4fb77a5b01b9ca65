"""Character noise: how the ``char-noise`` attack perturbs a word or a Chinese character, and the
tables the ``input-denoising`` defense uses to undo such noise."""

from __future__ import annotations

import random
import re

# Latin letters and visually identical characters from other scripts (Cyrillic, Greek) or digits.
HOMOGLYPHS: dict[str, str] = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "i": "\u0456", "j": "\u0458", "o": "\u043e", "p": "\u0440",
    "s": "\u0455", "x": "\u0445", "y": "\u0443", "A": "\u0391", "B": "\u0392", "E": "\u0395", "H": "\u0397",
    "K": "\u039a", "M": "\u039c", "N": "\u039d", "O": "\u039f", "P": "\u03a1", "T": "\u03a4", "X": "\u03a7",
}
# What the denoiser maps back to ASCII: the homoglyphs above plus a few more, and leetspeak digits
# (applied only inside words that also contain letters, so numbers stay numbers).
CONFUSABLES: dict[str, str] = {v: k for k, v in HOMOGLYPHS.items()} | {
    "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M", "\u041d": "H", "\u041e": "O",
    "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0425": "X", "\u03bf": "o", "\u03b1": "a", "\u03b5": "e",
    "\u0131": "i", "\u0261": "g", "\u0501": "d", "\u04bb": "h", "\u0578": "n", "\u057c": "n",
}
LEET: dict[str, str] = {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")
NOISE_SYMBOLS = "*.`~^|_#-"

# Chinese characters that sound alike (same pinyin, ignoring tone): the attack swaps within a group.
HOMOPHONE_GROUPS = (
    "的地得", "在再", "做作坐座", "他她它", "已以", "象像向", "带戴代", "副付负", "即既及", "须需", "好号豪",
    "很狠", "不布步部", "是事市式试", "没每美", "有又友右", "太泰态", "差查茶", "服福府", "务物误", "价假架驾",
    "格个各", "便变遍", "宜意义议易", "房防方放", "间见建件", "店点电", "环还换", "静净敬境", "住主注助",
    "干感敢赶", "满慢漫", "错措", "贵跪", "值直植", "早找", "餐参", "吃迟持", "味未位为", "道到倒", "人认任",
    "情晴清请", "客刻课", "气器起", "舒书输", "适实时十", "安按暗", "洗喜戏", "卫为味", "差插", "温文问",
    "推退", "前钱浅", "新心信", "吵炒", "脏葬", "棒帮", "理里礼", "想向响", "觉决绝", "失师诗", "利力立",
    "涨长章", "跌叠", "升生声", "降将讲", "亏愧", "盈赢营", "收受手", "增争正", "减检简",
)
HOMOPHONES: dict[str, str] = {ch: group for group in HOMOPHONE_GROUPS for ch in group}

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A unit is one Han character, one word (letters, digits, apostrophes, and noise glued inside it),
# or anything else (spaces, punctuation) that is passed through untouched.
_CJK_CLASS = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
_WORD_CH = rf"(?:(?!{_CJK_CLASS})[\w'\u0300-\u036f])"
UNIT = re.compile(
    rf"{_CJK_CLASS}|(?:(?!{_CJK_CLASS})[^\W\d_]){_WORD_CH}*(?:[*.`~^|#-]{_WORD_CH}+)*|\d+|\s+|.", re.UNICODE
)


def is_cjk(s: str) -> bool:
    return bool(CJK.fullmatch(s))


def units(text: str) -> list[str]:
    return UNIT.findall(text)


def attackable(unit: str) -> bool:
    return is_cjk(unit) or (len(unit) >= 2 and any(c.isalpha() for c in unit))


def word_variants(word: str, rng: random.Random, n: int) -> list[str]:
    """Up to ``n`` distinct one-edit variants of a Latin word (DeepWordBug's four edits plus
    homoglyphs and a glued symbol). The first and last letters are kept when the word is long
    enough, as people still read such words easily."""
    out: list[str] = []
    lo, hi = (1, len(word) - 1) if len(word) > 3 else (0, len(word))
    positions = list(range(lo, hi)) or [0]
    tries = 0
    while len(out) < n and tries < 8 * n:
        tries += 1
        i = rng.choice(positions)
        kind = rng.choice(("swap", "delete", "insert", "substitute", "homoglyph", "symbol"))
        if kind == "swap" and i + 1 < len(word) and word[i] != word[i + 1]:
            v = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif kind == "delete" and len(word) > 2:
            v = word[:i] + word[i + 1 :]
        elif kind == "insert":
            v = word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + word[i:]
        elif kind == "substitute":
            v = word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + word[i + 1 :]
        elif kind == "homoglyph" and word[i] in HOMOGLYPHS:
            v = word[:i] + HOMOGLYPHS[word[i]] + word[i + 1 :]
        elif kind == "symbol" and 0 < i < len(word):
            v = word[:i] + rng.choice(NOISE_SYMBOLS[:6]) + word[i:]
        else:
            continue
        if v != word and v not in out:
            out.append(v)
    return out


def char_variants(ch: str, next_ch: str, rng: random.Random, n: int) -> list[str]:
    """Variants of one Chinese character: homophone, deletion, duplication, a glued symbol, or a
    swap with the next character (returned as the two-character replacement marker ``\\x00``)."""
    out: list[str] = [h for h in HOMOPHONES.get(ch, "") if h != ch]
    rng.shuffle(out)
    out = out[: max(1, n - 3)]
    out += ["", ch + ch, ch + rng.choice("*·~^|")]
    if next_ch and is_cjk(next_ch) and next_ch != ch:
        out.append("\x00")  # swap with the next character; see apply_variant
    return out[:n + 1]


def apply_variant(parts: list[str], i: int, variant: str) -> list[str]:
    new = list(parts)
    if variant == "\x00":
        new[i], new[i + 1] = parts[i + 1], parts[i]
    else:
        new[i] = variant
    return new
