# syntax=docker/dockerfile:1.7
#
# Two images from one file:
#   docker build --target airflow      -t ghcr.io/pipeline-factory/airflow:0.1.0 .
#   docker build --target stage-runner -t ghcr.io/pipeline-factory/stage-runner:0.1.0 .
#
# The stage-runner tag is the `image` of config/runtime.yaml (docker and
# kubernetes profiles); the Helm values name the airflow one.
#
# Both install the same pinned requirements.txt + constraints.txt that the test
# suite runs against, so what CI proves is what ships.

ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
ARG CUDA_IMAGE=nvidia/cuda:13.0.0-runtime-ubuntu22.04

# ---------------------------------------------------------------------------
# airflow: api-server, scheduler, dag-processor, triggerer and Celery worker
# ---------------------------------------------------------------------------
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION} AS airflow

ARG AIRFLOW_VERSION
USER root
# build-essential is not needed: every pinned requirement ships manylinux wheels.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
USER airflow

WORKDIR /opt/pipeline_factory
COPY --chown=airflow:0 requirements.txt constraints.txt ./
# Pinning apache-airflow on the same line keeps pip from moving the image's own Airflow.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r requirements.txt

COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 include/ ./include/
RUN pip install --no-cache-dir --no-deps .

COPY --chown=airflow:0 config/ /opt/pipeline/config/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/

ENV PIPELINE_FACTORY_CONFIG=/opt/pipeline/config \
    PIPELINE_DATA_DIR=/opt/pipeline/data \
    HF_HUB_OFFLINE=1
RUN mkdir -p /opt/pipeline/data
WORKDIR /opt/airflow

# ---------------------------------------------------------------------------
# stage-runner: `compute: gpu` stages under the docker and kubernetes profiles
# ---------------------------------------------------------------------------
FROM ${CUDA_IMAGE} AS stage-runner

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIPELINE_FACTORY_CONFIG=/opt/pipeline/config \
    PIPELINE_DATA_DIR=/opt/pipeline/data \
    HF_HUB_OFFLINE=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv libgomp1 ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && python3.11 -m venv /opt/venv

WORKDIR /opt/pipeline_factory
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir --upgrade pip && pip install --no-cache-dir -r requirements.txt
COPY pyproject.toml README.md ./
COPY include/ ./include/
RUN pip install --no-cache-dir --no-deps .
COPY config/ /opt/pipeline/config/

# Group 0, as the Airflow image's worker (uid 50000, gid 0): both write the shared
# data volume, and the docker profile runs stage containers as 1000:0.
RUN useradd --uid 1000 --gid 0 --no-create-home --shell /usr/sbin/nologin runner \
 && mkdir -p /opt/pipeline/data && chown runner:0 /opt/pipeline/data && chmod 775 /opt/pipeline/data
USER 1000:0

# The operators set this entrypoint themselves (the pod's cmds, the container's
# entrypoint) and pass PIPELINE STAGE --run-id ... --params ... as arguments.
ENTRYPOINT ["python", "-m", "pipeline_factory.runner"]
