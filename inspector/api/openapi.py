"""The OpenAPI document as the app answers: every error is ErrorPublic, `{"detail": message}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from inspector.api.schemas import ErrorPublic

ERROR_REF = {"$ref": "#/components/schemas/ErrorPublic"}
# FastAPI documents its own validation error body, which the app's handler replaces by a message
REPLACED = ("HTTPValidationError", "ValidationError")
DEFAULTS = {
    "400": "The body is not parsable (e.g. malformed JSON).",
    "401": "No API key, or a wrong or revoked one.",
    "403": "The key's role is too weak for this operation.",
    "413": "The request body is larger than api.max_body_bytes.",
    "422": "A parameter or the body does not validate; the message says which and why.",
    "503": "The database is unreachable.",
}


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` declare every error response as ErrorPublic, and the errors any
    operation may answer: 401/403 where a key is needed, 400/413 where a body is sent, 503."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _with_errors(generate())  # generate() caches the document in app.openapi_schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_errors(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in REPLACED:
        schemas.pop(name, None)
    schemas["ErrorPublic"] = ErrorPublic.model_json_schema()
    for item in document.get("paths", {}).values():
        for operation in item.values():
            _operation_errors(operation)


def _operation_errors(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    codes = ["503"]
    if operation.get("security"):
        codes += ["401", "403"]
    if "requestBody" in operation:
        codes += ["400", "413"]
    for code in codes:
        responses.setdefault(code, {"description": DEFAULTS[code]})
    for code, response in responses.items():
        if code[0] not in "45":
            continue
        content = response.get("content", {}).get("application/json", {})
        if not content.get("schema") or _is_replaced(content["schema"]):
            response["content"] = {"application/json": {"schema": ERROR_REF}}
            if response.get("description") == "Validation Error":  # FastAPI's own words
                response["description"] = DEFAULTS["422"]
    operation["responses"] = dict(sorted(responses.items()))


def _is_replaced(schema: dict[str, Any]) -> bool:
    return schema.get("$ref", "").rsplit("/", 1)[-1] in REPLACED
