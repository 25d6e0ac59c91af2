"""Price overrides per project: `/api/v1/prices`."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from tracereplay.api.deps import principal_dependency
from tracereplay.context import AppContext
from tracereplay.projects.service import Principal
from tracereplay.providers.price_overrides import (
    MAX_PATTERN_LENGTH,
    MAX_PRICE_PER_MTOK,
    PriceOverride,
    delete_price_override,
    list_price_overrides,
    set_price_override,
)


class PriceIn(BaseModel):
    model_pattern: str = Field(
        min_length=1,
        max_length=MAX_PATTERN_LENGTH,
        description='A model name ("gpt-4o-mini"), provider:model ("openai:gpt-4o-mini") or a '
        'shell-style pattern ("gpt-4o*", "*:llama-3*")',
        examples=["gpt-4o*"],
    )
    input_price_per_mtok: float = Field(
        ge=0, le=MAX_PRICE_PER_MTOK, allow_inf_nan=False, description="US $ per million input tokens"
    )
    output_price_per_mtok: float = Field(
        ge=0, le=MAX_PRICE_PER_MTOK, allow_inf_nan=False, description="US $ per million output tokens"
    )


class PriceOut(BaseModel):
    id: int
    model_pattern: str
    input_price_per_mtok: float
    output_price_per_mtok: float
    created_at: datetime
    updated_at: datetime


class PriceList(BaseModel):
    prices: list[PriceOut]


def price_out(override: PriceOverride) -> PriceOut:
    return PriceOut(
        id=override.id,
        model_pattern=override.model_pattern,
        input_price_per_mtok=override.input_per_mtok,
        output_price_per_mtok=override.output_per_mtok,
        created_at=override.created_at,
        updated_at=override.updated_at,
    )


def prices_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1/prices", tags=["prices"])
    Auth = Annotated[Principal, Depends(principal_dependency(ctx))]

    @router.get("", summary="This project's price overrides")
    def prices(principal: Auth) -> PriceList:
        with ctx.sessions() as session:
            return PriceList(
                prices=[price_out(o) for o in list_price_overrides(session, principal.project_rowid)]
            )

    @router.post(
        "",
        status_code=201,
        summary="Set the price of the models matching a name or pattern",
        description="Creates the override (201) or replaces the one with the same pattern (200). It wins "
        "over the server's TRACEREPLAY_PRICES and the bundled genai-prices data, the most specific "
        "pattern first, for LLM spans ingested or replayed from now on; stored costs do not change.",
    )
    def set_price(body: PriceIn, principal: Auth, response: Response) -> PriceOut:
        override, created = set_price_override(
            ctx.sessions,
            ctx.prices,
            principal.project_rowid,
            body.model_pattern,
            body.input_price_per_mtok,
            body.output_price_per_mtok,
        )
        if not created:
            response.status_code = 200
        return price_out(override)

    @router.delete("/{override_id}", summary="Remove a price override")
    def delete_price(override_id: int, principal: Auth) -> PriceOut:
        return price_out(
            delete_price_override(ctx.sessions, ctx.prices, principal.project_rowid, override_id)
        )

    return router
