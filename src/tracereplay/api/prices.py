"""Price overrides per project: `/api/v1/prices`."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from tracereplay.api.deps import principal_dependency
from tracereplay.api.schemas import PriceIn, PriceList, PriceOut
from tracereplay.context import AppContext
from tracereplay.pricing.overrides import delete_price_override, list_price_overrides, set_price_override
from tracereplay.projects.service import Principal


def prices_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1/prices", tags=["prices"])
    Auth = Annotated[Principal, Depends(principal_dependency(ctx))]

    @router.get("", summary="This project's price overrides")
    def prices(principal: Auth) -> PriceList:
        overrides = list_price_overrides(ctx.sessions, principal.project_rowid)
        return PriceList(prices=[PriceOut.of(override) for override in overrides])

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
        return PriceOut.of(override)

    @router.delete("/{override_id}", summary="Remove a price override")
    def delete_price(override_id: int, principal: Auth) -> PriceOut:
        return PriceOut.of(
            delete_price_override(ctx.sessions, ctx.prices, principal.project_rowid, override_id)
        )

    return router
