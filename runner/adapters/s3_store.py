"""The off-site backup store: an S3-compatible bucket, through boto3.

Objects live at ``<prefix><cluster>/<run>/<file>``; the static-resources tarball of an encrypted cluster
at ``<prefix>static-resources/<cluster>/<run>/<file>``, so a bucket policy can keep the encryption keys
from whoever may read the snapshots. Credentials come from the standard AWS chain (environment, profile,
web identity, instance role) and never appear in a message. Retries and timeouts are botocore's own
(standard mode, bounded attempts), so a dead endpoint fails in seconds, not minutes.

How ``put`` knows the object is the catalog's file, without downloading it again:

* Every upload asks for S3's SHA-256 checksums (``ChecksumAlgorithm="SHA256"``): botocore hashes what it
  sends, S3 recomputes on arrival and refuses a body that does not match, and ``HeadObject`` with
  ``ChecksumMode=ENABLED`` reports the stored value afterwards.
* Below the multipart threshold the object is one PUT and its checksum *is* the file's SHA-256: the check
  is one HEAD, comparing it (and the size) with the caller's SHA-256.
* Above it (a PUT takes at most 5 GiB; snapshots reach 8 GiB) S3 offers SHA-256 only as a *composite*:
  the SHA-256 of the parts' digests, not the file's (full-object multipart checksums exist for CRCs
  only). So the file is read once before the upload, computing in that pass its SHA-256, which must be
  the caller's (else nothing is sent), and the digest of each part at the part size the upload will use
  (chosen here, the way s3transfer would adjust it). After the upload the composite S3 reports must be
  the one computed: equal composites mean S3 holds exactly the bytes that were hashed, hence the caller's
  SHA-256. A local re-read costs a disk pass; the alternative, streaming 8 GiB back from off-site, costs
  the link and the bill. A file changed during the upload is caught (the composites differ).
* The file's SHA-256 and the expected composite go into the object's metadata, so ``stat`` can report
  the SHA-256 of a multipart object, trusting the metadata only while S3's own composite still equals
  the one recorded beside it (an object overwritten since, metadata copied or not, is reported unknown).
* An endpoint that keeps no SHA-256 checksums (older S3-compatible servers) is checked by streaming the
  object back and hashing it: slower, still sound.

A failed check removes the object and raises :class:`~runner.stores.StoreError`; nothing unverified is
reported as stored.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    SSLError,
)
from botocore.exceptions import ConnectionError as EndpointUnreachable

from runner.snapshots import Sha256Digest
from runner.stores import (
    CHUNK,
    UNKNOWN_SHA256,
    StoredFile,
    StoreError,
    backup_path,
    checked_sha256,
    write_file,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

MiB = 1024 * 1024
MIN_PART = 5 * MiB  # S3's smallest part (but the last)
MAX_PART = 5 * 1024 * MiB  # S3's largest part, and its largest single PUT
MAX_PARTS = 10_000
SHA256_METADATA = "sha256"  # the whole file's SHA-256, hex
COMPOSITE_METADATA = "sha256-composite"  # the multipart checksum S3 computed for that file, base64
_MULTIPART_ETAG = re.compile(r'-\d+"?$')
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")
_DENIED = {"AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem", "KMS.AccessDeniedException"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
_TRANSIENT = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "BadDigest"}


class S3Settings(Protocol):
    """A clusters-file ``backup_store`` of type s3 (``bot.clusters.S3Store`` has this shape; the runner
    does not import the bot)."""

    @property
    def bucket(self) -> str: ...
    @property
    def prefix(self) -> str: ...
    @property
    def endpoint_url(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def server_side_encryption(self) -> str | None: ...


@dataclass(frozen=True)
class S3Tuning:
    """How the adapter talks to the endpoint. The defaults suit 8 GiB snapshots over a WAN link: 64 MiB
    parts (128 for 8 GiB), four at a time, each call tried at most five times by botocore."""

    part_size: int = 64 * MiB
    multipart_threshold: int = 64 * MiB
    max_concurrency: int = 4
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    attempts: int = 5  # in all, the first included (botocore's standard retry mode, with backoff)

    def __post_init__(self) -> None:
        if not MIN_PART <= self.part_size <= MAX_PART:
            raise ValueError(f"part_size must be between {MIN_PART} and {MAX_PART} bytes")
        if not 0 < self.multipart_threshold <= MAX_PART:
            raise ValueError(f"multipart_threshold must be at most {MAX_PART} bytes (S3's largest PUT)")
        if self.attempts < 1 or self.max_concurrency < 1:
            raise ValueError("attempts and max_concurrency must be at least 1")


@dataclass(frozen=True)
class PartDigests:
    """One read of a local file: its SHA-256 and S3's composite SHA-256 for the given part size."""

    size: int
    sha256: str  # hex
    composite: str  # base64, as S3 reports it (without the "-<parts>" suffix)
    parts: int


