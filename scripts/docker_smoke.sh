#!/usr/bin/env bash
# Build docker/Dockerfile for real with podman and run the image against this machine's
# PostgreSQL and Redis: `make docker-smoke` (minutes: it downloads and builds; not part of
# `make test`). docs/DEPLOY.md#building-and-running-the-image-here-podman records a run.
#
# Needs root, Debian bookworm's apt, PyPI and the npm registry; no container registry at all.
#
# What differs from `docker build` against Docker Hub: only the two base images, which are made
# here and passed through the Dockerfile's own build args (its defaults stay untouched):
#
#   PYTHON_IMAGE  localhost/tbhub-smoke/python:3.11-bookworm, instead of python:3.11-slim-bookworm:
#                 `mmdebstrap --variant=minbase` of bookworm plus Debian's python3 (3.11.2),
#                 python3-venv and python-is-python3. Python lives in /usr/bin (not /usr/local),
#                 `python -m venv` seeds pip from Debian's ensurepip wheel (pip 23.0.1), and this
#                 base is 225 MB, bigger than the official slim image (so is the result).
#   NODE_IMAGE    localhost/tbhub-smoke/node:20-bookworm, instead of node:22-bookworm-slim: the
#                 same rootfs plus the files of this machine's installed nodejs package
#                 (`dpkg -L nodejs`: nodesource 20.x, which Vite 8 accepts; bookworm's own nodejs
#                 is 18) and /usr/lib/node_modules as it is on disk (npm as upgraded here).
#   Both          trust the CA certificates this machine adds in /usr/local/share/ca-certificates
#                 (its HTTPS egress goes through an intercepting proxy); pip and npm are pointed
#                 at the system bundle with PIP_CERT / NODE_EXTRA_CA_CERTS in the base images,
#                 so these variables are also in the smoke image's environment. Nothing else.
#
# Container engine notes for this machine (a VM with hybrid cgroups v1+v2 and no
# CAP_SYS_RESOURCE): crun refuses hybrid cgroups, so runc is used; default ulimits above this
# shell's hard limits cannot be set (nor RLIMIT_NPROC at it: capped at 32768), so a private
# containers.conf (CONTAINERS_CONF; nothing system-wide is changed) sets them. runc puts the
# containers in cgroups under /libpod_parent (podman's default for the cgroupfs manager). Builds and runs use --network host
# (PyPI/npm while building; 127.0.0.1 PostgreSQL/Redis while running). Images are built in
# Docker format (`--format docker`): the OCI format has no HEALTHCHECK.
#
# Private state only: database tbhub_docker, Redis db 14 with keys under the prefix tbdock,
# containers named tbdock-*. All are removed at the end, also on failure (trap). Idempotent: a
# rerun starts from a fresh database and log directory. Images are kept for the layer cache
# (about 2.5 GB in /var/lib/containers with the stages) unless DOCKER_SMOKE_RMI=1.
#
# Environment: DOCKER_SMOKE_WORK (default /var/tmp/tbhub-docker-smoke: rootfs cache, logs, log
# directory), DOCKER_SMOKE_NO_CACHE=1 (build without the layer cache), DOCKER_SMOKE_REFRESH_BASE=1
# (remake the base images), DOCKER_SMOKE_RMI=1 (remove the images at the end),
# DOCKER_SMOKE_PORT (8099).
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${DOCKER_SMOKE_WORK:-/var/tmp/tbhub-docker-smoke}"
PORT="${DOCKER_SMOKE_PORT:-8099}"
IMAGE=localhost/tbhub:smoke
PY_BASE=localhost/tbhub-smoke/python:3.11-bookworm
NODE_BASE=localhost/tbhub-smoke/node:20-bookworm
DB=tbhub_docker
REDIS_DB=14
PREFIX=tbdock
SLUG=docker-smoke
CONTAINERS=(tbdock-web tbdock-worker tbdock-beat)
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres)
REDIS=(redis-cli -h 127.0.0.1 -p 6379 -n "$REDIS_DB")

say() { printf '\n== %s\n' "$*"; }
die() { printf 'docker_smoke: FAILED: %s\n' "$*" >&2; exit 1; }
PASSED=()
ok() { PASSED+=("$1"); printf '  ok  %s\n' "$1"; }

[ "$(id -u)" = 0 ] || die "run as root (podman rootful, apt-get)"
mkdir -p "$WORK"
T0=$SECONDS

