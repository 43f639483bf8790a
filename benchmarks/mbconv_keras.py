"""Keras (tf.keras 2.15) twin of engine/models/arch-model.ts, for benchmarks/peers.ts.

Reads an arch.json (the engine's ArchSpec, blocks as objects) and builds the identical network
from built-in tf.keras layers, NHWC: "same" padding, no conv bias before BatchNorm, BatchNorm
epsilon and momentum from the spec (Keras and tfjs-layers share the momentum convention), SE on
the block's input channels with biased 1x1 convs, drop-connect as per-example Dropout on the
residual branch, dropout before the classifier.

Training is the engine trainer's recipe: cross-entropy with label smoothing 0.1 plus 5e-5/2 x the
sum of squared conv and dense kernels, SGD lr 0.05 momentum 0.9. Modes:
  graph: the step as one `tf.function` (jit_compile off), what a Keras user's compiled
         model.fit / train_on_batch step amounts to;
  eager: the same step without tf.function, op by op through TensorFlow's eager runtime (the way
         tfjs-node runs our engine's step, so it separates the runtime from the JavaScript side).
Inference times `tf.function(model(x, training=False))` at batch 1.

Threads: tf.config.threading sets intra-op and inter-op threads before any op runs.

  python benchmarks/mbconv_keras.py ARCH [--batch N] [--steps N] [--warmup N] [--mode graph|eager]
      [--inference] [--runs N] [--threads N]
  python benchmarks/mbconv_keras.py --serve [--threads N]   # peers.ts's worker, JSON lines
"""
import argparse
import json
import os
import statistics
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402 -- after the log level, which it reads on import

LABEL_SMOOTHING = 0.1
WEIGHT_DECAY = 5e-5
LEARNING_RATE = 0.05
MOMENTUM = 0.9
MODES = ("graph", "eager")

layers = tf.keras.layers


def act(x, kind, name):
    if kind == "relu6":
        # Keras' backend maps max_value 6 to tf.nn.relu6, the kernel tfjs-node runs.
        return layers.ReLU(6.0, name=name)(x)
    if kind == "relu":
        return layers.ReLU(name=name)(x)
    return layers.Activation(kind, name=name)(x)  # swish (tf.nn.silu) or sigmoid


def bn(x, arch, name):
    c = arch["batchNorm"]
    return layers.BatchNormalization(axis=-1, momentum=c["momentum"], epsilon=c["epsilon"], name=name)(x)


def conv_bn_act(x, filters, kernel, stride, arch, name, activation=True):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = bn(x, arch, f"{name}_bn")
    return act(x, arch["activation"], f"{name}_act") if activation else x


def depthwise_bn_act(x, kernel, stride, arch, name):
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dwconv")(x)
    x = bn(x, arch, f"{name}_bn")
    return act(x, arch["activation"], f"{name}_act")


def squeeze_excite(x, block_in, ratio, arch, name):
    channels = x.shape[-1]
    reduced = max(1, int(block_in * ratio))
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Conv2D(reduced, 1, padding="same", use_bias=True, name=f"{name}_reduce")(s)
    s = act(s, arch["activation"], f"{name}_reduce_act")
    s = layers.Conv2D(channels, 1, padding="same", use_bias=True, name=f"{name}_expand")(s)
    s = layers.Activation("sigmoid", name=f"{name}_gate")(s)
    return layers.Multiply(name=f"{name}_excite")([x, s])


