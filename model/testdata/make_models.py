#!/usr/bin/python3
"""Build the tiny ONNX test models used by the Go tests of model/ and model/onnxrt/.

Run from anywhere (needs only python3-onnx, Debian 12: onnx 1.12):

    /usr/bin/python3 model/testdata/make_models.py

The output is deterministic (fixed weights, fixed metadata, no timestamps), so
running it again must leave `git status` clean. The Go tests read the committed
.onnx files; CI does not need Python.

Every model maps an image batch x of shape [N, C, 64, 64] (float32, N dynamic)
to P(PNEUMONIA) through the mean pixel value m = mean(x[i]) of each item:

  tiny-sigmoid.onnx    GlobalAveragePool -> Flatten -> Gemm(1 unit) -> Sigmoid
                       output "prob" [N,1];   p = sigmoid(4*m - 2)      output="sigmoid"
  tiny-softmax.onnx    ... -> Gemm(2 units) -> Softmax(axis=1)
                       output "prob" [N,2];   p = softmax(z)[1], z = (-1.5*m + 0.5, 1.5*m - 0.5)
                       i.e. p = sigmoid(3*m - 1)                        output="softmax"
  tiny-logit.onnx      ... -> Gemm(1 unit), no activation
                       output "logit" [N,1];  p = sigmoid(-4*m + 1)     output="logit"
  tiny-nometa.onnx     the sigmoid model without any metadata_props
  tiny-mismatch.onnx   input [N,3,64,64] while its metadata says channels=1
  tiny-cnn.onnx        a small 2-conv CNN (Conv 1->8, Relu, MaxPool, Conv 8->16, Relu,
                       MaxPool, GlobalAveragePool, Gemm 16->1, Sigmoid) with fixed
                       pseudo-random weights: realistic cost for the benchmarks and
                       the batch-versus-single test; no analytic output

Pixel values that are multiples of 1/256 keep every partial sum of the mean
exact in float32, so the tests can compare with the analytic value at 1e-6.

tiny-sigmoid.card.json is the model card written next to the model, as the
training pipeline does (<name>.card.json).
"""
import json
import os

import onnx
from onnx import TensorProto, helper

OUT = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
SIZE = 64


def metadata(name, output, output_name, description, channels=1):
    return {
        "schema_version": 1,
        "name": name,
        "version": "0.0.1",
        "architecture": "TinyMean",
        "description": description,
        "labels": ["NORMAL", "PNEUMONIA"],
        "positive_label": "PNEUMONIA",
        "output": output,
        "input_name": "image",
        "output_name": output_name,
        "threshold": 0.5,
        "threshold_rule": "fixed 0.5 (test fixture)",
        "preprocess": {
            "width": SIZE,
            "height": SIZE,
            "channels": channels,
            "layout": "NCHW",
            "color": "gray-bt601",
            "resize": "block-mean-area",
            "scale": 1.0 / 255.0,
            "mean": 0.5,
            "std": 0.25,
        },
        "training_data": {
            "source": "synthetic (test fixture)",
            "fingerprint": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "counts": {
                "train": {"NORMAL": 10, "PNEUMONIA": 20},
                "val": {"NORMAL": 2, "PNEUMONIA": 4},
                "test": {"NORMAL": 3, "PNEUMONIA": 5},
            },
        },
        "metrics": {
            "test": {
                "n": 8,
                "accuracy": 0.75,
                "sensitivity": 0.8,
                "specificity": 0.6666666666666666,
                "auc": 0.8,
                "brier": 0.2,
                "confusion": {"tp": 4, "fp": 1, "tn": 2, "fn": 1},
            }
        },
        "framework": "onnx %s (helper)" % onnx.__version__,
        "opset": OPSET,
        "created_at": "2025-01-01T00:00:00Z",
    }


