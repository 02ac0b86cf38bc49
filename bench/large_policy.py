"""The `tenantgate_large` variant's policy: the bench policy grown to 10,000 tenants and 1,000 more
route rules, so that its cost can be compared with the small one's in the same run.

Tenants: the bench tenants (reached through the bench host template) and enough others to make
10,000, each with one listed host; four more host templates come before the bench one, so a
request through a template tries every other template first. Routes: 1,000 rules of every kind
(exact paths, prefixes with methods, prefixes limited to a tenant's host, globs) before the bench
policy's own two, so that a linear scan would try all 1,000 before the rule the workloads hit.
"""

TENANTS = 10_000
RULES = 1_000
EXTRA_TEMPLATES = [
    "{tenant}.eu.bench.example",
    "api.{tenant}.apps.bench.example",
    "portal.{tenant}.bench.example",
    "{tenant}.us.bench.example",
]


def other_tenant(i):
    return f"org{i:05d}"


def other_host(i):
    return f"{other_tenant(i)}.customers.bench.example"


def rule(i):
    kind = i % 4
    if kind == 0:
        return {"path": {"exact": f"/svc{i}/health"}, "require": "public"}
    if kind == 1:
        return {"path": {"prefix": f"/svc{i}"}, "methods": ["GET", "POST"], "require": "authenticated"}
    if kind == 2:
        return {
            "path": {"prefix": f"/tenants/{other_tenant(i)}/admin"},
            "hosts": [other_host(i)],
            "require": {"roles": {"any_of": ["admin"]}},
        }
    return {"path": {"glob": f"/svc{i}/*/items/**"}, "require": "authenticated"}


def grow(config):
    """The bench configuration (a parsed tenantgate.json, filled in) with the large policy."""
    tenants = dict(config["tenants"])
    for i in range(TENANTS - len(tenants)):
        tenants[other_tenant(i)] = {"hosts": [other_host(i)]}
    grown = dict(config)
    grown["tenants"] = tenants
    grown["host_templates"] = EXTRA_TEMPLATES + list(config["host_templates"])
    grown["routes"] = [rule(i) for i in range(RULES)] + list(config["routes"])
    return grown
