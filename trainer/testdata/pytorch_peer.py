"""The PyTorch peer of `natssl bench train`: the same model, loss, optimizer, batch and thread
count, on the same device, timed the same way (forward, NT-Xent, backward, AdamW update on one
fixed random batch; the median step after warm-up, on a GPU to the end of the update).

Models, as natssl builds them (trainer/architectures.go):
  convnet-small   four conv3x3-BN-ReLU (widths w, 2w, 4w, 8w; strides 1, 2, 2, 2), average pool
  resnet18-cifar  conv3x3 stem (no max-pool) and the four stages of two basic blocks of
                  ResNet-18 (widths w, 2w, 4w, 8w), average pool
  resnet18        conv7x7/2 stem and 3x3/2 max-pool, then ResNet-18's stages
  resnet50        the same stem, then ResNet-50's bottleneck stages (3, 4, 6, 3 blocks, the
                  stride on the 3x3 convolution), average pool: 32w features
each followed by the head Linear(features, hidden)-BN-ReLU-Linear(hidden, dim) and NT-Xent over
the 2·batch views at temperature 0.5.

On the CPU, run with Debian's PyTorch (the pyenv python3 on PATH has none):

  /usr/bin/python3 trainer/testdata/pytorch_peer.py --model resnet18-cifar --width 64 \
      --size 32 --batch 64 --proj-hidden 512 --threads 2

On a GPU, --device cuda and --precision fp32 (no TF32 anywhere, cuDNN's convolutions
included, as natssl's train.precision fp32) or tf32 (TF32 for matrix products and cuDNN's
convolutions, as natssl's tf32):

  python3 trainer/testdata/pytorch_peer.py --device cuda --precision tf32 --model resnet50 \
      --width 64 --size 224 --batch 256 --proj-hidden 2048

The last line of stdout is one JSON object: model, batch, image_size, threads, device,
precision, step_s, images_per_s, params, torch, peak_rss_bytes.
"""
import argparse
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(cin, cout, k, stride, relu):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, 3, stride, True), *conv_bn(cout, cout, 3, 1, False))
        self.short = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(*conv_bn(cin, cout, 1, stride, False))

    def forward(self, x):
        return F.relu(self.body(x) + self.short(x))


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = 4 * width
        self.body = nn.Sequential(*conv_bn(cin, width, 1, 1, True), *conv_bn(width, width, 3, stride, True),
                                  *conv_bn(width, cout, 1, 1, False))
        self.short = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(*conv_bn(cin, cout, 1, stride, False))

    def forward(self, x):
        return F.relu(self.body(x) + self.short(x))


def features(backbone, w):
    return 32 * w if backbone == "resnet50" else 8 * w


def encoder(backbone, w):
    if backbone in ("resnet18", "resnet50"):
        layers, cin = conv_bn(3, w, 7, 2, True) + [nn.MaxPool2d(3, 2, 1)], w
        for s, n in enumerate((3, 4, 6, 3) if backbone == "resnet50" else (2, 2, 2, 2)):
            for blk in range(n):
                stride = 2 if s > 0 and blk == 0 else 1
                if backbone == "resnet50":
                    layers.append(Bottleneck(cin, w << s, stride))
                    cin = 4 * (w << s)
                else:
                    layers.append(BasicBlock(cin, w << s, stride))
                    cin = w << s
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if backbone == "convnet-small":
        layers, cin = [], 3
        for cout, stride in ((w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)):
            layers += conv_bn(cin, cout, 3, stride, True)
            cin = cout
    elif backbone == "resnet18-cifar":
        layers, cin = conv_bn(3, w, 3, 1, True), w
        for s, cout in enumerate((w, 2 * w, 4 * w, 8 * w)):
            for blk in range(2):
                layers.append(BasicBlock(cin, cout, 2 if s > 0 and blk == 0 else 1))
                cin = cout
    else:
        sys.exit(f"pytorch_peer: unknown model {backbone!r} (want convnet-small, resnet18-cifar, resnet18 or resnet50)")
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def nt_xent(z, temp):
    z = F.normalize(z, dim=1)
    n = z.shape[0] // 2
    s = z @ z.t() / temp
    s.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(s, target)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="convnet-small")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=256, help="images per step (2·batch views)")
    p.add_argument("--proj-hidden", type=int, default=256)
    p.add_argument("--proj-dim", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=1e-6)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda:0)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32"),
                   help="on a GPU: TF32 in matrix products and cuDNN's convolutions, or not")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    gpu = dev.type == "cuda"
    if gpu:
        tf32 = a.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32  # PyTorch's default is True: fp32 must say False
        torch.backends.cudnn.benchmark = True
    w = a.width
    head = nn.Sequential(nn.Linear(features(a.model, w), a.proj_hidden), nn.BatchNorm1d(a.proj_hidden),
                         nn.ReLU(inplace=True), nn.Linear(a.proj_hidden, a.proj_dim))
    model = nn.Sequential(encoder(a.model, w), head).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    x = torch.randn(2 * a.batch, 3, a.size, a.size, device=dev)
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = nt_xent(model(x), a.temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if gpu:
            torch.cuda.synchronize(dev)
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    res = {
        "model": f"{a.model} w={w} head {features(a.model, w)}-{a.proj_hidden}-{a.proj_dim}",
        "batch": a.batch, "image_size": a.size, "threads": a.threads, "device": a.device,
        "precision": a.precision if gpu else "fp32",
        "step_s": med, "images_per_s": a.batch / med,
        "params": sum(q.numel() for q in model.parameters()), "torch": torch.__version__,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print(f"pytorch {torch.__version__} {res['model']}, batch {a.batch} at {a.size} px on {a.device} "
          f"({res['precision']}), threads {a.threads}: median step {med:.3f} s ({res['images_per_s']:.1f} images/s)")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
