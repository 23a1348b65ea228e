"""Ingest from buckets on real protocol servers on loopback: moto (S3) and the GCS emulator."""

from __future__ import annotations

import uuid

import pytest

from hub.crypto import credentials_encrypt
from hub.models import Project
from ingest.models import EventFile, Run, Source
from panels import selectors
from tests.ingest.drive import ingest_all
from tests.ingest.test_services import record, scalar_event, version_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cloud]


def _points(run: Run) -> list[tuple[int, float]]:
    d = selectors.scalar_series_read(series=selectors.series_get(run=run, tag="x", kind="scalar"))
    return list(zip(d.steps.tolist(), d.values.tolist(), strict=True))


def _exercise(source: Source, put) -> None:  # type: ignore[no-untyped-def]
    body = record(version_event()) + b"".join(
        record(scalar_event("x", i, float(i))) for i in range(20)
    )
    put("exp/a/events.out.tfevents.1.h", body)
    put("exp/b/events.out.tfevents.1.h", body[: len(body) - 5])  # last record still being written
    ingest_all(source)
    a = Run.objects.get(source=source, name="a")
    b = Run.objects.get(source=source, name="b")
    assert _points(a) == [(i, float(i)) for i in range(20)]
    assert _points(b) == [(i, float(i)) for i in range(19)]
    # "Appending" to an object means rewriting it: only the new bytes are read (range read).
    more = body + b"".join(record(scalar_event("x", i, float(i))) for i in range(20, 25))
    put("exp/b/events.out.tfevents.1.h", more)
    ingest_all(source)
    assert _points(b) == [(i, float(i)) for i in range(25)]
    ef = EventFile.objects.get(run=b)
    assert ef.offset == ef.size == len(more)
    source.refresh_from_db()
    assert source.status == "ok"


def test_s3_source_ingests_incrementally(moto_server: str) -> None:
    import s3fs

    bucket = f"tb-{uuid.uuid4().hex[:10]}"
    admin = s3fs.S3FileSystem(
        key="testing", secret="testing", endpoint_url=moto_server, skip_instance_cache=True
    )
    admin.mkdir(bucket)
    project = Project.objects.create(slug="s3", name="S3")
    source = Source.objects.create(
        project=project,
        url=f"s3://{bucket}/exp",
        options={"endpoint_url": moto_server, "region": "us-east-1"},
        credentials_encrypted=credentials_encrypt({"key": "testing", "secret": "testing"}),
    )
    _exercise(source, lambda rel, data: admin.pipe(f"{bucket}/{rel}", data))


def test_gcs_source_ingests_incrementally(gcs_emulator: str) -> None:
    import gcsfs

    bucket = f"tb-{uuid.uuid4().hex[:10]}"
    admin = gcsfs.GCSFileSystem(
        project="test", token="anon", endpoint_url=gcs_emulator, skip_instance_cache=True
    )
    admin.mkdir(bucket)
    project = Project.objects.create(slug="gcs", name="GCS")
    source = Source.objects.create(
        project=project,
        url=f"gs://{bucket}/exp",
        options={"endpoint_url": gcs_emulator, "project": "test", "anon": True},
    )
    _exercise(source, lambda rel, data: admin.pipe(f"{bucket}/{rel}", data))


def test_s3_wrong_credentials_become_source_status(moto_server: str) -> None:
    project = Project.objects.create(slug="bad", name="Bad")
    source = Source.objects.create(
        project=project,
        url="s3://no-such-bucket-here/x",
        options={"endpoint_url": moto_server, "region": "us-east-1"},
        credentials_encrypted=credentials_encrypt({"key": "testing", "secret": "wrong-secret-123"}),
    )
    ingest_all(source)
    source.refresh_from_db()
    assert source.status == "error"
    assert "no such bucket" in source.status_message
    assert "wrong-secret-123" not in source.status_message
