"""Label lists read from a task description: "positive, negative or neutral", "正面、负面、中性",
"World, Sports, Business or Sci/Tech", "是正面还是负面", and sentiment words named without a list.
Each reader returns the labels, the words they were read from and a confidence."""

from __future__ import annotations

import re

from autoglm_core.data.description_rules import search

_EN_WORD = r"[A-Za-z][A-Za-z0-9_\-']*"
_ZH_WORD = r"[\u4e00-\u9fffA-Za-z0-9_\-]+"
STOP_LABEL_WORDS = {"a", "an", "the", "one", "of", "either", "class", "classes", "label", "labels", "category",
                    "categories", "sentiment", "news", "texts", "text", "reviews", "ones"}


NUMBER_WORDS = {"one"}


def _clean_labels(raw: list[str]) -> list[str]:
    out: list[str] = []
    for item in raw:
        words = [w for w in re.split(r"\s+", item.strip(" .;:'\"“”‘’()[]")) if w]
        if len(words) == 1 and words[0].lower() in NUMBER_WORDS:  # "one, two, three": a label, not a filler
            out.append(words[0].lower())
            continue
        while words and words[0].lower() in STOP_LABEL_WORDS:
            words.pop(0)
        while words and words[-1].lower() in STOP_LABEL_WORDS:
            words.pop()
        lab = " ".join(words).strip("的")
        if lab and lab.lower() not in {x.lower() for x in out}:
            out.append(lab.lower() if re.fullmatch(r"[A-Za-z \-/&']+", lab) else lab)
    return out


_LIST_SEP_ZH = r"\s*(?:、|，|,|/|还是|或者|和|或|及|与)\s*"
#: words that introduce a Chinese list ("属于体育、财经..."): the list starts after the last of them
_ZH_LEAD = r"(?:属于|分为|分成|归为|判断为|识别为|标注为|包括|包含|例如|比如|区分|判断|识别|检测|是在|是|为|成|有)"
#: words that end a Chinese list ("...还是娱乐中的哪一类")
_ZH_TAIL = r"(?:中的|之中|里的)?(?:哪一?[类个种项]|之一|等类别|等|类别|[一二两三四五六七八九十\d]*类)$"


def _trim_zh_ends(items: list[str]) -> list[str]:
    """The first item of a list found without a lead-in carries the words before it ("判断新闻属于
    体育"), the last one the words after ("娱乐中的哪一类"): cut them off."""
    items = list(items)
    if items:
        items[0] = re.split(_ZH_LEAD, items[0])[-1] or items[0]
        items[-1] = re.sub(_ZH_TAIL, "", items[-1]) or items[-1]
        others = [len(x) for x in items[1:-1]] or [len(x) for x in items[1:]]
        if others and re.fullmatch(r"[\u4e00-\u9fff]+", items[0]) and len(items[0]) > max(others) + 2:
            items[0] = items[0][-max(others):]
    return items


def _zh_list(text: str) -> tuple[list[str], str, float] | None:
    # 1. Chinese list after a colon or 为/成/分为: "：正面、负面、中性", "分为正面、负面和中性", "分为体育、财经、科技还是娱乐"
    m = re.search(r"(?:[：:]|分为|分成|归为|判断为|识别为|标注为|为)\s*(" + _ZH_WORD + r"(?:" + _LIST_SEP_ZH + _ZH_WORD
                  + r")+)", text)
    if m and re.search(r"[\u4e00-\u9fff]", m.group(1)):
        body = m.group(1)
        if re.search(r"[、/和或及与]|还是", body):  # with another separator, a full comma ends the list
            body = re.split(r"[，,]", body)[0]
        items = re.split(_LIST_SEP_ZH, body)
        items[-1] = re.sub(_ZH_TAIL, "", items[-1]) or items[-1]
        labels = _clean_labels(items)
        if 2 <= len(labels) <= 20:
            return labels, m.group(0)[: len(m.group(0)) - len(m.group(1)) + len(body)], 0.9
    # 1b. a 、 list anywhere: "属于体育、财经、科技还是娱乐" (all four, not the last two)
    m = re.search(r"(" + _ZH_WORD + r"(?:\s*、\s*" + _ZH_WORD + r")+(?:\s*(?:还是|或者|或|和|及|与)\s*" + _ZH_WORD + r")?)",
                  text)
    if m and re.search(r"[\u4e00-\u9fff]", m.group(1)):
        items = _trim_zh_ends(re.split(_LIST_SEP_ZH, m.group(1)))
        labels = _clean_labels(items)
        if 2 <= len(labels) <= 20:
            return labels, m.group(0), 0.85
    return None


