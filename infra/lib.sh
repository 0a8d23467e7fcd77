# Shared set-up for infra/demo.sh and infra/test.sh (sourced, not run).
# Makes the virtual environment, installs the project, and makes sure the
# local RabbitMQ and PostgreSQL answer, starting them when they are installed
# here but down.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LIENTHONG_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

log() { printf '%s\n' "$*" >&2; }

setup_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating the virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.lienthong-installed"
  local want
  want="$(cat "$ROOT/pyproject.toml" "$ROOT/infra/requirements-test.lock" \
    "$ROOT/infra/requirements-s3.txt" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing the project and its dependencies, locked with their hashes"
    # Every package, transitive ones included, from the lock (a changed file
    # on the index is refused); then the project itself, built with the locked
    # setuptools and without fetching anything.
    "$VENV/bin/python" -m pip install -q --require-hashes -r "$ROOT/infra/requirements-test.lock"
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
    "$VENV/bin/python" -m pip install -q --require-hashes -r "$ROOT/infra/requirements-s3.txt"
    echo "$want" > "$stamp"
  fi
}

ensure_system_packages() {
  # pdfsig (poppler) checks our PDF signatures as a standard tool would; DejaVu
  # gives the registers and signature images their Vietnamese letters.
  local missing=()
  command -v pdfsig >/dev/null || missing+=(poppler-utils)
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf ] || missing+=(fonts-dejavu-core)
  command -v openssl >/dev/null || missing+=(openssl)
  # The web application's browser tests drive Debian's Chromium through its driver.
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  # SoftHSM2: the PKCS#11 token the seal keys and the leaders' keys live in, in tests.
  command -v softhsm2-util >/dev/null || missing+=(softhsm2)
  # xmlsec1 checks the edXML packages' XML signatures with nothing of ours.
  command -v xmlsec1 >/dev/null || missing+=(xmlsec1)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} from Debian's packages"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
  else
    log "please install: sudo apt-get install ${missing[*]}"
    return 1
  fi
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {  # host port name seconds
  local i
  for ((i = 0; i < $4 * 2; i++)); do
    port_open "$1" "$2" && return 0
    sleep 0.5
  done
  log "$3 does not answer on $1:$2"
  return 1
}

ensure_servers() {
  # Servers named by environment variables are the caller's business.
  if [ -z "${LIENTHONG_TEST_AMQP_URI:-}" ] && ! port_open 127.0.0.1 5672; then
    if command -v rabbitmq-server >/dev/null; then
      log "starting RabbitMQ"
      rabbitmq-server -detached
    fi
    wait_port 127.0.0.1 5672 RabbitMQ 90 ||
      { log "start it with: rabbitmq-server -detached"; return 1; }
  fi
  if [ -z "${LIENTHONG_TEST_PG_DSN:-}" ] && ! port_open 127.0.0.1 5432; then
    if command -v pg_ctlcluster >/dev/null; then
      log "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    fi
    wait_port 127.0.0.1 5432 PostgreSQL 60 ||
      { log "start it with: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"; return 1; }
  fi
}
