"""A real S3 endpoint for tests: moto's standalone server in a subprocess, spoken to over HTTP.

The S3 store is tested against a server on a socket, so boto3, botocore's retries and checksums and
s3transfer's multipart uploads run exactly as in production; nothing in boto3 is patched. Each test gets
a bucket of its own on one server per module (the server takes a couple of seconds to start).

    with moto_server(tmp_path) as s3:
        bucket = s3.new_bucket()
        for name, value in s3.environment().items():
            monkeypatch.setenv(name, value)
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3

from tests.ports import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HOST = "127.0.0.1"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class MotoS3:
    """A running moto server: where it listens and the (fake) credentials it accepts."""

    url: str
    region: str = "us-east-1"
    access_key: str = "etcdops-test-access-key"
    secret_key: str = "etcdops-test-secret-key"

    def environment(self) -> dict[str, str]:
        """AWS variables for code that finds credentials the standard way (as the store does), with
        nothing read from the machine's own AWS files or instance metadata."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": f"{HOST},localhost",
            "no_proxy": f"{HOST},localhost",
        }

    def client(self) -> S3Client:
        """A plain boto3 client with explicit credentials: for looking at objects, or damaging them."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def new_bucket(self, *, versioned: bool = False) -> str:
        name = f"etcdops-{uuid.uuid4().hex[:16]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _start(log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server on a free port; another process may take the port first, so try a few."""
    for _ in range(3):
        port = free_port(HOST)
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if _listening(port):
                return process, port
            time.sleep(0.1)
        _stop(process)
    raise RuntimeError(f"moto's server did not start; see {log}")


@contextlib.contextmanager
def moto_server(folder: Path) -> Iterator[MotoS3]:
    """moto's S3 on a free local port for the duration of the block (its log in ``folder/moto.log``)."""
    process, port = _start(folder / "moto.log")
    try:
        yield MotoS3(url=f"http://{HOST}:{port}")
    finally:
        _stop(process)
