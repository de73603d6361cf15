#!/usr/bin/python3
"""Reference values for report/scipy_test.go: SciPy's own numbers for the statistics a natssl
report states, on data made here with a fixed seed.

Run with Debian's python3-scipy (1.10):  /usr/bin/python3 report/testdata/stats_reference.py
It rewrites report/testdata/stats_reference.json beside this file.

- wilson:  scipy.stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
- sign:    scipy.stats.binomtest(won, won + lost, 0.5).pvalue (two-sided)
- bootstrap: scipy.stats.bootstrap(method="percentile", confidence_level=0.95) over the test
  images of two runs A and B on 12 tasks, resampled within tasks (each task one sample of a
  multi-sample statistic, which SciPy resamples independently):
    mean_a        mean over tasks of A's accuracy
    cluster_a     the same over the tasks of each cluster
    paired_diff   B - A on the same images (each task's sample is the per-image difference)
    unpaired_diff B - A with A's and B's images resampled apart
  with the bootstrap standard error (the standard deviation of the bootstrap distribution).
- seeds:   numpy mean and std(ddof=1) of per-seed means.
"""
import json
import os

import numpy as np
import scipy
from scipy import stats

N_RESAMPLES = 100_000
data_rng = np.random.default_rng(20261128)

wilson = []
for k, n in [(0, 10), (10, 10), (1, 1), (0, 1), (37, 50), (180, 200), (99, 200), (3, 7), (1, 40), (155, 156)]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    wilson.append({"k": k, "n": n, "lo": ci.low, "hi": ci.high})

sign = []
for won, lost in [(10, 0), (0, 10), (8, 2), (6, 4), (5, 5), (1, 12), (0, 1), (88, 70), (120, 40), (3, 0), (7, 8)]:
    sign.append({"won": won, "lost": lost, "p": stats.binomtest(won, won + lost, 0.5).pvalue})

tasks = []
for t in range(12):
    n = int(data_rng.integers(30, 81))
    p_a = float(data_rng.uniform(0.55, 0.9))
    p_b = min(p_a + 0.05, 0.98)
    u = data_rng.uniform(size=n)
    a = (u < p_a).astype(int)
    b = ((u + 0.08 * data_rng.normal(size=n)) < p_b).astype(int)  # B mostly right where A is
    tasks.append({"name": f"task{t:02d}", "cluster": ["Birds", "Plants", "Fungi"][t % 3],
                  "a": a.tolist(), "b": b.tolist()})


def mean_of_means(*samples, axis=-1):
    return np.mean([s.mean(axis=axis) for s in samples], axis=0)


def boot(samples, statistic, seed):
    res = stats.bootstrap(samples, statistic, n_resamples=N_RESAMPLES, batch=5_000, vectorized=True,
                          method="percentile", confidence_level=0.95, random_state=np.random.default_rng(seed))
    return {"lo": float(res.confidence_interval.low), "hi": float(res.confidence_interval.high),
            "se": float(res.standard_error)}


A = [np.array(t["a"]) for t in tasks]
B = [np.array(t["b"]) for t in tasks]
bootstrap = {
    "n_resamples": N_RESAMPLES,
    "mean_a": boot(A, mean_of_means, 1),
    "cluster_a": {c: boot([a for a, t in zip(A, tasks) if t["cluster"] == c], mean_of_means, 2)
                  for c in ["Birds", "Plants", "Fungi"]},
    "paired_diff": boot([b - a for a, b in zip(A, B)], mean_of_means, 3),
    "unpaired_diff": boot(A + B, lambda *s, axis=-1: mean_of_means(*s[12:], axis=axis) - mean_of_means(*s[:12], axis=axis), 4),
}

seed_means = [0.7125, 0.6980, 0.7301]
seeds = {"values": seed_means, "mean": float(np.mean(seed_means)), "sd": float(np.std(seed_means, ddof=1))}

out = {"scipy": scipy.__version__, "numpy": np.__version__, "wilson": wilson, "sign": sign, "tasks": tasks,
       "bootstrap": bootstrap, "seeds": seeds}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stats_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(path)
