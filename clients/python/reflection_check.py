"""Lists a node's services through gRPC server reflection, in both versions.

    python reflection_check.py HOST:PORT [--token T]

v1alpha with the official client (grpcio-reflection's ProtoReflectionDescriptorDatabase,
which speaks only v1alpha), which then resolves ProverService's methods from the
descriptors the node serves; v1 with the same messages on the v1 method (the two
versions' messages are identical on the wire). Prints a JSON object:
{"v1alpha": [services], "v1": [services], "prover_methods": [methods]}.
"""

import argparse
import json
import sys

import grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from google.protobuf.descriptor_pool import DescriptorPool


def v1_services(channel, metadata):
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    req = reflection_pb2.ServerReflectionRequest(list_services="")
    for resp in call(iter([req]), metadata=metadata):
        return sorted(s.name for s in resp.list_services_response.service)
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("node", help="host:port")
    ap.add_argument("--token")
    a = ap.parse_args()
    channel = grpc.insecure_channel(a.node)
    metadata = [("authorization", f"Bearer {a.token}")] if a.token else []
    db = ProtoReflectionDescriptorDatabase(channel)
    alpha = sorted(db.get_services())
    pool = DescriptorPool(db)
    svc = pool.FindServiceByName("zkinfer.v1.ProverService")
    print(json.dumps({
        "v1alpha": alpha,
        "v1": v1_services(channel, metadata),
        "prover_methods": sorted(m.name for m in svc.methods),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
