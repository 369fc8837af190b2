# syntax=docker/dockerfile:1
# pymk: one image for every role (serve, worker, batch, train, pipelines); the command picks the role.
#   docker build -t pymk .          docker run -p 8000:8000 -v pymk-home:/data/pymk pymk
# Stage 1 builds the wheel and installs it with the CPU build of torch into a virtual environment;
# stage 2 copies only that environment onto a fresh slim image and runs as a non-root user.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the PyTorch CPU index (~200 MB instead of ~2.5 GB with CUDA); the wheel's
# `torch==2.13.0` pin is then already satisfied by 2.13.0+cpu.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url ${TORCH_INDEX} torch==2.13.0
# gcc builds the C kernels (pymk.features._kernels; setup.py) into the wheel.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY src ./src
RUN pip wheel --no-deps --wheel-dir /dist . \
 && pip install --extra-index-url ${TORCH_INDEX} "$(ls /dist/pymk-*.whl)[services,ray]" \
 && pip check

FROM ${PYTHON_IMAGE} AS runtime
# libgomp: LightGBM's and torch's OpenMP runtime (not in the slim image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 pymk \
 && useradd --system --uid 10001 --gid pymk --home-dir /data/pymk --shell /usr/sbin/nologin pymk \
 && mkdir -p /data/pymk \
 && chown pymk:pymk /data/pymk
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYMK_HOME=/data/pymk \
    MLFLOW_DISABLE_TELEMETRY=true \
    PREFECT_SERVER_ANALYTICS_ENABLED=false
WORKDIR /data/pymk
VOLUME ["/data/pymk"]
USER pymk:pymk
EXPOSE 8000 50051
# Liveness of the HTTP process (/readyz is for traffic: it fails until a model and lists are loaded).
# The slim image has no curl: Python's urllib does the request.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
# The role is the command: `pymk worker`, `pymk batch`, `python -m pymk.pipelines`, ...
CMD ["pymk", "serve", "--host", "0.0.0.0", "--port", "8000", "--grpc-port", "50051"]
