#!/usr/bin/env bash
# The README's pitfalls: clippy, with the lints and the clippy.toml the README
# recommends, catches `let _ = NoAllocGuard::new(..)` and a guard held across
# `.await` in tests/pitfalls, and nothing in the fixed forms beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_TARGET_DIR="$PWD/target/pitfalls" cargo clippy --quiet \
    --manifest-path tests/pitfalls/Cargo.toml --message-format=json 2>/dev/null |
python3 -c '
import json, sys
found = set()
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") != "compiler-message" or m["message"]["level"] != "warning":
        continue
    code = (m["message"].get("code") or {}).get("code")
    spans = [s for s in m["message"]["spans"] if s["is_primary"]]
    if code and spans:
        found.add((code, spans[0]["line_start"]))
expected = {
    ("let_underscore_drop", 10),
    ("clippy::let_underscore_must_use", 10),
    ("clippy::await_holding_invalid_type", 16),
}
if found != expected:
    sys.exit(f"pitfalls: expected {sorted(expected)}, clippy said {sorted(found)}")
print(f"pitfalls: clippy names all {len(expected)} misuses and nothing in the fixed forms")
'
