"""File objects over S3 for the Parquet writer and reader, with bounded memory.

`MultipartSink` buffers at most one chunk and uploads it as a part of a multipart upload (a
small object goes up in one PutObject on close); a sink closed after an error aborts its upload,
so S3 keeps no invisible parts. `RangedFile` reads by ranged GETs, `BUFFER` bytes at a time
(a Parquet reader seeks to the footer, then to each column chunk).
"""

from __future__ import annotations

import io
import logging
from typing import Any

from flight_gateway.errors import ErrorCode, GatewayError, error

log = logging.getLogger("flight_gateway.offload")
CHUNK = 8 * 1024 * 1024  # multipart part size (S3's minimum is 5 MiB)
BUFFER = 4 * 1024 * 1024


def s3_error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ClientError (NoSuchKey, AccessDenied, ...), else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or None
    return None


def is_missing(exc: BaseException) -> bool:
    return s3_error_code(exc) in ("NoSuchKey", "404", "NotFound", "NoSuchBucket")


def describe(exc: BaseException) -> str:
    """A short cause for a client: the S3 error code, or the kind of transport failure (never a
    repr: botocore messages carry endpoints and request ids)."""
    code = s3_error_code(exc)
    if code:
        return f"S3 answered {code}"
    name = type(exc).__name__
    if name == "NoCredentialsError":
        return "no AWS credentials were found in the default chain (environment, profile, role)"
    if "Connect" in name or "Timeout" in name or "Closed" in name:
        return "S3 could not be reached"
    return f"S3 request failed ({name})"


def write_failed(exc: BaseException) -> GatewayError:
    return error(
        ErrorCode.OFFLOAD_FAILED,
        f"writing the offloaded result failed ({describe(exc)}); nothing was kept, run the statement again",
    )


def read_failed(exc: BaseException) -> GatewayError:
    return error(
        ErrorCode.OFFLOAD_UNAVAILABLE,
        f"reading the offloaded result failed ({describe(exc)}); retry the read, the result is kept until it expires",
    )


class MultipartSink(io.RawIOBase):
    def __init__(self, client: Any, bucket: str, key: str, extra: dict[str, str]) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._extra = extra
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._etags: list[dict[str, Any]] = []
        self._failed = False
        self._position = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self._failed:  # the upload is given up: what the writer still flushes goes nowhere
            return len(view)
        try:
            self._buffer += view
            self._position += len(view)
            while len(self._buffer) >= CHUNK:
                with memoryview(self._buffer) as buffered:
                    chunk = bytes(buffered[:CHUNK])
                del self._buffer[:CHUNK]
                self._upload(chunk)
        except BaseException:
            self._failed = True
            raise
        return len(view)

    def _upload(self, chunk: bytes) -> None:
        if self._upload_id is None:
            started = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key, **self._extra)
            self._upload_id = str(started["UploadId"])
        number = len(self._etags) + 1
        answer = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=chunk
        )
        self._etags.append({"ETag": answer["ETag"], "PartNumber": number})

    def abort(self) -> None:
        """Give up: the multipart upload (if any) is aborted, nothing becomes visible."""
        self._failed = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=upload_id)
            except Exception as exc:  # S3 ages out incomplete uploads by the bucket's lifecycle rule
                log.warning("aborting the multipart upload of %s failed: %s", self._key, describe(exc))
        super().close()

    def close(self) -> None:
        if self.closed:
            return
        if self._failed:
            self.abort()
            return
        try:
            if self._upload_id is None:
                self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer), **self._extra)
            else:
                if self._buffer:
                    self._upload(bytes(self._buffer))
                self._client.complete_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._etags},
                )  # fmt: skip
        except BaseException:
            self.abort()
            raise
        self._buffer = bytearray()
        super().close()


class RangedFile(io.RawIOBase):
    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        end = min(self._size, self._position + len(view))
        if end <= self._position:
            return 0
        answer = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{end - 1}")
        body = answer["Body"]
        try:
            got = 0
            while got < end - self._position:
                chunk = body.read(end - self._position - got)
                if not chunk:
                    break
                view[got : got + len(chunk)] = chunk
                got += len(chunk)
        finally:
            body.close()
        self._position += got
        return got


def open_ranged(client: Any, bucket: str, key: str, size: int) -> io.BufferedReader:
    return io.BufferedReader(RangedFile(client, bucket, key, size), buffer_size=BUFFER)
