"""Opt-in data capture: a sample of requests and answers, redacted, written to S3 off the request path.

The middleware hands a finished exchange to :meth:`CaptureWriter.offer`, which only samples, redacts
and enqueues (microseconds); a background thread batches records into JSON-lines objects
``<prefix><model>/<version>/<yyyy>/<mm>/<dd>/<hh>/<uuid>.jsonl`` written with SSE-KMS. The queue is
bounded: when it is full the record is dropped and counted (``dropped``, and the ``CaptureDropped``
EMF metric of the next log line), never waited for. A failing write is logged and counted, never raised.

On Lambda the thread runs while an invocation runs (the environment is frozen between them), so a
batch may wait for the next invocation; records still queued when an environment is reclaimed are lost.

Configured by the runtime settings (:class:`handlers.settings.Settings`, ``capture_*``), read like every
other setting from the variables the CDK app sets: ``MAASKIT_CAPTURE_BUCKET``, ``..._PREFIX``,
``..._KMS_KEY``, ``..._SAMPLE`` (0-1), ``..._REDACT`` (comma-separated key names or dotted paths).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from handlers.settings import Settings

__all__ = ["CaptureWriter", "S3Sink", "capture_from_env", "capture_writer", "flush_all", "redact"]

logger = logging.getLogger("maaskit.capture")
#: Largest request or answer body captured; larger ones are recorded by size only.
MAX_CAPTURED_BYTES = 256 * 1024
Sink = Callable[[str, bytes], None]
#: Every live writer, for :func:`flush_all` (shutdown hooks, tests).
_WRITERS: weakref.WeakSet[CaptureWriter] = weakref.WeakSet()


def redact(document: Any, fields: tuple[str, ...]) -> Any:
    """``document`` without the ``fields``: a key name is removed at any depth, a dotted path from the root."""
    names = {f for f in fields if "." not in f}
    paths = [f.split(".") for f in fields if "." in f]
    cleaned = _drop_names(document, names)
    for path in paths:
        _drop_path(cleaned, path)
    return cleaned


def _drop_names(value: Any, names: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _drop_names(v, names) for k, v in value.items() if k not in names}
    if isinstance(value, list):
        return [_drop_names(v, names) for v in value]
    return value


def _drop_path(value: Any, path: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _drop_path(item, path)
    elif isinstance(value, dict) and path:
        if len(path) == 1:
            value.pop(path[0], None)
        elif path[0] in value:
            _drop_path(value[path[0]], path[1:])


def _document(body: bytes | None, content_type: str) -> Any:
    """A JSON body as data; anything else (binary tensors, images, audio) by size only."""
    if not body:
        return None
    if len(body) > MAX_CAPTURED_BYTES:
        return {"omitted": "too large", "bytes": len(body), "content_type": content_type}
    if "json" in content_type or body[:1] in (b"{", b"["):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return {"omitted": "not JSON", "bytes": len(body), "content_type": content_type}


class S3Sink:
    """Writes one object per batch with SSE-KMS (boto3 is imported on first use, off the request path)."""

    def __init__(self, bucket: str, kms_key: str | None) -> None:
        self.bucket = bucket
        self.kms_key = kms_key
        self._client: Any = None

    def __call__(self, key: str, body: bytes) -> None:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        extra = {"ServerSideEncryption": "aws:kms", **({"SSEKMSKeyId": self.kms_key} if self.kms_key else {})}
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/x-ndjson", **extra)


class CaptureWriter:
    """Samples, redacts and queues exchanges; a daemon thread writes them in batches."""

    def __init__(
        self,
        sink: Sink,
        *,
        sample: float,
        redact_fields: tuple[str, ...] = (),
        prefix: str = "capture/",
        max_queue: int = 1000,
        batch_size: int = 100,
        flush_interval_s: float = 10.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.sink = sink
        self.sample = sample
        self.redact_fields = redact_fields
        self.prefix = prefix
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.rng = rng
        self.dropped = 0
        self.failed = 0
        self.written = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        _WRITERS.add(self)

    def sampled(self) -> bool:
        """Whether to capture the request now starting."""
        return self.sample >= 1.0 or self.rng() < self.sample

    def offer(
        self,
        meta: Mapping[str, Any],
        request: tuple[bytes | None, str],
        answer: tuple[bytes | None, str],
    ) -> bool:
        """Queue one exchange (``meta``: model, version, route, status, consumer...); False when dropped."""
        record = {
            **meta,
            "request": redact(_document(*request), self.redact_fields),
            "answer": redact(_document(*answer), self.redact_fields),
        }
        self._start()
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def take_dropped(self) -> int:
        """Records dropped since the last call (for the ``CaptureDropped`` metric)."""
        with self._lock:
            dropped, self.dropped = self.dropped, 0
        return dropped

    def flush(self, timeout_s: float = 10.0) -> None:
        """Write everything queued now and wait for it (tests, shutdown)."""
        if self._thread is None:
            return
        self._queue.put(None, timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="maaskit-capture", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        batch: list[dict[str, Any]] = []
        deadline = 0.0
        while True:
            timeout = max(deadline - time.monotonic(), 0.0) if batch else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:  # the oldest queued record waited flush_interval_s
                self._write(batch)
                batch = []
                continue
            if item is None:  # flush(): write what is there, then mark the request done
                if batch:
                    self._write(batch)
                    batch = []
            else:
                if not batch:
                    deadline = time.monotonic() + self.flush_interval_s
                batch.append(item)
                if len(batch) >= self.batch_size:
                    self._write(batch)
                    batch = []
            self._queue.task_done()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        first = batch[0]
        stamp = time.strftime("%Y/%m/%d/%H", time.gmtime())
        model, version = first.get("model") or "unknown", first.get("version") or "unknown"
        key = f"{self.prefix}{model}/{version}/{stamp}/{uuid.uuid4().hex}.jsonl"
        body = b"".join(orjson.dumps(record) + b"\n" for record in batch)
        try:
            self.sink(key, body)
            self.written += len(batch)
        except Exception:  # capture must never take the server down
            self.failed += len(batch)
            logger.exception("data capture: writing %d records to %s failed; they are dropped", len(batch), key)


def flush_all(timeout_s: float = 10.0) -> None:
    """Write what every live writer has queued (call at shutdown, e.g. a server's lifespan end)."""
    for writer in list(_WRITERS):
        writer.flush(timeout_s)


def capture_writer(settings: Settings) -> CaptureWriter | None:
    """The writer the settings ask for (None when capture is off: no bucket or a zero sample)."""
    if not settings.capture_bucket or settings.capture_sample <= 0:
        return None
    return CaptureWriter(
        S3Sink(settings.capture_bucket, settings.capture_kms_key or None),
        sample=settings.capture_sample,
        redact_fields=settings.capture_redact,
        prefix=settings.capture_prefix,
    )


def capture_from_env(environ: Mapping[str, str] | None = None) -> CaptureWriter | None:
    """The writer of the settings ``environ`` (default ``os.environ``) gives; prefer :func:`capture_writer`
    with the entry's settings, read once."""
    return capture_writer(Settings.load(environ))
