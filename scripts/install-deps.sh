#!/usr/bin/env bash
# Installs, from Debian's packages, whatever convkit's build, tests and benchmarks need and the machine lacks.
# Extra package names given as arguments are installed too (scripts/bench.sh adds libdnnl-dev, the optional oneDNN
# that convkit_bench compares against).
set -euo pipefail
packages=(cmake make g++ pkg-config libopenblas-openmp-dev libopenblas-serial-dev libxsimd-dev doctest-dev libbenchmark-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
