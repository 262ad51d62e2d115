"""The ``s3_endpoint`` fixture serves a real S3 API that s3fs can round-trip data through."""

from __future__ import annotations

import os

import pytest
import s3fs

from tests.support.s3server import S3Endpoint, s3_endpoint  # noqa: F401  (fixture)

pytestmark = pytest.mark.s3


def test_round_trips_a_3mb_object(s3_endpoint: S3Endpoint) -> None:  # noqa: F811
    fs = s3fs.S3FileSystem(**s3_endpoint.storage_options(), skip_instance_cache=True)
    payload = os.urandom(3 * 1024 * 1024)
    path = f"{s3_endpoint.bucket}/fixture-check/payload.bin"

    fs.pipe(path, payload)
    try:
        assert fs.cat(path) == payload
        assert fs.info(path)["size"] == len(payload)
        assert fs.ls(f"{s3_endpoint.bucket}/fixture-check") == [path]
    finally:
        fs.rm(path)
    assert not fs.exists(path)
