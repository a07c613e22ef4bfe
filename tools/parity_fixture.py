#!/usr/bin/env python3
"""Writes tests/fixtures/parity_tiny.safetensors: a tiny Siamese network computed by TensorFlow.

The Rust test `model_matches_tensorflow_parity_fixture` loads the weights and inputs from this
file, runs siamface's own forward and backward passes, and compares embeddings, logits, loss and
every gradient with what TensorFlow computed here (in float64).

Setup: python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0 numpy safetensors
Run:   /tmp/tfenv/bin/python tools/parity_fixture.py
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
import keras
from keras import layers
from safetensors.numpy import save_file

keras.config.set_floatx("float64")
CONFIG = {
    "height": 16, "width": 15, "channels": 2,
    "conv": [
        {"filters": 3, "kernel": 3, "pool": True},
        {"filters": 4, "kernel": 3, "pool": True},
        {"filters": 5, "kernel": 2, "pool": False},
    ],
    "embedding": 6,
}
rng = np.random.default_rng(20151)


def tower():
    inp = keras.Input((CONFIG["height"], CONFIG["width"], CONFIG["channels"]))
    x = inp
    for l in CONFIG["conv"]:
        x = layers.Conv2D(l["filters"], l["kernel"], activation="relu")(x)
        if l["pool"]:
            x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(CONFIG["embedding"], activation="sigmoid")(x))


t = tower()
head = layers.Dense(1)
head.build((None, CONFIG["embedding"]))

tensors = {}
# Weights drawn in float32 so that siamface reads exactly the values TensorFlow used.
convs = [l for l in t.layers if isinstance(l, layers.Conv2D)]
dense = [l for l in t.layers if isinstance(l, layers.Dense)][0]
named = [(f"conv{i + 1}", l) for i, l in enumerate(convs)] + [("dense", dense), ("head", head)]
for name, l in named:
    k, b = l.get_weights()
    sd = 0.3 if name.startswith("conv") else 0.5
    k32 = (rng.standard_normal(k.shape) * sd).astype(np.float32)
    b32 = (rng.standard_normal(b.shape) * 0.1 + (0.05 if name.startswith("conv") else 0.0)).astype(np.float32)
    if name == "head":
        k32 = k32.reshape(-1, 1)
    l.set_weights([k32.astype(np.float64), b32.astype(np.float64)])
    tensors[f"{name}.weight"] = k32.reshape(-1) if name == "head" else k32
    tensors[f"{name}.bias"] = b32

n = 5
images = rng.random((n, CONFIG["height"], CONFIG["width"], CONFIG["channels"])).astype(np.float32)
pairs = np.array([[0, 1], [2, 3], [0, 4], [4, 1], [3, 3]], dtype=np.int32)
labels = np.array([1, 0, 0, 1, 1], dtype=np.float32)

weights = t.trainable_variables + head.trainable_variables
with tf.GradientTape() as tape:
    emb = t(images.astype(np.float64))
    d = tf.abs(tf.gather(emb, pairs[:, 0]) - tf.gather(emb, pairs[:, 1]))
    logits = tf.reshape(head(d), [-1])
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels.astype(np.float64), logits))
grads = tape.gradient(loss, weights)
names = [f"{nm}.{p}" for nm, _ in named for p in ("weight", "bias")]
for nm, g in zip(names, grads):
    g = g.numpy().astype(np.float32)
    tensors["grad." + nm] = g.reshape(-1) if nm == "head.weight" else g

tensors["input"] = images
tensors["pairs"] = pairs
tensors["labels"] = labels
tensors["embedding"] = emb.numpy().astype(np.float32)
tensors["logits"] = logits.numpy().astype(np.float32)
tensors["loss"] = np.array([loss.numpy()], dtype=np.float32)
out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "parity_tiny.safetensors")
save_file(tensors, out, metadata={"siamface.config": json.dumps(CONFIG), "source": "tools/parity_fixture.py, TensorFlow " + tf.__version__})
print("wrote", os.path.normpath(out), "loss", float(loss))
