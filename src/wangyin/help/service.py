"""The FAQ search: the function search's matcher (experience.service: Chinese, full pinyin,
initials, English, small typos), kept to the FAQ's questions, best first."""

from __future__ import annotations

from wangyin.experience import service as function_search
from wangyin.experience.catalogue import FUNCTIONS
from wangyin.help.faq import BY_KEY, QUESTIONS, TOPICS, Question, Topic


def search(*, query: str) -> list[Question]:
    """Every question the query finds, best first; all of them for an empty query."""
    if not query.strip():
        return list(QUESTIONS)
    hits = function_search.search(query=query, limit=len(FUNCTIONS))
    return [BY_KEY[hit.entry.key] for hit in hits if hit.entry.kind == "faq"]


def by_topic(questions: list[Question]) -> list[tuple[Topic, list[Question]]]:
    """The questions under their topics, in the topics' order; empty topics left out."""
    grouped = [(topic, [q for q in questions if q.topic == topic.key]) for topic in TOPICS]
    return [(topic, found) for topic, found in grouped if found]
