"""deploy/prometheus/: every rule parses as PromQL and names only metrics that /metrics serves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests import factories

PROM = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
METRIC = re.compile(r"\b(tbhub_[a-z0-9_]+)\b")


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_rules_parse_as_promql() -> None:
    assert rules()
    for rule in rules():
        assert ("alert" in rule) != ("record" in rule), rule
        promql_parser.parse(rule["expr"])  # raises ValueError on a syntax error
        if "alert" in rule:
            assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]


def test_the_parser_rejects_broken_promql() -> None:
    with pytest.raises(ValueError, match="parenthesis"):
        promql_parser.parse("sum by (project (tbhub_runs)")


def test_rules_only_name_served_metrics(db: Any) -> None:
    project = factories.project(slug="p")
    source = factories.source(project=project)
    source.last_listed_at = timezone.now()
    source.save(update_fields=["last_listed_at"])
    factories.event_file(run=factories.run(source=source))
    body = Client().get("/metrics").content.decode()
    served = {
        sample.name for family in text_string_to_metric_families(body) for sample in family.samples
    }
    for rule in rules():
        for name in METRIC.findall(rule["expr"]):
            assert name in served, f"{rule.get('alert') or rule.get('record')}: {name}"


def test_scrape_config() -> None:
    conf = yaml.safe_load((PROM / "prometheus.yml").read_text())
    (job,) = conf["scrape_configs"]
    assert job["job_name"] == "tbhub"  # the alerts' up{job="tbhub"}
    assert job["metrics_path"] == "/metrics"
    assert conf["rule_files"] == ["alerts.yml"]
    assert job["static_configs"][0]["targets"] == ["tbhub-web.tbhub.svc:80"]
