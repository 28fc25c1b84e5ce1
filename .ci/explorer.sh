#!/usr/bin/env bash
# CI: the allocation explorer (explorer/, binary alloc-explore). Its CLI
# tests build scratch crates, so they are #[ignore]d in `cargo test
# --workspace` and run here; then the README's commands, and a browser test
# of `alloc-explore serve` in Debian's headless chromium via chromedriver.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# One cache of scratch crates for everything below (the tests use it too).
export ALLOC_EXPLORE_CACHE="$PWD/target/tmp/explore-cache"
mkdir -p "$ALLOC_EXPLORE_CACHE"

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

echo "== alloc-explore: CLI tests on snippets with known answers"
cargo test -p alloc-explore --test cli -- --ignored

echo "== alloc-explore: the README's commands"
cargo build -q -p alloc-explore
explore=target/debug/alloc-explore
out="$($explore --expr 'let mut v = Vec::new(); v.push(1u8);')"
echo "$out"
grep -qE '^ +1  let mut v = Vec::new\(\); v.push\(1u8\); +1a 8 B +1a 8 B *$' <<<"$out"
tables="$($explore --catalogue)"
[ "$(grep -c '^| snippet | allocations | bytes | frees | verdict |$' <<<"$tables")" = 2 ]
grep -q '^Does this allocate? (release build)$' <<<"$tables"

echo "== alloc-explore serve in headless chromium"
timeout 900 python3 explorer/tests/browser.py "$explore" target/explorer/browser.png "$ALLOC_EXPLORE_CACHE"
