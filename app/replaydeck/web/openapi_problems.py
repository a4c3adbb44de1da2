"""Make /openapi.json say what the API really answers: problem+json errors.

FastAPI documents only the responses a route declares, plus a 422 in its own
application/json shape that replaydeck never sends. Every route can answer a
refusal (400, 404, 409, 413, 415, 422, 431, …) or 503 as
application/problem+json, so each operation gets "4XX" and "5XX" responses
with the RFC 9457 schema, and FastAPI's 422 is replaced by the same. The
schema is built once, on first request, like FastAPI's own.

FastAPI also documents an optional parameter (`int | None`) as "integer or
null"; a query parameter or header is absent or a string, never null (a client
sending the text "null" gets a 422), so the null is taken out.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from replaydeck.sessions.models import METADATA_VALUE_SCHEMA

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `detail` says what was wrong and how to fix it.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "example": "urn:replaydeck:problem:session-not-found"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_PROBLEM_CONTENT = {"application/problem+json": {"schema": _PROBLEM_REF}}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _document(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    content: dict[str, Any] = dict(_PROBLEM_CONTENT)
    pages = [
        r for c, r in responses.items() if c.startswith("2") and "text/html" in r.get("content", {})
    ]
    if pages:
        # A page for people (the replay viewer) answers a bad link with a page too.
        content["text/html"] = {"schema": {"type": "string"}}
    for code in list(responses):
        if code.startswith(("4", "5")):
            # Declared refusals (FastAPI's 422 among them) are problem+json too.
            responses[code] = {
                "description": responses[code].get("description", "A refusal"),
                "content": content,
            }
    refused = {"description": "The request was refused; see `detail`.", "content": content}
    failed = {"description": "The server or its database failed.", "content": content}
    responses.setdefault("4XX", refused)
    responses.setdefault("5XX", failed)


def _without_null(parameter: dict[str, Any]) -> None:
    schema: dict[str, Any] = parameter.get("schema", {})
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or {"type": "null"} not in branches:
        return
    kept = [branch for branch in branches if branch != {"type": "null"}]
    del schema["anyOf"]
    if len(kept) == 1:
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept


def install(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path_item in schema.get("paths", {}).values():
            for method, operation in path_item.items():
                if method in _METHODS:
                    _document(operation)
                    for parameter in operation.get("parameters", []):
                        _without_null(parameter)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        schemas["MetadataValue"] = METADATA_VALUE_SCHEMA
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
