#!/usr/bin/env bash
# Builds the iNat-like benchmark photo set: N JPEGs of max side 500 px, quality 90 (iNat 2021's
# train images), from the photographs Debian ships in mate-backgrounds and lomiri-wallpapers
# (/usr/share/backgrounds). Output k comes from source k % n_sources: the first pass keeps the
# whole frame, later passes take a seeded random crop (area 25–100%, aspect 3/4..4/3). The
# recipe is the torchvision peer's (torch_loader.py --make-photos), so both measure the same set.
#
#   scripts/make-photos.sh [OUT_DIR [N [SEED]]]     (default /tmp/natssl-photos 512 0)
#   NATSSL_PHOTOS=/tmp/natssl-photos go test -run '^$' -bench . ./augment
#
# Needs Debian's python3-pil (/usr/bin/python3, not a pyenv python).
set -euo pipefail
out=${1:-/tmp/natssl-photos}
n=${2:-512}
seed=${3:-0}
src=${PHOTO_SRC:-/usr/share/backgrounds}
exec /usr/bin/python3 - "$src" "$out" "$n" "$seed" <<'PY'
import glob, os, random, sys
from PIL import Image

src, out, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
files = sorted(f for f in glob.glob(os.path.join(src, "**", "*"), recursive=True)
               if f.lower().endswith((".jpg", ".jpeg")))
if not files:
    sys.exit("make-photos: no JPEGs under " + src + " (apt-get install mate-backgrounds lomiri-wallpapers)")
os.makedirs(out, exist_ok=True)
rng = random.Random(seed)
for si, f in enumerate(files):
    im = Image.open(f).convert("RGB")
    W, H = im.size
    for k in range(si, n, len(files)):
        crop = im
        if k >= len(files):
            for _ in range(20):
                area = rng.uniform(0.25, 1.0) * W * H
                ar = rng.uniform(3 / 4, 4 / 3)
                w, h = int(round((area * ar) ** 0.5)), int(round((area / ar) ** 0.5))
                if w <= W and h <= H:
                    break
            else:
                w, h = W, H
            x, y = rng.randint(0, W - w), rng.randint(0, H - h)
            crop = im.crop((x, y, x + w, y + h))
        s = 500 / max(crop.size)
        crop = crop.resize((max(1, round(crop.size[0] * s)), max(1, round(crop.size[1] * s))), Image.BICUBIC)
        crop.save(os.path.join(out, "%05d.jpg" % k), quality=90)
print("make-photos: %d photos from %d sources in %s" % (n, len(files), out))
PY
