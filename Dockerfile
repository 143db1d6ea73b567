# syntax=docker/dockerfile:1
# nrd: the GraphQL API and the projection worker share this image; the command picks the role
# (`nrd serve ...` by default, `nrd projections run` for the worker, see docker-compose.yml).

# ---- build: install the project and its dependencies into a self-contained virtual environment
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/nrd

WORKDIR /src
# pyproject.toml names README.md as the long description, so it is part of the build input.
COPY pyproject.toml README.md ./
COPY api ./api
COPY domain ./domain
COPY projections ./projections
COPY policies ./policies
RUN /opt/nrd/bin/pip install --upgrade pip \
 && /opt/nrd/bin/pip install . \
 && /opt/nrd/bin/nrd --help > /dev/null

# ---- runtime: the same base image, the virtual environment, no build input, no root
FROM python:3.11-slim

ENV PATH=/opt/nrd/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NRD_DATA_DIR=/var/lib/nrd

RUN groupadd --system --gid 10001 nrd \
 && useradd --system --uid 10001 --gid nrd --home-dir /var/lib/nrd --no-create-home \
        --shell /usr/sbin/nologin nrd \
 && install -d -o nrd -g nrd -m 0750 /var/lib/nrd

COPY --from=build /opt/nrd /opt/nrd

USER 10001:10001
WORKDIR /var/lib/nrd

EXPOSE 8000

# The slim image has no curl: probe /healthz with the standard library (non-2xx raises, exit 1).
# The projection worker serves no HTTP; docker-compose.yml gives it its own healthcheck.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["nrd", "serve", "--host", "0.0.0.0", "--port", "8000"]
