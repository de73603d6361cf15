#!/usr/bin/env bash
# The Debian packages natssl's build, tests and demo need: this list is the one place they are
# named (make test, make demo and CI's .ci/run all run this script). Installed ones are left
# alone; missing ones are installed with apt-get when run as root, otherwise the script stops
# at once with the one apt-get line to run.
set -euo pipefail

PACKAGES=(
	build-essential pkg-config git ca-certificates # cgo; pkg-config finds OpenBLAS
	sqlite3 libsqlite3-dev                         # the tracker, and the sqlite3 shell the tests read it with
	libjpeg-dev libopenblas-dev                    # libjpeg-turbo decoding, OpenBLAS training
	libopenmpi-dev openmpi-bin                     # MPI: one run over many processes (mpirun)
	dataset-fashion-mnist                          # the demo's data and the end-to-end test's
	mate-backgrounds                               # make photos: the loader benchmark's photographs
	chromium fonts-liberation                      # the HTML report, checked in headless Chromium
	clang                                          # the CUDA kernels compiled to PTX, checked without a GPU
	util-linux                                     # prlimit: an export cut off half-way by a file-size limit
	python3-onnx python3-torch python3-torchvision # exported models run by second runtimes
)

if ! command -v dpkg-query >/dev/null; then
	echo "natssl: not a Debian system: the tests need the equivalents of: ${PACKAGES[*]}" >&2
	exit 0
fi
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		echo "natssl: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "natssl: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		{ apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }
fi

# Not Debian packages: the S3 and SageMaker tests run moto_server and the aws CLI (Python tools,
# e.g. `pip install 'moto[server]' awscli`).
for tool in moto_server aws; do
	command -v "$tool" >/dev/null || echo "natssl: warning: $tool not found on PATH: the S3 and SageMaker tests will fail" >&2
done
exit 0
