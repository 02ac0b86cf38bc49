#!/bin/sh
# The demo's tenants, roles and users, for scripts/demo and docker-compose alike.
# Usage: seed-demo.sh ISSUER_BINARY ISSUER_CONFIG   (run once, on a fresh database)
set -eu
[ "$#" -eq 2 ] || { echo "usage: $0 ISSUER_BINARY ISSUER_CONFIG" >&2; exit 2; }
bin=$1 config=$2
i() { "$bin" --config "$config" "$@"; }
i tenant add acme --name "Acme Corp"
i tenant add globex --name "Globex"
i role define admin --permissions 'reports:*,users:*'
i role define analyst --permissions 'reports:read'
i role define editor --permissions 'reports:write'
i role define member --permissions 'profile:read'
echo 'alice-demo-password' | i user add --tenant acme --email alice@acme.example --password-stdin
echo 'bob-demo-password' | i user add --tenant acme --email bob@acme.example --password-stdin
echo 'carol-demo-password' | i user add --tenant acme --email carol@example.com --password-stdin
i user add --tenant globex --email carol@example.com
i role grant --tenant acme --email alice@acme.example --role admin
i role grant --tenant acme --email alice@acme.example --role member
i role grant --tenant acme --email bob@acme.example --role member
i role grant --tenant acme --email carol@example.com --role analyst
i role grant --tenant acme --email carol@example.com --role editor
i role grant --tenant globex --email carol@example.com --role admin