def mbconv(x, cin, cout, e, k, s, se, drop, arch, name):
    y = x
    if e != 1:
        y = conv_bn_act(y, cin * e, 1, 1, arch, f"{name}_expand")
    y = depthwise_bn_act(y, k, s, arch, f"{name}_dw")
    if se > 0:
        y = squeeze_excite(y, cin, se, arch, f"{name}_se")
    y = conv_bn_act(y, cout, 1, 1, arch, f"{name}_project", activation=False)
    if not (s == 1 and cin == cout):
        return y
    if drop > 0:
        # One keep/drop decision per example, scaled by 1/keep: the engine's drop-connect.
        y = layers.Dropout(drop, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(y)
    return layers.Add(name=f"{name}_add")([y, x])


def build(arch):
    tf.keras.utils.set_random_seed(0)
    r = arch["resolution"]
    inputs = tf.keras.Input((r, r, arch["inputChannels"]), name="image")
    stem = arch["stem"]
    x = conv_bn_act(inputs, stem["channels"], stem["kernel"], stem["stride"], arch, "stem")
    unrolled = []
    cin = stem["channels"]
    for b in arch["blocks"]:
        for copy in range(b.get("repeats", 1)):
            unrolled.append((cin, b["outChannels"], b["expansion"], b["kernel"], b["stride"] if copy == 0 else 1, b.get("seRatio", 0)))
            cin = b["outChannels"]
    for i, (ci, co, e, k, s, se) in enumerate(unrolled):
        x = mbconv(x, ci, co, e, k, s, se, arch["dropConnect"] * i / len(unrolled), arch, f"block{i + 1}")
    if arch.get("headChannels") is not None:
        x = conv_bn_act(x, arch["headChannels"], 1, 1, arch, "head")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if arch["dropout"] > 0:
        x = layers.Dropout(arch["dropout"], name="top_dropout")(x)
    logits = layers.Dense(arch["numClasses"], name="predictions")(x)
    return tf.keras.Model(inputs, logits, name="arch")


def count_params(model):
    """Weights plus BatchNorm's moving statistics: the engine's countParams(model).total."""
    return int(model.count_params())


class Trainer:
    def __init__(self, arch, batch, mode):
        self.model = build(arch)
        r = arch["resolution"]
        self.xs = tf.random.uniform((batch, r, r, arch["inputChannels"]), seed=1)
        self.ys = tf.one_hot(tf.random.uniform((batch,), 0, arch["numClasses"], dtype=tf.int32, seed=2), arch["numClasses"])
        self.opt = tf.keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM, jit_compile=False)
        ce = tf.keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=LABEL_SMOOTHING)
        variables = self.model.trainable_variables
        # Conv, depthwise and dense kernels, not biases or BatchNorm: the engine's isKernel.
        kernels = [v for v in variables if v.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel")]

        def step(x, y):
            with tf.GradientTape() as tape:
                loss = ce(y, self.model(x, training=True))
                loss += WEIGHT_DECAY / 2 * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
            grads = tape.gradient(loss, variables)
            self.opt.apply_gradients(zip(grads, variables))
            return loss

        self.step_fn = tf.function(step, jit_compile=False) if mode == "graph" else step
        self.params = count_params(self.model)

    def step(self):
        return float(self.step_fn(self.xs, self.ys).numpy())


class Inferer:
    def __init__(self, arch, mode):
        self.model = build(arch)
        r = arch["resolution"]
        self.x = tf.random.uniform((1, r, r, arch["inputChannels"]), seed=1)
        call = lambda x: self.model(x, training=False)  # noqa: E731
        self.f = tf.function(call, jit_compile=False) if mode == "graph" else call
        self.params = count_params(self.model)

    def run(self):
        return float(self.f(self.x)[0, 0].numpy())


def timed(f):
    c0, t0 = time.process_time(), time.perf_counter()
    out = f()
    seconds = time.perf_counter() - t0
    return out, seconds, (time.process_time() - c0) / seconds


def threads():
    return {"intraOp": tf.config.threading.get_intra_op_parallelism_threads(), "interOp": tf.config.threading.get_inter_op_parallelism_threads()}


def run_steps(trainer, steps, max_seconds):
    """Up to `steps` steps, fewer once max_seconds have passed (after at least two; 0: no limit)."""
    losses = []
    t0 = time.perf_counter()
    while len(losses) < steps and not (max_seconds > 0 and len(losses) >= 2 and time.perf_counter() - t0 > max_seconds):
        losses.append(trainer.step())
    return losses


def train(trainer, batch, steps, warmup, max_seconds=0):
    _, warmup_seconds, _ = timed(lambda: [trainer.step() for _ in range(warmup)])
    losses, seconds, cpu = timed(lambda: run_steps(trainer, steps, max_seconds))
    steps = len(losses)
    return {
        "imagesPerSecond": batch * steps / seconds,
        "msPerStep": seconds / steps * 1000,
        "seconds": seconds,
        "warmupSeconds": warmup_seconds,
        "steps": steps,
        "batchSize": batch,
        "params": trainer.params,
        "loss": losses[-1],
        "cpuPerWall": cpu,
        "threads": threads(),
    }


def infer(inferer, runs, warmup):
    _, warmup_seconds, _ = timed(lambda: [inferer.run() for _ in range(warmup)])
    times = []
    c0 = time.process_time()
    for _ in range(runs):
        t0 = time.perf_counter()
        inferer.run()
        times.append((time.perf_counter() - t0) * 1000)
    cpu = (time.process_time() - c0) / (sum(times) / 1000)
    times.sort()
    return {"medianMs": statistics.median(times), "p90Ms": times[int(0.9 * (len(times) - 1))], "runs": runs, "warmupSeconds": warmup_seconds, "params": inferer.params, "cpuPerWall": cpu, "threads": threads()}


def set_threads(n):
    if n:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)


def serve():
    """The same protocol as mbconv_torch.py --serve."""
    cache = {}
    archs = {}

    def arch_of(path):
        if path not in archs:
            with open(path) as f:
                archs[path] = json.load(f)
        return archs[path]

    def handle(req):
        op = req["op"]
        if op == "info":
            return {"version": tf.__version__, "keras": tf.keras.__version__ if hasattr(tf.keras, "__version__") else "", "threads": threads()}
        arch = arch_of(req["arch"])
        if op == "params":
            return {"params": count_params(build(arch))}
        key = (op, req["arch"], req.get("batch"), req["mode"])
        if key not in cache:
            try:
                cache[key] = Trainer(arch, req["batch"], req["mode"]) if op == "train" else Inferer(arch, req["mode"])
            except Exception as err:  # noqa: BLE001 -- reported to the parent as n/a
                cache[key] = err
        obj = cache[key]
        if isinstance(obj, Exception):
            raise obj
        try:
            if op == "train":
                return train(obj, req["batch"], req["steps"], req["warmup"], req.get("maxSeconds", 0))
            return infer(obj, req["runs"], req["warmup"])
        except Exception as err:  # noqa: BLE001
            cache[key] = err
            raise

    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req["op"] == "exit":
            break
        try:
            out = {"ok": True, **handle(req)}
        except Exception as err:  # noqa: BLE001
            last = traceback.format_exception_only(type(err), err)[-1].strip()
            out = {"ok": False, "error": last[:2000]}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("arch", nargs="?")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="TF intra-op and inter-op threads; 0 keeps the default")
    p.add_argument("--mode", choices=MODES, default="graph")
    p.add_argument("--inference", action="store_true")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--serve", action="store_true")
    a = p.parse_args()
    set_threads(a.threads)
    if a.serve:
        serve()
        return
    if not a.arch:
        p.error("arch is required without --serve")
    with open(a.arch) as f:
        arch = json.load(f)
    if a.inference:
        print(json.dumps(infer(Inferer(arch, a.mode), a.runs, a.warmup)))
    else:
        print(json.dumps(train(Trainer(arch, a.batch, a.mode), a.batch, a.steps, a.warmup)))


if __name__ == "__main__":
    main()
