#!/usr/bin/env bash
# clang-format (Debian 12's, version 14) over every C and C++ file in the repository, with the root .clang-format.
#   scripts/format.sh          rewrites the files in place
#   scripts/format.sh --check  changes nothing; prints each difference and fails if there is any (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh clang-format
mapfile -t files < <(git ls-files '*.c' '*.cpp' '*.h' '*.hpp')
if [ "${1:-}" = --check ]; then
  clang-format --dry-run -Werror "${files[@]}"
  echo "format: ${#files[@]} files as clang-format writes them"
else
  clang-format -i "${files[@]}"
fi
