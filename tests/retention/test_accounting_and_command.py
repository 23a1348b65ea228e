"""Storage accounting on data ingested from real event files, and `tbhub manage retention_run`."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from hub.models import AuditEvent
from hub.services import retention_policy_update
from ingest import retention
from ingest.models import GraphBlob, HistogramPoint, ImagePoint, Run, Series, TextPoint
from tests.retention.helpers import NOW, age, ingest_all, make_source, write_mixed

pytestmark = pytest.mark.django_db(transaction=True)


def write_graph(logdir: Path) -> bytes:
    from tensorboard.compat.proto import event_pb2, graph_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    graph = graph_pb2.GraphDef()
    for i in range(20):
        node = graph.node.add(name=f"layer_{i}/MatMul", op="MatMul")
        if i:
            node.input.append(f"layer_{i - 1}/MatMul")
    data = graph.SerializeToString()
    w = EventFileWriter(str(logdir), filename_suffix=".graph")
    w.add_event(event_pb2.Event(wall_time=NOW.timestamp(), graph_def=data))
    w.close()
    return data


def test_accounting_by_kind(tmp_path: Path) -> None:
    write_mixed(tmp_path / "a", steps=40)
    write_mixed(tmp_path / "b", steps=10)
    graph = write_graph(tmp_path / "a")
    source = make_source(str(tmp_path))
    ingest_all(source)
    got = retention.storage_by_project(project_ids=[source.project_id])[source.project_id]
    points = Series.objects.filter(kind="scalar").aggregate(n=Sum("count"))["n"]
    assert points == 50
    assert got["scalars"] == points * 20  # float32: 8 step + 8 wall time + 4 value
    assert got["images"] == ImagePoint.objects.aggregate(b=Sum("size"))["b"] > 0
    hist = sum(len(bytes(h.buckets)) + 72 for h in HistogramPoint.objects.all())
    assert got["histograms"] == hist > 0
    text = sum(sum(len(v) for v in t.values) + 32 for t in TextPoint.objects.all())
    assert got["text"] == text > 0
    assert got["graphs"] == len(graph) == sum(len(bytes(g.data)) for g in GraphBlob.objects.all())
    assert got["tensors"] == 0
    assert got["total"] == sum(got[k] for k in retention.STORAGE_KINDS)
    per_run = retention.run_stored_bytes(run_ids=list(Run.objects.values_list("id", flat=True)))
    assert sum(per_run.values()) == got["total"]
    # Deleting a run's data takes exactly its share off the project.
    a = Run.objects.get(name="a")
    freed = retention.run_data_drop(run_id=a.pk, reason="owner")
    assert freed == per_run[a.pk]
    assert retention.project_stored_bytes(project_id=source.project_id) == got["total"] - freed


def test_retention_run_command(tmp_path: Path) -> None:
    for name in ("old", "new"):
        write_mixed(tmp_path / name)
    source = make_source(str(tmp_path))
    ingest_all(source)
    old = Run.objects.get(name="old")
    age(old, 45)
    size = retention.run_stored_bytes(run_ids=[old.pk])[old.pk]
    out = io.StringIO()
    call_command("retention_run", "--dry-run", stdout=out)
    assert "no project has a retention policy" in out.getvalue()
    retention_policy_update(project=None, user=None, values={"idle_days": 30})

    out = io.StringIO()
    call_command("retention_run", "--dry-run", "--project", "p", "--verbose-runs", stdout=out)
    text = out.getvalue()
    assert "dry run" in text and "1 idle run(s) emptied" in text
    assert f"({size} bytes) freed" in text and "- old (#" in text
    assert Run.objects.get(pk=old.pk).data_deleted_at is None

    out = io.StringIO()
    call_command("retention_run", "--batch", "1", stdout=out)
    text = out.getvalue()
    assert "p: 1 idle run(s) emptied" in text and f"({size} bytes) freed" in text
    old.refresh_from_db()
    assert old.data_deleted_reason == "retention"
    event = AuditEvent.objects.get(action="retention.run")
    assert event.via == "cli" and event.details["bytes_freed"] == size
    json.dumps(event.details)

    # An operator's run is recorded even when there is nothing to do.
    call_command("retention_run", "--project", "p", stdout=io.StringIO())
    assert AuditEvent.objects.filter(action="retention.run", via="cli").count() == 2
    with pytest.raises(CommandError):
        call_command("retention_run", "--project", "nope")
    with pytest.raises(CommandError):
        call_command("retention_run", "--batch", "0")
    assert NOW - timedelta(days=1) < old.data_deleted_at
