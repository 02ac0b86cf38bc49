"""moto's server (PyPI `moto[server]`) on loopback for the end-to-end test of Cognito user pools:
the Cognito Identity Provider API, each pool's JWKS and the RS256 tokens it issues. Listens on a
free port, prints one JSON line, {"port"}, once it listens, and runs until its standard input
closes (the test ends) or it is killed. scripts/setup installs moto into .venv."""

import json
import sys

from moto.server import ThreadedMotoServer


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(json.dumps({"port": port}), flush=True)
    # Ends with the test: its end of the pipe closes.
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
