#!/usr/bin/env bash
# Thin wrapper kept for people who look here (the spec's setup script): bootstrap Pants and
# provision and start the local stack. Prefer the README's commands.
set -euo pipefail
cd "$(dirname "$0")/../.."
./pants run :globalmart -- --help >/dev/null
./pants run :globalmart -- stack up "$@"
