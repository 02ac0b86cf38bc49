#!/usr/bin/env python3
"""Generates the benchmark's issuer key, its JWKS and the token lists of every workload.

Everything is RS256 with a `kid` header and the claims tenantgate's issuer signs (iss, aud, sub,
tenantId, roles, iat, nbf, exp, jti); tokens live one hour. Each list file has one request per
line, `<host> <token>`, where the host is owned by the token's tenant (`<tenant>.bench.local`).

Workload files written under --out:
  hot.txt       one token, sent on every request
  distinct.txt  N distinct valid tokens, each sent once per cycle
  mix.txt       M tokens each repeated ~R times, shuffled (a realistic reuse pattern)
  invalid.txt   half garbage (not a JWS at all), half well-formed tokens with bad signatures
  roles.txt     tokens carrying many roles, for the route that requires roles
plus key.pem (private key), jwks.json and meta.json (issuer, audience, tenants, role rule).

Usage: gen_tokens.py --out DIR [--distinct 10000] [--mix-tokens 500] [--mix-reuse 20] ...
"""

import argparse
import base64
import hashlib
import json
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://issuer.bench.local"
AUDIENCE = "bench-api"
HOST_TEMPLATE = "{tenant}.bench.local"
# The roles route requires all of these; every roles-workload token carries them among many others.
REQUIRED_ROLES = ["reports-editor", "reports-analyst"]


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_uint(n: int) -> str:
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def jwk_of(public_key) -> dict:
    numbers = public_key.public_numbers()
    jwk = {"kty": "RSA", "e": b64u_uint(numbers.e), "n": b64u_uint(numbers.n)}
    # RFC 7638 thumbprint as kid, as tenantgate's issuer does.
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    kid = b64u(hashlib.sha256(canonical).digest())
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


# Signing runs in worker processes; each loads the key once.
_KEY = None


def _init_worker(pem: bytes) -> None:
    global _KEY
    _KEY = serialization.load_pem_private_key(pem, password=None)


