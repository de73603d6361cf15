#!/usr/bin/python3
"""Check a natssl ONNX export with the onnx package and run it with PyTorch.

The file must pass onnx.checker.check_model (with full_check: strict shape inference), use
opset 13 or later, declare the outputs natssl documents, and carry natssl's metadata. Then
its graph is run node by node with torch.nn.functional (onnx 1.12 has no runtime of its own:
this interpreter is the second runtime, PyTorch's kernels, not natssl's) on the images in
--input, and its outputs must match the features natssl computed (--features, --projection)
within --tol of each row's largest value.

Needs Debian's python3-onnx, python3-torch and python3-numpy (run with /usr/bin/python3).
Prints one JSON line on success; exits 1 with a message on any mismatch.
"""
import argparse
import json
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import onnx.shape_inference
import torch
import torch.nn.functional as F

from rowcheck import compare

REQUIRED_METADATA = ["natssl_version", "run_id", "config_hash", "step", "image_size",
                     "normalization_mean", "normalization_std", "backbone"]


def fail(msg):
    print("onnx_check: " + msg, file=sys.stderr)
    sys.exit(1)


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def conv(x, w, b, a):
    k = a.get("kernel_shape", list(w.shape[2:]))
    if list(w.shape[2:]) != list(k) or a.get("group", 1) != 1 or a.get("dilations", [1, 1]) != [1, 1]:
        fail("unsupported Conv attributes %s" % a)
    p = a.get("pads", [0, 0, 0, 0])
    if p[0] != p[2] or p[1] != p[3]:
        fail("asymmetric Conv pads %s" % p)
    return F.conv2d(x, w, b, stride=a.get("strides", [1, 1]), padding=(p[0], p[1]))


def max_pool(x, a):
    p = a.get("pads", [0, 0, 0, 0])
    if p[0] != p[2] or p[1] != p[3] or a.get("ceil_mode", 0) != 0:
        fail("unsupported MaxPool attributes %s" % a)
    return F.max_pool2d(x, a["kernel_shape"], stride=a.get("strides", [1, 1]), padding=(p[0], p[1]))


def gemm(x, w, b, a):
    if a.get("transA", 0):
        x = x.t()
    if a.get("transB", 0):
        w = w.t()
    y = a.get("alpha", 1.0) * (x @ w)
    return y if b is None else y + a.get("beta", 1.0) * b


def run(model, images):
    env = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    env[model.graph.input[0].name] = images
    for n in model.graph.node:
        a = attrs(n)
        i = [env[name] if name else None for name in n.input]
        op = n.op_type
        if op == "Conv":
            y = conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "BatchNormalization":
            y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], training=False, eps=a.get("epsilon", 1e-5))
        elif op == "Relu":
            y = F.relu(i[0])
        elif op == "MaxPool":
            y = max_pool(i[0], a)
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "GlobalAveragePool":
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Flatten":
            y = torch.flatten(i[0], a.get("axis", 1))
        elif op == "Gemm":
            y = gemm(i[0], i[1], i[2] if len(i) > 2 else None, a)
        else:
            fail("operator %s is not one natssl exports" % op)
        env[n.output[0]] = y
    return {o.name: env[o.name] for o in model.graph.output}


def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--input", required=True, help="raw float32 NCHW images")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--features", required=True, help="raw float32 features natssl computed")
    ap.add_argument("--projection", help="raw float32 projections natssl computed")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(1)

    model = onnx.load(args.model)
    onnx.checker.check_model(model, full_check=True)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 13:
        fail("opset %d, want 13 or later" % opset)
    meta = {p.key: p.value for p in model.metadata_props}
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        fail("metadata lacks %s" % missing)
    outputs = [o.name for o in model.graph.output]
    want_outputs = ["features"] + (["projection"] if args.projection else [])
    if outputs != want_outputs:
        fail("outputs %s, want %s" % (outputs, want_outputs))
    inp = model.graph.input[0]
    size = int(meta["image_size"])
    if size != args.size:
        fail("metadata image_size %d, want %d" % (size, args.size))
    if dims(inp) != ["batch", 3, size, size]:
        fail("input %s has shape %s" % (inp.name, dims(inp)))
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {v.name: dims(v) for v in list(inferred.graph.value_info) + list(inferred.graph.output)}

    x = np.fromfile(args.input, dtype="<f4").reshape(args.n, 3, size, size)
    with torch.no_grad():
        out = run(model, torch.from_numpy(x.copy()))
    feats = np.fromfile(args.features, dtype="<f4").reshape(args.n, -1)
    if shapes["features"] != ["batch", feats.shape[1]]:
        fail("inferred features shape %s, want [batch, %d]" % (shapes["features"], feats.shape[1]))
    worst = {"features": compare("features", out["features"].numpy(), feats, args.tol, fail)}
    if args.projection:
        proj = np.fromfile(args.projection, dtype="<f4").reshape(args.n, -1)
        worst["projection"] = compare("projection", out["projection"].numpy(), proj, args.tol, fail)
    ops = sorted({n.op_type for n in model.graph.node})
    print(json.dumps({"opset": opset, "ops": ops, "metadata": meta, "worst_relative": worst}))


if __name__ == "__main__":
    main()
