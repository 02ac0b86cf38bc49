"""A gRPC client for the end-to-end tests. Reads one JSON document on stdin:
{"target": "127.0.0.1:PORT", "calls": [{"authority": ..., "method": ..., "metadata": [[k, v]],
"request": "text"}]}, makes each unary call (raw bytes, no generated code) and prints a JSON
list, one result per call: the status code's name and number, its details (the decoded
grpc-message), the trailing and initial metadata, and the response text when the call
succeeded."""

import json
import sys

import grpc


def pairs(metadata):
    out = []
    for key, value in metadata or ():
        out.append([key, value if isinstance(value, str) else value.decode("latin-1")])
    return out


def one(target, spec):
    options = [("grpc.default_authority", spec["authority"])]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = channel.unary_unary(spec["method"])
        metadata = [tuple(pair) for pair in spec.get("metadata", [])]
        try:
            response, call = stub.with_call(
                spec.get("request", "").encode(), metadata=metadata, timeout=20
            )
            return {
                "code": call.code().name,
                "code_value": call.code().value[0],
                "details": call.details() or "",
                "trailing": pairs(call.trailing_metadata()),
                "initial": pairs(call.initial_metadata()),
                "response": response.decode("utf-8", "replace"),
            }
        except grpc.RpcError as error:
            return {
                "code": error.code().name,
                "code_value": error.code().value[0],
                "details": error.details() or "",
                "trailing": pairs(error.trailing_metadata()),
                "initial": pairs(error.initial_metadata()),
                "response": None,
            }


def main():
    spec = json.load(sys.stdin)
    results = [one(spec["target"], call) for call in spec["calls"]]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
