"""PyTorch twin of engine/models/arch-model.ts, for benchmarks/engine-throughput.ts and benchmarks/peers.ts.

Reads an arch.json (the engine's ArchSpec, blocks as objects), builds the identical network
(same layers, channels, strides, "same" padding, SE on the block's input channels, BN eps and
momentum) and times training steps on random data.

One measurement (engine-throughput.ts) prints one JSON line:
{"imagesPerSecond": ..., "seconds": ..., "steps": ..., "batchSize": ..., "params": ..., "threads": ...}.
`--recipe trainer` uses the engine trainer's loss and update instead of plain cross-entropy
(label smoothing 0.1, 5e-5/2 x the sum of squared conv and dense kernels, SGD lr 0.05 momentum 0.9);
`--mode eager|channels_last|compile` picks the implementation; `--inference` times batch-1 latency.

`--serve` is peers.ts's persistent worker: one JSON request per stdin line, one JSON answer per
stdout line. A worker keeps each (mode, arch, batch) it has built, so torch.compile compiles once
per configuration rather than once per round.
Only the timing is compared; FLOPs come from the engine's analytic count of the same network.
"""
import argparse
import json
import statistics
import sys
import time
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F


def act(kind):
    return {"swish": nn.SiLU, "relu6": nn.ReLU6, "relu": nn.ReLU}[kind]()


