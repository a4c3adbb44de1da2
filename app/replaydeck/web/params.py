"""One model per operation's query, shared by the /v1 route and its /r/ share twin.

FastAPI reads a query model (`Annotated[ReplayQuery, Query()]`) field by field
from the query string and documents each field as a parameter, so /v1 and /r/
accept, refuse and document exactly the same parameters.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from replaydeck.sessions.models import (
    PLAIN_NUMBER,
    SESSION_ID,
    SESSION_ID_RULE,
    NonNegativeInt,
    OptionalNonNegativeNumber,
    OptionalPositiveInt,
    PositiveInt,
    ResumeHeader,
    SeqHeader,
)

_RESUME = "Resume after this seq (the id of the last event received); wins over ?after=."
LastEventId = Annotated[SeqHeader, Header(alias="Last-Event-ID", description=_RESUME)]
_RESUME_FRAME = (
    _RESUME + " A replay in another protocol also takes a frame's own id, `<seq>.<k>`"
    " (the k-th of the frames one event became), and resumes right after that frame;"
    " a format=sse replay also takes an app's own SSE id that it sent back, and resumes"
    " right after the event that carried it."
)
ReplayLastEventId = Annotated[
    ResumeHeader, Header(alias="Last-Event-ID", description=_RESUME_FRAME)
]


class EventsQuery(BaseModel):
    after: Annotated[NonNegativeInt, Field(description="Events after this seq.")] = 0
    limit: Annotated[OptionalPositiveInt, Field(description="At most this many events.")] = None


class StreamQuery(BaseModel):
    after: Annotated[NonNegativeInt, Field(description="Start after this seq.")] = 0


class ReplayQuery(BaseModel):
    speed: Annotated[
        str,
        Field(
            description="A positive number (1 = as recorded), or 'max'.",
            json_schema_extra={"pattern": f"^(?:max|{PLAIN_NUMBER.pattern})$"},
        ),
    ] = "1"
    from_: Annotated[PositiveInt, Field(alias="from", description="The first seq to send.")] = 1
    to: Annotated[OptionalPositiveInt, Field(description="The last seq to send.")] = None
    types: Annotated[
        str | None,
        Field(
            description="Comma-separated types to send.",
            # At least one name that is not just commas and spaces.
            json_schema_extra={"pattern": r"[^,\s]"},
        ),
    ] = None
    max_gap_ms: Annotated[OptionalNonNegativeNumber, Field(description="Cap on any wait.")] = None
    format: Annotated[
        str | None,
        Field(
            description=(
                "Re-encode as sse, openai-responses, openai-chat (Chat Completions chunks"
                " and [DONE]), vercel-ai or ag-ui."
            )
        ),
    ] = None


class AppendParams(BaseModel):
    """POST /v1/sessions/{session_id}/events: read by the route itself from the
    path and headers, so that FastAPI solves nothing on the hottest route."""

    session_id: Annotated[
        str,
        Field(description=SESSION_ID_RULE + ".", json_schema_extra={"pattern": SESSION_ID.pattern}),
    ]
    if_match: Annotated[
        SeqHeader,
        Field(alias="If-Match", description="Append only if the session ends at this seq."),
    ] = None

    @classmethod
    def read(cls, request: Request) -> AppendParams:
        if_match = request.headers.get("if-match")
        try:
            return cls.model_validate(
                {"session_id": request.path_params["session_id"], "If-Match": if_match}
            )
        except ValidationError as error:
            # Located as FastAPI locates a parameter, for the same 422 sentence.
            raise RequestValidationError(
                [
                    {**e, "loc": ("path" if e["loc"][0] == "session_id" else "header", *e["loc"])}
                    for e in error.errors()
                ]
            ) from None

    @classmethod
    def openapi(cls) -> list[dict[str, Any]]:
        """The parameters as OpenAPI documents them, from this model's own schema."""
        schema = cls.model_json_schema(by_alias=True)
        where = {"session_id": "path", "If-Match": "header"}
        return [
            {
                "name": name,
                "in": where[name],
                "required": name in schema.get("required", ()),
                "description": field.get("description", ""),
                "schema": {k: v for k, v in field.items() if k not in ("description", "title")},
            }
            for name, field in schema["properties"].items()
        ]
