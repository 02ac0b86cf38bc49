"""A gRPC upstream for the end-to-end tests: one unary method, /tenantgate.test.Echo/Call, on
127.0.0.1 at a port the OS picks (printed first, as {"port": N}). Each call is answered with a
JSON document of the call's metadata and printed as one JSON line, so the test knows what
reached the upstream. Raw bytes in and out: no generated code."""

import json
import sys
from concurrent import futures

import grpc

METHOD = "/tenantgate.test.Echo/Call"


def text(value):
    return value if isinstance(value, str) else value.decode("latin-1")


def call(request, context):
    seen = {
        "method": METHOD,
        "metadata": [[key, text(value)] for key, value in context.invocation_metadata()],
        "request": request.decode("utf-8", "replace"),
    }
    print(json.dumps(seen), flush=True)
    return json.dumps(seen).encode()


def main():
    handler = grpc.method_handlers_generic_handler(
        "tenantgate.test.Echo", {"Call": grpc.unary_unary_rpc_method_handler(call)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(json.dumps({"port": port}), flush=True)
    # Runs until the test kills it, or its stdin closes with the test.
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
