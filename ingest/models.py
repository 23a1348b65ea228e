"""The ingest store: sources, runs, event files and every stored summary.

Documented in docs/ARCHITECTURE.md#store. Data enters these tables only through
`ingest.services` / `ingest.store` and leaves only through `panels.selectors`.

Layout choices, in short:
- Scalars are kept at full resolution as per-series chunks of columnar little-endian arrays
  (`ScalarChunk`): one row per up to CHUNK_POINTS points, not one row per point. Each chunk keeps
  its step/wall/value extents so range queries and downsampled views skip what they do not need.
- Histograms, images, text and other tensors are one row per event (they are far fewer).
- Every data row carries `seq`, its position in load order within the series, because TensorBoard
  serves events in load order (steps may repeat or go backwards).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce

from hub.models import Project


class SourceStatus(models.TextChoices):
    PENDING = "pending", "waiting for first scan"
    OK = "ok", "ok"
    DEGRADED = "degraded", "degraded (retrying)"
    ERROR = "error", "error"


class Source(models.Model):
    """A log directory (local path, s3:// or gs:// URL) that a project reads from."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="sources")
    url = models.TextField()
    options = models.JSONField(default=dict, blank=True)
    # Fernet token of a JSON object; write-only everywhere (see hub.crypto, issue #3).
    credentials_encrypted = models.BinaryField(null=True, blank=True, editable=False)
    status = models.CharField(
        max_length=16, choices=SourceStatus.choices, default=SourceStatus.PENDING
    )
    status_message = models.TextField(blank=True, default="")
    consecutive_failures = models.IntegerField(default=0)
    last_listed_at = models.DateTimeField(null=True, blank=True)
    next_list_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        indexes = [models.Index(fields=["next_list_at"])]

    def __str__(self) -> str:
        return self.url

    @property
    def is_remote(self) -> bool:
        return self.url.startswith(("s3://", "gs://", "gcs://"))


class DataDeletedReason(models.TextChoices):
    OWNER = "owner", "deleted by an owner"
    RETENTION = "retention", "retention: no new events"
    QUOTA = "quota", "retention: project over its storage cap"


class Run(models.Model):
    """A directory directly holding event files, named by its path relative to the source root."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="runs")
    name = models.TextField()
    # TensorBoard semantics: start time is the wall time of the first event read.
    start_time = models.FloatField(null=True, blank=True)
    last_wall_time = models.FloatField(null=True, blank=True)
    last_step = models.BigIntegerField(null=True, blank=True)
    # Loader state that must survive restarts to reproduce TensorBoard's purge semantics.
    file_version = models.FloatField(null=True, blank=True)
    seen_session_start = models.BooleanField(default=False)
    most_recent_step = models.BigIntegerField(null=True, blank=True)
    # Bumped on every commit; part of every cache key, so caches never serve stale data.
    version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Scheduling: a run is "hot" until hot_until; leases make one worker at a time tail a run.
    hot_until = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    missing = models.BooleanField(default=False)
    # Some file of the run has bytes beyond its committed offset (kept in step by listings,
    # checks and tails, so the poller finds work with one indexed query).
    pending = models.BooleanField(default=False)
    # Set by users (issue #3/#5).
    hidden = models.BooleanField(default=False)
    note = models.TextField(blank=True, default="")
    # Stored data deleted by an owner or by retention (ingest/retention.py): the run's files are
    # FileState.DELETED and are not read again until an owner asks for a re-ingest.
    data_deleted_at = models.DateTimeField(null=True, blank=True)
    data_deleted_reason = models.CharField(
        max_length=16, choices=DataDeletedReason.choices, blank=True, default=""
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "name"], name="run_source_name")]
        indexes = [
            models.Index(fields=["hot_until"]),
            models.Index(fields=["pending"]),
        ]

    def __str__(self) -> str:
        return self.name


class FileState(models.TextChoices):
    OK = "ok", "ok"
    CORRUPT = "corrupt", "corrupt records skipped"
    STUCK = "stuck", "stopped at an unreadable record"
    MISSING = "missing", "missing"
    ERROR = "error", "read error"
    # The run's stored data was deleted (owner or retention): never read until a re-ingest.
    DELETED = "deleted", "data deleted; not read"


class EventFile(models.Model):
    """One `*tfevents*` file and how far it has been read (the committed byte offset)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="files")
    name = models.TextField()
    size = models.BigIntegerField(default=0)
    etag = models.CharField(max_length=200, blank=True, default="")
    mtime = models.FloatField(null=True, blank=True)
    # Everything before `offset` is stored; everything from it on is not (one transaction).
    offset = models.BigIntegerField(default=0)
    records = models.BigIntegerField(default=0)
    bad_records = models.IntegerField(default=0)
    bytes_skipped = models.BigIntegerField(default=0)
    # The size at which the last read stopped at an incomplete record (the writer is mid-write):
    # nothing to do until the size changes again.
    stalled_size = models.BigIntegerField(default=-1)
    state = models.CharField(max_length=16, choices=FileState.choices, default=FileState.OK)
    error = models.TextField(blank=True, default="")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_grown_at = models.DateTimeField(null=True, blank=True)
    last_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="file_run_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def pending_bytes(self) -> int:
        return max(0, self.size - self.offset)


