"""Row-by-row comparison shared by onnx_check.py and torch_check.py."""

import numpy as np


def compare(what, got, want, tol, fail):
    """The largest relative difference of got from want over rows, each row within tol of its
    largest magnitude; fail(msg) is called on the first row that is not, or on a shape mismatch."""
    if got.shape != want.shape:
        fail("%s: shape %s, want %s" % (what, tuple(got.shape), tuple(want.shape)))
    worst = 0.0
    for r in range(want.shape[0]):
        scale = float(np.abs(want[r]).max())
        diff = float(np.abs(got[r] - want[r]).max())
        if not scale > 0 or not diff <= tol * scale:
            fail("%s: row %d differs by %.3g (largest value %.3g, allowed %.3g)" % (what, r, diff, scale, tol * scale))
        worst = max(worst, diff / scale)
    return worst
