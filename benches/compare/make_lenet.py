"""Builds lenet_digits: a LeNet-5-sized CNN on scikit-learn's digits upsampled to 28x28.

    python make_lenet.py OUT_DIR

Writes OUT_DIR/{model.onnx, calibration.json, input.json, test.json, meta.json}
in the fixtures' format. Deterministic (fixed seeds).

Architecture (LeNet-5 shapes): input 1x1x28x28; Conv 6x5x5, Relu, AveragePool 2;
Conv 16x6x5x5, Relu, AveragePool 2; Flatten (256); Gemm 256x120, Relu;
Gemm 120x84, Relu; Gemm 84x10.

Training: the two convolutions are random (scaled Gaussian filters, fixed seed)
and only the three dense layers are trained (numpy, Adam, cross-entropy) on
the convolutional features — an honest, small-budget way to get a CNN of this
size with real accuracy without a deep-learning framework. The proving cost
depends on the shapes, not on how the weights were found.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits


def upsample(x8):
    """8x8 digits (0..16) -> 28x28 in [0, 1]: 3x nearest, then 2 pixels of padding."""
    x = np.kron(x8.reshape(-1, 8, 8), np.ones((1, 3, 3))) / 16.0
    return np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None, :, :].astype(np.float32)


def conv2d(x, w, b):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = h - kh + 1, wd - kw + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i:i + oh, j:j + ow]
    cols = cols.reshape(n, c * kh * kw, oh * ow)
    y = np.einsum("ok,nkp->nop", w.reshape(o, -1), cols) + b[None, :, None]
    return y.reshape(n, o, oh, ow)


def avgpool2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def features(x, p):
    h = avgpool2(np.maximum(conv2d(x, p["w1"], p["b1"]), 0))
    h = avgpool2(np.maximum(conv2d(h, p["w2"], p["b2"]), 0))
    return h.reshape(len(x), -1)


def main(out):
    rng = np.random.default_rng(5)
    d = load_digits()
    x, y = upsample(d.data), d.target
    idx = rng.permutation(len(x))
    test_idx, train_idx = idx[:450], idx[450:]
    p = {
        "w1": (rng.standard_normal((6, 1, 5, 5)) / 5.0).astype(np.float32),
        "b1": np.zeros(6, np.float32),
        "w2": (rng.standard_normal((16, 6, 5, 5)) / np.sqrt(150)).astype(np.float32),
        "b2": np.zeros(16, np.float32),
    }
    f_train = features(x[train_idx], p)
    scale = 1.0 / (f_train.std() + 1e-6)
    # Fold the feature scale into the second convolution so the network stays exact.
    p["w2"] *= scale
    p["b2"] *= scale
    f_train = features(x[train_idx], p)
    dims = [256, 120, 84, 10]
    ws = [(rng.standard_normal((dims[i + 1], dims[i])) * np.sqrt(2.0 / dims[i])).astype(np.float32) for i in range(3)]
    bs = [np.zeros(dims[i + 1], np.float32) for i in range(3)]
    params = ws + bs
    m = [np.zeros_like(q) for q in params]
    v = [np.zeros_like(q) for q in params]
    t = 0
    yt = y[train_idx]
    for epoch in range(60):
        order = rng.permutation(len(f_train))
        for s in range(0, len(order), 32):
            bi = order[s:s + 32]
            a0 = f_train[bi]
            z1 = a0 @ ws[0].T + bs[0]
            a1 = np.maximum(z1, 0)
            z2 = a1 @ ws[1].T + bs[1]
            a2 = np.maximum(z2, 0)
            z3 = a2 @ ws[2].T + bs[2]
            e = np.exp(z3 - z3.max(1, keepdims=True))
            prob = e / e.sum(1, keepdims=True)
            prob[np.arange(len(bi)), yt[bi]] -= 1
            g3 = prob / len(bi)
            g2 = (g3 @ ws[2]) * (z2 > 0)
            g1 = (g2 @ ws[1]) * (z1 > 0)
            grads = [g1.T @ a0, g2.T @ a1, g3.T @ a2, g1.sum(0), g2.sum(0), g3.sum(0)]
            t += 1
            for i, g in enumerate(grads):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                mh, vh = m[i] / (1 - 0.9 ** t), v[i] / (1 - 0.999 ** t)
                params[i] -= (1e-3 * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        ws, bs = params[:3], params[3:]

    def logits(xx):
        h = features(xx, p)
        for i in range(3):
            h = h @ ws[i].T + bs[i]
            if i < 2:
                h = np.maximum(h, 0)
        return h

    acc = float((logits(x[test_idx]).argmax(1) == y[test_idx]).mean())

    init = [numpy_helper.from_array(a, n) for a, n in [
        (p["w1"], "conv1.w"), (p["b1"], "conv1.b"), (p["w2"], "conv2.w"), (p["b2"], "conv2.b"),
        (ws[0], "fc1.w"), (bs[0], "fc1.b"), (ws[1], "fc2.w"), (bs[1], "fc2.b"), (ws[2], "fc3.w"), (bs[2], "fc3.b")]]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.w", "conv1.b"], ["c1"], name="conv1", kernel_shape=[5, 5],
                         strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("AveragePool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2],
                         pads=[0, 0, 0, 0]),
        helper.make_node("Conv", ["p1", "conv2.w", "conv2.b"], ["c2"], name="conv2", kernel_shape=[5, 5],
                         strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("AveragePool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2],
                         pads=[0, 0, 0, 0]),
        helper.make_node("Flatten", ["p2"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc1.w", "fc1.b"], ["g1"], name="fc1", transB=1),
        helper.make_node("Relu", ["g1"], ["h1"], name="relu3"),
        helper.make_node("Gemm", ["h1", "fc2.w", "fc2.b"], ["g2"], name="fc2", transB=1),
        helper.make_node("Relu", ["g2"], ["h2"], name="relu4"),
        helper.make_node("Gemm", ["h2", "fc3.w", "fc3.b"], ["output"], name="fc3", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "lenet_digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="zkinfer make_lenet.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(out, exist_ok=True)
    onnx.save(model, os.path.join(out, "model.onnx"))
    flat = lambda rows: [[round(float(v), 6) for v in r.reshape(-1)] for r in rows]
    json.dump({"input_data": flat(x[train_idx[:32]])}, open(os.path.join(out, "calibration.json"), "w"))
    json.dump({"input_data": flat(x[test_idx[:1]])}, open(os.path.join(out, "input.json"), "w"))
    json.dump({"input_data": flat(x[test_idx]), "labels": [int(v) for v in y[test_idx]]},
              open(os.path.join(out, "test.json"), "w"))
    meta = {"name": "lenet_digits", "architecture": "input 28x28 (digits 3x nearest + 2 px padding); Conv 6x5x5, Relu, "
            "AveragePool 2, Conv 16x6x5x5, Relu, AveragePool 2, Flatten, Gemm 256x120, Relu, Gemm 120x84, Relu, "
            "Gemm 84x10 (random convolutions, trained dense layers)", "input_shape": [1, 1, 28, 28],
            "float_test_accuracy": round(acc, 4), "test_samples": 450, "input_json_label": int(y[test_idx[0]])}
    json.dump(meta, open(os.path.join(out, "meta.json"), "w"), indent=1)
    print(f"wrote {out}: float test accuracy {acc:.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "lenet_digits")
