"""HTTP routes of the simulator: a thin Starlette layer over :class:`~foxnb.sim.backend.Backend`.

Routes (the API under ``/v1`` needs the bearer key; file URLs are public, like a CDN):

=====================================  =========================================================
``POST /v1/videos/generations``        create an extend task (JSON body)
``GET  /v1/tasks/{id}``                query a task; ``?sync_upstream=true`` for current status
``POST /v1/files/upload/stream``       multipart upload: ``file``, ``file_name``, ``auto_cleanup``
``POST /v1/files/upload/base64``       JSON upload: ``file_data``, ``file_name``, ``auto_cleanup``
``GET  /files/uploads/{day}/{id}/{n}`` an uploaded file (usable as ``video_url``)
``GET  /files/output/{id}.mp4``        a result; needs the ``expires`` and ``sig`` it was given
=====================================  =========================================================

URLs handed out are built from the request's own base URL, so a simulator restarted on
another port serves the same paths. Result downloads support HTTP ranges (206/416).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Scope

from .backend import Backend, InsufficientCredits, StorageFull
from .edge import DECISION_KEY, Edge
from .errors import ApiError
from .faults import Decision
from .payloads import RESULT_SHAPES, cdn_error_xml, create_json, task_json, upload_json
from .validate import (
    parse_base64_upload,
    parse_create,
    parse_form_bool,
    parse_json_body,
    safe_filename,
)

__all__ = ["build_app"]

_XML = "application/xml"


def build_app(
    backend: Backend,
    *,
    drop: Callable[[Scope], bool],
    result_shape: str = "results",
    max_upload_bytes: int = 100 * 1024**2,
) -> ASGIApp:
    """The complete ASGI app: routes over ``backend``, behind the :class:`Edge`.

    ``drop(scope)`` must abort the client connection of ``scope`` and return ``True``
    (the server provides it).
    """
    if result_shape not in RESULT_SHAPES:
        raise ValueError(f"result_shape must be one of {RESULT_SHAPES}, got {result_shape!r}")
    routes = _Routes(backend, result_shape)
    starlette = Starlette(
        routes=[
            Route("/v1/videos/generations", routes.create, methods=["POST"]),
            Route("/v1/tasks/{task_id}", routes.get_task, methods=["GET"]),
            Route("/v1/files/upload/stream", routes.upload_stream, methods=["POST"]),
            Route("/v1/files/upload/base64", routes.upload_base64, methods=["POST"]),
            Route("/files/uploads/{day}/{file_id}/{filename}", routes.get_upload, methods=["GET"]),
            Route("/files/output/{name}", routes.get_output, methods=["GET"]),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    return Edge(starlette, backend, max_upload_bytes=max_upload_bytes, drop=drop)


class _Routes:
    """Request handlers; each parses, calls the backend off the event loop, and shapes JSON."""

    def __init__(self, backend: Backend, result_shape: str) -> None:
        self._backend = backend
        self._result_shape = result_shape

    async def create(self, request: Request) -> Response:
        body = parse_json_body(request.headers.get("content-type"), await request.body())
        params = parse_create(body)
        decision = _decision(request)
        try:
            record = await run_in_threadpool(
                self._backend.create_task,
                params,
                fail_with=decision.task_failure_code,
                defect=decision.defect,
            )
        except InsufficientCredits as exc:
            raise ApiError(402, f"Insufficient balance: {exc}. Top up and retry.") from exc
        return JSONResponse(create_json(record))

    async def get_task(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        sync_upstream = request.query_params.get("sync_upstream", "").lower() == "true"
        view = await run_in_threadpool(
            self._backend.view_task,
            task_id,
            sync_upstream=sync_upstream,
            empty_results=_decision(request).empty_results,
        )
        if view is None:
            raise ApiError(404, f"Task {task_id!r} does not exist.", code="task_not_found")
        url = None
        if (
            view.result_expires is not None
            and view.result_sig is not None
            and not view.empty_results
        ):
            query = urlencode({"expires": view.result_expires, "sig": view.result_sig})
            url = f"{_base_url(request)}/files/output/{quote(task_id)}.mp4?{query}"
        body = task_json(
            view.record,
            view.snapshot.status,
            view.snapshot.progress,
            result_url=url,
            result_shape=self._result_shape,
        )
        return JSONResponse(body)

    async def upload_stream(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise ApiError(
                400, "Content-Type must be multipart/form-data.", code="invalid_content_type"
            )
        async with request.form() as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(
                    422,
                    "Missing required file part 'file'.",
                    code="missing_parameter",
                    param="file",
                )
            data = await upload.read()
            name_field = form.get("file_name")
            name = name_field if isinstance(name_field, str) and name_field else upload.filename
            cleanup_field = form.get("auto_cleanup")
            auto_cleanup = parse_form_bool(
                "auto_cleanup",
                cleanup_field if isinstance(cleanup_field, str) else None,
                default=True,
            )
        return await self._store_upload(request, data, safe_filename(name or ""), auto_cleanup)

    async def upload_base64(self, request: Request) -> Response:
        body = parse_json_body(request.headers.get("content-type"), await request.body())
        upload = parse_base64_upload(body)
        return await self._store_upload(request, upload.data, upload.file_name, upload.auto_cleanup)

    async def _store_upload(
        self, request: Request, data: bytes, filename: str, auto_cleanup: bool
    ) -> Response:
        try:
            record = await run_in_threadpool(
                self._backend.add_upload, data, filename, auto_cleanup=auto_cleanup
            )
        except StorageFull as exc:
            raise ApiError(403, f"Upload refused: {exc}.", code="storage_quota_exceeded") from exc
        path = f"/files/uploads/{record.day}/{record.id}/{quote(record.filename)}"
        return JSONResponse(upload_json(record, _base_url(request) + path))

    async def get_upload(self, request: Request) -> Response:
        params = request.path_params
        path = self._backend.upload_file(params["day"], params["file_id"], params["filename"])
        if path is None or not path.exists():
            return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type)

    async def get_output(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        expires_text = request.query_params.get("expires", "")
        signature = request.query_params.get("sig", "")
        if not name.endswith(".mp4") or not expires_text.isdigit() or not signature:
            return _cdn_error(403, "AccessDenied", "Missing or malformed signature.")
        if _decision(request).action == "expired":
            return _cdn_error(403, "AccessDenied", "Request has expired.")
        verdict, path = self._backend.result_file(
            name[: -len(".mp4")], int(expires_text), signature
        )
        if verdict == "ok" and path is not None and path.exists():
            return FileResponse(path, media_type="video/mp4")
        if verdict == "expired":
            return _cdn_error(403, "AccessDenied", "Request has expired.")
        if verdict == "forbidden":
            return _cdn_error(403, "AccessDenied", "Signature does not match.")
        return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")


def _decision(request: Request) -> Decision:
    decision = request.scope.get(DECISION_KEY)
    return decision if isinstance(decision, Decision) else Decision()


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _cdn_error(status: int, code: str, message: str) -> Response:
    return Response(cdn_error_xml(code, message), status_code=status, media_type=_XML)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method, bad multipart) in FoxAPI's shape."""
    assert isinstance(exc, HTTPException)
    error = ApiError(exc.status_code, str(exc.detail))
    return JSONResponse(error.body(), status_code=exc.status_code, headers=exc.headers)
