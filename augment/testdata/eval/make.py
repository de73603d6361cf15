#!/usr/bin/python3
"""Regenerates the EvalView references: torchvision's Resize(S) + CenterCrop(S) on PIL images.

Run from augment/: /usr/bin/python3 testdata/eval/make.py
"""
import torchvision.transforms as T
from PIL import Image

for name in ["photo500", "nature_small", "fmnist_shirt"]:
    im = Image.open("testdata/%s.jpg" % name).convert("RGB")
    for s in [24, 64, 96, 224]:
        T.Compose([T.Resize(s), T.CenterCrop(s)])(im).save("testdata/eval/%s_%d.png" % (name, s))