class Kind(models.TextChoices):
    SCALAR = "scalar", "scalar"
    HISTOGRAM = "histogram", "histogram"
    IMAGE = "image", "image"
    TEXT = "text", "text"
    TENSOR = "tensor", "other tensor"
    # Tags of TF2 traces / Keras configs: their data are GraphBlob rows, the series only records
    # the classification so that later values without metadata are still recognised.
    GRAPH = "graph", "graph"


class Series(models.Model):
    """One time series (run x tag), classified once from the tag's first value, like TensorBoard."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="series")
    tag = models.TextField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    plugin = models.CharField(max_length=100, blank=True, default="")
    plugin_content = models.BinaryField(blank=True, default=b"")
    display_name = models.TextField(blank=True, default="")
    description = models.TextField(blank=True, default="")
    # Scalars: "float32" or "float64" (the widest value seen).
    dtype = models.CharField(max_length=16, blank=True, default="")
    count = models.BigIntegerField(default=0)
    next_seq = models.BigIntegerField(default=0)
    first_step = models.BigIntegerField(null=True, blank=True)
    last_step = models.BigIntegerField(null=True, blank=True)
    last_wall_time = models.FloatField(null=True, blank=True)
    # Images: the largest number of images one event carried (TensorBoard's `samples`).
    max_samples = models.IntegerField(default=0)
    stored_bytes = models.BigIntegerField(default=0)
    # Scalars: number of chunks (= the next chunk's seq) and points in the last one, so appends
    # know without a query whether the last chunk should be merged into.
    chunk_count = models.IntegerField(default=0)
    tail_points = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "tag"], name="series_run_tag")]
        indexes = [models.Index(fields=["run", "kind"])]

    def __str__(self) -> str:
        return f"{self.tag} ({self.kind})"


class ScalarChunk(models.Model):
    """Up to CHUNK_POINTS consecutive points of one scalar series as little-endian arrays."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="chunks")
    seq = models.IntegerField()
    count = models.IntegerField()
    min_step = models.BigIntegerField()
    max_step = models.BigIntegerField()
    min_wall = models.FloatField()
    max_wall = models.FloatField()
    # NULL when the chunk has no finite value.
    min_value = models.FloatField(null=True)
    max_value = models.FloatField(null=True)
    # "f4" or "f8": values keep their written precision (float32 widened exactly on output).
    dtype = models.CharField(max_length=2)
    steps = models.BinaryField()  # int64
    wall_times = models.BinaryField()  # float64
    values = models.BinaryField()  # float32 or float64
    # Min/max per block of SUMMARY_BLOCK points (ingest/summaries.py), so downsampled views of
    # long series read ~1/30 of the bytes. NULL for chunks written before summaries existed.
    summary = models.BinaryField(null=True, blank=True)
    # Retention downsampling watermark (wall time): every point older than this has already been
    # reduced to its buckets' first/last/min/max, so a later pass never reduces it again.
    reduced_before = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "seq"], name="scalarchunk_series_seq")
        ]

    def __str__(self) -> str:
        return f"{self.series_id}#{self.seq} ({self.count} points)"


