#!/usr/bin/env bash
# The platform's main job: the whole stack and one document from clerk to
# leader to recipients to auditor. Sets itself up on a fresh machine.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
setup_venv
ensure_system_packages
ensure_servers
cd "$ROOT"
exec "$VENV/bin/python" -W ignore -m infra.demo "$@"
