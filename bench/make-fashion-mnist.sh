#!/usr/bin/env bash
# Builds OUT_DIR/fashion-mnist/<class>/*.png: 10 garment classes × the first 100 test images of each, 28×28 grey
# photos, from Debian's dataset-fashion-mnist (Zalando, MIT; installed with apt-get when missing). The converter is
# /work/shared/datasets/tools/idx2png.js, copied to a scratch folder with its pngjs dependency.
# usage: bench/make-fashion-mnist.sh OUT_DIR
set -euo pipefail
OUT=${1:?usage: make-fashion-mnist.sh OUT_DIR}
TOOLS=/work/shared/datasets/tools
DATA=/usr/share/datasets/fashion-mnist
[ -f "$DATA/t10k-images-idx3-ubyte.gz" ] || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
cp "$TOOLS"/idx2png.js "$TOOLS"/package.json "$TOOLS"/package-lock.json "$W"/
(cd "$W" && npm ci --no-audit --no-fund --silent)
# Label order as in the Fashion-MNIST README (0 = T-shirt/top … 9 = Ankle boot).
node "$W"/idx2png.js "$DATA"/t10k-images-idx3-ubyte.gz "$DATA"/t10k-labels-idx1-ubyte.gz "$OUT/fashion-mnist" 100 \
  tshirt-top,trouser,pullover,dress,coat,sandal,shirt,sneaker,bag,ankle-boot
