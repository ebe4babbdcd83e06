"""BodyLimit: ASGI middleware answering 413 to a request body over the limit, declared or streamed."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; the app's HTTPException handler turns it into 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                         f"request body is larger than {limit} bytes (api.max_body_bytes): send "
                         "less per request, e.g. smaller batches")


class BodyLimit:
    """Refuse a declared Content-Length over `limit` before the app runs; count chunked bodies."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:  # the declared length may be absent or wrong
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLarge(self.limit)
        response = JSONResponse({"detail": error.detail}, status_code=error.status_code,
                                headers={"Connection": "close"})
        await response(scope, receive, send)
