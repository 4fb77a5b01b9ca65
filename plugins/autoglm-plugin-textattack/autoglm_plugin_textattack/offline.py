"""Make TextAttack importable and usable without network access.

``import textattack`` needs NLTK's English stopwords, and the WordNet recipes need NLTK's WordNet
corpus; neither can be downloaded here. At first use we build an NLTK data directory in the user's
cache (``$AUTOGLM_CACHE_DIR/nltk_data``, default ``~/.cache/autoglm/nltk_data``):

* ``corpora/stopwords/english`` written from scikit-learn's ``ENGLISH_STOP_WORDS`` (a packaged list);
* ``corpora/wordnet/`` copied from the WordNet 3.0 files of Debian's ``wordnet-base`` package
  (``/usr/share/wordnet``, or ``$AUTOGLM_WORDNET_DIR``) plus the ``lexnames`` file NLTK expects, which
  Debian does not ship (its 45 lines are fixed by the WordNet 3.0 format, see lexnames(5WN)).

``nltk.download`` calls made by TextAttack while an attack is built are turned into no-ops that
report whether the resource is present, so they neither hang nor need the network.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

WORDNET_FILES = ("adj.exc", "adv.exc", "noun.exc", "verb.exc", "cntlist.rev", "data.adj", "data.adv",
                 "data.noun", "data.verb", "index.adj", "index.adv", "index.noun", "index.verb", "index.sense")
LEXNAMES = (
    ("adj.all", 3), ("adj.pert", 3), ("adv.all", 4), ("noun.Tops", 1), ("noun.act", 1), ("noun.animal", 1),
    ("noun.artifact", 1), ("noun.attribute", 1), ("noun.body", 1), ("noun.cognition", 1),
    ("noun.communication", 1), ("noun.event", 1), ("noun.feeling", 1), ("noun.food", 1), ("noun.group", 1),
    ("noun.location", 1), ("noun.motive", 1), ("noun.object", 1), ("noun.person", 1), ("noun.phenomenon", 1),
    ("noun.plant", 1), ("noun.possession", 1), ("noun.process", 1), ("noun.quantity", 1), ("noun.relation", 1),
    ("noun.shape", 1), ("noun.state", 1), ("noun.substance", 1), ("noun.time", 1), ("verb.body", 2),
    ("verb.change", 2), ("verb.cognition", 2), ("verb.communication", 2), ("verb.competition", 2),
    ("verb.consumption", 2), ("verb.contact", 2), ("verb.creation", 2), ("verb.emotion", 2), ("verb.motion", 2),
    ("verb.perception", 2), ("verb.possession", 2), ("verb.social", 2), ("verb.stative", 2), ("verb.weather", 2),
    ("adj.ppl", 3),
)

_READY: Path | None = None


def cache_dir() -> Path:
    base = os.environ.get("AUTOGLM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "autoglm")
    return Path(base) / "nltk_data"


def wordnet_source() -> Path | None:
    src = Path(os.environ.get("AUTOGLM_WORDNET_DIR", "/usr/share/wordnet"))
    return src if (src / "data.noun").exists() and (src / "index.noun").exists() else None


def prepare_nltk_data() -> Path:
    """Create (once) and register the NLTK data directory; return it."""
    global _READY
    root = cache_dir()
    if _READY == root:
        return root
    stop = root / "corpora" / "stopwords" / "english"
    if not stop.exists():
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        stop.parent.mkdir(parents=True, exist_ok=True)
        tmp = stop.with_suffix(".tmp")
        tmp.write_text("\n".join(sorted(ENGLISH_STOP_WORDS)) + "\n", encoding="utf-8")
        tmp.replace(stop)
    src = wordnet_source()
    wn = root / "corpora" / "wordnet"
    if src is not None and not (wn / "lexnames").exists():
        wn.mkdir(parents=True, exist_ok=True)
        import shutil

        for name in WORDNET_FILES:  # copies: NLTK refuses symlinks that leave its data root
            target, dest = src / name, wn / name
            if target.exists() and not dest.exists():
                shutil.copyfile(target, dest)
        if not (wn / "index.sense").exists():  # in Debian's wordnet-sense-index; only sense keys need it
            (wn / "index.sense").write_text("", encoding="utf-8")
        (wn / "lexnames").write_text(
            "".join(f"{i:02d}\t{name}\t{pos}\n" for i, (name, pos) in enumerate(LEXNAMES)), encoding="utf-8")
    paths = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    if str(root) not in paths:
        os.environ["NLTK_DATA"] = os.pathsep.join([str(root), *paths])
    import nltk

    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    _READY = root
    return root


def has_wordnet() -> bool:
    root = prepare_nltk_data()
    return (root / "corpora" / "wordnet" / "lexnames").exists()


@contextlib.contextmanager
def no_downloads() -> Iterator[None]:
    """Within the block ``nltk.download(name)`` only says whether ``name`` is already installed."""
    import nltk

    real = nltk.download

    def offline(info_or_id=None, *args, **kwargs):  # noqa: ANN001 - nltk's signature
        name = str(info_or_id or "")
        for kind in ("corpora", "taggers", "tokenizers", "chunkers"):
            try:
                nltk.data.find(f"{kind}/{name}")
                return True
            except LookupError:
                continue
        return False

    nltk.download = offline
    try:
        yield
    finally:
        nltk.download = real


def import_textattack():
    """``import textattack`` (17 s the first time) with the offline NLTK data in place."""
    prepare_nltk_data()
    os.environ.setdefault("TA_CACHE_DIR", str(cache_dir().parent / "textattack"))
    with no_downloads():
        import textattack

    return textattack
