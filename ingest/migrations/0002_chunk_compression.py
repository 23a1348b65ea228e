"""Scalar chunk columns: LZ4 TOAST compression on PostgreSQL.

pglz (the default) costs more CPU than the whole decoder on bulk ingest; LZ4 is several times
faster and still shrinks step columns (regular int64 runs) well. Servers built without LZ4 keep
pglz. SQLite (embedded) has no such setting.
"""

from django.db import migrations

COLUMNS = ("steps", "wall_times", "values")


def lz4(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        )
        if not cur.fetchone()[0]:
            return
        for table, cols in (
            ("ingest_scalarchunk", COLUMNS),
            ("ingest_histogrampoint", ("buckets",)),
        ):
            for col in cols:
                cur.execute(f'ALTER TABLE {table} ALTER COLUMN "{col}" SET COMPRESSION lz4')


class Migration(migrations.Migration):
    dependencies = [("ingest", "0001_initial")]
    operations = [migrations.RunPython(lz4, migrations.RunPython.noop)]