class HistogramPoint(models.Model):
    """One histogram event: buckets as served plus the nine distribution percentiles."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="histograms")
    seq = models.BigIntegerField()
    step = models.BigIntegerField()
    wall_time = models.FloatField()
    # float64 array of shape (k, 3): left, right, count (legacy protos already rounded to float32).
    buckets = models.BinaryField()
    # float64 array of 9 values at basis points 0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000.
    percentiles = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["series", "seq"])]

    def __str__(self) -> str:
        return f"{self.series_id}@{self.step}"


class ImagePoint(models.Model):
    """One encoded image (PNG/JPEG/GIF bytes as written) of one event."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="images")
    seq = models.BigIntegerField()
    step = models.BigIntegerField()
    wall_time = models.FloatField()
    index = models.IntegerField()
    width = models.IntegerField()
    height = models.IntegerField()
    content_type = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64)
    size = models.IntegerField()
    data = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["series", "seq"])]

    def __str__(self) -> str:
        return f"{self.series_id}@{self.step}[{self.index}]"


class TextPoint(models.Model):
    """One text summary event: a DT_STRING tensor of any shape, as UTF-8 strings."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="texts")
    seq = models.BigIntegerField()
    step = models.BigIntegerField()
    wall_time = models.FloatField()
    shape = models.JSONField(default=list)
    values = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["series", "seq"])]

    def __str__(self) -> str:
        return f"{self.series_id}@{self.step}"


class TensorPoint(models.Model):
    """Any other plugin's tensor (hparams, pr_curves, audio, ...), kept as the TensorProto bytes."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="tensors")
    seq = models.BigIntegerField()
    step = models.BigIntegerField()
    wall_time = models.FloatField()
    dtype = models.IntegerField()
    shape = models.JSONField(default=list)
    tensor = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["series", "seq"])]

    def __str__(self) -> str:
        return f"{self.series_id}@{self.step}"


class GraphKind(models.TextChoices):
    GRAPH_DEF = "graph_def", "GraphDef"
    META_GRAPH_DEF = "meta_graph_def", "MetaGraphDef"
    RUN_METADATA = "run_metadata", "tagged RunMetadata"
    TRACE = "trace", "TF2 trace (graph_run_metadata)"
    KERAS = "keras", "Keras model config"


class GraphBlob(models.Model):
    """A run's graph and its tagged run metadata, serialized as written."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="graphs")
    kind = models.CharField(max_length=16, choices=GraphKind.choices)
    tag = models.TextField(blank=True, default="")
    seq = models.BigIntegerField()
    step = models.BigIntegerField()
    wall_time = models.FloatField()
    node_count = models.IntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField()

    class Meta:
        indexes = [models.Index(fields=["run", "kind", "seq"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.tag}@{self.step}"


class RetentionPolicy(models.Model):
    """What tbhub keeps (ingest/retention.py; docs/RETENTION.md). Edited by admins only.

    One global row (project NULL) holds the defaults; a project row overrides them field by
    field. On the global row NULL means "no limit". On a project row NULL means "use the global
    value" and 0 means "no limit for this project". Retention only ever deletes from tbhub's
    store, never from a source.
    """

    project = models.OneToOneField(
        Project,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="retention_policy",
    )
    # (1) Drop the stored data of runs that received no new events for this many days.
    idle_days = models.PositiveIntegerField(null=True, blank=True)
    # (2) Keep at most this many image events (steps) per run and tag, the newest.
    max_images_per_tag = models.PositiveIntegerField(null=True, blank=True)
    # (3) Downsample scalar points older than this many days (event wall time) ...
    downsample_after_days = models.PositiveIntegerField(null=True, blank=True)
    # ... to the first, last, min and max of each bucket of this many points.
    downsample_bucket = models.PositiveIntegerField(null=True, blank=True)
    # (4) Cap on the project's stored bytes.
    max_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = "retention policy"
        verbose_name_plural = "retention policies"
        constraints = [
            # One row per project and exactly one global row (NULLs are distinct otherwise).
            models.UniqueConstraint(
                Coalesce("project", models.Value(0), output_field=models.BigIntegerField()),
                name="retention_one_per_scope",
            )
        ]

    def __str__(self) -> str:
        return f"retention: {self.project.slug}" if self.project else "retention: global"
