"""Console benchmark: the first load of the overview in headless Chromium, on
the local stack holding the 17-region bench estate (scan_bench.py's).

    console_bench.py seed ENV_JSON                 seed the estate, register its account
    console_bench.py scan BASE_URL PASSWORD        scan it through the dev server
    console_bench.py run BASE_URL PASSWORD [--rounds N]
    (console_bench.sh runs the three)

The estate is seeded and scanned before this runs, so the overview draws the
totals of 17 regions. Per round, a fresh Chromium (an empty cache and profile):

1. **first visit**: the page and its assets, up to the sign-in form;
2. sign in (not timed: a person types);
3. **first load of the overview, cold cache**: the browser's cache is cleared
   (CDP `Network.clearBrowserCache`) and the page reloaded; the session's
   refresh token (sessionStorage) signs in silently, and the overview asks
   for `/v1/auth/me` and `/v1/summary`;
4. **the same, warm cache**: reloaded again, assets revalidated or cached.

Each load reads the performance timeline: bytes are the `transferSize` of the
navigation and every resource (HTML, JS, CSS and the API answers, headers
included), time is from navigation start to the page's
`cloudkeep:totals-drawn` mark. The peer, measured in the same load, is the
`/v1/summary` fetch itself: what the page waits for and cannot go below.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan_bench  # noqa: E402


class WebDriver:
    """Just the W3C WebDriver commands this benchmark needs, over HTTP."""

    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.driver = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.profile = tempfile.TemporaryDirectory(prefix="cloudkeep-console-bench-")
        for _ in range(100):
            try:
                self._call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
            f"--user-data-dir={self.profile.name}",
        ]}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())["value"]

    def cmd(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url):
        self.cmd("POST", "/url", {"url": url})

    def script(self, source):
        return self.cmd("POST", "/execute/sync", {"script": source, "args": []})

    def cdp(self, command, params=None):
        return self.cmd("POST", "/goog/cdp/execute", {"cmd": command, "params": params or {}})

    def find(self, css, within=20.0):
        started = time.monotonic()
        while time.monotonic() - started < within:
            found = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
            if found:
                return next(iter(found[0].values()))
            time.sleep(0.02)
        raise RuntimeError(f"no {css} in the page")

    def type_into(self, css, text):
        self.cmd("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css):
        self.cmd("POST", f"/element/{self.find(css)}/click", {})

    def quit(self):
        try:
            self.cmd("DELETE", "")
        finally:
            self.driver.terminate()
            self.driver.wait(10)
            self.profile.cleanup()


TIMELINE = """
const nav = performance.getEntriesByType('navigation')[0];
const resources = performance.getEntriesByType('resource');
const mark = performance.getEntriesByName('cloudkeep:totals-drawn')[0];
const summary = resources.filter(r => new URL(r.name).pathname === '/v1/summary').pop();
return {
  bytes: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
  decoded: nav.decodedBodySize + resources.reduce((n, r) => n + r.decodedBodySize, 0),
  requests: 1 + resources.length,
  totals_ms: mark ? mark.startTime : null,
  summary_ms: summary ? summary.duration : null,
  html_js_css: nav.transferSize + resources.filter(r => new URL(r.name).pathname.startsWith('/app/')).reduce((n, r) => n + r.transferSize, 0),
  names: [`page ${Math.round(nav.responseEnd)} ms`, ...resources.map(r => `${new URL(r.name).pathname} ${r.transferSize} B at ${Math.round(r.startTime)}+${Math.round(r.duration)} ms`)],
};
"""


def wait_for_totals(browser):
    browser.find("#total-cost")
    started = time.monotonic()
    while time.monotonic() - started < 30:
        if browser.script("return performance.getEntriesByName('cloudkeep:totals-drawn').length > 0"):
            return browser.script(TIMELINE)
        time.sleep(0.02)
    raise RuntimeError("the totals were never drawn")


def one_round(base, password):
    browser = WebDriver()
    try:
        browser.open(f"{base}/")
        browser.find("form.signin")
        first_visit = browser.script(TIMELINE)
        browser.type_into("input[name=username]", "admin")
        browser.type_into("input[name=password]", password)
        browser.click("form.signin button[type=submit]")
        browser.find("#total-cost")
        browser.cdp("Network.enable")
        browser.cdp("Network.clearBrowserCache")
        browser.script("location.reload()")
        time.sleep(0.05)
        cold = wait_for_totals(browser)
        browser.script("location.reload()")
        time.sleep(0.05)
        warm = wait_for_totals(browser)
        total = browser.script("return document.getElementById('total-cost').textContent")
        return first_visit, cold, warm, total
    finally:
        browser.quit()


def seed(args):
    """scan_bench.py's estate: 17 regions, their metrics, the account registered."""
    envs = json.loads(Path(args.env_json).read_text())["scanner"]
    scan_bench.seed_estate(os.environ["AWS_ENDPOINT_URL"], envs["INVENTORY_TABLE"])


def call(base, method, path, token=None, body=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def scan(args):
    """A scan of every account through the dev server, until the summary counts it."""
    token = call(args.base, "POST", "/v1/auth/login", body={"username": "admin", "password": args.password})["access_token"]
    started = time.perf_counter()
    scan_id = call(args.base, "POST", "/v1/scans", token, {})["scan_id"]
    while time.perf_counter() - started < 600:
        done = call(args.base, "GET", f"/v1/scans/{scan_id}", token)
        summary = call(args.base, "GET", "/v1/summary", token)
        if done.get("finished_at") and summary.get("last_scan", {}).get("scan_id") == scan_id:
            print(
                f"scanned in {time.perf_counter() - started:.1f} s: {done['status']}, {summary['resources']} resources, "
                f"${summary['monthly_cost_usd']:,.2f} a month, {summary['findings']['open']} open findings",
                file=sys.stderr,
            )
            return
        time.sleep(0.5)
    raise RuntimeError("the scan did not finish in 10 minutes")


def run(args):
    rounds = [one_round(args.base, args.password) for _ in range(args.rounds)]
    med = lambda xs: statistics.median(x for x in xs if x is not None)  # noqa: E731
    first = [r[0] for r in rounds]
    cold = [r[1] for r in rounds]
    warm = [r[2] for r in rounds]
    print(f"overview total drawn: {rounds[-1][3]}", file=sys.stderr)
    print(f"cold load requests: {cold[-1]['names']}", file=sys.stderr)
    print()
    print(f"| first load (median of {args.rounds}) | bytes transferred | requests | to totals drawn | `/v1/summary` fetch | totals ÷ summary |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| first visit: page, JS, CSS, to the sign-in form | {med(f['bytes'] for f in first):,.0f} B ({med(f['decoded'] for f in first):,.0f} B decoded) | {med(f['requests'] for f in first):.0f} | | | |")
    for label, loads in (("overview, signed in, cache cleared", cold), ("overview, signed in, warm cache", warm)):
        totals = med(r["totals_ms"] for r in loads)
        summary = med(r["summary_ms"] for r in loads)
        print(
            f"| {label} | {med(r['bytes'] for r in loads):,.0f} B | {med(r['requests'] for r in loads):.0f} "
            f"| {totals:.0f} ms | {summary:.0f} ms | {totals / summary:.1f}× |"
        )


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("seed")
    p.add_argument("env_json")
    p.set_defaults(do=seed)
    for name, do in (("scan", scan), ("run", run)):
        p = sub.add_parser(name)
        p.add_argument("base")
        p.add_argument("password")
        p.add_argument("--rounds", type=int, default=5)
        p.set_defaults(do=do)
    args = parser.parse_args()
    args.do(args)


if __name__ == "__main__":
    main()
