#!/usr/bin/env python3
"""Calibrates the map from YuNet's five landmarks to dlib's face chip.

Inputs: the detections siamface keeps in an `eval faces --cache` file (YuNet's eye centres, nose
tip and mouth corners for LFW photos) and dlib's five points for 1,000 of the same photos
(results/dlib-python/landmarks.json from `tools/dlib_reference.py landmarks`).

For each photo, siamface first fits YuNet's points onto a template on the chip (the similarity
S, weights 2, 2, 1, 0, 0). Here a linear map A predicts, from YuNet's points carried by S onto
the chip, where dlib's points land under S; siamface then fits those predicted points onto dlib's
mean face like dlib does. A is fitted on 800 photos and measured on the other 200: the mean
distance, in chip pixels, between dlib's points carried by our transform and dlib's mean face
(0 for dlib's own chip).

Usage: python3 tools/chip_calibration.py runs/lfw.json results/dlib-python/landmarks.json
Prints the Rust constant and the held-out errors. Needs numpy.
"""
import json
import sys

import numpy as np

CHIP = np.array([[110.96, 46.35], [89.61, 47.90], [37.06, 46.37], [58.41, 47.91], [74.01, 87.78]])
LFW_LANDMARKS = np.array([[104.8, 112.1], [146.3, 111.6], [126.1, 136.6], [108.3, 157.0], [144.1, 156.4]])
DLIB_IN_LFW = np.array([[153.518, 112.406], [137.469, 113.24], [96.544, 113.626], [112.76, 113.758], [125.85, 144.78]])
W = np.array([2.0, 2.0, 1.0, 0.0, 0.0])


def sim(src, dst, w=None):
    w = np.ones(len(src)) if w is None else w
    ms, md = (w[:, None] * src).sum(0) / w.sum(), (w[:, None] * dst).sum(0) / w.sum()
    p, q = src - ms, dst - md
    num_re = (w * (p[:, 0] * q[:, 0] + p[:, 1] * q[:, 1])).sum()
    num_im = (w * (p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0])).sum()
    den = (w * (p ** 2).sum(1)).sum()
    a, b = num_re / den, num_im / den
    return np.array([a, b, md[0] - (a * ms[0] - b * ms[1]), md[1] - (b * ms[0] + a * ms[1])])


def apply(z, pts):
    a, b, tx, ty = z
    return np.stack([a * pts[:, 0] - b * pts[:, 1] + tx, b * pts[:, 0] + a * pts[:, 1] + ty], 1)


def main(cache, marks):
    c = json.load(open(cache))
    yun = {f"{n}/{n}_{k:04d}.jpg": d for (n, k), d in zip(c["faces"], c["detections"]) if d}
    dl = json.load(open(marks))["per_image"]
    keys = [k for k in dl if k in yun]
    F = sim(DLIB_IN_LFW, CHIP)
    template = apply(F, LFW_LANDMARKS)
    X, Y, S, D = [], [], [], []
    for k in keys:
        y = np.array(yun[k]["landmarks"], dtype=float)
        d = np.array(dl[k], dtype=float)
        s = sim(y, template, W)
        X.append(np.append(apply(s, y).ravel(), 1.0))
        Y.append(apply(s, d).ravel())
        S.append(s)
        D.append(d)
    X, Y = np.array(X), np.array(Y)
    n = len(keys)
    tr, te = np.arange(n) < int(0.8 * n), np.arange(n) >= int(0.8 * n)
    lam = 1e-3 * np.eye(X.shape[1])
    A = np.linalg.solve(X[tr].T @ X[tr] + lam, X[tr].T @ Y[tr])  # 11 x 10

    def err(idx, corrected):
        e = []
        for i in np.where(idx)[0]:
            s, d = S[i], D[i]
            ours = s
            if corrected:
                pred = (X[i] @ A).reshape(5, 2)
                r = sim(pred, CHIP)
                a1, b1, x1, y1 = s
                a2, b2, x2, y2 = r
                ours = np.array([a2 * a1 - b2 * b1, a2 * b1 + b2 * a1, a2 * x1 - b2 * y1 + x2, b2 * x1 + a2 * y1 + y2])
            e.append(np.linalg.norm(apply(ours, d) - CHIP, axis=1).mean())
        return float(np.mean(e))

    print(f"photos {n}; held-out mean point error on the chip: template {err(te, False):.2f} px, corrected {err(te, True):.2f} px; training {err(tr, False):.2f} / {err(tr, True):.2f}")
    rows = ",\n    ".join("[" + ", ".join(f"{v:.6}" for v in row) + "]" for row in A.T)
    print(f"pub const CHIP_CORRECTION: [[f32; 11]; 10] = [\n    {rows},\n];")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
