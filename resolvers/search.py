"""Catalog search: words folded alike on both databases, matched as prefixes in any order.

A product keeps the folded words of its name (`search_name`) and of its name, SKU and
description (`search_text`), written with every change (`search_columns`). Folding
ignores case and accents, and a query word matches every word it starts ("nav" finds
"Navy"); all query words must match, in any order.

PostgreSQL answers with full-text search over those words: a GIN expression index
(`product_search_idx`, migration 0007) serves `@@` with prefix queries, and relevance is
`ts_rank` with the name's words weighted above the rest. SQLite, the embedded default,
has no such index: the same matches with `LIKE` over the same words, and relevance
counts the query words that start a word of the name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tortoise.expressions import Q, RawSQL
from tortoise.queryset import QuerySet

from models.catalog import Product
from resolvers.errors import BadUserInput

MAX_SEARCH_WORDS = 8
# Letters and digits of any script: no quote, backslash or NUL can be part of a word,
# which is what lets `_tsquery` put words in a literal (Tortoise's RawSQL has no
# parameters).
_WORD = re.compile(r"[^\W_]+")
# Must match the expression of the index `product_search_idx` (migration 0007), or
# PostgreSQL cannot use the index.
VECTOR = (
    "(setweight(to_tsvector('simple'::regconfig, \"search_name\"), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, \"search_text\"), 'D'))"
)


def search_words(text: str) -> list[str]:
    """The words of `text`, lower-case and without accents."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _WORD.findall(bare)


def _joined(words: list[str]) -> str:
    # A space before every word: `LIKE '% nav%'` then finds the words that start so.
    return "".join(f" {word}" for word in words)


def search_columns(name: str, sku: str, description: str) -> dict[str, str]:
    """The search columns of a product with this name, SKU and description."""
    return {
        "search_name": _joined(search_words(name)),
        "search_text": _joined(search_words(f"{name} {sku} {description}")),
    }


@dataclass(frozen=True)
class Search:
    """The words of a shopper's query, ready to filter and rank a product query."""

    words: tuple[str, ...]

    @classmethod
    def parse(cls, query: str) -> Search:
        words = search_words(query)
        if len(words) > MAX_SEARCH_WORDS:
            raise BadUserInput(f"`filter.search` may hold at most {MAX_SEARCH_WORDS} words")
        # Longer words first: a word that starts another adds no condition.
        kept: list[str] = []
        for word in sorted(set(words), key=len, reverse=True):
            if not any(other.startswith(word) for other in kept):
                kept.append(word)
        return cls(tuple(sorted(kept)))

    def filter(self, query: QuerySet[Product], dialect: str) -> QuerySet[Product]:
        """The products that hold every word (no words: all of them)."""
        if not self.words:
            return query
        if dialect == "postgres":
            match = RawSQL(f"({VECTOR} @@ {self._tsquery()})")
            return query.annotate(search_match=match).filter(search_match=True)
        condition = Q()
        for word in self.words:
            condition &= Q(search_text__contains=f" {word}")
        return query.filter(condition)

    def rank_key(self, dialect: str) -> RawSQL:
        """Ascending = most relevant first."""
        if dialect == "postgres":
            return RawSQL(f"-ts_rank({VECTOR}, {self._tsquery()})")
        in_name = " + ".join(f"(\"search_name\" LIKE '% {word}%')" for word in self.words)
        return RawSQL(f"-({in_name or '0'})")

    def _tsquery(self) -> str:
        prefixes = " & ".join(f"{word}:*" for word in self.words)
        return f"to_tsquery('simple'::regconfig, '{prefixes}')"
