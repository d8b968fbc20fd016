"""Classify a citizen request's text to a catalogue item — or say it is unsure. Pure.

Terms of an item: its ``keywords`` (bilingual), ``name_zh`` and ``name_en``; the request's
text is first extended with the catalogue words its colloquial phrases stand for
(``vocabulary.SYNONYMS``). A Chinese term matches as a substring, a Latin one as whole words
(case-insensitive, NFKC-normalised). A term weighs its Chinese characters plus two per Latin
word; an item scores the sum of its matched terms, not counting a term inside another matched
term of the same item (路灯 inside 路灯坏了 counts once).

Decision (never a silent guess): the best item is taken only if it scores at least
``min_score`` and leads the runner-up by at least ``min_margin``; otherwise the request is
*unsure* and waits in the intake queue for the dispatcher, with the candidates listed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gridgov.domain.enums import Source
from gridgov.intake.vocabulary import SYNONYMS
from gridgov.item_catalog.models import Item

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class ClassifierRule:
    min_score: float = 2.0  # e.g. one two-character word (路灯) or one English word
    min_margin: float = 2.0  # the best must beat the runner-up by this much
    top: int = 3  # candidates kept for the dispatcher


@dataclass(frozen=True, slots=True)
class Candidate:
    code: str
    score: float
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    item_code: str | None  # None: unsure, the dispatcher decides
    score: float
    margin: float
    candidates: tuple[Candidate, ...]
    reason: str

    @property
    def sure(self) -> bool:
        return self.item_code is not None


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def weight(term: str) -> float:
    return len(_CJK.findall(term)) + 2 * len(_WORD.findall(term))


class _Term:
    __slots__ = ("pattern", "text", "weight")

    def __init__(self, text: str) -> None:
        self.text = text
        self.weight = weight(text)
        # Chinese is not spaced: substring. Latin: whole words only (bin ≠ cabin).
        self.pattern = (
            None
            if _CJK.search(text)
            else re.compile(rf"(?<![a-z0-9]){re.escape(text)}(?![a-z0-9])")
        )

    def found(self, text: str) -> bool:
        return self.text in text if self.pattern is None else bool(self.pattern.search(text))


class Classifier:
    """Items in force that the channel's source may report, and their terms."""

    def __init__(
        self,
        items: Iterable[Item],
        source: Source,
        rule: ClassifierRule | None = None,
        synonyms: Mapping[str, str] = SYNONYMS,
    ) -> None:
        self.rule = rule or ClassifierRule()
        self.synonyms = [(normalise(k), normalise(v)) for k, v in synonyms.items()]
        self.terms: dict[str, list[_Term]] = {}
        for item in items:
            if source not in item.sources:
                continue
            words = {normalise(w) for w in (*item.keywords, item.name_zh, item.name_en)}
            self.terms[item.code] = [_Term(w) for w in sorted(words) if weight(w) > 0]

    def expand(self, text: str) -> str:
        norm = normalise(text)
        extra = [target for phrase, target in self.synonyms if phrase in norm]
        return " ".join([norm, *extra])

    def score(self, text: str) -> list[Candidate]:
        expanded = self.expand(text)
        out: list[Candidate] = []
        for code, terms in self.terms.items():
            hits = [t for t in terms if t.found(expanded)]
            if not hits:
                continue
            kept = [t for t in hits if not any(t.text != o.text and t.text in o.text for o in hits)]
            out.append(Candidate(code, sum(t.weight for t in kept), tuple(t.text for t in kept)))
        out.sort(key=lambda c: (-c.score, c.code))
        return out

    def classify(self, text: str) -> Decision:
        ranked = self.score(text)
        top = tuple(ranked[: self.rule.top])
        if not ranked:
            return Decision(None, 0.0, 0.0, top, "no catalogue word in the text")
        best = ranked[0]
        runner = ranked[1].score if len(ranked) > 1 else 0.0
        margin = best.score - runner
        if best.score < self.rule.min_score:
            return Decision(None, best.score, margin, top, f"best score {best.score:g} too low")
        if margin < self.rule.min_margin:
            second = ranked[1].code if len(ranked) > 1 else "nothing"
            why = f"{best.code} is too close to {second} ({best.score:g} vs {runner:g})"
            return Decision(None, best.score, margin, top, why)
        return Decision(best.code, best.score, margin, top, f"matched {', '.join(best.terms)}")
