#!/usr/bin/env bash
# Thin wrapper: start every local service (Kafka, PostgreSQL x2, Redis, FerretDB, Apicurio,
# Prometheus) and provision Spark's jars.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec ./pants run :globalmart -- stack up "$@"