def part_size_for(size: int, preferred: int) -> int:
    """The part size an upload of ``size`` bytes will use: ``preferred`` kept within S3's limits and
    doubled until the file fits in 10,000 parts (what s3transfer does, so the local composite and the
    uploaded one are cut at the same places)."""
    part = min(max(preferred, MIN_PART), MAX_PART)
    while -(-size // part) > MAX_PARTS:
        part *= 2
    return part


def part_digests(path: Path, part_size: int) -> PartDigests:
    whole = hashlib.sha256()
    digests: list[bytes] = []
    size = 0
    with path.open("rb") as source:
        while True:
            part = hashlib.sha256()
            filled = 0
            while filled < part_size and (chunk := source.read(min(CHUNK, part_size - filled))):
                part.update(chunk)
                whole.update(chunk)
                filled += len(chunk)
            if filled == 0:
                break
            digests.append(part.digest())
            size += filled
    composite = base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode()
    return PartDigests(size, whole.hexdigest(), composite, len(digests))


def _base64_sha256(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def file_sha256(head: HeadObjectOutputTypeDef) -> str:
    """The whole file's SHA-256 from a HEAD with checksums enabled, or UNKNOWN_SHA256 (see module doc)."""
    reported = head.get("ChecksumSHA256")
    if not reported:
        return UNKNOWN_SHA256
    bare, _, parts = reported.partition("-")
    metadata = head.get("Metadata", {})
    recorded = metadata.get(SHA256_METADATA, "")
    if metadata.get(COMPOSITE_METADATA) == bare and _HEX_SHA256.match(recorded):
        return recorded
    if parts or head.get("ChecksumType") == "COMPOSITE" or _MULTIPART_ETAG.search(head.get("ETag", "")):
        return UNKNOWN_SHA256
    try:
        return base64.b64decode(bare, validate=True).hex()
    except (binascii.Error, ValueError):
        return UNKNOWN_SHA256


def _endpoint_for_people(endpoint_url: str | None, region: str | None) -> str:
    """The endpoint as messages show it: no ``user:password@``, no query."""
    if not endpoint_url:
        return f"AWS S3 ({region or 'default region'})"
    parts = urlsplit(endpoint_url)
    if not parts.scheme:
        return endpoint_url.rpartition("@")[2]
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}"


def _scrub(text: str) -> str:
    """An error text without any ``user:password@`` a URL may carry."""
    return _USERINFO.sub("", text)


@dataclass(frozen=True)
class _Upload:
    checksum: str  # what S3 must report afterwards (base64, no suffix)
    metadata: dict[str, str]
    part_size: int


class S3BackupStore:
    """Backups in an S3-compatible bucket (``backup_store: {type: s3, bucket: ..., ...}``)."""

    def __init__(self, settings: S3Settings, tuning: S3Tuning | None = None) -> None:
        self._bucket = settings.bucket
        self._prefix = settings.prefix.strip("/") + "/" if settings.prefix.strip("/") else ""
        self._encryption = settings.server_side_encryption
        self._tuning = tuning or S3Tuning()
        self._endpoint = _endpoint_for_people(settings.endpoint_url, settings.region)
        self._custom_endpoint = bool(settings.endpoint_url)
        config = Config(
            connect_timeout=self._tuning.connect_timeout,
            read_timeout=self._tuning.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self._tuning.attempts},
            max_pool_connections=max(10, self._tuning.max_concurrency + 2),
            # Every byte fetched is hashed here; botocore cannot check composite checksums anyway.
            response_checksum_validation="when_required",
        )
        try:
            self._client: S3Client = boto3.session.Session().client(
                "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
            )
        except ValueError:  # botocore's message would repeat the URL, password included
            raise StoreError(
                f"the backup store's endpoint_url {self._endpoint} is not a usable URL "
                "(expected https://host[:port])"
            ) from None

    def describe(self) -> str:
        where = f"s3://{self._bucket}/{self._prefix}"
        details = [f"endpoint {self._endpoint}"] if self._custom_endpoint else []
        if self._encryption:
            details.append(f"server-side encryption {self._encryption}")
        return f"{where} ({', '.join(details)})" if details else where

    def locate(self, *, cluster: str, run_id: str, name: str, secret: bool = False) -> str:
        return self._location(
            self._prefix + backup_path(cluster=cluster, run_id=run_id, name=name, secret=secret)
        )

    def put(
        self, source: Path, *, cluster: str, run_id: str, name: str, sha256: str, secret: bool = False
    ) -> StoredFile:
        expected = checked_sha256(sha256)
        key = self._prefix + backup_path(cluster=cluster, run_id=run_id, name=name, secret=secret)
        location = self._location(key)
        doing = f"storing {source.name} at {location}"
        try:
            size = source.stat().st_size
        except OSError as exc:
            raise StoreError(f"{doing}: cannot read {source}: {exc.strerror}") from exc
        present = self._head(key, doing)
        if present is not None and self._already_stored(present, size, expected):
            return StoredFile(location, size, expected)
        upload = self._plan(source, size, expected, doing)
        extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256", "Metadata": upload.metadata}
        if self._encryption:
            extra["ServerSideEncryption"] = self._encryption
        transfer = TransferConfig(
            multipart_threshold=self._tuning.multipart_threshold,
            multipart_chunksize=upload.part_size,
            max_concurrency=self._tuning.max_concurrency,
            preferred_transfer_client="classic",
        )
        with self._translated(doing):
            self._client.upload_file(str(source), self._bucket, key, ExtraArgs=extra, Config=transfer)
        problem = self._check_upload(key, size, expected, upload.checksum, doing)
        if problem:
            with self._translated(f"{doing}: {problem}; removing the bad object"):
                self._client.delete_object(Bucket=self._bucket, Key=key)
            raise StoreError(f"{doing}: {problem}; the object was removed", retryable=True)
        return StoredFile(location, size, expected)

    def stat(self, location: str) -> StoredFile | None:
        head = self._head(self._key(location), f"checking {location}")
        if head is None:
            return None
        return StoredFile(location, head.get("ContentLength", 0), file_sha256(head))

    def fetch(self, location: str, destination: Path) -> StoredFile:
        key = self._key(location)
        doing = f"fetching {location} to {destination}"
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            with self._translated(doing):
                digest = write_file(self._read(key), destination)
        except OSError as exc:
            raise StoreError(f"{doing}: {exc.strerror or exc}") from exc
        return StoredFile(location, digest.size, digest.hexdigest())

    def delete(self, location: str) -> None:
        key = self._key(location)
        with self._translated(f"deleting {location}"):
            self._client.delete_object(Bucket=self._bucket, Key=key)

    # --- checks -----------------------------------------------------------------------------------------

    def _already_stored(self, head: HeadObjectOutputTypeDef, size: int, expected: str) -> bool:
        """Is the object there already, whole and as encrypted as asked (so a retried put sends nothing)?"""
        encrypted = not self._encryption or head.get("ServerSideEncryption") == self._encryption
        return encrypted and head.get("ContentLength") == size and file_sha256(head) == expected

    def _plan(self, source: Path, size: int, expected: str, doing: str) -> _Upload:
        part_size = part_size_for(size, self._tuning.part_size)
        if size < self._tuning.multipart_threshold:
            return _Upload(_base64_sha256(expected), {SHA256_METADATA: expected}, part_size)
        try:
            local = part_digests(source, part_size)
        except OSError as exc:
            raise StoreError(f"{doing}: cannot read {source}: {exc.strerror}") from exc
        if local.sha256 != expected:
            raise StoreError(
                f"{doing}: {source} has SHA-256 {local.sha256}, not {expected}: it changed or was damaged "
                "after it was copied off the master; nothing was uploaded",
                retryable=True,
            )
        metadata = {SHA256_METADATA: expected, COMPOSITE_METADATA: local.composite}
        return _Upload(local.composite, metadata, part_size)

    def _check_upload(self, key: str, size: int, expected: str, checksum: str, doing: str) -> str | None:
        """What is wrong with the object just uploaded, or None (see the module doc)."""
        head = self._head(key, doing)
        if head is None:
            return "the object is missing right after its upload"
        if head.get("ContentLength") != size:
            return f"S3 holds {head.get('ContentLength')} bytes, the file has {size}"
        if self._encryption and head.get("ServerSideEncryption") != self._encryption:
            found = head.get("ServerSideEncryption") or "none"
            return f"the object is not encrypted with {self._encryption} (S3 reports {found})"
        reported = head.get("ChecksumSHA256", "").partition("-")[0]
        if reported:
            if reported != checksum:
                return f"S3's SHA-256 checksum of the object is {reported}, the file's is {checksum}"
            return None
        # This endpoint keeps no SHA-256 checksum: read the object back.
        digest = Sha256Digest()
        with self._translated(f"{doing}: reading it back to verify it"):
            for chunk in self._read(key):
                digest.update(chunk)
        if digest.size != size or digest.hexdigest() != expected:
            return f"reading the object back gives SHA-256 {digest.hexdigest()}, not {expected}"
        return None

    # --- S3 calls ---------------------------------------------------------------------------------------

    def _head(self, key: str, doing: str) -> HeadObjectOutputTypeDef | None:
        """HEAD with checksums; None when the object is missing (after making sure the bucket is not)."""
        with self._translated(doing):
            try:
                return self._client.head_object(Bucket=self._bucket, Key=key, ChecksumMode="ENABLED")
            except ClientError as exc:
                if _status(exc) != 404:
                    raise
            # A HEAD has no body to say which is missing: the object, or the whole bucket.
            self._client.head_bucket(Bucket=self._bucket)
        return None

    def _read(self, key: str) -> Iterator[bytes]:
        """The object's bytes as they arrive (other errors are left to :meth:`_translated`)."""
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404"}:
                raise StoreError(f"{self._location(key)} does not exist (deleted, or never stored)") from exc
            raise
        body = response["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    @contextlib.contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """botocore's and s3transfer's errors, as a StoreError saying what to check."""
        try:
            yield
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise self._failure(exc, doing) from exc

    def _failure(self, exc: BaseException, doing: str) -> StoreError:
        where = f"bucket {self._bucket!r} at {self._endpoint}"
        error = _client_error(exc)
        if error is not None:
            code = _code(error)
            status = _status(error)
            said = error.response.get("Error", {}).get("Message") or ""
            if code == "NoSuchBucket" or (status == 404 and "Bucket" in error.operation_name):
                return StoreError(
                    f"{doing}: the bucket {self._bucket!r} does not exist at {self._endpoint}; check "
                    "`bucket`, `endpoint_url` and `region` of the backup store in the clusters file"
                )
            if code in _BAD_CREDENTIALS:
                return StoreError(
                    f"{doing}: {self._endpoint} rejected the credentials ({code}); check the bot's "
                    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or its AWS profile) and `region`"
                )
            if code in _DENIED or status == 403:
                return StoreError(
                    f"{doing}: access denied to {where} ({code or status}); the credentials need "
                    "s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket there (S3 also says "
                    "403 for a missing object without s3:ListBucket), and kms:GenerateDataKey/kms:Decrypt "
                    "when the bucket uses aws:kms"
                )
            retryable = status >= 500 or code in _TRANSIENT
            return StoreError(
                f"{doing}: S3 answered {code or status} {_scrub(said)} ({where})", retryable=retryable
            )
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return StoreError(
                f"{doing}: no usable AWS credentials for {where}; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or a web identity) in the bot's environment"
            )
        if isinstance(exc, SSLError):
            return StoreError(
                f"{doing}: TLS with {self._endpoint} failed; check its certificate and the CA bundle "
                "(AWS_CA_BUNDLE)",
                retryable=True,
            )
        if isinstance(exc, EndpointUnreachable | HTTPClientError):
            return StoreError(
                f"{doing}: cannot reach {where} ({_scrub(str(exc))}); check `endpoint_url` and `region`, "
                "the network and any proxy (HTTPS_PROXY, NO_PROXY)",
                retryable=True,
            )
        return StoreError(f"{doing}: {_scrub(str(exc))} ({where})", retryable=True)

    # --- names ------------------------------------------------------------------------------------------

    def _location(self, key: str) -> str:
        return f"s3://{self._bucket}/{key}"

    def _key(self, location: str) -> str:
        """The key a location names, refused unless it is under this store's bucket and prefix."""
        head = f"s3://{self._bucket}/{self._prefix}"
        if not location.startswith(head) or location == head:
            raise StoreError(f"{location} is not in this backup store ({self.describe()})")
        return location.removeprefix(f"s3://{self._bucket}/")


def _client_error(exc: BaseException) -> ClientError | None:
    """The ClientError behind ``exc`` (s3transfer wraps it in S3UploadFailedError)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