# an English label: one or two words; "Sci/Tech" is one label
_EN_LABEL = r"[A-Za-z][A-Za-z0-9_\-'&]*(?:/[A-Za-z0-9][A-Za-z0-9_\-'&]*)*"
_EN_ITEM = r"(?:" + _EN_LABEL + r"(?:\s+" + _EN_LABEL + r")?)"
# the last label of "A or B" is one word, or a negated one ("urgent vs not urgent")
_EN_LAST = r"(?:(?:not|non)[\s\-]+)?" + _EN_LABEL
# "into the categories X, Y or Z", "as one of: X, Y, Z"
_EN_LEAD_WORDS = (r"(?:\b(?:as|into|between|among|is|whether|labels?\s*(?:are|:)|categories\s*(?:are|:)|"
                  r"classes\s*(?:are|:)|either)|:)")
_EN_FILLER = (r"\s+(?:(?:one|each|any)\s+of\s+)?(?:the\s+)?(?:(?:following|these|three|four|five|six)\s+)?"
              r"(?:(?:categories|classes|labels|groups|types|buckets|topics)\s*:?\s+)?(?::\s*)?")


def _en_list(text: str) -> tuple[list[str], str, float, tuple[int, int]] | None:
    # 3. English "as / into / between / labels: A, B(,) or|and C"
    m = search(_EN_LEAD_WORDS + _EN_FILLER + r"(" + _EN_ITEM + r"(?:\s*,\s*" + _EN_ITEM + r")*\s*,?\s*(?:or|and|vs\.?|versus)\s+"
                + _EN_LAST + r")", text)
    if m:
        items = re.split(r"\s*,\s*(?:or\s+|and\s+)?|\s+(?:or|and|vs\.?|versus)\s+", m.group(1))
        labels = _clean_labels(items)
        if 2 <= len(labels) <= 20:
            return labels, m.group(0), 0.85, m.span()
    # 3a. a comma list of three or more after "as"/"into"/a colon: "into World, Sports, Business, Sci/Tech"
    m = search(_EN_LEAD_WORDS + _EN_FILLER + r"(" + _EN_ITEM + r"(?:\s*,\s*" + _EN_ITEM + r"){2,})\s*(?:[;.?!]|$)",
                text)
    if m:
        labels = _clean_labels(re.split(r"\s*,\s*(?:or\s+|and\s+)?", m.group(1)))
        if 3 <= len(labels) <= 20:
            return labels, m.group(0), 0.8, m.span()
    # 3c. a closing "..., A or B": "spam filter for SMS messages, spam or not spam"
    m = re.search(r",\s*(" + _EN_ITEM + r")\s+(?:or|vs\.?|versus)\s+(" + _EN_ITEM + r")\s*[.?!]?\s*$", text)
    if m:
        labels = _clean_labels([m.group(1), m.group(2)])
        if len(labels) == 2:
            return labels, m.group(0).strip(" ,"), 0.6, m.span()
    return None


def parse_labels(text: str, language: str) -> tuple[list[str], str, float] | None:
    found = _zh_list(text)
    if found:
        return found
    en = _en_list(text)
    # 2. slash lists: "positive/negative/neutral", "正面/负面" -- unless the slash is inside one
    # label of a longer list ("World, Sports, Business or Sci/Tech")
    m = re.search(r"(" + _ZH_WORD + r"(?:\s*/\s*" + _ZH_WORD + r")+)", text)
    if m and not (en and en[3][0] <= m.start() and m.end() <= en[3][1]):
        labels = _clean_labels(_trim_zh_ends(m.group(1).split("/")))
        if 2 <= len(labels) <= 20:
            return labels, m.group(0), 0.9
    if en:
        return en[0], en[1], en[2]
    # 3b. English comma list after a colon: "intent: greeting, booking, cancellation, other"
    m = re.search(r":\s*(" + _EN_WORD + r"(?:\s*,\s*" + _EN_WORD + r"){1,})\s*(?:[;.]|$)", text)
    if m:
        labels = _clean_labels(m.group(1).split(","))
        if 2 <= len(labels) <= 20:
            return labels, m.group(0), 0.8
    # 4. "X or Y" in Chinese: "是正面还是负面", "正面或负面"
    m = re.search(r"是([\u4e00-\u9fff]{1,4}?)(?:还是|或者|或)([\u4e00-\u9fff]{1,4})", text) or re.search(
        r"([\u4e00-\u9fff]{2})(?:还是|或者|或)([\u4e00-\u9fff]{2})", text)
    if m:
        pair = [m.group(1), m.group(2)]
        if all(len(x) > 2 and x.endswith("类") for x in pair):  # "是体育类还是财经类": 体育, 财经
            pair = [x[:-1] for x in pair]
        labels = _clean_labels(pair)
        if len(labels) == 2:
            return labels, m.group(0), 0.6
    return None


#: sentiment labels named in a description without a list pattern ("..., positive or negative"):
#: used as they are, in any language, instead of the default three of the description's language
SENTIMENT_WORDS = r"\b(positive|negative|neutral)\b|正面|负面|中性|积极|消极|中立"


def mentioned_sentiment(text: str) -> tuple[list[str], str] | None:
    found = _clean_labels([m.group(0) for m in re.finditer(SENTIMENT_WORDS, text, flags=re.IGNORECASE)])
    if len(found) < 2:
        return None
    return found, " / ".join(found)
