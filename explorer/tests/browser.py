#!/usr/bin/env python3
"""Browser test of `alloc-explore serve`: starts the server and Debian's
chromium through chromedriver (W3C WebDriver over HTTP, python3 stdlib
only), types a snippet, presses Run, and asserts the per-line counts the
page shows. Saves a screenshot.

usage: browser.py EXPLORER_BINARY SCREENSHOT.png [CACHE_DIR]
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CHROME_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1180,620",
]

SNIPPET = "let mut v = Vec::new();\nv.push(1u8);\nlet b = Box::new(7u64);\ndrop(b);"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def wait_for(what, predicate, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    sys.exit(f"browser test: timed out waiting for {what}")


def main():
    explorer, screenshot = sys.argv[1], sys.argv[2]
    cache = sys.argv[3] if len(sys.argv) > 3 else None
    procs = []
    try:
        cmd = [explorer, "serve", "--port", "0"] + (["--cache-dir", cache] if cache else [])
        server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        procs.append(server)
        line = server.stdout.readline()  # "alloc-explore: listening on http://127.0.0.1:PORT/ ..."
        url = line.split("listening on ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:"), line

        port = free_port()
        driver = subprocess.Popen(["chromedriver", f"--port={port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(driver)
        base = f"http://127.0.0.1:{port}"

        def ready():
            try:
                return call(base, "GET", "/status", timeout=2)["value"]["ready"]
            except OSError:
                return False
        wait_for("chromedriver", ready, 30)

        profile = tempfile.mkdtemp(prefix="alloc-explore-chromium-")
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium", "args": CHROME_FLAGS + [f"--user-data-dir={profile}"]}}}}
        session = call(base, "POST", "/session", caps)["value"]["sessionId"]
        s = f"/session/{session}"

        def js(script, *args):
            return call(base, "POST", s + "/execute/sync", {"script": script, "args": list(args)},
                        timeout=30)["value"]

        call(base, "POST", s + "/url", {"url": url})
        assert js("return document.title") == "alloc-explore"
        js("document.getElementById('code').value = arguments[0]", SNIPPET)
        button = call(base, "POST", s + "/element", {"using": "css selector", "value": "#run"})["value"]
        element = next(iter(button.values()))
        call(base, "POST", f"{s}/element/{element}/click", {})
        status = wait_for("the run to finish",
                          lambda: (lambda t: t if t.startswith(("done", "error")) else None)(
                              js("return document.getElementById('status').textContent")), 600)
        assert status.startswith("done"), status

        rows = js("""return [...document.querySelectorAll('#result tbody tr')].map(tr => ({
            line: tr.dataset.line, cls: tr.className,
            debug: tr.querySelector('.debug').textContent,
            release: tr.querySelector('.release').textContent}))""")
        by_line = {r["line"]: r for r in rows}
        print("browser test: rows shown:", json.dumps(rows))
        expect = {"1": ("·", "·", False), "2": ("1a 8 B", "1a 8 B", False),
                  "3": ("1a 8 B", "·", True), "4": ("1f", "·", True), "end": ("1f", "1f", False)}
        for line, (debug, release, differs) in expect.items():
            row = by_line[line]
            assert (row["debug"], row["release"]) == (debug, release), (line, row)
            assert ("differs" in row["cls"]) == differs, (line, row)
        verdict = js("return document.getElementById('verdict').textContent")
        assert "debug: allocates" in verdict and "release: allocates" in verdict, verdict

        js("document.querySelector('#result tr[data-line=\"3\"]').click()")
        paths = js("return document.getElementById('paths').textContent")
        assert paths.startswith("line 3") and "alloc 8 bytes" in paths, paths

        # Two requests at once are queued, not built in parallel: each
        # gets its own snippet's answer.
        results = {}

        def post(n):
            code = f"let v = std::hint::black_box(vec![0u8; {n}]);"
            results[n] = call(url.rstrip("/"), "POST", "/api/run", {"code": code}, timeout=600)
        threads = [threading.Thread(target=post, args=(n,)) for n in (100, 200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for n, r in results.items():
            got = (r["status"], r["lines"][0]["debug"]["bytes_allocated"], r["lines"][0]["release"]["bytes_allocated"])
            assert got == ("ok", n, n), (n, got)

        png = call(base, "GET", s + "/screenshot")["value"]
        os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(png))
        call(base, "DELETE", s)
        print(f"browser test: ok; screenshot in {screenshot}")
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)


if __name__ == "__main__":
    main()
