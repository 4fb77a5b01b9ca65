"""Label mentions of a description matched to the labels of the data, across languages.

A description says "positive or negative" and the data says 正面/负面; a description says
"World, Sports, Business or Sci/Tech" and the data says "World", "Sci/Tech". Each mention is matched
to at most one data label, and each data label to at most one mention, in this order:

1. the same text, ignoring case and surrounding space;
2. the same entry of a small built-in bilingual table (sentiment, common topics, spam, emotions):
   the offline fallback that needs no model;
3. the multilingual encoder (when available): cosine similarity of the mention and the data
   label at least ``LABEL_THRESHOLD`` and clearly above the next data label. The similarities come
   through the hook ``autoglm_label_similarity`` (the built-in parser answers it with its encoder).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from autoglm_core.plugin.manager import get_manager

#: a label mention and a data label are the same label only this similar (and clearly more than
#: the next data label); measured with me5-small on sentiment and topic words in English and Chinese
LABEL_THRESHOLD = 0.85
LABEL_MARGIN = 0.02

#: words that name the same label in English and Chinese (lower case); one row per label
BILINGUAL_LABELS: tuple[frozenset[str], ...] = tuple(frozenset(row) for row in (
    {"positive", "pos", "good", "正面", "积极", "正向", "好评", "正面情感", "正", "褒义"},
    {"negative", "neg", "bad", "负面", "消极", "负向", "差评", "负面情感", "负", "贬义"},
    {"neutral", "中性", "中立", "一般"},
    {"sports", "sport", "体育", "运动"},
    {"business", "商业", "商务"},
    {"finance", "financial", "金融", "财经"},
    {"economy", "economics", "经济"},
    {"technology", "tech", "sci/tech", "science and technology", "科技", "技术"},
    {"science", "科学"},
    {"world", "international", "国际", "世界"},
    {"politics", "political", "政治", "时政"},
    {"entertainment", "娱乐"},
    {"health", "健康", "医疗"},
    {"education", "教育"},
    {"military", "军事"},
    {"culture", "文化"},
    {"travel", "tourism", "旅游", "旅行"},
    {"food", "美食", "餐饮"},
    {"cars", "car", "auto", "automobile", "汽车"},
    {"games", "game", "gaming", "游戏"},
    {"fashion", "时尚"},
    {"real estate", "property", "房产", "房地产"},
    {"spam", "垃圾邮件", "垃圾"},
    {"ham", "not spam", "normal", "正常邮件", "正常"},
    {"toxic", "有害", "有毒"},
    {"non-toxic", "无害"},
    {"joy", "happy", "happiness", "快乐", "高兴", "开心", "喜悦"},
    {"sadness", "sad", "悲伤", "难过", "伤心"},
    {"anger", "angry", "愤怒", "生气"},
    {"fear", "恐惧", "害怕"},
    {"surprise", "惊讶", "惊喜"},
    {"disgust", "厌恶"},
    {"question", "提问", "问题", "咨询"},
    {"complaint", "投诉", "抱怨"},
    {"praise", "表扬", "赞扬"},
    {"suggestion", "建议"},
    {"other", "others", "其他", "其它"},
    {"yes", "是", "对"},
    {"true", "真", "真实"},
    {"no", "否", "不是"},
    {"false", "假", "虚假"},
))


@dataclass(frozen=True)
class LabelMatch:
    mention: str
    label: str
    how: str  # "same word", "bilingual table", "encoder"
    similarity: float = 1.0

    def describe(self) -> str:
        how = {"encoder": f"encoder similarity {self.similarity:.2f}", "same word": "same word, other case"}.get(self.how, self.how)
        return f"{self.mention!r} -> {self.label!r} ({how})"


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().split())


def _row(text: str) -> int | None:
    key = _norm(text)
    return next((i for i, row in enumerate(BILINGUAL_LABELS) if key in row), None)


def match_labels(mentions: Sequence[str], data_labels: Sequence[str], use_encoder: bool = True) -> list[LabelMatch]:
    """One-to-one matches of ``mentions`` to ``data_labels`` (in the mentions' order)."""
    found: dict[str, LabelMatch] = {}
    free = list(data_labels)

    def take(mention: str, label: str, how: str, sim: float = 1.0) -> None:
        found[mention] = LabelMatch(mention, label, how, sim)
        free.remove(label)

    for mention in mentions:
        same = [lab for lab in free if _norm(lab) == _norm(mention)]
        if same:
            take(mention, same[0], "same word")
    for mention in mentions:
        row = _row(mention)
        if mention in found or row is None:
            continue
        same = [lab for lab in free if _row(lab) == row]
        if len(same) == 1:
            take(mention, same[0], "bilingual table")
    left = [m for m in mentions if m not in found]
    # numeric codes carry no meaning to compare: --label-map names them
    if use_encoder and left and free and not all(lab.lstrip("-").isdigit() for lab in free):
        _match_by_encoder(left, list(free), take)
    return [found[m] for m in mentions if m in found]


def _match_by_encoder(mentions: list[str], labels: list[str], take: Callable[[str, str, str, float], None]) -> None:
    sims = get_manager().hook.autoglm_label_similarity(mentions=mentions, labels=labels)
    if sims is None:
        return
    pairs = sorted(((sims[i][j], i, j) for i in range(len(mentions)) for j in range(len(labels))), reverse=True)
    used_m: set[int] = set()
    used_l: set[int] = set()
    for sim, i, j in pairs:
        if i in used_m or j in used_l or sim < LABEL_THRESHOLD:
            continue
        runner_up = max((sims[i][k] for k in range(len(labels)) if k != j), default=-1.0)
        if sim - runner_up < LABEL_MARGIN:
            continue
        used_m.add(i)
        used_l.add(j)
        take(mentions[i], labels[j], "encoder", sim)
