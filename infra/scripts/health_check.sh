#!/usr/bin/env bash
# Thin wrapper: check every component; exit 0 only when all are healthy.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec ./pants run :globalmart -- health "$@"
