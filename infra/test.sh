#!/usr/bin/env bash
# The test suite: unit, integration, end-to-end and crash tests against real
# RabbitMQ, PostgreSQL and an S3 server. Sets itself up on a fresh machine.
# Arguments go to pytest: `bash infra/test.sh tests/unit` runs one layer.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
setup_venv
ensure_system_packages
ensure_servers
cd "$ROOT"
exec "$VENV/bin/python" -m pytest "${@:-tests}"