def _sign(job):
    kid, claims = job
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = (
        b64u(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64u(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = _KEY.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64u(sig)


def sign_all(pem: bytes, jobs, procs: int):
    if not jobs:
        return []
    with ProcessPoolExecutor(max_workers=procs, initializer=_init_worker, initargs=(pem,)) as pool:
        return list(pool.map(_sign, jobs, chunksize=256))


def pem_of(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tenants", type=int, default=10)
    ap.add_argument("--distinct", type=int, default=10000)
    ap.add_argument("--mix-tokens", type=int, default=500)
    ap.add_argument("--mix-reuse", type=int, default=20)
    ap.add_argument("--invalid", type=int, default=2000, help="half garbage, half bad signatures")
    ap.add_argument("--roles-tokens", type=int, default=100)
    ap.add_argument("--roles-per-token", type=int, default=100)
    ap.add_argument("--lifetime", type=int, default=3600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    started = time.monotonic()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # Same kid, another key: well-formed tokens whose signature does not verify.
    wrong_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwk_of(key.public_key())
    kid = jwk["kid"]
    jwks = {"keys": [jwk]}

    tenants = [f"t{i:02d}" for i in range(args.tenants)]
    now = int(time.time())

    def claims(n: int, roles):
        tenant = tenants[n % len(tenants)]
        return tenant, {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": f"user-{n}",
            "tenantId": tenant,
            "roles": roles,
            "iat": now,
            "nbf": now,
            "exp": now + args.lifetime,
            "jti": f"{n:08x}-{rng.getrandbits(64):016x}",
        }

    plain_roles = ["reader"]
    many_roles = REQUIRED_ROLES + [f"role-{i:03d}" for i in range(max(0, args.roles_per_token - len(REQUIRED_ROLES)))]
    rng.shuffle(many_roles)

    # Every token is a distinct `sub` so that no two lists share a token.
    serial = 0
    groups = {}  # name -> list of (tenant, claims)

    def take(count, roles):
        nonlocal serial
        out = []
        for _ in range(count):
            out.append(claims(serial, roles))
            serial += 1
        return out

    groups["hot"] = take(1, plain_roles)
    groups["distinct"] = take(args.distinct, plain_roles)
    groups["mix"] = take(args.mix_tokens, plain_roles)
    groups["roles"] = take(args.roles_tokens, many_roles)
    bad_sig_count = args.invalid // 2
    groups["badsig"] = take(bad_sig_count, plain_roles)

    signed = {}
    order = [g for g in groups if g != "badsig"]
    jobs = [(kid, c) for g in order for (_, c) in groups[g]]
    tokens = sign_all(pem_of(key), jobs, args.procs)
    pos = 0
    for g in order:
        n = len(groups[g])
        signed[g] = [(HOST_TEMPLATE.format(tenant=t), tok) for (t, _), tok in zip(groups[g], tokens[pos:pos + n])]
        pos += n
    bad = sign_all(pem_of(wrong_key), [(kid, c) for (_, c) in groups["badsig"]], args.procs)
    signed["badsig"] = [(HOST_TEMPLATE.format(tenant=t), tok) for (t, _), tok in zip(groups["badsig"], bad)]

    def write(name, lines):
        with open(os.path.join(args.out, name), "w") as f:
            for host, tok in lines:
                f.write(f"{host} {tok}\n")

    write("hot.txt", signed["hot"])
    write("distinct.txt", signed["distinct"])
    mix = [entry for entry in signed["mix"] for _ in range(args.mix_reuse)]
    rng.shuffle(mix)
    write("mix.txt", mix)
    write("roles.txt", signed["roles"])

    # Garbage: base64url text with zero to four dots, the shape of a token but never a JWS; and
    # tokens whose header or payload is not JSON. Only characters valid in a header value.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    garbage = []
    for i in range(args.invalid - bad_sig_count):
        host = HOST_TEMPLATE.format(tenant=tenants[i % len(tenants)])
        kind = i % 3
        if kind == 0:
            parts = [
                "".join(rng.choice(alphabet) for _ in range(rng.randint(8, 300)))
                for _ in range(rng.choice([1, 2, 3, 3, 4]))
            ]
            tok = ".".join(parts)
        elif kind == 1:
            tok = b64u(b"{not json") + "." + b64u(os.urandom(rng.randint(20, 200))) + "." + b64u(os.urandom(256))
        else:
            # A valid-looking header with alg none and an empty signature.
            head = b64u(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            body = b64u(json.dumps({"iss": ISSUER, "sub": f"x{i}", "tenantId": "t00"}).encode())
            tok = f"{head}.{body}."
            if rng.random() < 0.5:
                tok += b64u(os.urandom(256))
        garbage.append((host, tok))
    invalid = garbage + signed["badsig"]
    rng.shuffle(invalid)
    write("invalid.txt", invalid)

    with open(os.path.join(args.out, "key.pem"), "wb") as f:
        f.write(pem_of(key))
    with open(os.path.join(args.out, "jwks.json"), "w") as f:
        json.dump(jwks, f)
    meta = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "kid": kid,
        "tenants": tenants,
        "host_template": HOST_TEMPLATE,
        "required_roles": REQUIRED_ROLES,
        "counts": {
            "hot": 1,
            "distinct": args.distinct,
            "mix_tokens": args.mix_tokens,
            "mix_reuse": args.mix_reuse,
            "invalid_garbage": len(garbage),
            "invalid_bad_signature": len(signed["badsig"]),
            "roles_tokens": args.roles_tokens,
            "roles_per_token": len(many_roles),
        },
        "token_bytes": {
            name: max(len(tok) for _, tok in signed[name]) for name in ("hot", "distinct", "roles")
        },
        "expires_at": now + args.lifetime,
        "generated_in_seconds": round(time.monotonic() - started, 1),
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"tokens: {sum(len(v) for v in signed.values())} signed in {meta['generated_in_seconds']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
