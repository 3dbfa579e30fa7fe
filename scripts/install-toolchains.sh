#!/usr/bin/env bash
# Install the compilers and interpreters the evaluation harness runs generated code with.
# Missing ones are installed from Debian packages when we can (root + apt-get); otherwise the
# harness skips those languages with an explicit reason.
set -euo pipefail
declare -A need=(
  [g++]=g++
  [javac]=default-jdk-headless
  [node]=nodejs
  [go]=golang-go
  [rustc]=rustc
  [php]=php-cli
)
# Headers some HumanEval-X C++ programs include (boost, OpenSSL's md5).
declare -A headers=(
  [/usr/include/boost/any.hpp]=libboost-dev
  [/usr/include/openssl/md5.h]=libssl-dev
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
for header in "${!headers[@]}"; do
  [ -f "$header" ] || missing+=("${headers[$header]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "toolchains: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "toolchains: missing ${missing[*]} (not root or no apt-get); those languages will be skipped" >&2
  exit 0
fi
echo "toolchains: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
