#!/usr/bin/env bash
# Gives @tensorflow/tfjs-node a real libtensorflow taken from the TensorFlow wheel on PyPI.
#
# tfjs-node's own install script downloads libtensorflow from a host that only the open internet
# reaches. It skips that download when deps/lib/libtensorflow.so.<version> already exists and then
# builds its addon from source against deps/lib and deps/include (see its scripts/deps-constants.js
# and binding.gyp). The PyPI wheel ships the same C API (TF_* and TFE_*) in libtensorflow_cc.so.2
# plus libtensorflow_framework.so.2 and the C headers, so we stage those under the names tfjs-node
# expects. On a machine with normal internet none of this is needed: plain `npm install` works.
#
#   infra/stage-native-tensorflow.sh tensorflow-cpu==2.15.1
set -euo pipefail

wheel_spec="${1:?usage: stage-native-tensorflow.sh <pip requirement, e.g. tensorflow-cpu==2.15.1>}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tfjs="$root/node_modules/@tensorflow/tfjs-node"
[ -d "$tfjs" ] || { echo "error: $tfjs is missing; run npm ci first" >&2; exit 1; }

# The version tfjs-node was written against; its install script looks for files with this suffix.
expected="$(node -p "require('$tfjs/scripts/deps-constants.js').LIBTENSORFLOW_VERSION")"
wheel_version="${wheel_spec##*==}"
stage="$root/.cache/libtensorflow-$wheel_version"

if [ ! -f "$stage/.complete" ]; then
  rm -rf "$stage" "$stage.tmp"
  mkdir -p "$stage.tmp/wheel"
  echo "downloading $wheel_spec from PyPI (about 200 MB, once)"
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux2014_x86_64 \
    -d "$stage.tmp/wheel" "$wheel_spec"
  whl="$(ls "$stage.tmp/wheel"/*.whl)"
  # Only the two shared libraries and the C API headers (with what they include) are needed.
  python3 - "$whl" "$stage.tmp" <<'PY'
import sys, zipfile, os, shutil
whl, out = sys.argv[1], sys.argv[2]
wanted_libs = {"tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"}
include_roots = ("tensorflow/include/tensorflow/c/", "tensorflow/include/tensorflow/core/platform/",
                 "tensorflow/include/tsl/")
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if name in wanted_libs:
            dest = os.path.join(out, "lib", os.path.basename(name))
        elif name.startswith(include_roots) and not name.endswith("/"):
            dest = os.path.join(out, "include", name[len("tensorflow/include/"):])
        else:
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(name) as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
  rm -rf "$stage.tmp/wheel"
  exported="$(nm -D --defined-only "$stage.tmp/lib/libtensorflow_cc.so.2")"
  for sym in TF_NewTensor TFE_NewContext TFE_Execute; do
    grep -qE " T ${sym}(@@tensorflow)?\$" <<<"$exported" \
      || { echo "error: $wheel_spec does not export $sym; pick another TensorFlow wheel" >&2; exit 1; }
  done
  touch "$stage.tmp/.complete"
  mv "$stage.tmp" "$stage"
fi

deps="$tfjs/deps"
rm -rf "$deps"
mkdir -p "$deps/lib"
cp -r "$stage/include" "$deps/include"
# Symlinks keep the 600 MB libraries in one place; the addon's rpath is $ORIGIN/../../deps/lib.
ln -s "$stage/lib/libtensorflow_cc.so.2" "$deps/lib/libtensorflow_cc.so.2"
ln -s "$stage/lib/libtensorflow_framework.so.2" "$deps/lib/libtensorflow_framework.so.2"
ln -s libtensorflow_cc.so.2 "$deps/lib/libtensorflow.so"
ln -s libtensorflow_framework.so.2 "$deps/lib/libtensorflow_framework.so"
ln -s libtensorflow_cc.so.2 "$deps/lib/libtensorflow.so.$expected"
ln -s libtensorflow_framework.so.2 "$deps/lib/libtensorflow_framework.so.$expected"
# A custom tf-lib tells tfjs-node's installer to build the addon from source instead of fetching
# a prebuilt one (the prebuilt addon is linked against the 2.9 library names).
echo "{\"tf-lib\": \"file://$stage/lib\"}" > "$tfjs/scripts/custom-binary.json"
echo "libtensorflow from $wheel_spec staged for tfjs-node (expects $expected)"
