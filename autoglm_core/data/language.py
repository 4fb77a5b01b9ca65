"""Tiny, dependency-free language guess for task data and descriptions.

Four answers: 'zh' (mostly Chinese characters), 'multi' (Chinese mixed with other text), 'en', and
'other' for text without Chinese characters whose function words are clearly those of another
language (Indonesian, Spanish, German, ...). 'other' matters because the embedded MiniLM is
English-only while the multilingual encoder covers ~100 languages; when the function words say
nothing (short or made-up texts) the answer stays 'en', the previous behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

ENGLISH = frozenset("the and is are was were of to in that it this with for on not be have has you i".split())
# the commonest function words of languages the multilingual encoder covers, none of them English words
OTHER = frozenset("""
yang dan di tidak ini itu dengan untuk saya ada dari ke juga sangat sudah akan bisa karena tapi aku kami
lan ora iki kang karo aku wis ing sing rek teu jeung nu anu kana abdi
el la los las de que y en un una es por con para del al lo se su pero muy
le les des et est une dans pour pas qui sur avec ce sont au du
der die das und ist nicht ein eine mit auf den dem zu sich auch von
o os um uma não com uma para mais mas foi são muito
il di che non per una sono della gli ma molto
het een van en niet dat op zijn met voor
bir ve bu da için çok ile ama değil
và là của có không những được cho này người một
""".split())


def has_cjk(text: str) -> bool:
    return bool(CJK.search(text))


def _other_language(texts: list[str]) -> bool:
    """True when the texts' function words are clearly another language's than English."""
    english = other = 0
    for text in texts[:2000]:
        for word in WORD.findall(text.lower()):
            english += word in ENGLISH
            other += word in OTHER
    return other >= 0.5 * min(len(texts), 2000) and other > 3 * english


def detect_language(texts: Iterable[str]) -> str:
    """'zh' when most texts contain Chinese characters, 'multi' when some do, else 'other' when the
    function words are clearly not English, else 'en'."""
    texts = list(texts)
    if not texts:
        return "en"
    share = sum(1 for t in texts if has_cjk(t)) / len(texts)
    if share >= 0.8:
        return "zh"
    if share > 0.2:
        return "multi"
    return "other" if _other_language(texts) else "en"
