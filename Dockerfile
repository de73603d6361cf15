# The natssl training images for Amazon SageMaker (docs/sagemaker.md says how to build and push
# them): the default target for CPU instances, and --target gpu for GPU instances.
# SageMaker runs it as `docker run <image> train`: the entry point is natssl itself, in exec form,
# so that natssl is PID 1 and receives SIGTERM when a spot instance is reclaimed or the job is
# stopped, and can write a checkpoint within SageMaker's 120 seconds.
#
# A job of several instances trains one model over MPI (docs/sagemaker.md): natssl on the first
# host starts mpirun over all hosts, which reaches the others over ssh; the others run sshd and
# wait. Every host runs this image, so one key pair made at build time, authorised for root,
# lets the hosts in.

# The CUDA runtime of the GPU image (see the gpu stage).
ARG CUDA_VERSION=12.8.1
ARG CUDA_UBUNTU=ubuntu24.04

# Build: cgo on, against the same Debian libraries the runtime stage installs.
FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libjpeg-dev libopenblas-dev libopenmpi-dev libsqlite3-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# openblas: the trainer's sgemm through OpenBLAS (cgo) rather than pure-Go gonum; mpi: runs over
# several processes and hosts (Open MPI, cgo).
ARG TAGS="openblas mpi"
RUN make build VERSION="${VERSION}" TAGS="${TAGS}" \
 && install -D -m 0755 bin/natssl /out/natssl

# The GPU image (docker build --target gpu): natssl built on the CUDA runtime image's Ubuntu,
# so that it links that system's libjpeg-turbo, OpenBLAS and Open MPI. natssl needs no CUDA
# to build: it dlopens the driver (libcuda.so.1, which the NVIDIA container runtime mounts into the
# container) and cuBLAS and NVRTC, which the CUDA runtime image holds in /usr/local/cuda/lib64.
# CUDA_VERSION (at the top) picks them: 12.x runs on drivers from 525 (SageMaker's GPU
# instances), 13.x needs a driver of CUDA 13 (580 or later).
FROM ubuntu:24.04 AS gpu-build
ARG GO_VERSION=1.26.0
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl gcc libc6-dev libjpeg-turbo8-dev libopenblas-dev libopenmpi-dev make pkg-config git \
 && rm -rf /var/lib/apt/lists/* \
 && curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -C /usr/local -xz
ENV PATH=/usr/local/go/bin:$PATH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TAGS="openblas mpi"
RUN make build VERSION="${VERSION}" TAGS="${TAGS}" \
 && install -D -m 0755 bin/natssl /out/natssl

# Its runtime has what the CPU image has for jobs of several instances (Open MPI, ssh and the
# image's key pair, as below), on the CUDA runtime image.
FROM nvidia/cuda:${CUDA_VERSION}-runtime-${CUDA_UBUNTU} AS gpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjpeg-turbo8 libopenblas0-pthread ca-certificates \
      openmpi-bin libopenmpi3t64 openssh-server openssh-client \
 && rm -rf /var/lib/apt/lists/*
RUN ssh-keygen -A \
 && mkdir -p /root/.ssh /run/sshd && chmod 700 /root/.ssh \
 && ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519 \
 && cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys \
 && printf 'Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n' > /root/.ssh/config \
 && sed -i 's/^#\?PermitRootLogin.*/PermitRootLogin prohibit-password/' /etc/ssh/sshd_config
COPY --from=gpu-build /out/natssl /usr/local/bin/natssl
# cuBLAS and NVRTC are looked for here first; the driver comes from the container runtime.
ENV NATSSL_CUDA_LIB_DIR=/usr/local/cuda/lib64
WORKDIR /opt/ml
ENTRYPOINT ["natssl"]
CMD ["train"]

# Run (the default target, for CPU instances): the shared libraries natssl links (libsqlite3-0
# for builds with TAGS="openblas libsqlite3"), Open MPI's mpirun and libraries, and the ssh
# server and client the hosts of a job reach each other with.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libjpeg62-turbo libopenblas0-pthread libsqlite3-0 ca-certificates \
      openmpi-bin libopenmpi3 openssh-server openssh-client \
 && rm -rf /var/lib/apt/lists/*
# ssh between the job's hosts: the host keys and root's key pair of this image, root's own
# public key authorised, no host-key questions, and sshd's privilege-separation folder.
RUN ssh-keygen -A \
 && mkdir -p /root/.ssh /run/sshd && chmod 700 /root/.ssh \
 && ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519 \
 && cp /root/.ssh/id_ed25519.pub /root/.ssh/authorized_keys \
 && printf 'Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n' > /root/.ssh/config \
 && sed -i 's/^#\?PermitRootLogin.*/PermitRootLogin prohibit-password/' /etc/ssh/sshd_config
COPY --from=build /out/natssl /usr/local/bin/natssl
WORKDIR /opt/ml
ENTRYPOINT ["natssl"]
CMD ["train"]
