#!/bin/sh
# Same-run before/after comparison of two builds of stdrpc.
#
#   bench/compare.sh BASE_REV [ROUNDS] [-- BENCH ARGS...]
#   bench/compare.sh HEAD~1 7 -- --only seq-tcp
#   bench/compare.sh main 5 -- --only pipelined --allow-noisy
#
# Builds two bench binaries from the *same* bench sources (this working
# tree's bench/), one against the library as it is at BASE_REV (A), one
# against the library in this working tree (B). The base library comes from
# `git archive BASE_REV` unpacked into a temporary directory (no git
# worktree, nothing changed in the repository); the current bench/ is
# copied over its bench/ and the current Cargo.lock over its lock file, so
# that only the library differs. A builds in target/compare-base, B in this
# checkout's target directory (dependencies such as tarpc and tokio are
# built once in each); each binary is copied out after its build.
#
# Then it runs the two binaries alternately, one round each (A, B, A, B,
# ...; ROUNDS rounds each, default 5), every run with `--rounds 1 --tsv`,
# so that both builds see the same machine conditions, and prints one
# table: per row each build's median and spread and B/A.
#
# The bench sources must compile against both libraries: if BASE_REV lacks
# an API the current bench uses, the base build fails and says so.
set -eu

if [ $# -lt 1 ]; then
    sed -n '2,8p' "$0"
    exit 2
fi
base=$1
shift
rounds=5
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    rounds=$1
    shift
fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift

root=$(git rev-parse --show-toplevel)
rev=$(git -C "$root" rev-parse --verify "$base^{commit}")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/stdrpc-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
target=${CARGO_TARGET_DIR:-$root/target}

echo "compare: A = library at $base ($rev), B = working tree; bench sources from the working tree" >&2
mkdir "$tmp/base"
git -C "$root" archive "$rev" | tar -x -C "$tmp/base"
rm -rf "$tmp/base/bench"
cp -R "$root/bench" "$tmp/base/bench"
cp "$root/Cargo.lock" "$tmp/base/Cargo.lock"
# The base's workspace must list bench as a member (it does from the commit
# that made bench a member on); otherwise add it.
if ! grep -q '"bench"' "$tmp/base/Cargo.toml"; then
    echo "compare: $base's workspace has no bench member; adding it" >&2
    sed -i 's/^members = \[\(.*\)\]/members = [\1, "bench"]/' "$tmp/base/Cargo.toml"
fi

# A library from before the transport API (no `Worker`) builds the bench
# without the rows that need it.
a_features=""
if ! grep -q "Worker" "$tmp/base/src/lib.rs"; then
    echo "compare: $base has no transport API; A is built without its rows" >&2
    a_features="--no-default-features"
fi

# A builds in a target directory of its own: the two libraries share a name
# and version, and in one directory the base's build can leave an artifact
# that cargo then takes as fresh for B (seen: B built against A's library).
echo "compare: building A" >&2
CARGO_TARGET_DIR=$target/compare-base cargo build --release -p stdrpc-bench $a_features --manifest-path "$tmp/base/Cargo.toml" >&2
cp "$target/compare-base/release/stdrpc-bench" "$tmp/bench-A"
echo "compare: building B" >&2
CARGO_TARGET_DIR=$target cargo build --release -p stdrpc-bench --manifest-path "$root/Cargo.toml" >&2
cp "$target/release/stdrpc-bench" "$tmp/bench-B"

i=1
while [ "$i" -le "$rounds" ]; do
    for side in A B; do
        echo "compare: round $i/$rounds, $side" >&2
        "$tmp/bench-$side" --rounds 1 --tsv "$tmp/$side.tsv" --out "$tmp/$side-$i.md" "$@" >/dev/null
    done
    i=$((i + 1))
done

"$tmp/bench-B" compare-report "$tmp/A.tsv" "$tmp/B.tsv"
