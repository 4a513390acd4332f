# syntax=docker/dockerfile:1
#
# flight-gateway container image.
#
#   docker build -t flight-gateway .
#   docker run --rm -p 8815:8815 -v flight-gateway-data:/data flight-gateway
#
# Configuration is through FLIGHT_GATEWAY_* environment variables only (see
# docs/configuration.md); state (job store, signing key, demo databases) lives in the /data volume.
#
# Note: this file has not been built in this repository's development environment or CI, which
# have no Docker engine. It was linted (hadolint), and its steps were rehearsed outside Docker:
# the wheel built from this tree, installed into a clean Python 3.11 environment, served with the
# environment below, and answered the health-check command. Needs BuildKit (the default builder
# since Docker 23) for the bind mount in the runtime stage.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the project's wheel plus wheels of all its dependencies -----------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# pyproject.toml names README.md as the package's long description, so the build needs it.
COPY pyproject.toml README.md ./
COPY auth ./auth
COPY flight_gateway ./flight_gateway
# The image carries every engine's driver: PostgreSQL (ADBC), Redshift (psycopg) and the AWS SDK (S3
# offload, DynamoDB job store, IAM credentials). The simulator's extra (a PostgreSQL server, moto,
# sqlglot, redshift-connector) and the test tools stay out (tests/test_optional_extras.py checks it).
RUN pip wheel --wheel-dir /wheels ".[postgres,redshift,aws]"

# --- runtime: only the installed wheels, running as an unprivileged user ----------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Installed from the builder's wheels only (no index): the wheels never become a layer here.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels "flight-gateway[postgres,redshift,aws]"

RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin gateway \
    && mkdir -p /data \
    && chown gateway:gateway /data

# Listen on every interface inside the container; keep all state in the volume.
ENV FLIGHT_GATEWAY_HOST=0.0.0.0 \
    FLIGHT_GATEWAY_PORT=8815 \
    FLIGHT_GATEWAY_DATA_DIR=/data

VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8815

# Every Flight call needs credentials, so the check only opens a TCP connection to the port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, socket; socket.create_connection(('127.0.0.1', int(os.environ.get('FLIGHT_GATEWAY_PORT', '8815'))), timeout=3).close()"]

ENTRYPOINT ["flight-gateway"]
CMD ["serve"]
