# syntax=docker/dockerfile:1
# The project's one image (ghcr.io/mec-orchestrator/mec-orchestrator): the orchestrator
# (`mec-orchestrator run`), the edge-host agent (`edge-host-agent run`) and the probe reflector
# (`edge-host-agent reflector`) are its console scripts. Build from the repository's root:
#   docker build -t ghcr.io/mec-orchestrator/mec-orchestrator:0.1.0 .

# Stage 1: build the wheel (the build hook generates the gRPC code from protos/).
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2.post1
COPY . .
RUN python -m build --wheel --outdir /wheels \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/mec_orchestrator-*.whl

# Stage 2: the runtime: the wheels only, no compiler, no sources, a user that is not root.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels mec-orchestrator \
 && useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin mec
USER 65532:65532
EXPOSE 8080 50051 50061 8090 9100
ENTRYPOINT []
CMD ["mec-orchestrator", "run"]
