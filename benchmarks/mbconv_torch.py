"""PyTorch twin of engine/models/arch-model.ts, for benchmarks/engine-throughput.ts.

Reads an arch.json (the engine's ArchSpec, blocks as objects), builds the identical network
(same layers, channels, strides, "same" padding, SE on the block's input channels, BN eps and
momentum) and times training steps on random data. Prints one JSON line:
{"imagesPerSecond": ..., "seconds": ..., "steps": ..., "batchSize": ..., "params": ..., "threads": ...}.
Only the timing is compared; FLOPs come from the engine's analytic count of the same network.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def act(kind):
    return {"swish": nn.SiLU, "relu6": nn.ReLU6, "relu": nn.ReLU}[kind]()


class SamePadConv(nn.Conv2d):
    """TF "same" padding (asymmetric for stride 2 on even sizes), so shapes match tfjs exactly."""

    def forward(self, x):
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((-(-ih // sh) - 1) * sh + kh - ih, 0)
        pw = max((-(-iw // sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("arch")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads; 0 keeps the default")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    with open(a.arch) as f:
        arch = json.load(f)
    torch.manual_seed(0)
    model = ArchNet(arch).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    r = arch["resolution"]
    xs = torch.rand(a.batch, arch["inputChannels"], r, r)
    ys = torch.randint(0, arch["numClasses"], (a.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xs), ys)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = time.perf_counter() - start
    params = sum(t.numel() for t in model.parameters()) + sum(t.numel() for n, t in model.named_buffers() if not n.endswith("num_batches_tracked"))
    print(json.dumps({"imagesPerSecond": a.batch * a.steps / seconds, "seconds": seconds, "steps": a.steps, "batchSize": a.batch, "params": params, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
