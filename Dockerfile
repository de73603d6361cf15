# The natssl training image for Amazon SageMaker (docs/sagemaker.md says how to build and push it).
# SageMaker runs it as `docker run <image> train`: the entry point is natssl itself, in exec form,
# so that natssl is PID 1 and receives SIGTERM when a spot instance is reclaimed or the job is
# stopped, and can write a checkpoint within SageMaker's 120 seconds.

# Build: cgo on, against the same Debian libraries the runtime stage installs.
FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libjpeg-dev libopenblas-dev libsqlite3-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# openblas: the trainer's sgemm through OpenBLAS (cgo) rather than pure-Go gonum.
ARG TAGS=openblas
RUN make build VERSION="${VERSION}" TAGS="${TAGS}" \
 && install -D -m 0755 bin/natssl /out/natssl

# Run: the shared libraries natssl links (libsqlite3-0 for builds with TAGS="openblas libsqlite3").
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libjpeg62-turbo libopenblas0-pthread libsqlite3-0 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/natssl /usr/local/bin/natssl
WORKDIR /opt/ml
ENTRYPOINT ["natssl"]
CMD ["train"]
