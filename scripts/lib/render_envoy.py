#!/usr/bin/env python3
"""Render an Envoy config template: ${NAME} placeholders from the environment, and
${FILTER_CONFIG} from a tenantgate JSON configuration file, indented as a YAML block scalar.

usage: render_envoy.py TEMPLATE FILTER_CONFIG_JSON > envoy.yaml
"""
import json
import os
import re
import sys


def main():
    template_path, filter_path = sys.argv[1], sys.argv[2]
    with open(template_path) as f:
        template = f.read()
    with open(filter_path) as f:
        filter_config = json.dumps(json.load(f), indent=2)
    # The block scalar sits under `value: |`; its lines need more indent than that key.
    marker = re.search(r"^(\s*)value: \|\n\$\{FILTER_CONFIG\}", template, re.M)
    indent = " " * (len(marker.group(1)) + 2) if marker else " " * 28
    block = "\n".join(indent + line for line in filter_config.splitlines())

    def substitute(match):
        name = match.group(1)
        if name == "FILTER_CONFIG":
            return block
        if name not in os.environ:
            sys.exit(f"render_envoy: ${{{name}}} is not set")
        return os.environ[name]

    sys.stdout.write(re.sub(r"\$\{([A-Z_]+)\}", substitute, template))


if __name__ == "__main__":
    main()
