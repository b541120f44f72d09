"""The KYC round trip with the cloud providers: AWS KMS wraps the data keys and signs audit
checkpoints, S3 holds the (encrypted) files. moto stands in for AWS in-process; fake
credentials mean nothing can reach the real AWS."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import select

from rodistaa.acs.audit import create_checkpoint, verify_chain
from rodistaa.core.roles import Role
from rodistaa.db import migrate
from rodistaa.db.tables import user_data_keys
from tests.api.flows import sign_up
from tests.api.kyc_flows import aadhaar_number, kyc_admin_session, png_file, upload_document, verify_document
from tests.conftest import make_settings, running_app
from tests.databases import fresh_database

REGION = "ap-south-1"
BUCKET = "rodistaa-kyc-test"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            kms = boto3.client("kms", region_name=REGION)
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
            wrapping = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")
            signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
            yield {
                "s3": s3,
                "settings": {
                    "kms_provider": "aws",
                    "aws_region": REGION,
                    "aws_kms_key_id": wrapping["KeyMetadata"]["Arn"],
                    "aws_kms_signing_key_id": signing["KeyMetadata"]["Arn"],
                    "storage_backend": "s3",
                    "s3_bucket": BUCKET,
                    "s3_region": REGION,
                },
            }


@pytest.fixture
def own_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: its audit checkpoints are signed by (moto's) AWS KMS,
    which the session database's local-KMS checkpoints must never be mixed with."""
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        yield url


async def test_upload_verify_decrypt_round_trip_on_aws_kms_and_s3(
    own_database: str, aws: dict[str, Any]
) -> None:
    number = aadhaar_number()
    marker = b"CLOUD-ROUND-TRIP-MARKER"
    content = png_file(marker)
    async with running_app(make_settings(own_database, **aws["settings"])) as h:
        owner = await sign_up(h, "+919876543210", role=Role.OPERATOR)
        record = await upload_document(h, owner, "AADHAAR", number=number, content=content)
        reviewer = await kyc_admin_session(h)
        await verify_document(h, reviewer, record["id"])
        response = await h.client.post(
            "/v1/admin/kyc/decrypt",
            json={"kycId": record["id"], "purpose": "Periodic re-verification of operator identity"},
            headers=reviewer.headers,
        )
        assert response.status_code == 200, response.text
        decrypted = response.json()
        assert decrypted["documentNumber"] == number
        assert base64.b64decode(decrypted["fileBase64"]) == content

        # The data key is wrapped by AWS KMS, and S3 holds only ciphertext.
        async with h.app.state.services.db.read() as conn:
            wrapped = (await conn.execute(select(user_data_keys.c.wrapped_key))).scalars().all()
        assert wrapped and all(key.startswith("aws1:") for key in wrapped)
        objects = aws["s3"].list_objects_v2(Bucket=BUCKET)["Contents"]
        assert objects
        for item in objects:
            body = aws["s3"].get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            assert marker not in body and number.encode() not in body

        # Audit checkpoints are signed by the KMS signing key and verify.
        services = h.app.state.services
        checkpoint = await create_checkpoint(services.db, services.kms, now=services.clock.now())
        assert checkpoint is not None and checkpoint.key_ref == aws["settings"]["aws_kms_signing_key_id"]
        report = await verify_chain(services.db, services.kms)
        assert report.ok, report.detail
