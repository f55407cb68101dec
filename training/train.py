#!/usr/bin/python3
"""Train the champion (SimpleCNN, 64x64) or the challenger (small ResNet, 128x128)
pneumonia classifier on tensors exported by the Go preprocessing (`hap tensors`),
choose the decision threshold on the validation split, evaluate on the test split,
and export ONNX (opset 17, dynamic batch) with the platform's metadata and a model
card (JSON and Markdown).

Training consumes the exact tensors that serving computes (same Go code), so
there is no training/serving skew by construction. The preprocessing spec the
tensors were made with is read from the exporter's fingerprint.json and copied
into the model's metadata.

Usage:
  train.py --arch simplecnn --tensors data/tensors/64 --out models --name pneumonia-simplecnn --version 1.0.0
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------
# Models


class SimpleCNN(nn.Module):
    """The seed's SimpleCNN: Conv 32 3x3, max-pool, Conv 64 3x3, max-pool,
    dense 64, dropout 0.5, one sigmoid output."""

    def __init__(self, size=64):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        s = ((size - 2) // 2 - 2) // 2
        self.fc1 = nn.Linear(64 * s * s, 64)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(64, 1)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.drop(F.relu(self.fc1(x)))
        return self.fc2(x)  # logit; sigmoid is appended for export


class Block(nn.Module):
    """Residual basic block with batch norm."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.skip is None else self.skip(x)))


