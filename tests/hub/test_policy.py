"""Source policy: accepted URL kinds, local roots after `..` and symlinks, endpoint allow-list.

Forbidden hosts are played by loopback addresses (127.0.0.2, 127.0.0.3): never a private,
link-local or public address.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hub.policy import PolicyError, source_validate


@pytest.fixture
def root(tmp_path: Path, settings: Any) -> Path:
    r = tmp_path / "allowed"
    (r / "team" / "exp1").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    settings.TBHUB_LOCAL_ROOTS = [str(r)]
    settings.TBHUB_ALLOWED_ENDPOINTS = [
        "http://127.0.0.1:9000",
        "https://127.0.0.1:9443/minio",
        "http://localhost:9100/",
    ]
    return r


def reject(message_part: str, **kwargs: Any) -> None:
    with pytest.raises(PolicyError) as info:
        source_validate(**kwargs)
    assert message_part in info.value.message, info.value.message


# ---- URL kinds ---------------------------------------------------------------------------------


def test_buckets_are_normalised(root: Path) -> None:
    assert source_validate(url="s3://team-logs/exp//a/").url == "s3://team-logs/exp/a"
    assert source_validate(url="s3://team-logs").url == "s3://team-logs"
    assert source_validate(url="gs://team_logs.v2/x").url == "gs://team_logs.v2/x"
    assert source_validate(url="  s3://abc/x  ").url == "s3://abc/x"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc",
        "file://" + "/tmp",
        "http://127.0.0.2/logs",
        "https://127.0.0.2/logs",
        "memory://logs",
        "ftp://127.0.0.2/logs",
        "gcs://bucket/logs",
        "S3://bucket/logs",
        "hdfs://127.0.0.2/x",
        "zip://a.zip",
        "simplecache::s3://bucket/x",
        "s3://bucket/x::memory://y",
        "blockcache::file:///etc",
        "relative/path",
        "~/logs",
        "",
        "   ",
        "c:\\windows",
        "data:text/plain,abc",
    ],
)
def test_only_s3_gs_and_absolute_paths(root: Path, url: str) -> None:
    with pytest.raises(PolicyError):
        source_validate(url=url)


def test_rejections_read_well(root: Path) -> None:
    reject("not accepted", url="memory://x")
    reject("chained URLs", url="simplecache::s3://bucket/x")
    reject("use gs://", url="gcs://bucket/x")
    reject("not a valid bucket name", url="s3://ab/x")  # 2 characters
    reject("not a valid bucket name", url="s3://Bucket/x")
    reject("'..' segments", url="s3://bucket/a/../b")
    reject("url must be a string", url=["s3://bucket"])
    reject("control characters", url="s3://bucket/a\nb")


# ---- local roots ---------------------------------------------------------------------------------


def test_local_paths_under_a_root(root: Path) -> None:
    assert source_validate(url=str(root / "team")).url == str(root / "team")
    assert source_validate(url=str(root)).url == str(root)
    # Need not exist yet: creating a source never touches the disk beyond resolving links.
    assert source_validate(url=str(root / "later")).url == str(root / "later")
    # '..' that stays inside is fine, and is stored resolved.
    assert source_validate(url=f"{root}/team/../team/exp1").url == str(root / "team" / "exp1")


def test_dotdot_escaping_the_root(root: Path) -> None:
    reject("outside", url=f"{root}/../outside")
    reject("outside", url=f"{root}/team/../../outside")
    reject("outside", url="/etc")
    reject("outside", url="/")
    # A sibling whose name merely starts with the root's name is not inside it.
    sibling = Path(str(root) + "2")
    sibling.mkdir()
    reject("outside", url=str(sibling))


def test_symlinks_escaping_the_root(root: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path / "outside", root / "escape")
    reject("outside", url=str(root / "escape"))
    reject("outside", url=str(root / "escape" / "deeper"))
    os.symlink("/etc", root / "team" / "etc")
    reject("outside", url=str(root / "team" / "etc"))
    # A symlink that stays inside the root resolves to its target, which is stored.
    os.symlink(root / "team" / "exp1", root / "alias")
    assert source_validate(url=str(root / "alias")).url == str(root / "team" / "exp1")


def test_a_symlinked_root_is_resolved_too(tmp_path: Path, settings: Any) -> None:
    real = tmp_path / "real"
    (real / "x").mkdir(parents=True)
    os.symlink(real, tmp_path / "link")
    settings.TBHUB_LOCAL_ROOTS = [str(tmp_path / "link")]
    assert source_validate(url=str(tmp_path / "link" / "x")).url == str(real / "x")
    assert source_validate(url=str(real / "x")).url == str(real / "x")


def test_no_roots_means_no_local_sources(settings: Any) -> None:
    settings.TBHUB_LOCAL_ROOTS = []
    reject("TBHUB_LOCAL_ROOTS", url="/tmp")


def test_local_sources_take_no_options_or_credentials(root: Path) -> None:
    reject("unknown option", url=str(root), options={"endpoint_url": "http://127.0.0.1:9000"})
    reject("no credentials", url=str(root), credentials={"key": "a", "secret": "b"})


# ---- endpoints -----------------------------------------------------------------------------------


def ok_endpoint(endpoint: str) -> str:
    return str(
        source_validate(url="s3://bucket/x", options={"endpoint_url": endpoint}).options[
            "endpoint_url"
        ]
    )


def test_allowed_endpoints_match_exactly(root: Path) -> None:
    assert ok_endpoint("http://127.0.0.1:9000") == "http://127.0.0.1:9000"
    assert ok_endpoint("http://127.0.0.1:9000/") == "http://127.0.0.1:9000"
    assert ok_endpoint("HTTP://127.0.0.1:9000") == "HTTP://127.0.0.1:9000"
    assert ok_endpoint("https://127.0.0.1:9443/minio") == "https://127.0.0.1:9443/minio"
    assert (
        ok_endpoint("https://127.0.0.1:9443/minio/tenant") == "https://127.0.0.1:9443/minio/tenant"
    )
    assert ok_endpoint("http://localhost:9100") == "http://localhost:9100"
    assert ok_endpoint("http://LOCALHOST:9100") == "http://LOCALHOST:9100"


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        ("http://127.0.0.2:9000", "not one of the endpoints"),  # another host
        ("http://127.0.0.1:9001", "not one of the endpoints"),  # another port
        ("http://127.0.0.1", "not one of the endpoints"),  # default port 80 != 9000
        ("https://127.0.0.1:9000", "not one of the endpoints"),  # another scheme
        ("https://127.0.0.1:9443", "not one of the endpoints"),  # missing the path prefix
        ("https://127.0.0.1:9443/minio2", "not one of the endpoints"),  # prefix, not a segment
        ("https://127.0.0.1:9443/other/minio", "not one of the endpoints"),
        ("https://127.0.0.1:9443/minio/../admin", "'..'"),
        ("https://127.0.0.1:9443/minio/%2e%2e/admin", "percent-escapes"),
        ("http://user:pw@127.0.0.1:9000", "user-info"),
        ("http://user@127.0.0.1:9000", "user-info"),
        ("http://127.0.0.1:9000@127.0.0.2:9000", "user-info"),
        ("http://127.0.0.1:9000?x=1", "query"),
        ("http://127.0.0.1:9000#frag", "query or fragment"),
        ("ftp://127.0.0.1:9000", "http:// or https://"),
        ("127.0.0.1:9000", "http:// or https://"),
        ("file:///etc", "http:// or https://"),
        ("http://127.0.0.1:99999", "invalid port"),
        ("http://2130706433:9000", "not one of the endpoints"),  # 127.0.0.1 in another spelling
        ("http://127.1:9000", "not one of the endpoints"),
        ("http://127.0.0.1.:9000", "not one of the endpoints"),
        ("http://[::1]:9000", "not one of the endpoints"),
        ("http:/\\127.0.0.2:9000", "backslashes"),
        ("http://127.0.0.1:9000 http://127.0.0.2", "spaces"),
    ],
)
def test_forbidden_endpoints(root: Path, endpoint: str, why: str) -> None:
    reject(why, url="s3://bucket/x", options={"endpoint_url": endpoint})


def test_no_allowed_endpoints_means_none(root: Path, settings: Any) -> None:
    settings.TBHUB_ALLOWED_ENDPOINTS = []
    reject(
        "not one of the endpoints",
        url="s3://bucket/x",
        options={"endpoint_url": "http://127.0.0.1:9000"},
    )


def test_gcs_endpoint_follows_the_same_rules(root: Path) -> None:
    ok = source_validate(url="gs://bucket/x", options={"endpoint_url": "http://127.0.0.1:9000"})
    assert ok.options == {"endpoint_url": "http://127.0.0.1:9000"}
    reject(
        "not one of the endpoints",
        url="gs://bucket/x",
        options={"endpoint_url": "http://127.0.0.2:9000"},
    )


# ---- options and credentials ------------------------------------------------------------------


def test_options_and_credentials_shapes(root: Path) -> None:
    v = source_validate(
        url="s3://bucket/x",
        options={"region": "eu-west-1", "anon": False, "endpoint_url": ""},
        credentials={"key": "AKIA", "secret": "s3cr3t"},
    )
    assert v.options == {"region": "eu-west-1"}
    assert v.credentials == {"key": "AKIA", "secret": "s3cr3t"}
    v = source_validate(url="gs://bucket/x", options={"project": "my-proj", "anon": True})
    assert v.options == {"project": "my-proj", "anon": True}
    sa = '{"type": "service_account", "client_email": "a@b"}'
    v = source_validate(url="gs://bucket/x", credentials={"service_account_json": sa})
    assert v.credentials["service_account_json"]
    reject("unknown option 'project'", url="s3://bucket/x", options={"project": "p"})
    reject("unknown option 'region'", url="gs://bucket/x", options={"region": "r"})
    reject("options must be a JSON object", url="s3://bucket/x", options=["a"])
    reject("anon must be true or false", url="s3://bucket/x", options={"anon": "yes"})
    reject("not a valid region", url="s3://bucket/x", options={"region": "../../x"})
    reject("both 'key' and 'secret'", url="s3://bucket/x", credentials={"key": "AKIA"})
    reject("unknown credential", url="s3://bucket/x", credentials={"password": "x"})
    reject(
        "service account key", url="gs://bucket/x", credentials={"service_account_json": "not json"}
    )
    reject(
        "cannot be combined",
        url="s3://bucket/x",
        options={"anon": True},
        credentials={"key": "a", "secret": "b"},
    )


def test_errors_never_echo_credentials(root: Path) -> None:
    secret = "VERY-SECRET-VALUE-123"
    cases = [
        {"url": "s3://bucket/x", "credentials": {"key": secret}},
        {"url": "s3://bucket/x", "credentials": {"key": secret, "secret": 5}},
        {"url": "gs://bucket/x", "credentials": {"service_account_json": secret}},
        {"url": "s3://bucket/x", "credentials": {secret: "x"}},
    ]
    for case in cases:
        with pytest.raises(PolicyError) as info:
            source_validate(**case)
        assert secret not in info.value.message


def test_startup_check_reports_bad_settings(settings: Any) -> None:
    from hub.checks import source_policy_check

    settings.TBHUB_ALLOWED_ENDPOINTS = [
        "http://127.0.0.1:9000",
        "ftp://127.0.0.2",
        "http://u:p@127.0.0.1",
    ]
    settings.TBHUB_LOCAL_ROOTS = ["/srv/logs", "relative/logs"]
    ids = [w.id for w in source_policy_check()]
    assert ids == ["hub.W001", "hub.W001", "hub.W002"]
