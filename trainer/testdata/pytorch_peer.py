"""The PyTorch peer of `natssl bench train`: convnet-small at width 32 with the
Linear(256,256)-BN-ReLU-Linear(256,128) head, NT-Xent at temperature 0.5, Adam, 32 px,
batch 256 (512 views), on random images. Prints the median step time after warm-up.

Run with Debian's PyTorch: /usr/bin/python3 trainer/testdata/pytorch_peer.py [threads] [steps]
"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
torch.set_num_threads(threads)
torch.manual_seed(0)


def block(cin, cout, stride):
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


w = 32
encoder = nn.Sequential(*block(3, w, 1), *block(w, 2 * w, 2), *block(2 * w, 4 * w, 2), *block(4 * w, 8 * w, 2),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten())
head = nn.Sequential(nn.Linear(8 * w, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True), nn.Linear(256, 128))
model = nn.Sequential(encoder, head)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)


def nt_xent(z, temp=0.5):
    z = F.normalize(z, dim=1)
    n = z.shape[0] // 2
    s = z @ z.t() / temp
    s.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, target)


x = torch.randn(512, 3, 32, 32)
times = []
for i in range(2 + steps):
    t0 = time.perf_counter()
    loss = nt_xent(model(x))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if i >= 2:
        times.append(time.perf_counter() - t0)
times.sort()
print(f"pytorch {torch.__version__} threads {threads}: median step {times[len(times) // 2]:.3f} s "
      f"({512 // 2 / times[len(times) // 2]:.1f} images/s), params {sum(p.numel() for p in model.parameters())}")