# ---- 0. tools ---------------------------------------------------------------------------------
say "tools"
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v psql >/dev/null || need+=(postgresql-client)
command -v redis-cli >/dev/null || need+=(redis-tools)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${need[@]}" >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; die "apt-get install ${need[*]}"; }
fi
dpkg -s nodejs >/dev/null 2>&1 || die "the nodejs package (>= 20.19) must be installed: its files make the node base image"
node_version="$(node --version)"
podman --version
if [ ! -x "$REPO/.venv/bin/python" ]; then
    make -C "$REPO" setup  # the log directory is written with the project's test writers
fi

nofile="$(ulimit -Hn)"
nproc="$(ulimit -Hu)"
# runc could not raise RLIMIT_NPROC to this shell's own hard limit here (96365); 32768 works.
[ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
cat >"$WORK/containers.conf" <<EOF
# Written by scripts/docker_smoke.sh; used through CONTAINERS_CONF by this script only.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"
ULIMITS=(--ulimit "nofile=${nofile}:${nofile}" --ulimit "nproc=${nproc}:${nproc}")

# ---- cleanup (also on failure) ----------------------------------------------------------------
cleanup() {
    local rc=$?
    set +e
    if [ "$rc" != 0 ]; then
        for c in "${CONTAINERS[@]}"; do
            podman container exists "$c" 2>/dev/null || continue
            echo "--- last log lines of $c"
            podman logs --tail 30 "$c" 2>&1
        done
    fi
    say "cleanup"
    for c in "${CONTAINERS[@]}"; do podman rm -f -t 5 "$c" >/dev/null 2>&1; done
    podman ps -a --filter name=tbdock- --format '{{.Names}}' | xargs -r podman rm -f >/dev/null 2>&1
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" && echo "  database $DB dropped"
    "${REDIS[@]}" --scan --pattern "${PREFIX}*" | xargs -r -n 500 "${REDIS[@]}" del >/dev/null
    echo "  redis db $REDIS_DB: $("${REDIS[@]}" --scan --pattern "${PREFIX}*" | wc -l) keys left under ${PREFIX}*"
    if [ "${DOCKER_SMOKE_RMI:-0}" = 1 ]; then
        podman rmi -f "$IMAGE" "$PY_BASE" "$NODE_BASE" >/dev/null 2>&1
        podman image prune -f >/dev/null 2>&1
        echo "  images removed"
    fi
    if [ "$rc" = 0 ]; then
        echo "docker_smoke: PASSED (${#PASSED[@]} check groups, $((SECONDS - T0)) s)"
    else
        echo "docker_smoke: FAILED (exit $rc, after $((SECONDS - T0)) s; logs in $WORK)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. base images ---------------------------------------------------------------------------
say "base images"
if [ "${DOCKER_SMOKE_REFRESH_BASE:-0}" = 1 ]; then
    rm -rf "$WORK/rootfs.tar" "$WORK/rootfs.tar.part" "$WORK/node"
    podman rmi -f "$PY_BASE" "$NODE_BASE" >/dev/null 2>&1 || true
fi
if [ ! -s "$WORK/rootfs.tar" ]; then
    # minbase = Essential + Priority: required + apt, as debian:bookworm-slim; the machine's own
    # deb822 sources (bookworm, -updates, -security) as the mirror.
    mmdebstrap --variant=minbase --format=tar \
        --include=python3,python3-venv,python-is-python3,ca-certificates \
        --customize-hook='if [ -n "$(ls -A /usr/local/share/ca-certificates 2>/dev/null)" ]; then
              cp -a /usr/local/share/ca-certificates/. "$1/usr/local/share/ca-certificates/"
              chroot "$1" update-ca-certificates >/dev/null; fi' \
        bookworm "$WORK/rootfs.tar.part" /etc/apt/sources.list.d/debian.sources \
        >"$WORK/mmdebstrap.log" 2>&1 || { tail -20 "$WORK/mmdebstrap.log"; die mmdebstrap; }
    mv "$WORK/rootfs.tar.part" "$WORK/rootfs.tar"
fi
if [ ! -s "$WORK/node/node.tar" ]; then
    # The nodejs package's files, but its npm tree as it is on disk (npm upgraded in place).
    mkdir -p "$WORK/node"
    dpkg -L nodejs | grep -v -e '^/usr/lib/node_modules' -e '^/\.$' | sed 's|^/||' >"$WORK/node/files"
    tar -C / -cf "$WORK/node/node.tar.part" --no-recursion -T "$WORK/node/files" \
        --recursion usr/lib/node_modules
    mv "$WORK/node/node.tar.part" "$WORK/node/node.tar"
fi
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
if ! podman image exists "$PY_BASE"; then
    podman import --quiet \
        --change "ENV $PATH_ENV" --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        "$WORK/rootfs.tar" "$PY_BASE" >/dev/null
fi
if ! podman image exists "$NODE_BASE"; then
    # One layer on the python base (podman import takes one tar, and no duplicate paths in it).
    printf '%s\n' "FROM $PY_BASE" 'ADD node.tar /' \
        'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' 'CMD ["node"]' \
        >"$WORK/node/Containerfile"
    podman build --quiet --pull=never --network none "${ULIMITS[@]}" -t "$NODE_BASE" "$WORK/node" >/dev/null
fi
podman run --rm --network host "$PY_BASE" python --version
podman run --rm --network host "$NODE_BASE" sh -c 'echo "node $(node --version), npm $(npm --version)"'
ok "base images: $PY_BASE, $NODE_BASE (host nodejs $node_version)"

# ---- 2. build ---------------------------------------------------------------------------------
say "build (log: $WORK/build.log)"
cache=()
[ "${DOCKER_SMOKE_NO_CACHE:-0}" = 1 ] && cache=(--no-cache)
b0=$SECONDS
(cd "$REPO" && podman build --network host --pull=never --format docker "${ULIMITS[@]}" "${cache[@]}" \
    -f docker/Dockerfile \
    --build-arg "PYTHON_IMAGE=$PY_BASE" --build-arg "NODE_IMAGE=$NODE_BASE" \
    -t "$IMAGE" .) >"$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; die "podman build"; }
BUILD_SECONDS=$((SECONDS - b0))
SIZE_BYTES="$(podman image inspect -f '{{.Size}}' "$IMAGE")"
SIZE_MB=$((SIZE_BYTES / 1000000))
ok "image built in ${BUILD_SECONDS} s${cache:+ (no cache)}: $IMAGE, ${SIZE_MB} MB ($SIZE_BYTES bytes)"
cfg="$(podman image inspect -f 'user={{.Config.User}} entrypoint={{.Config.Entrypoint}} healthcheck={{.HealthCheck.Test}}' "$IMAGE")"
echo "  $cfg"
[[ "$cfg" == *"user=10001:10001"* && "$cfg" == *"entrypoint=[tbhub]"* && "$cfg" == *"tbhub.healthcheck"* ]] \
    || die "image config: $cfg"
ok "image config: USER 10001:10001, ENTRYPOINT tbhub, HEALTHCHECK python -m tbhub.healthcheck"

# ---- 3. private database, Redis namespace and log directory -----------------------------------
say "database, redis, log directory"
"${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
"${PSQL[@]}" -c "CREATE DATABASE $DB"
"${REDIS[@]}" --scan --pattern "${PREFIX}*" | xargs -r -n 500 "${REDIS[@]}" del >/dev/null
DATA="$WORK/data"
rm -rf "$DATA" && mkdir -p "$DATA/logs/alpha" "$DATA/logs/beta"
(cd "$REPO" && .venv/bin/python - "$DATA/logs" <<'EOF'
import sys
from pathlib import Path

from tests.ingest.writers import write_tensorboard_writer, write_tensorboardx

root = Path(sys.argv[1])
write_tensorboard_writer(root / "alpha", steps=40, tags=3)  # metric_t = step * 0.5 + t
write_tensorboardx(root / "beta", steps=30)  # loss/train = 1 / (step + 1), lr, histogram, image, text
EOF
)
chmod -R a+rX "$DATA"
find "$DATA" -type f -printf '  %P (%s bytes)\n'
SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
cat >"$WORK/tbhub.env" <<EOF
DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
REDIS_URL=redis://127.0.0.1:6379/$REDIS_DB
TBHUB_SECRET_KEY=$SECRET
TBHUB_REDIS_PREFIX=$PREFIX
TBHUB_LOCAL_ROOTS=/data
TBHUB_LIST_SECONDS=1
EOF
chmod 600 "$WORK/tbhub.env"
RUN=(podman run --network host --env-file "$WORK/tbhub.env" "${ULIMITS[@]}" -v "$DATA:/data:ro")
# One-off commands skip the HEALTHCHECK. The services keep it, but podman schedules it with
# systemd timers and this machine has no systemd: `podman run -d` logs that (in
# $WORK/podman.log) and the checks below run it by hand with `podman healthcheck run`.
ONEOFF=("${RUN[@]}" --rm --no-healthcheck)
# The services run as docs/DEPLOY.md#the-image says they can: a read-only root filesystem with
# a tmpfs on /tmp.
SERVICE=("${RUN[@]}" -d --read-only --read-only-tmpfs=false --tmpfs /tmp)

# ---- 4. one-off commands ----------------------------------------------------------------------
say "migrate, admin, token"
"${ONEOFF[@]}" --name tbdock-migrate "$IMAGE" manage migrate --noinput >"$WORK/migrate.log" 2>&1 \
    || { tail -20 "$WORK/migrate.log"; die "manage migrate"; }
ok "manage migrate --noinput ($(grep -c ' OK$' "$WORK/migrate.log") migrations applied)"
ADMIN_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
printf '%s\n' "$ADMIN_PASSWORD" | "${ONEOFF[@]}" -i --name tbdock-admin "$IMAGE" \
    manage create_admin --username smoke-admin --email smoke-admin@example.invalid --password-stdin
ok "manage create_admin"
TOKEN="$("${ONEOFF[@]}" --name tbdock-token "$IMAGE" token create --user smoke-admin --name docker-smoke \
    | tail -n 1 | awk '{print $NF}')"
[ -n "$TOKEN" ] || die "token create printed no token"
ok "token create (a ${#TOKEN}-character token)"

# ---- 5. web, worker, beat ---------------------------------------------------------------------
say "web, worker, beat"
: >"$WORK/podman.log"
"${SERVICE[@]}" --name tbdock-web --hostname tbdock-web "$IMAGE" web --host 127.0.0.1 --port "$PORT" >/dev/null 2>>"$WORK/podman.log"
"${SERVICE[@]}" --name tbdock-worker --hostname tbdock-worker "$IMAGE" worker >/dev/null 2>>"$WORK/podman.log"
"${SERVICE[@]}" --name tbdock-beat --hostname tbdock-beat "$IMAGE" beat >/dev/null 2>>"$WORK/podman.log"
for _ in $(seq 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
    sleep 0.5
done
podman ps --filter name=tbdock- --format '  {{.Names}}  {{.Status}}  {{.Command}}'

# ---- 6. checks --------------------------------------------------------------------------------
say "checks"
STATIC_JS="$(podman run --rm --no-healthcheck --entrypoint python "$IMAGE" -c '
import json, os, panels
dist = os.path.join(os.path.dirname(panels.__file__), "static", "panels", "dist")
manifest = json.load(open(os.path.join(dist, ".vite", "manifest.json")))
print(next(e["file"] for e in manifest.values() if e.get("isEntry")))')"
TBHUB_URL="http://127.0.0.1:$PORT" TBHUB_TOKEN="$TOKEN" TBHUB_SLUG="$SLUG" TBHUB_JS="$STATIC_JS" \
    TBHUB_USER=smoke-admin TBHUB_PASSWORD="$ADMIN_PASSWORD" \
    "$REPO/.venv/bin/python" - <<'EOF' || die "HTTP checks"
import http.cookiejar
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

URL, TOKEN, SLUG = os.environ["TBHUB_URL"], os.environ["TBHUB_TOKEN"], os.environ["TBHUB_SLUG"]
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))


def call(method, path, body=None, *, auth=True, data=None, headers=None):
    hdrs = dict(headers or {})
    if auth:
        hdrs["Authorization"] = f"Bearer {TOKEN}"
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(URL + path, data=data, method=method, headers=hdrs)
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def ok(what):
    print(f"  ok  {what}", flush=True)


def check(cond, what, detail=""):
    if not cond:
        print(f"  FAIL {what} {detail}"[:2000], file=sys.stderr)
        sys.exit(1)
    ok(what)


status, _, body = call("GET", "/healthz", auth=False)
check(status == 200, "GET /healthz 200", body)
status, _, body = call("GET", "/readyz", auth=False)
check(status == 200, "GET /readyz 200", body)

status, _, body = call("POST", "/api/v1/projects", {"name": "Docker smoke", "slug": SLUG})
check(status == 201, f"POST /api/v1/projects -> 201 ({SLUG})", body)
status, _, body = call("POST", f"/api/v1/projects/{SLUG}/sources", {"url": "/data/logs"})
check(status == 201, "POST sources {url: /data/logs} -> 201", body)
source = json.loads(body)

expected = {"alpha": {"metric_0", "metric_1", "metric_2"}, "beta": {"loss/train", "lr"}}
deadline = time.monotonic() + 120
while True:
    status, _, body = call("GET", f"/api/v1/projects/{SLUG}/runs")
    runs = json.loads(body)["runs"] if status == 200 else []
    names = {r["name"] for r in runs}
    if expected.keys() <= names:
        status, _, body = call("GET", f"/api/v1/projects/{SLUG}/scalars?run=alpha&tag=metric_0")
        points = json.loads(body)["points"] if status == 200 else []
        if len(points) == 40:
            break
    if time.monotonic() > deadline:
        _, _, src = call("GET", f"/api/v1/projects/{SLUG}/sources/{source['id']}")
        check(False, "runs ingested within 120 s", f"runs={runs} source={src[:800]!r}")
    time.sleep(1)
check(True, f"GET /api/v1/projects/{SLUG}/runs lists {sorted(names)} (ingested by the worker)")
print(f"      runs: {json.dumps(runs)[:600]}")
want = [[s, 1_700_000_000.0 + s, s * 0.5] for s in range(40)]
got = [[p[0], p[1], p[2]] for p in points]
check(got == want, "alpha/metric_0: 40 points, exactly [step, 1.7e9 + step, step * 0.5]", got[:5])
status, _, body = call("GET", f"/api/v1/projects/{SLUG}/scalars?run=beta&tag=loss/train")
values = [p[2] for p in json.loads(body)["points"]]
import struct

f32 = [struct.unpack("f", struct.pack("f", 1.0 / (s + 1)))[0] for s in range(30)]
check(values == f32, "beta/loss/train: 30 points, exactly float32(1 / (step + 1))", values[:5])

status, _, body = call("GET", "/metrics", auth=False)
names = sorted({m.group(1) for m in re.finditer(rb"^(tbhub_[a-z0-9_]+)", body, re.M)})
check(status == 200 and names, f"GET /metrics 200, {len(names)} tbhub_ metrics", body[:300])
print("      " + ", ".join(n.decode() for n in names[:8]) + (", ..." if len(names) > 8 else ""))

# The dashboard page needs a session: log in through the login form, as a person would.
status, _, body = call("GET", "/accounts/login/", auth=False)
csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
check(status == 200 and csrf, "GET /accounts/login/ 200 (login form)")
form = urllib.parse.urlencode({
    "username": os.environ["TBHUB_USER"], "password": os.environ["TBHUB_PASSWORD"],
    "csrfmiddlewaretoken": csrf.group(1).decode(),
}).encode()
status, _, body = call("POST", "/accounts/login/", auth=False, data=form,
                       headers={"Referer": URL + "/accounts/login/",
                                "Content-Type": "application/x-www-form-urlencoded"})
check(status == 200 and any(c.name == "sessionid" for c in jar), "POST /accounts/login/ (session)", status)
status, _, page = call("GET", f"/projects/{SLUG}/dashboard", auth=False)
js = os.environ["TBHUB_JS"]
check(status == 200 and js.encode() in page, f"GET /projects/{SLUG}/dashboard 200, loads {js}", page[:300])
src = re.search(rb'src="([^"]*' + re.escape(js.encode()) + rb')"', page).group(1).decode()
status, headers, bundle = call("GET", src, auth=False)
check(status == 200 and len(bundle) > 10_000 and "javascript" in headers.get("Content-Type", ""),
      f"GET {src} 200, {len(bundle)} bytes, {headers.get('Content-Type')} (static files from the image)")
status, _, body = call("GET", "/static/admin/css/base.css", auth=False)
check(status == 200, "GET /static/admin/css/base.css 200 (collectstatic at build time)")
EOF
PASSED+=("HTTP checks (health, readiness, metrics, API, ingest, exact scalars, dashboard, bundle)")

for c in "${CONTAINERS[@]}"; do
    rows="$(podman top "$c" user huser args | tail -n +2)"
    echo "$rows" | sed 's/^/    /'
    [ -n "$rows" ] || die "$c: no processes"
    bad="$(echo "$rows" | awk '$2 != "10001"')"
    [ -z "$bad" ] || die "$c runs processes as another user than 10001: $bad"
    ok "$c: every process runs as uid 10001 (host uid too: no user namespace)"
done
for c in tbdock-web tbdock-worker; do
    out="$(podman healthcheck run "$c" 2>&1)" || die "podman healthcheck run $c: $out"
    ok "podman healthcheck run $c: healthy${out:+ ($out)}"
done
out="$(podman exec tbdock-beat python -m tbhub.healthcheck)" || die "beat health check: $out"
ok "beat: python -m tbhub.healthcheck: $out"
state="$(podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' "${CONTAINERS[@]}" | sort | uniq -c | tr -s ' ')"
[[ "$state" == " 3 running 0" ]] || die "containers: $state"
ok "web, worker and beat still running (read-only root filesystem, tmpfs on /tmp)"

say "summary"
echo "  image        $IMAGE, $SIZE_MB MB ($SIZE_BYTES bytes; podman image inspect .Size)"
echo "  build        $BUILD_SECONDS s${cache:+ (no cache)} (log: $WORK/build.log)"
echo "  bases        PYTHON_IMAGE=$PY_BASE NODE_IMAGE=$NODE_BASE"
echo "  checks       ${#PASSED[@]} groups passed"
