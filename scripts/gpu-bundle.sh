#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on a GPU machine that has no Go and no network, into
# the ignored folder .gpu/ (BUNDLE=DIR to move it), small enough to carry (under 64 MiB):
#
#   natssl.xz        natssl with the pure-Go BLAS and libjpeg-turbo (lib/libjpeg.so.62 beside it)
#   natssl-pure.xz   natssl needing only libc (pure-Go JPEG decoder too): the fallback
#   trainer.test.xz  go test -c ./trainer, needing only libc (its TestGPU… tests)
#   cuda.test.xz     go test -c ./trainer/cuda, needing only libc (its TestGPU… tests)
#   photos/          256 JPEGs for natssl bench loader (scripts/make-photos.sh)
#   BUILD            what was built, from which commit
#
#   make gpu-bundle      (or scripts/gpu-bundle.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BUNDLE:-.gpu}
rm -rf "$out"
mkdir -p "$out/lib"
export CGO_ENABLED=1
version=$(git describe --always --dirty 2>/dev/null || echo dev)
ld="-s -w -X github.com/natssl/natssl/internal/cli.version=$version"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "gpu-bundle: building natssl and the test binaries..." >&2
go build -ldflags "$ld" -o "$tmp/natssl" ./cmd/natssl
go build -tags noturbojpeg -ldflags "$ld" -o "$tmp/natssl-pure" ./cmd/natssl
go test -c -tags noturbojpeg -ldflags "-s -w" -o "$tmp/trainer.test" ./trainer
go test -c -tags noturbojpeg -ldflags "-s -w" -o "$tmp/cuda.test" ./trainer/cuda
for b in natssl-pure trainer.test cuda.test; do
  if ldd "$tmp/$b" | grep -v -E 'linux-vdso|libc\.so|ld-linux|libm\.so|libpthread|libdl' | grep -q '=>'; then
    echo "gpu-bundle: $b links more than libc:" >&2
    ldd "$tmp/$b" >&2
    exit 1
  fi
done
cp -L "$(ldd "$tmp/natssl" | awk '/libjpeg\.so\.62/ {print $3}')" "$out/lib/libjpeg.so.62"
echo "gpu-bundle: compressing..." >&2
for b in natssl natssl-pure trainer.test cuda.test; do
  xz -T0 -9 -c "$tmp/$b" >"$out/$b.xz"
done
photos=${PHOTOS:-/tmp/natssl-photos}
[ -d "$photos" ] || scripts/make-photos.sh "$photos" 256
mkdir -p "$out/photos"
ls "$photos" | grep -i '\.jpe\?g$' | sort | head -n 256 | while read -r f; do cp "$photos/$f" "$out/photos/"; done
{
  echo "commit $version"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(go version | cut -d' ' -f3-)"
  need=$(objdump -T "$tmp/natssl" "$tmp/trainer.test" "$tmp/cuda.test" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
  echo "needs ${need/_/ } or newer (built on glibc $(ldd --version | head -n 1 | awk '{print $NF}'))"
} >"$out/BUILD"
du -sh "$out" >&2
total=$(du -sm "$out" | cut -f1)
if [ "$total" -ge 64 ]; then
  echo "gpu-bundle: $out is $total MiB, over the 64 MiB a carry may hold" >&2
  exit 1
fi
