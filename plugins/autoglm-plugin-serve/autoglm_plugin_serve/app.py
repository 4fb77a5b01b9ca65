"""The ASGI app: FastAPI with POST /predict, GET /health, GET /metadata, GET /stats.

Every error is a 4xx/5xx with a JSON body ``{"error": {"status", "type", "message"[, "details"]}}``;
the body of /predict is read and checked by hand (content type, size, JSON, fields, limits) so that
each kind of bad input gets its own status and a message that says what to change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import platform
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .auth import ApiKeyMiddleware
from .batching import Batcher, Overloaded

log = logging.getLogger("autoglm.serve")


@dataclass
class ServeConfig:
    max_batch_size: int = 32
    #: a batch waits this long for more requests, only while they keep arriving (0: never waits)
    max_wait_ms: float = 0.0
    #: requests waiting for the model; one more -> 503 with Retry-After
    max_queue: int = 256
    #: a /predict request not answered in this many seconds (body, queue and model) -> 503
    request_timeout_s: float = 30.0
    #: the model call size is measured and chosen (see batching.ChunkSizer); False: one call per batch
    adaptive: bool = True
    #: longer texts are cut to this many characters (the tokenizer keeps ~128 tokens anyway) and the
    #: response carries a warning
    max_text_chars: int = 10_000
    #: more texts in one request -> 413
    max_texts: int = 256
    #: larger request bodies -> 413, before they are parsed
    max_body_bytes: int = 2 * 1024 * 1024
    #: JSON nested deeper, or integers longer, -> 400 before the body is parsed
    max_json_depth: int = 32
    max_json_int_digits: int = 100


class PredictRequest(BaseModel):
    """Give exactly one of ``text`` and ``texts``."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="one text to classify", examples=["Operating profit rose 20%"])
    texts: list[str] | None = Field(None, description="several texts to classify, answered in order")


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    model: str
    variant: str
    warnings: list[str] = []


class ErrorBody(BaseModel):
    error: dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str, details: Any = None, retry_after: int | None = None):
        self.status, self.kind, self.message, self.details = status, kind, message, details
        self.retry_after = retry_after


def _error(status: int, kind: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "type": kind, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def versions(predictor: Any) -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    names = ["autoglm-core", "autoglm-plugin-serve", "fastapi", "uvicorn", "torch", "transformers"]
    if predictor.info.get("backend") == "onnxruntime":
        names.append("onnxruntime")
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def create_app(predictor: Any, config: ServeConfig | None = None, api_key: str | None = None) -> FastAPI:
    """An app serving ``predictor`` (an :class:`autoglm_core.engine.predictor.Predictor`); with
    ``api_key`` every path (``/docs`` and ``/openapi.json`` too) needs it."""
    from contextlib import asynccontextmanager

    cfg = config or ServeConfig()
    batcher = Batcher(lambda texts, size: predictor.predict_proba(texts, batch_size=size),
                      max_batch_size=cfg.max_batch_size, max_wait_ms=cfg.max_wait_ms, max_queue=cfg.max_queue,
                      adaptive=cfg.adaptive)
    info = predictor.info
    model_name, variant = str(info.get("model")), str(info.get("variant"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="Open-AutoGLM inference server",
        description=f"Text classification with model {model_name!r} ({variant}); labels: {', '.join(predictor.labels)}.",
        version=versions(predictor).get("autoglm-plugin-serve", "0"),
        lifespan=lifespan,
    )
    app.state.predictor, app.state.batcher, app.state.config = predictor, batcher, cfg
    if api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        response = _error(exc.status, exc.kind, exc.message, exc.details)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "validation_error", "the request does not match the schema", _clean(exc.errors()))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path)
        return _error(500, "internal_error", f"{type(exc).__name__}: {exc}")

    errors = {s: {"model": ErrorBody} for s in (400, 401, 413, 415, 422, 503)}

    @app.post(
        "/predict", response_model=PredictResponse, responses=errors,
        summary="Classify one text or several",
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": PredictRequest.model_json_schema()}}}},
    )
    async def predict(request: Request) -> JSONResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cfg.request_timeout_s
        try:  # a client that trickles its body in is held to the same deadline
            texts = await asyncio.wait_for(_read_texts(request, cfg), cfg.request_timeout_s)
        except asyncio.TimeoutError:
            batcher.stats.timed_out += 1
            raise ApiError(503, "timeout", f"the request body did not arrive within {cfg.request_timeout_s:g} s.",
                           retry_after=1) from None
        warnings = []
        for i, t in enumerate(texts):
            if len(t) > cfg.max_text_chars:
                warnings.append(f"texts[{i}] has {len(t)} characters; only the first {cfg.max_text_chars} were used.")
                texts[i] = t[: cfg.max_text_chars]
        probs = await _answer_or_give_up(request, batcher, texts, deadline - loop.time(), cfg)
        return JSONResponse({"predictions": predictor.format_rows(probs), "model": model_name,
                             "variant": variant, "warnings": warnings})

    @app.get("/health", summary="Liveness: the model is loaded and the batcher runs")
    async def health() -> dict[str, Any]:
        if not batcher.running:
            raise ApiError(503, "unavailable", "the batcher is not running")
        return {"status": "ok", "queued_requests": batcher.queued}

    @app.get("/metadata", summary="Labels, model, variant, limits and versions")
    async def metadata() -> dict[str, Any]:
        return {
            "labels": predictor.labels, "model": model_name, "variant": variant,
            "format": info.get("format"), "backend": info.get("backend"), "backbone": info.get("backbone"),
            "task_type": info.get("task_type"), "max_length_tokens": predictor.max_length,
            "limits": asdict(cfg), "versions": versions(predictor),
        }

    @app.get("/stats", summary="Batching counters since start")
    async def stats() -> dict[str, Any]:
        return {**batcher.stats.as_dict(), **(batcher.sizer.as_dict() if batcher.sizer else {})}

    return app


