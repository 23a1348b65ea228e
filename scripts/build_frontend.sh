#!/usr/bin/env bash
# Builds the dashboard bundle from panels/frontend with npm (lockfile) when its sources changed.
set -euo pipefail
cd "$(dirname "$0")/.."
FE=panels/frontend
[ -f "$FE/package.json" ] || exit 0
OUT=panels/static/panels/dist
stamp="$OUT/.build-stamp"
sum=$(cat "$FE/package.json" "$FE/package-lock.json" "$FE/vite.config.ts" "$FE/tsconfig.json" $(find "$FE/src" -type f | sort) 2>/dev/null | sha256sum | cut -d" " -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then exit 0; fi
(cd "$FE" && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
mkdir -p "$OUT" && echo "$sum" > "$stamp"