def build(weights, bias, activation, output_name, channels=1):
    """GlobalAveragePool -> Flatten -> Gemm(weights, bias) [-> activation]."""
    units = len(weights)
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
    ]
    gemm_out = output_name if activation is None else "z"
    nodes.append(helper.make_node("Gemm", ["flat", "W", "B"], [gemm_out], transB=1))
    if activation == "Sigmoid":
        nodes.append(helper.make_node("Sigmoid", ["z"], [output_name]))
    elif activation == "Softmax":
        nodes.append(helper.make_node("Softmax", ["z"], [output_name], axis=1))
    # W is [units, channels]: every channel's mean gets the same weight / channels,
    # so a C-channel model still computes a function of the overall mean.
    w = [v / channels for v in weights for _ in range(channels)]
    inits = [
        helper.make_tensor("W", TensorProto.FLOAT, [units, channels], w),
        helper.make_tensor("B", TensorProto.FLOAT, [units], bias),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_mean",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", channels, SIZE, SIZE])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", units])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="hap-testdata",
        producer_version="1",
    )
    onnx.checker.check_model(model)
    return model


def pseudo_random(n, seed, scale):
    """n deterministic weights in [-scale, scale] (no RNG: identical on every machine)."""
    return [((i * 7919 + seed * 104729) % 2001 - 1000) / 1000.0 * scale for i in range(n)]


def build_cnn():
    nodes = [
        helper.make_node("Conv", ["image", "W1", "B1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "W2", "B2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "W3", "B3"], ["z"], transB=1),
        helper.make_node("Sigmoid", ["z"], ["prob"]),
    ]
    inits = [
        helper.make_tensor("W1", TensorProto.FLOAT, [8, 1, 3, 3], pseudo_random(8 * 9, 1, 0.5)),
        helper.make_tensor("B1", TensorProto.FLOAT, [8], pseudo_random(8, 2, 0.1)),
        helper.make_tensor("W2", TensorProto.FLOAT, [16, 8, 3, 3], pseudo_random(16 * 8 * 9, 3, 0.2)),
        helper.make_tensor("B2", TensorProto.FLOAT, [16], pseudo_random(16, 4, 0.1)),
        helper.make_tensor("W3", TensorProto.FLOAT, [1, 16], pseudo_random(16, 5, 1.0)),
        helper.make_tensor("B3", TensorProto.FLOAT, [1], [0.0]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, SIZE, SIZE])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 1])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="hap-testdata",
        producer_version="1",
    )
    onnx.checker.check_model(model)
    return model


def with_metadata(model, meta):
    helper.set_model_props(
        model,
        {
            "hap.metadata": json.dumps(meta, sort_keys=True),
            "hap.name": meta["name"],
            "hap.version": meta["version"],
        },
    )
    return model


def save(model, filename):
    path = os.path.join(OUT, filename)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    print("%s (%d bytes)" % (path, os.path.getsize(path)))


def main():
    sig_meta = metadata("tiny-sigmoid", "sigmoid", "prob", "test fixture: p = sigmoid(4*mean(x) - 2)")
    save(with_metadata(build([4.0], [-2.0], "Sigmoid", "prob"), sig_meta), "tiny-sigmoid.onnx")
    card = os.path.join(OUT, sig_meta["name"] + ".card.json")
    with open(card, "w") as f:
        json.dump(sig_meta, f, indent=2, sort_keys=True)
        f.write("\n")
    print(card)

    save(
        with_metadata(
            build([-1.5, 1.5], [0.5, -0.5], "Softmax", "prob"),
            metadata("tiny-softmax", "softmax", "prob", "test fixture: p = softmax(-1.5m+0.5, 1.5m-0.5)[1] = sigmoid(3*mean(x) - 1)"),
        ),
        "tiny-softmax.onnx",
    )
    save(
        with_metadata(
            build([-4.0], [1.0], None, "logit"),
            metadata("tiny-logit", "logit", "logit", "test fixture: logit = -4*mean(x) + 1"),
        ),
        "tiny-logit.onnx",
    )
    save(build([4.0], [-2.0], "Sigmoid", "prob"), "tiny-nometa.onnx")
    save(
        with_metadata(
            build([4.0], [-2.0], "Sigmoid", "prob", channels=3),
            metadata("tiny-mismatch", "sigmoid", "prob", "test fixture: 3-channel graph, metadata says 1 channel", channels=1),
        ),
        "tiny-mismatch.onnx",
    )
    cnn_meta = metadata("tiny-cnn", "sigmoid", "prob", "test fixture: 2-conv CNN with fixed pseudo-random weights")
    cnn_meta["architecture"] = "TinyCNN"
    save(with_metadata(build_cnn(), cnn_meta), "tiny-cnn.onnx")


if __name__ == "__main__":
    main()
