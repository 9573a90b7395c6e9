#!/bin/sh
# Kutt for bench/peer.py: its source at a tag, outside this repository, with its production
# modules installed, as its Dockerfile does (`npm ci --omit=dev`).
#
#   bench/peers/kutt-setup.sh [DIR] [SOURCE]
#
# DIR     where to put it; default ../peers/kutt next to this checkout, where bench/peer.py looks
# SOURCE  a git URL or a local repository (a bare mirror works);
#         default https://github.com/thedevs-network/kutt.git
# KUTT_TAG=v3.2.3 (the default) picks the version. Needs git, node 20+ and npm; better-sqlite3
# fetches a prebuilt binary, or builds one (python3, make, a C++ compiler) where it cannot.
set -eu
tag=${KUTT_TAG:-v3.2.3}
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-$repo/../peers/kutt}
source=${2:-https://github.com/thedevs-network/kutt.git}

command -v node >/dev/null || { echo "kutt-setup: node (20 or newer) is not on PATH" >&2; exit 1; }
if [ -e "$dir/server/server.js" ]; then
    echo "kutt-setup: $dir already holds Kutt; remove it to set it up again" >&2
    exit 1
fi
mkdir -p "$dir"
if [ -d "$source" ]; then
    commit=$(git -C "$source" rev-parse "$tag^{commit}")
    git -C "$source" archive "$tag" | tar -x -C "$dir"
else
    clone=$(mktemp -d)
    trap 'rm -rf "$clone"' EXIT
    git clone --quiet --depth 1 --branch "$tag" "$source" "$clone/kutt"
    commit=$(git -C "$clone/kutt" rev-parse HEAD)
    git -C "$clone/kutt" archive HEAD | tar -x -C "$dir"
fi
cd "$dir"
NODE_ENV=production npm ci --omit=dev --no-audit --no-fund
# What bench/peer.py reports as the peer's version (its package.json may lag the tag).
echo "$tag ($commit)" > .surge-peer-version
echo "Kutt $tag ($commit) in $dir"
echo "next: uv run --frozen python bench/peer.py --peer-dir $dir"
