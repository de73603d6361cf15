#!/usr/bin/python3
"""Load a natssl safetensors export into torchvision's model and compare its features.

The file is parsed with the published safetensors format (an 8-byte little-endian header
length, a JSON header naming each tensor's dtype, shape and byte offsets, then the bytes), so
the Python safetensors package is not needed. Its tensors are loaded with load_state_dict
into:
  resnet18, resnet50  torchvision.models.resnet18() / resnet50(): at width 64 exactly those,
                      at other widths the same modules with every channel count scaled by
                      width/64; only fc.weight and fc.bias may be missing.
  resnet18-cifar      resnet18 with conv1 = Conv2d(3, width, 3, 1, 1, bias=False) and
                      maxpool = Identity().
  convnet-small       ConvNetSmall below, strictly.
  head.* (with head)  Sequential(Linear, BatchNorm1d, ReLU, Linear), strictly.
The model in eval mode, fc replaced by Identity, must give the features natssl computed on
the same images (--features, --projection) within --tol of each row's largest value.

Needs Debian's python3-torch, python3-torchvision and python3-numpy (/usr/bin/python3).
Prints one JSON line on success; exits 1 with a message on any mismatch.
"""
import argparse
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision

from rowcheck import compare

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def fail(msg):
    print("torch_check: " + msg, file=sys.stderr)
    sys.exit(1)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors, end = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        lo, hi = info["data_offsets"]
        if lo != end:
            fail("tensor %s starts at %d, the previous one ends at %d" % (name, lo, end))
        end = hi
        a = np.frombuffer(data[lo:hi], dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        tensors[name] = torch.from_numpy(a.reshape(info["shape"]).copy())
    if end != len(data):
        fail("%d bytes after the last tensor" % (len(data) - end))
    return tensors, meta


class ConvNetSmall(nn.Module):
    """natssl's convnet-small: four 3x3 conv / batch norm / ReLU stages, global average pool."""

    def __init__(self, width):
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        for i, stride in enumerate([1, 2, 2, 2]):
            setattr(self, "conv%d" % (i + 1), nn.Conv2d(chans[i], chans[i + 1], 3, stride, 1, bias=False))
            setattr(self, "bn%d" % (i + 1), nn.BatchNorm2d(chans[i + 1]))

    def forward(self, x):
        for i in range(1, 5):
            x = torch.relu(getattr(self, "bn%d" % i)(getattr(self, "conv%d" % i)(x)))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


def scale_widths(model, width):
    """Rebuilds every Conv2d and BatchNorm2d of a torchvision ResNet with its channels scaled
    by width/64 (the image's 3 channels stay), keeping the module names."""
    def scaled(c):
        return c if c == 3 else c * width // 64

    for name, module in list(model.named_modules()):
        parent = model
        *path, leaf = name.split(".")
        for p in path:
            parent = getattr(parent, p)
        if isinstance(module, nn.Conv2d):
            setattr(parent, leaf, nn.Conv2d(scaled(module.in_channels), scaled(module.out_channels),
                                            module.kernel_size, module.stride, module.padding, bias=False))
        elif isinstance(module, nn.BatchNorm2d):
            setattr(parent, leaf, nn.BatchNorm2d(scaled(module.num_features)))
    return model


def backbone(name, width):
    if name == "convnet-small":
        return ConvNetSmall(width), False
    tv = {"resnet18": torchvision.models.resnet18, "resnet18-cifar": torchvision.models.resnet18,
          "resnet50": torchvision.models.resnet50}
    if name not in tv:
        fail("unknown backbone %s" % name)
    model = tv[name]()
    if width != 64:
        model = scale_widths(model, width)
    if name == "resnet18-cifar":
        model.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    return model, True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--input", required=True, help="raw float32 NCHW images")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--features", required=True, help="raw float32 features natssl computed")
    ap.add_argument("--projection", help="raw float32 projections natssl computed")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(1)

    tensors, meta = read_safetensors(args.weights)
    if meta.get("format") != "pt":
        fail("metadata format %r, want 'pt'" % meta.get("format"))
    name, width = meta["backbone"], int(meta["width"])
    model, has_fc = backbone(name, width)
    enc = {k: v for k, v in tensors.items() if not k.startswith("head.")}
    res = model.load_state_dict(enc, strict=not has_fc)
    want_missing = ["fc.weight", "fc.bias"] if has_fc else []
    if sorted(res.missing_keys) != sorted(want_missing) or res.unexpected_keys:
        fail("load_state_dict: missing %s (want %s), unexpected %s" % (res.missing_keys, want_missing, res.unexpected_keys))
    if has_fc:
        model.fc = nn.Identity()
    model.eval()

    x = torch.from_numpy(np.fromfile(args.input, dtype="<f4").reshape(args.n, 3, args.size, args.size).copy())
    with torch.no_grad():
        feats = model(x).numpy()
    want = np.fromfile(args.features, dtype="<f4").reshape(args.n, -1)
    worst = {"features": compare("features", feats, want, args.tol, fail)}

    head = {k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")}
    if args.projection:
        if not head:
            fail("no head.* tensors")
        hidden, dim = head["0.weight"].shape[0], head["3.weight"].shape[0]
        proj_head = nn.Sequential(nn.Linear(feats.shape[1], hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, dim))
        proj_head.load_state_dict(head, strict=True)
        proj_head.eval()
        with torch.no_grad():
            proj = proj_head(torch.from_numpy(feats)).numpy()
        want = np.fromfile(args.projection, dtype="<f4").reshape(args.n, -1)
        worst["projection"] = compare("projection", proj, want, args.tol, fail)
    elif head:
        fail("head.* tensors in an export without the head")
    print(json.dumps({"backbone": name, "width": width, "tensors": len(tensors),
                      "missing": res.missing_keys, "metadata": meta, "worst_relative": worst}))


if __name__ == "__main__":
    main()