class ResNetSmall(nn.Module):
    """Challenger: a small residual network with batch norm on a larger input."""

    def __init__(self, widths=(8, 16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            layers.append(Block(cin, w, 1 if i == 0 else 2))
            layers.append(Block(w, w, 1))
            cin = w
        self.layers = nn.Sequential(*layers)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(cin, 1)

    def forward(self, x):
        x = self.layers(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.drop(x))


class WithSigmoid(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image):
        return torch.sigmoid(self.net(image))


ARCHS = {
    "simplecnn": ("SimpleCNN", "Seed SimpleCNN: Conv32-3x3, max-pool, Conv64-3x3, max-pool, dense 64, dropout 0.5, sigmoid."),
    "resnet": ("ResNetSmall", "Residual CNN with batch norm on a 128x128 input (stride-2 stem, 4 stages x 2 basic blocks, widths 8-16-32-64), global average pooling, dropout 0.3, sigmoid."),
}


def build(arch, size):
    if arch == "simplecnn":
        return SimpleCNN(size)
    if arch == "resnet":
        return ResNetSmall()
    raise SystemExit(f"--arch {arch!r}: must be one of {', '.join(ARCHS)}")


# ----------------------------------------------------------------------------
# Data


def load_split(tdir, split):
    x = np.load(os.path.join(tdir, f"{split}_x.npy"))
    y = np.load(os.path.join(tdir, f"{split}_y.npy"))
    with open(os.path.join(tdir, f"{split}_index.json")) as f:
        index = json.load(f)
    if x.shape[0] != y.shape[0]:
        raise SystemExit(f"{split}: {x.shape[0]} images but {y.shape[0]} labels")
    return np.ascontiguousarray(x, dtype=np.float32), y.astype(np.float32), index


def augment(xb, gen):
    """Light, label-preserving augmentation: random shift up to 4% and brightness/
    contrast jitter. No horizontal flip: the heart is on the patient's left."""
    n, _, h, w = xb.shape
    m = max(1, int(round(0.04 * w)))
    dx = int(torch.randint(-m, m + 1, (1,), generator=gen))
    dy = int(torch.randint(-m, m + 1, (1,), generator=gen))
    xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
    a = 1 + 0.1 * (torch.rand((n, 1, 1, 1), generator=gen) * 2 - 1)
    b = 0.05 * (torch.rand((n, 1, 1, 1), generator=gen) * 2 - 1)
    return xb * a + b


# ----------------------------------------------------------------------------
# Metrics


def auc(y, p):
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula with ties."""
    y = np.asarray(y)
    p = np.asarray(p)
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sp = p[order]
    i = 0
    while i < len(sp):
        j = i
        while j + 1 < len(sp) and sp[j + 1] == sp[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    npos = y.sum()
    nneg = len(y) - npos
    if npos == 0 or nneg == 0:
        return float("nan")
    return float((ranks[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def metrics(y, p, thr):
    y = np.asarray(y).astype(int)
    pred = (np.asarray(p) >= thr).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    n = len(y)
    r = lambda a, b: float(a) / b if b else 0.0
    return {
        "n": n,
        "accuracy": r(tp + tn, n),
        "sensitivity": r(tp, tp + fn),
        "specificity": r(tn, tn + fp),
        "ppv": r(tp, tp + fp),
        "npv": r(tn, tn + fn),
        "auc": auc(y, p),
        "brier": float(np.mean((np.asarray(p) - y) ** 2)),
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
    }


def choose_threshold(y, p):
    """Youden's J on the validation split: the threshold maximising
    sensitivity + specificity - 1 (balanced accuracy); ties go to the lower
    threshold, which favours sensitivity (a missed pneumonia costs more)."""
    cands = np.unique(np.round(np.asarray(p, dtype=np.float64), 6))
    best_t, best_j = 0.5, -1.0
    for t in cands:
        m = metrics(y, p, t)
        j = m["sensitivity"] + m["specificity"] - 1
        if j > best_j + 1e-12:
            best_t, best_j = float(t), j
    # Place the threshold half-way to the next lower candidate so that tiny
    # numeric differences between runtimes do not flip cases sitting on it.
    lower = cands[cands < best_t]
    if len(lower):
        best_t = float((best_t + lower.max()) / 2)
    return round(best_t, 6)


# ----------------------------------------------------------------------------


def predict(net, x, batch=256):
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(torch.sigmoid(net(torch.from_numpy(x[i:i + batch]))).numpy()[:, 0])
    return np.concatenate(out).astype(np.float64)


def train(args, net, xtr, ytr, xva, yva, log):
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * math.ceil(len(xtr) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.2)
    best = (-1.0, None, 0)
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen).numpy()
        t0, total = time.time(), 0.0
        for i in range(0, len(perm), args.batch):
            idx = np.sort(perm[i:i + args.batch])
            xb = augment(torch.from_numpy(xtr[idx]), gen)
            yb = torch.from_numpy(ytr[idx]).unsqueeze(1)
            loss = F.binary_cross_entropy_with_logits(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        pva = predict(net, xva)
        m = metrics(yva, pva, 0.5)
        log(f"epoch {epoch + 1}/{args.epochs} loss {total / len(xtr):.4f} val_acc {m['accuracy']:.4f} val_auc {m['auc']:.4f} ({time.time() - t0:.1f}s)")
        if m["auc"] > best[0]:
            best = (m["auc"], {k: v.clone() for k, v in net.state_dict().items()}, epoch + 1)
    net.load_state_dict(best[1])
    log(f"kept epoch {best[2]} (best validation AUC {best[0]:.4f})")
    return best[2]


def export(args, net, spec, meta, path):
    import onnx

    wrapped = WithSigmoid(net).eval()
    dummy = torch.zeros(1, spec["channels"], spec["height"], spec["width"])
    tmp = path + ".tmp"
    torch.onnx.export(wrapped, dummy, tmp, input_names=["image"], output_names=["prob"],
                      dynamic_axes={"image": {0: "batch"}, "prob": {0: "batch"}}, opset_version=args.opset,
                      do_constant_folding=True)
    model = onnx.load(tmp)
    model.producer_name = "healthcare-ai-platform/training"
    model.doc_string = meta["description"]
    props = {"hap.metadata": json.dumps(meta, sort_keys=True), "hap.name": meta["name"], "hap.version": meta["version"]}
    del model.metadata_props[:]
    for k, v in props.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, tmp)
    os.replace(tmp, path)


def card_markdown(meta, size_bytes, sha):
    m = meta
    lines = [f"# Model card: {m['name']} {m['version']}", "", m["description"], "",
             "| field | value |", "|---|---|",
             f"| architecture | {m['architecture']} |",
             f"| input | `{m['input_name']}` float32 [N,{m['preprocess']['channels']},{m['preprocess']['height']},{m['preprocess']['width']}] ({m['preprocess']['resize']}, scale {m['preprocess']['scale']:.6g}, mean {m['preprocess']['mean']}, std {m['preprocess']['std']}) |",
             f"| output | `{m['output_name']}` P({m['positive_label']}) ({m['output']}) |",
             f"| threshold | {m['threshold']} ({m['threshold_rule']}) |",
             f"| parameters | {m['parameters']} |",
             f"| file | {size_bytes} bytes, sha256 {sha} |",
             f"| training data | {m['training_data']['source']}, fingerprint {m['training_data']['fingerprint']} |",
             f"| framework | {m['framework']}, ONNX opset {m['opset']} |",
             f"| trained | {m['training']['epochs']} epochs (kept epoch {m['training']['best_epoch']}), {m['training']['seconds']:.0f} s on {m['training']['threads']} CPU threads, seed {m['training']['seed']} |",
             "", "## Metrics", "",
             "| split | n | accuracy | sensitivity | specificity | PPV | NPV | AUC | Brier | TP | FP | TN | FN |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for split in ("val", "test"):
        s = m["metrics"][split]
        c = s["confusion"]
        lines.append(f"| {split} | {s['n']} | {s['accuracy']:.4f} | {s['sensitivity']:.4f} | {s['specificity']:.4f} | {s['ppv']:.4f} | {s['npv']:.4f} | {s['auc']:.4f} | {s['brier']:.4f} | {c['tp']} | {c['fp']} | {c['tn']} | {c['fn']} |")
    lines += ["", "## Calibration (test split)", "", "| predicted P | n | observed pneumonia rate |", "|---|---|---|"]
    for b in m["calibration"]:
        lines.append(f"| {b['lo']:.1f}-{b['hi']:.1f} | {b['n']} | {b['observed']:.3f} |")
    lines += ["", "## Intended use and limits", "",
              "Research and platform testing only. Trained and evaluated on the platform's synthetic chest X-rays, "
              "not on patient data: its metrics say nothing about clinical performance. Not a medical device.", ""]
    return "\n".join(lines)


def calibration(y, p, bins=10):
    out = []
    for i in range(bins):
        lo, hi = i / bins, (i + 1) / bins
        sel = (p >= lo) & ((p < hi) if i < bins - 1 else (p <= hi))
        n = int(sel.sum())
        out.append({"lo": lo, "hi": hi, "n": n, "observed": float(np.mean(y[sel])) if n else 0.0})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=sorted(ARCHS))
    ap.add_argument("--tensors", required=True, help="folder written by `hap tensors`")
    ap.add_argument("--out", required=True, help="output folder for <name>.onnx and model cards")
    ap.add_argument("--name", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--manifest", help="the synthetic data set's manifest.json, to make the parity images reproducible")
    ap.add_argument("--source", default="synthetic", help="where the training data came from (recorded in the metadata)")
    ap.add_argument("--parity", type=int, default=16, help="test images whose probabilities are stored for the Go parity test")
    args = ap.parse_args()

    def log(msg):
        print(f"[{args.name}] {msg}", flush=True)

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)

    with open(os.path.join(args.tensors, "fingerprint.json")) as f:
        fp = json.load(f)
    spec = fp["spec"]
    xtr, ytr, _ = load_split(args.tensors, "train")
    xva, yva, _ = load_split(args.tensors, "val")
    xte, yte, ite = load_split(args.tensors, "test")
    if xtr.shape[2] != spec["height"] or xtr.shape[3] != spec["width"]:
        raise SystemExit(f"tensors are {xtr.shape[2]}x{xtr.shape[3]} but the spec says {spec['height']}x{spec['width']}")
    log(f"train {len(xtr)} val {len(xva)} test {len(xte)} input {tuple(xtr.shape[1:])}")
    counts = {}
    for split, y in (("train", ytr), ("val", yva), ("test", yte)):
        counts[split] = {"NORMAL": int((y == 0).sum()), "PNEUMONIA": int((y == 1).sum())}

    net = build(args.arch, spec["width"])
    params = sum(p.numel() for p in net.parameters())
    t0 = time.time()
    best_epoch = train(args, net, xtr, ytr, xva, yva, log)
    seconds = time.time() - t0

    pva = predict(net, xva)
    thr = choose_threshold(yva, pva)
    pte = predict(net, xte)
    mva, mte = metrics(yva, pva, thr), metrics(yte, pte, thr)
    log(f"threshold {thr}; test accuracy {mte['accuracy']:.4f} sensitivity {mte['sensitivity']:.4f} specificity {mte['specificity']:.4f} auc {mte['auc']:.4f} brier {mte['brier']:.4f}")

    arch_name, desc = ARCHS[args.arch]
    meta = {
        "schema_version": 1,
        "name": args.name,
        "version": args.version,
        "architecture": arch_name,
        "description": desc,
        "labels": ["NORMAL", "PNEUMONIA"],
        "positive_label": "PNEUMONIA",
        "output": "sigmoid",
        "input_name": "image",
        "output_name": "prob",
        "threshold": thr,
        "threshold_rule": "Youden's J (max sensitivity+specificity-1) on the validation split; ties to the lower threshold",
        "preprocess": spec,
        "training_data": {"source": args.source, "fingerprint": "sha256:" + fp["dataset_sha256"], "counts": counts},
        "metrics": {"val": mva, "test": mte},
        "calibration": calibration(yte, pte),
        "parameters": params,
        "training": {"epochs": args.epochs, "best_epoch": best_epoch, "batch": args.batch, "lr": args.lr,
                     "seed": args.seed, "threads": args.threads, "seconds": round(seconds, 1)},
        "framework": f"pytorch {torch.__version__.split('a')[0]}",
        "opset": args.opset,
        "created_at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{args.name}.onnx")
    export(args, net, spec, meta, path)
    with open(path, "rb") as f:
        blob = f.read()
    sha = hashlib.sha256(blob).hexdigest()

    # Probabilities of the exported graph (sigmoid included) on the first test
    # images, for the Go parity test.
    k = min(args.parity, len(xte))
    wrapped = WithSigmoid(net).eval()
    with torch.no_grad():
        pk = wrapped(torch.from_numpy(xte[:k])).numpy()[:, 0]
    items = ite["items"][:k]
    files = [{"path": it["path"], "sha256": it["sha256"]} for it in items]
    parity = {"model": args.name, "model_sha256": sha, "tolerance": 1e-4, "spec": spec,
              "dataset_sha256": fp["dataset_sha256"], "files": files,
              "probabilities": [float(v) for v in pk]}
    if args.manifest:
        # How to regenerate the parity images byte for byte (the Go test does).
        with open(args.manifest) as f:
            man = json.load(f)
        recs = {r["file"]: r for r in man["images"]}
        parity["generator"] = man["generator"]
        parity["generator_options"] = man["options"]
        for fe in files:
            r = recs[fe["path"]]
            fe.update({"split": r["split"], "class": fe["path"].split("/")[1], "index": r["index"]})
    with open(os.path.join(args.out, f"{args.name}.parity.json"), "w") as f:
        json.dump(parity, f, indent=1)
    card = dict(meta, file={"name": os.path.basename(path), "bytes": len(blob), "sha256": sha})
    with open(os.path.join(args.out, f"{args.name}.card.json"), "w") as f:
        json.dump(card, f, indent=1, sort_keys=True)
    with open(os.path.join(args.out, f"{args.name}.card.md"), "w") as f:
        f.write(card_markdown(meta, len(blob), sha))
    log(f"wrote {path} ({len(blob)} bytes, {params} parameters, trained in {seconds:.0f}s)")


if __name__ == "__main__":
    sys.exit(main())