class SamePadConv(nn.Conv2d):
    """TF "same" padding (asymmetric for stride 2 on even sizes), so shapes match tfjs exactly.

    Symmetric padding goes to the conv itself: an explicit F.pad would add a copy of the input
    to every k > 1 conv that tfjs and Keras do not pay.
    """

    def forward(self, x):
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((-(-ih // sh) - 1) * sh + kh - ih, 0)
        pw = max((-(-iw // sw) - 1) * sw + kw - iw, 0)
        if ph % 2 == 0 and pw % 2 == 0:
            return F.conv2d(x, self.weight, self.bias, self.stride, (ph // 2, pw // 2), self.dilation, self.groups)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def bn(channels, arch):
    # Keras momentum m keeps m of the old statistic; PyTorch's momentum is the new sample's share.
    return nn.BatchNorm2d(channels, eps=arch["batchNorm"]["epsilon"], momentum=1 - arch["batchNorm"]["momentum"])


def conv_bn_act(cin, cout, k, s, arch, activation=True, groups=1):
    layers = [SamePadConv(cin, cout, k, s, groups=groups, bias=False), bn(cout, arch)]
    if activation:
        layers.append(act(arch["activation"]))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels, block_in, ratio, kind):
        super().__init__()
        reduced = max(1, int(block_in * ratio))
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = act(kind)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class MBConv(nn.Module):
    def __init__(self, cin, cout, e, k, s, se, drop, arch):
        super().__init__()
        mid = cin * e
        layers = []
        if e != 1:
            layers.append(conv_bn_act(cin, mid, 1, 1, arch))
        layers.append(conv_bn_act(mid, mid, k, s, arch, groups=mid))
        if se > 0:
            layers.append(SqueezeExcite(mid, cin, se, arch["activation"]))
        layers.append(conv_bn_act(mid, cout, 1, 1, arch, activation=False))
        self.body = nn.Sequential(*layers)
        self.shortcut = s == 1 and cin == cout
        self.drop = drop

    def forward(self, x):
        y = self.body(x)
        if not self.shortcut:
            return y
        if self.training and self.drop > 0:
            keep = 1 - self.drop
            mask = torch.floor(keep + torch.rand(y.shape[0], 1, 1, 1, device=y.device))
            y = y / keep * mask
        return y + x


class ArchNet(nn.Module):
    def __init__(self, arch):
        super().__init__()
        stem = arch["stem"]
        layers = [conv_bn_act(arch["inputChannels"], stem["channels"], stem["kernel"], stem["stride"], arch)]
        unrolled = []
        cin = stem["channels"]
        for b in arch["blocks"]:
            for copy in range(b.get("repeats", 1)):
                unrolled.append((cin, b["outChannels"], b["expansion"], b["kernel"], b["stride"] if copy == 0 else 1, b.get("seRatio", 0)))
                cin = b["outChannels"]
        for i, (ci, co, e, k, s, se) in enumerate(unrolled):
            layers.append(MBConv(ci, co, e, k, s, se, arch["dropConnect"] * i / len(unrolled), arch))
        if arch.get("headChannels") is not None:
            layers.append(conv_bn_act(cin, arch["headChannels"], 1, 1, arch))
            cin = arch["headChannels"]
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(arch["dropout"])
        self.classifier = nn.Linear(cin, arch["numClasses"])

    def forward(self, x):
        x = self.features(x).mean((2, 3))
        return self.classifier(self.dropout(x))


# The engine trainer's recipe (engine/train/classifier-trainer.ts, benchmarks/fashion-mnist-accuracy.ts)
# and engine-throughput.ts's plain one.
RECIPES = {
    "trainer": {"label_smoothing": 0.1, "weight_decay": 5e-5, "lr": 0.05, "momentum": 0.9},
    "plain": {"label_smoothing": 0.0, "weight_decay": 0.0, "lr": 0.01, "momentum": 0.9},
}
MODES = ("eager", "channels_last", "compile")


def count_params(model):
    """Weights plus BatchNorm's running statistics: the engine's countParams(model).total."""
    buffers = sum(t.numel() for n, t in model.named_buffers() if not n.endswith("num_batches_tracked"))
    return sum(t.numel() for t in model.parameters()) + buffers


def build(arch, seed=0):
    torch.manual_seed(seed)
    return ArchNet(arch)


class TrainingLoss(nn.Module):
    """Cross-entropy with label smoothing plus wd/2 x the squared conv and dense kernels (not biases
    or BatchNorm), as the engine's trainer adds it to the loss rather than to the update."""

    def __init__(self, model, label_smoothing, weight_decay):
        super().__init__()
        self.model = model
        self.label_smoothing = label_smoothing
        self.weight_decay = weight_decay
        # A plain list, so the kernels are not registered a second time as parameters.
        self.kernels = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]

    def forward(self, x, y):
        loss = F.cross_entropy(self.model(x), y, label_smoothing=self.label_smoothing)
        if self.weight_decay > 0:
            loss = loss + self.weight_decay / 2 * sum((w * w).sum() for w in self.kernels)
        return loss


class Trainer:
    def __init__(self, arch, batch, mode, recipe):
        r = RECIPES[recipe]
        self.model = build(arch).train()
        self.xs = torch.rand(batch, arch["inputChannels"], arch["resolution"], arch["resolution"])
        self.ys = torch.randint(0, arch["numClasses"], (batch,))
        if mode == "channels_last":
            self.model = self.model.to(memory_format=torch.channels_last)
            self.xs = self.xs.contiguous(memory_format=torch.channels_last)
        loss = TrainingLoss(self.model, r["label_smoothing"], r["weight_decay"])
        self.loss = torch.compile(loss) if mode == "compile" else loss
        self.opt = torch.optim.SGD(self.model.parameters(), lr=r["lr"], momentum=r["momentum"])
        self.params = count_params(self.model)

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.xs, self.ys)
        loss.backward()
        self.opt.step()
        return loss.item()


class Inferer:
    def __init__(self, arch, mode):
        self.model = build(arch).eval()
        self.x = torch.rand(1, arch["inputChannels"], arch["resolution"], arch["resolution"])
        if mode == "channels_last":
            self.model = self.model.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.f = torch.compile(self.model) if mode == "compile" else self.model
        self.params = count_params(self.model)

    def run(self):
        with torch.inference_mode():
            return float(self.f(self.x)[0, 0])


def timed(f):
    """Wall seconds and CPU seconds per wall second (about the number of busy threads) of f()."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = f()
    seconds = time.perf_counter() - t0
    return out, seconds, (time.process_time() - c0) / seconds


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
        "threads": torch.get_num_threads(),
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
    return {"medianMs": statistics.median(times), "p90Ms": times[int(0.9 * (len(times) - 1))], "runs": runs, "warmupSeconds": warmup_seconds, "params": inferer.params, "cpuPerWall": cpu, "threads": torch.get_num_threads()}


def set_threads(n):
    if n:
        torch.set_num_threads(n)
        torch.set_num_interop_threads(n)


def serve():
    """peers.ts's worker. Requests: {"op": "train", "arch", "batch", "mode", "steps", "warmup"},
    {"op": "infer", "arch", "mode", "runs", "warmup"}, {"op": "params", "arch"}, {"op": "info"}.
    A configuration that failed to build or compile answers the same error every time after."""
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
            return {"version": torch.__version__, "threads": torch.get_num_threads(), "interopThreads": torch.get_num_interop_threads()}
        arch = arch_of(req["arch"])
        if op == "params":
            return {"params": count_params(build(arch))}
        key = (op, req["arch"], req.get("batch"), req["mode"])
        if key not in cache:
            try:
                cache[key] = Trainer(arch, req["batch"], req["mode"], "trainer") if op == "train" else Inferer(arch, req["mode"])
            except Exception as err:  # noqa: BLE001 -- any failure is reported to the parent as n/a
                cache[key] = err
        obj = cache[key]
        if isinstance(obj, Exception):
            raise obj
        try:
            if op == "train":
                return train(obj, req["batch"], req["steps"], req["warmup"], req.get("maxSeconds", 0))
            return infer(obj, req["runs"], req["warmup"])
        except Exception as err:  # noqa: BLE001 -- torch.compile fails at the first call, not at torch.compile()
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
    p.add_argument("--threads", type=int, default=0, help="torch intra-op (and inter-op) threads; 0 keeps the default")
    p.add_argument("--mode", choices=MODES, default="eager")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="plain")
    p.add_argument("--inference", action="store_true", help="batch-1 latency instead of training")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--serve", action="store_true", help="persistent worker for peers.ts (JSON lines on stdin/stdout)")
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
        print(json.dumps(train(Trainer(arch, a.batch, a.mode, a.recipe), a.batch, a.steps, a.warmup)))


if __name__ == "__main__":
    main()
