"""The emulator's object storage: where ``delivery: "presigned"`` evidence exports live.

It runs as a second server on another host (127.0.0.2 when the loopback range allows it) or at
least another port, so a presigned ``download_url`` is a different origin from the API, as an S3
link is. Like S3, it refuses a request that carries both a query-string signature and an
``Authorization`` header (400 ``InvalidArgument``): a client that sends its API key to storage
fails visibly, and every request is recorded so a test can also see the leaked header.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..faults import RecordedRequest
from ..server import Receive, Scope, Send

_AMZ_DATE = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class StoredObject:
    content: bytes
    media_type: str


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


class StorageApp:
    """Objects by key, served only to a valid, unexpired signature and no Authorization header."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._secret = hashlib.sha256(repr(id(self)).encode() + b"velerian-emulator").digest()
        self._objects: dict[str, StoredObject] = {}
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.url: str | None = None
        self._app = Starlette(routes=[Route("/{key:path}", self._get, methods=["GET", "HEAD"])])

    def clear(self) -> None:
        with self._lock:
            self._objects.clear()
            self.requests.clear()

    def put(self, key: str, content: bytes, media_type: str) -> None:
        with self._lock:
            self._objects[key] = StoredObject(content, media_type)

    def presign(self, key: str, ttl: int, signed_at: datetime) -> str:
        """A download URL for ``key`` valid ``ttl`` seconds from ``signed_at``."""
        amz_date = signed_at.strftime(_AMZ_DATE)
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": "EMULATOR/velerian-evidence/s3/aws4_request",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(ttl),
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": self._sign(key, amz_date, str(ttl)),
        }
        origin = self.url or "http://storage.velerian.invalid"
        return f"{origin}/velerian-evidence/{quote(key)}?{urlencode(query)}"

    def _sign(self, key: str, amz_date: str, ttl: str) -> str:
        message = f"{key}\n{amz_date}\n{ttl}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            client = scope.get("client")
            with self._lock:
                self.requests.append(
                    RecordedRequest(
                        method=scope["method"],
                        path=scope["path"],
                        query=scope.get("query_string", b"").decode("latin-1"),
                        headers=headers,
                        body=b"",
                        client=(client[0], int(client[1])) if client else None,
                    )
                )
        await self._app(scope, receive, send)

    async def _get(self, request: Request) -> Response:
        if "authorization" in request.headers:
            return _s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
            )
        path = request.url.path
        prefix = "/velerian-evidence/"
        if not path.startswith(prefix):
            return _s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
        key = path[len(prefix) :]
        query = request.query_params
        amz_date, ttl, signature = (
            query.get("X-Amz-Date", ""),
            query.get("X-Amz-Expires", ""),
            query.get("X-Amz-Signature", ""),
        )
        if not hmac.compare_digest(signature, self._sign(key, amz_date, ttl)):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided",
            )
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=timezone.utc)
        if self._clock() >= signed_at + timedelta(seconds=int(ttl)):
            return _s3_error(403, "AccessDenied", "Request has expired")
        with self._lock:
            stored = self._objects.get(key)
        if stored is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(stored.content, media_type=stored.media_type)


__all__ = ["StorageApp", "StoredObject"]
