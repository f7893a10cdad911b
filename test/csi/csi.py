#!/usr/bin/python3
"""A CSI client for the tests: one call of the t9kfs CSI driver over its
unix socket, with python3-grpcio and stubs generated from csi/csi.proto.

    csi.py ENDPOINT SERVICE.METHOD [REQUEST-JSON]     e.g.
    csi.py unix:///tmp/x/csi.sock Node.NodeGetInfo '{}'

Prints the answer as JSON (field names as in csi.proto) and exits 0, or
prints "CODE: message" (CODE as NOT_FOUND) on stderr and exits 1.
CSI_PB is the directory of the generated csi_pb2*.py (made by gen()).
"""
import json
import os
import subprocess
import sys


def gen(out_dir, proto_dir):
    """Generates csi_pb2.py and csi_pb2_grpc.py from proto_dir/csi.proto."""
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run(["/usr/bin/python3", "-m", "grpc_tools.protoc", "-I", proto_dir,
                    "--python_out", out_dir, "--grpc_python_out", out_dir,
                    os.path.join(proto_dir, "csi.proto")], check=True)


def call(endpoint, method, request, timeout=180):
    """One call; returns (answer dict, None) or (None, (code name, message))."""
    sys.path.insert(0, os.environ["CSI_PB"])
    import grpc
    from google.protobuf import json_format
    import csi_pb2
    import csi_pb2_grpc

    service, name = method.split(".")
    with grpc.insecure_channel(endpoint) as channel:
        stub = getattr(csi_pb2_grpc, service + "Stub")(channel)
        rpc = getattr(stub, name)
        req_type = getattr(csi_pb2, name + "Request")
        req = json_format.ParseDict(request, req_type())
        try:
            resp = rpc(req, timeout=timeout)
        except grpc.RpcError as e:
            return None, (e.code().name, e.details())
    return json_format.MessageToDict(resp, preserving_proto_field_name=True,
                                     including_default_value_fields=False), None


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--gen":
        gen(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    request = json.loads(sys.argv[3]) if len(sys.argv) == 4 else {}
    answer, err = call(sys.argv[1], sys.argv[2], request)
    if err:
        print("%s: %s" % err, file=sys.stderr)
        return 1
    print(json.dumps(answer, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
