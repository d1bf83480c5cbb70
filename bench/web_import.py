#!/usr/bin/env python3
"""The web import of a Wells Fargo export against the CLI's import of the same file.

    bench/web_import.py [--rows N] [--bin target/release]

Writes a file of N rows (`ledgerflow-bench gen-wf`), then in one run, each into a fresh embedded
store: `ledgerflow import FILE --account Checking` (the CLI), and the web app (`ledgerflow
serve`): sign in, upload (the preview of every row's decision), confirm, and follow the import
job's page until it lands on the batch. Prints the times, rows/s and the server's peak memory.
Needs Python's `requests`.
"""
import argparse, os, re, subprocess, sys, tempfile, time

import requests

ap = argparse.ArgumentParser()
ap.add_argument("--rows", type=int, default=500_000)
ap.add_argument("--bin", default="target/release")
a = ap.parse_args()
lf = os.path.join(a.bin, "ledgerflow")
tmp = tempfile.mkdtemp(prefix="lf-web-import-")
csv = os.path.join(tmp, "wf.csv")
subprocess.run([os.path.join(a.bin, "ledgerflow-bench"), "gen-wf", "--rows", str(a.rows), "--out", csv],
               check=True, stdout=subprocess.DEVNULL)
size = os.path.getsize(csv)


def store(name):
    d = os.path.join(tmp, name)
    args = ["--data-dir", d + "/data", "--backup-dir", d + "/backups"]
    subprocess.run([lf, *args, "init"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([lf, *args, "account", "add", "Checking", "--kind", "checking",
                    "--institution", "Wells Fargo"], check=True, stdout=subprocess.DEVNULL)
    return args


# The CLI.
args = store("cli")
t = time.monotonic()
subprocess.run([lf, *args, "import", csv, "--account", "Checking"], check=True, stdout=subprocess.DEVNULL)
cli = time.monotonic() - t

# The web.
args = store("web")
subprocess.run([lf, *args, "user", "add", "bench", "--role", "admin", "--password-stdin"],
               input=b"bench-password-1234\n", check=True, stdout=subprocess.DEVNULL)
port = 9400 + os.getpid() % 500
server = subprocess.Popen([lf, *args, "serve", "--bind", f"127.0.0.1:{port}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"
try:
    s = requests.Session()
    for _ in range(100):
        try:
            login = s.get(base + "/login")
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
    r = s.post(base + "/login", data={"csrf": csrf, "name": "bench", "password": "bench-password-1234"})
    page = s.get(base + "/imports").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    account = re.search(r'<option value="(\d+)">Checking', page).group(1)
    rss = lambda: int(next(l for l in open(f"/proc/{server.pid}/status") if l.startswith("VmRSS")).split()[1])
    t = time.monotonic()
    with open(csv, "rb") as f:
        r = s.post(base + "/imports", data={"csrf": csrf, "account": account}, files={"file": ("wf.csv", f)})
    r.raise_for_status()
    preview = time.monotonic() - t
    after_preview = rss()
    key = re.search(r'name="upload" value="([^"]+)"', r.text).group(1)
    reading = re.search(r'name="reading" value="([^"]+)"', r.text)
    fields = {"csrf": csrf, "upload": key}
    if reading:
        fields["reading"] = reading.group(1)
    t = time.monotonic()
    r = s.post(base + "/imports/confirm", data=fields, allow_redirects=False)
    pages, during = 0, 0
    # A large import answers with its job's page, which is followed as the browser does (its
    # refresh asks for it again) until it goes to the batch.
    while r.status_code == 303 and "/imports/jobs/" in r.headers.get("location", "") or (
            r.status_code == 200 and "http-equiv=\"refresh\"" in r.text):
        pages += 1
        during = max(during, rss())
        time.sleep(0.25)
        r = s.get(base + f"/imports/jobs/{key}", allow_redirects=False)
    web = time.monotonic() - t
    if r.status_code != 303 or "batch=" not in r.headers.get("location", ""):
        sys.exit(f"the web import did not land on its batch: {r.status_code} {r.text[:500]}")
    with open(f"/proc/{server.pid}/status") as f:
        hwm = next(l for l in f if l.startswith("VmHWM")).split()[1]
finally:
    server.terminate()
    server.wait()

n = a.rows
print(f"{n} rows, {size / 1e6:.1f} MB")
print(f"CLI import: {cli:.2f} s ({n / cli:,.0f} rows/s)")
print(f"web: upload and preview {preview:.2f} s; import {web:.2f} s ({n / web:,.0f} rows/s, "
      f"{pages} progress pages); web/CLI {cli / web:.2f}x as fast")
print(f"server memory: after the preview {after_preview / 1024:.0f} MiB, during the import up to "
      f"{during / 1024:.0f} MiB, peak {int(hwm) / 1024:.0f} MiB")
