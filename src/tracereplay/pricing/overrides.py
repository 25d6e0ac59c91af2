"""A project's own model prices: set, list and delete them, and the price book they make.

Each process keeps every project's book for `ttl` seconds: cost is computed for every LLM
span as it is stored, and must not query the table each time. A change made through this
process applies at once; other processes (workers, other servers) see it within `ttl`.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tracereplay.db.models import ModelPrice, utcnow
from tracereplay.errors import InvalidInput, NotFound
from tracereplay.pricing.book import PriceBook, PriceRule, most_specific_first

MAX_PATTERN_LENGTH = 200


@dataclass(frozen=True)
class PriceOverride:
    id: int
    model_pattern: str
    input_per_mtok: float
    output_per_mtok: float
    created_at: datetime
    updated_at: datetime


def _override(row: ModelPrice) -> PriceOverride:
    return PriceOverride(
        row.id, row.model_pattern, row.input_per_mtok, row.output_per_mtok, row.created_at, row.updated_at
    )


MAX_PRICE_PER_MTOK = 1_000_000.0


def _checked_price(name: str, value: float) -> float:
    if not math.isfinite(value) or not 0 <= value <= MAX_PRICE_PER_MTOK:
        raise InvalidInput(
            f"{name} must be a number of US $ per million tokens from 0 to "
            f"{MAX_PRICE_PER_MTOK:g}, not {value}"
        )
    return float(value)


def list_price_overrides(sessions: sessionmaker[Session], project_rowid: int) -> list[PriceOverride]:
    with sessions() as session:
        rows = session.scalars(
            select(ModelPrice)
            .where(ModelPrice.project_rowid == project_rowid)
            .order_by(ModelPrice.model_pattern)
        )
        return [_override(row) for row in rows]


def set_price_override(
    sessions: sessionmaker[Session],
    prices: ProjectPrices,
    project_rowid: int,
    model_pattern: str,
    input_per_mtok: float,
    output_per_mtok: float,
) -> tuple[PriceOverride, bool]:
    """Create or replace the project's price for `model_pattern`; returns it and whether it is new."""
    pattern = model_pattern.strip()
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidInput(
            f"model_pattern must be 1 to {MAX_PATTERN_LENGTH} characters: a model name "
            '("gpt-4o-mini"), provider:model ("openai:gpt-4o-mini") or a pattern ("gpt-4o*")'
        )
    input_price = _checked_price("input_price_per_mtok", input_per_mtok)
    output_price = _checked_price("output_price_per_mtok", output_per_mtok)
    for attempt in range(2):
        try:
            with sessions.begin() as session:
                row = session.scalar(
                    select(ModelPrice).where(
                        ModelPrice.project_rowid == project_rowid, ModelPrice.model_pattern == pattern
                    )
                )
                created = row is None
                if row is None:
                    row = ModelPrice(project_rowid=project_rowid, model_pattern=pattern)
                    session.add(row)
                row.input_per_mtok, row.output_per_mtok, row.updated_at = input_price, output_price, utcnow()
                session.flush()
                result = _override(row)
            break
        except IntegrityError:  # the same pattern was created meanwhile: now it is an update
            if attempt:
                raise
    prices.forget(project_rowid)
    return result, created


def delete_price_override(
    sessions: sessionmaker[Session], prices: ProjectPrices, project_rowid: int, override_id: int
) -> PriceOverride:
    with sessions.begin() as session:
        row = session.scalar(
            select(ModelPrice).where(ModelPrice.project_rowid == project_rowid, ModelPrice.id == override_id)
        )
        if row is None:
            raise NotFound(
                f"no price override with id {override_id} in this project; GET /api/v1/prices lists them"
            )
        session.delete(row)
        result = _override(row)
    prices.forget(project_rowid)
    return result


class ProjectPrices:
    """The price book of each project: its overrides, then the server's, then genai-prices."""

    def __init__(self, engine: Engine, server_rules: list[PriceRule], ttl: float = 2.0) -> None:
        self._engine = engine
        self._server_rules = most_specific_first(server_rules)
        self._ttl = ttl
        self._books: dict[int, tuple[float, PriceBook]] = {}
        # Bumped by `forget`: a book read from the database before a change is not kept after it.
        self._generations: dict[int, int] = {}
        self._lock = threading.Lock()

    def cached(self, project_rowid: int) -> PriceBook | None:
        """The project's book if this process holds a fresh one; never touches the database."""
        with self._lock:
            cached = self._books.get(project_rowid)
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    def book(self, project_rowid: int) -> PriceBook:
        book = self.cached(project_rowid)
        if book is not None:
            return book
        with self._lock:
            generation = self._generations.get(project_rowid, 0)
        expires = time.monotonic() + self._ttl
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(ModelPrice.model_pattern, ModelPrice.input_per_mtok, ModelPrice.output_per_mtok).where(
                    ModelPrice.project_rowid == project_rowid
                )
            ).all()
        own = [
            PriceRule(pattern, input_price, output_price, "project override")
            for pattern, input_price, output_price in rows
        ]
        book = PriceBook(most_specific_first(own) + self._server_rules)
        with self._lock:
            if self._generations.get(project_rowid, 0) == generation:
                self._books[project_rowid] = (expires, book)
        return book

    async def book_async(self, project_rowid: int) -> PriceBook:
        """`book` for the event loop: a cache miss reads the database on a worker thread."""
        book = self.cached(project_rowid)
        return book if book is not None else await asyncio.to_thread(self.book, project_rowid)

    def forget(self, project_rowid: int) -> None:
        """Drop the cached book after a change, so this process applies it at once."""
        with self._lock:
            self._books.pop(project_rowid, None)
            self._generations[project_rowid] = self._generations.get(project_rowid, 0) + 1
