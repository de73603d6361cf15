"""Reference values of natssl's self-supervised losses, computed by PyTorch on fixed embeddings.

Each loss is written as its paper's (or solo-learn's) code writes it, in float64 with autograd
for the gradients, on random float32 embeddings (so that Go reads back the very same inputs):

  simclr    NT-Xent over every view; with multi-crop the positives of an anchor are the global
            views of its image (itself left out), the mean over (anchor, positive) pairs
  byol      solo-learn's multi-crop BYOL: for every global view t and every other view v,
            2 - 2 cos(p_v, z_t.detach()) averaged over the batch, summed over the pairs
  moco      solo-learn's mocov2plus_loss_func (normalised query and key, the queue of the key's
            view as negatives, cross-entropy at temperature T), the mean over the pairs (t, v);
            and the queues after the step's keys are enqueued at the pointer
  vicreg    the VICReg paper's official loss (facebookresearch/vicreg, main_vicreg.py)
  barlow    the Barlow Twins paper's official loss (facebookresearch/barlowtwins, main.py), its
            batch norm without affine parameters in training mode

Run with Debian's PyTorch (the pyenv python3 on PATH has none), from the repository root:

  /usr/bin/python3 trainer/testdata/ssl_losses_reference.py > trainer/testdata/ssl_losses_reference.json

TestLossesMatchPyTorch (trainer/losses_test.go) reads the JSON.
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(17)


def embeddings(views, n, d, spread=False):
    out = []
    for _ in range(views):
        z = torch.randn(n, d, dtype=torch.float32)
        if spread:  # features of different scales: some under VICReg's variance threshold
            z = z * (torch.rand(d, dtype=torch.float32) * 1.7 + 0.3)
        out.append(z)
    return out


def simclr(online, global_views, temp):
    v, n = len(online), online[0].shape[0]
    z = F.normalize(torch.cat(online), dim=1)
    logits = z @ z.T / temp
    logits.fill_diagonal_(float("-inf"))
    logp = F.log_softmax(logits, dim=1)
    terms = []
    for a in range(v):
        for t in range(global_views):
            if t == a:
                continue
            idx = torch.arange(n)
            terms.append(-logp[a * n + idx, t * n + idx])
    return torch.cat(terms).mean()


def byol(online, target):
    loss = 0
    for t in range(len(target)):
        for v in range(len(online)):
            if v == t:
                continue
            loss = loss + 2 - 2 * F.cosine_similarity(online[v], target[t].detach(), dim=-1).mean()
    return loss


def mocov2plus_loss_func(query, key, queue, temperature):
    pos = torch.einsum("nc,nc->n", [query, key]).unsqueeze(-1)
    neg = torch.einsum("nc,ck->nk", [query, queue])
    logits = torch.cat([pos, neg], dim=1) / temperature
    targets = torch.zeros(query.size(0), device=query.device, dtype=torch.long)
    return F.cross_entropy(logits, targets)


def moco(online, target, queues, temp):
    losses = []
    for t in range(len(target)):
        k = F.normalize(target[t].detach(), dim=1)
        for v in range(len(online)):
            if v == t:
                continue
            q = F.normalize(online[v], dim=1)
            losses.append(mocov2plus_loss_func(q, k, queues[t].T, temp))
    return sum(losses) / len(losses)


def off_diagonal(x):
    n, m = x.shape
    assert n == m
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def vicreg(x, y, sim_coeff, std_coeff, cov_coeff):
    batch_size, num_features = x.shape
    repr_loss = F.mse_loss(x, y)
    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)
    std_x = torch.sqrt(x.var(dim=0) + 0.0001)
    std_y = torch.sqrt(y.var(dim=0) + 0.0001)
    std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
    cov_x = (x.T @ x) / (batch_size - 1)
    cov_y = (y.T @ y) / (batch_size - 1)
    cov_loss = off_diagonal(cov_x).pow_(2).sum().div(num_features) + off_diagonal(cov_y).pow_(2).sum().div(num_features)
    return sim_coeff * repr_loss + std_coeff * std_loss + cov_coeff * cov_loss


def barlow(z1, z2, lambd):
    bn = torch.nn.BatchNorm1d(z1.shape[1], affine=False).double().train()
    c = bn(z1).T @ bn(z2)
    c.div_(z1.shape[0])
    on_diag = torch.diagonal(c).add_(-1).pow_(2).sum()
    off_diag = off_diagonal(c).pow_(2).sum()
    return on_diag + lambd * off_diag


def case(name, method, replicas, n, d, views, global_views, **kw):
    N = replicas * n
    online32 = embeddings(views, N, d, spread=method == "vicreg")
    online = [z.double().requires_grad_() for z in online32]
    out = {"name": name, "method": method, "replicas": replicas, "n": n, "d": d, "views": views,
           "global": global_views, "online": [z.flatten().tolist() for z in online32]}
    if method == "simclr":
        loss = simclr(online, global_views, kw["temperature"])
        out["temperature"] = kw["temperature"]
    elif method == "byol":
        target32 = embeddings(global_views, N, d)
        out["target"] = [z.flatten().tolist() for z in target32]
        loss = byol(online, [z.double() for z in target32])
    elif method == "moco":
        target32 = embeddings(global_views, N, d)
        K, ptr = kw["queue_size"], kw["ptr"]
        queues32 = [F.normalize(torch.randn(K, d), dim=1).float() for _ in range(global_views)]
        out.update(target=[z.flatten().tolist() for z in target32], queue_size=K, ptr=ptr,
                   temperature=kw["temperature"], queue=[q.flatten().tolist() for q in queues32])
        loss = moco(online, [z.double() for z in target32], [q.double() for q in queues32], kw["temperature"])
        after = []
        for t, q in enumerate(queues32):
            q = q.clone()
            q[ptr:ptr + N] = F.normalize(target32[t].double(), dim=1).float()
            after.append(q.flatten().tolist())
        out["queue_after"] = after
        out["ptr_after"] = (ptr + N) % K
    elif method == "vicreg":
        out.update(sim_coeff=kw["sim"], std_coeff=kw["std"], cov_coeff=kw["cov"])
        loss = vicreg(online[0], online[1], kw["sim"], kw["std"], kw["cov"])
    elif method == "barlow":
        out["lambda"] = kw["lambd"]
        loss = barlow(online[0], online[1], kw["lambd"])
    loss.backward()
    out["loss"] = loss.item()
    out["grad"] = [z.grad.flatten().tolist() for z in online]
    return out


cases = [
    case("simclr", "simclr", 2, 3, 5, 2, 2, temperature=0.5),
    case("simclr multi-crop", "simclr", 2, 3, 5, 5, 2, temperature=0.2),
    case("byol", "byol", 2, 3, 6, 2, 2),
    case("byol multi-crop", "byol", 1, 4, 6, 4, 2),
    case("moco", "moco", 2, 3, 5, 2, 2, queue_size=18, ptr=6, temperature=0.2),
    case("moco multi-crop", "moco", 2, 2, 4, 4, 2, queue_size=8, ptr=4, temperature=0.5),
    case("vicreg", "vicreg", 2, 4, 6, 2, 2, sim=25.0, std=25.0, cov=1.0),
    case("barlow", "barlow", 2, 4, 6, 2, 2, lambd=0.0051),
    case("barlow large lambda", "barlow", 1, 5, 4, 2, 2, lambd=0.3),
]
json.dump({"torch": torch.__version__, "cases": cases}, sys.stdout, indent=1)
sys.stdout.write("\n")