def _clean(errors: Any) -> list[dict[str, Any]]:
    # pydantic errors can hold the offending input (maybe 1 MB) and exception objects; keep them short.
    out = []
    for e in errors:
        out.append({"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg")), "type": str(e.get("type"))})
    return out


async def _read_texts(request: Request, cfg: ServeConfig) -> list[str]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       f"send the body as JSON with Content-Type: application/json (got {ctype or 'none'!r}).")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cfg.max_body_bytes:
        raise ApiError(413, "payload_too_large", f"the body has {declared} bytes; the limit is {cfg.max_body_bytes}.")
    chunks, size = [], 0
    async for chunk in request.stream():  # counted as it arrives: a chunked upload cannot bypass the limit
        size += len(chunk)
        if size > cfg.max_body_bytes:
            raise ApiError(413, "payload_too_large", f"the body is over the limit of {cfg.max_body_bytes} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    from autoglm_core import JSONLimitError, check_json_limits

    try:  # before json.loads builds it: deep nesting recurses, huge integers take quadratic time
        check_json_limits(raw, max_depth=cfg.max_json_depth, max_int_digits=cfg.max_json_int_digits)
    except JSONLimitError as e:
        raise ApiError(400, "invalid_json", f"the body is refused: {e}") from None
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the body is not UTF-8 text.") from None
    except json.JSONDecodeError as e:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from None
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", 'the body must be a JSON object: {"text": "..."} or {"texts": ["...", ...]}.')
    try:
        req = PredictRequest.model_validate(data)
    except ValidationError as e:
        raise ApiError(422, "validation_error", "the request does not match the schema", _clean(e.errors())) from None
    if (req.text is None) == (req.texts is None):
        raise ApiError(422, "validation_error", 'give exactly one of "text" (a string) and "texts" (a list of strings).')
    texts = [req.text] if req.text is not None else list(req.texts or [])
    if not texts:
        raise ApiError(422, "validation_error", '"texts" is empty; give at least one text.')
    if len(texts) > cfg.max_texts:
        raise ApiError(413, "too_many_texts",
                       f"{len(texts)} texts in one request; the limit is {cfg.max_texts}. Split the request.")
    for i, t in enumerate(texts):
        if not t.strip():
            where = '"text"' if req.text is not None else f"texts[{i}]"
            raise ApiError(422, "validation_error", f"{where} is empty or only whitespace.")
    return texts


async def _wait_for_disconnect(request: Request) -> None:
    """Returns when the client closes the connection (the body has been read, so the next ASGI
    message is ``http.disconnect``)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _answer_or_give_up(request: Request, batcher: Batcher, texts: list[str], timeout: float,
                             cfg: ServeConfig) -> Any:
    """The batcher's answer, unless the queue is full (503 + Retry-After), the deadline passes
    (503) or the client disconnects; in the last two cases the request leaves the queue, so the model
    never computes it."""
    work = asyncio.ensure_future(batcher.submit(texts))
    gone = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        done, _ = await asyncio.wait({work, gone}, timeout=max(timeout, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not work.done():
            work.cancel()
    if work in done:
        try:
            return work.result()
        except Overloaded as e:
            raise ApiError(503, "overloaded", f"the server is busy ({e.queued} requests waiting, the limit is "
                           f"{cfg.max_queue}); retry after {e.retry_after} s.", retry_after=e.retry_after) from None
    if gone in done:
        raise ApiError(499, "client_closed_request", "the client disconnected; the request was dropped.")
    batcher.stats.timed_out += 1
    raise ApiError(503, "timeout", f"no answer within {cfg.request_timeout_s:g} s (the server is busy); the request "
                   f"was dropped.", retry_after=batcher.retry_after())
