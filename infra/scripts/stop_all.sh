#!/usr/bin/env bash
# Thin wrapper: stop what the local stack started (nothing else).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec ./pants run :globalmart -- stack down "$@"
