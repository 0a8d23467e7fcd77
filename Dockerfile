# One image for the Liên thông services (docs, signing, routing, audit, gateway)
# and the one-shots; docker-compose.yml picks one by its `command:`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# DejaVu: Vietnamese letters in registers and signature images. SoftHSM2: the
# software HSM compose keeps the platform's and the seals' keys in (hsm-tokens;
# its PKCS#11 library is /usr/lib/softhsm/libsofthsm2.so).
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-dejavu-core softhsm2 \
 && rm -rf /var/lib/apt/lists/*

# Sources stay in /app too: `nameko run --config services/<name>/config.yml`
# takes a path relative to the working directory.
# Dependencies from the lock, each checked against its hash (transitive ones
# too); then the project, built with the locked setuptools, fetching nothing.
COPY infra/requirements.lock ./infra/requirements.lock
RUN pip install --require-hashes -r infra/requirements.lock

COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY infra ./infra

RUN pip install --no-deps --no-build-isolation . \
 && rm -rf build *.egg-info

# Non-root user; /var/lib/lienthong/* hold the keys (hsm: the SoftHSM2 tokens)
# and the files the provision one-shot writes for RabbitMQ and SeaweedFS (named
# volumes in compose, which inherit this ownership when first created).
RUN groupadd --system --gid 10001 lienthong \
 && useradd --system --uid 10001 --gid lienthong --home-dir /app --shell /usr/sbin/nologin lienthong \
 && mkdir -p /var/lib/lienthong/signing /var/lib/lienthong/event-keys /var/lib/lienthong/audit \
    /var/lib/lienthong/gateway /var/lib/lienthong/gateway-public \
    /var/lib/lienthong/rabbitmq /var/lib/lienthong/seaweedfs /var/lib/lienthong/hsm \
 && chown -R lienthong:lienthong /var/lib/lienthong

USER lienthong

CMD ["nameko", "--help"]
