"""dr_proto_library: one .proto to C++ message, gRPC and gmock targets.

For `dr_proto_library(name = "x", src = "dr/v1/x.proto", deps = [":y"], grpc = True)`
in the package `proto` (the proto import root), it defines:
  x_proto_srcs   filegroup: the .proto and every .proto it imports (for protoc)
  x_cc_proto     cc_library: x.pb.{h,cc}
  x_cc_grpc      cc_library: x.grpc.pb.{h,cc}                 (grpc = True)
  x_cc_grpc_mock cc_library, testonly: x_mock.grpc.pb.h        (grpc = True)
Code generation runs Debian's protoc and grpc_cpp_plugin; well-known types
(google/protobuf/*.proto) come from /usr/include.
"""

def dr_proto_library(name, src, deps = [], grpc = False):
    base = src[:-len(".proto")]
    native.filegroup(
        name = name + "_proto_srcs",
        srcs = [src] + [d + "_proto_srcs" for d in deps],
        visibility = ["//visibility:public"],
    )
    outs_pb = [base + ".pb.h", base + ".pb.cc"]
    outs_grpc = [base + ".grpc.pb.h", base + ".grpc.pb.cc", base + "_mock.grpc.pb.h"] if grpc else []
    pkg = native.package_name()
    grpc_flags = ""
    if grpc:
        grpc_flags = (" --plugin=protoc-gen-grpc=$$(command -v grpc_cpp_plugin)" +
                      " --grpc_out=generate_mock_code=true:$(GENDIR)/" + pkg)
    native.genrule(
        name = name + "_codegen",
        srcs = [":" + name + "_proto_srcs"],
        outs = outs_pb + outs_grpc,
        cmd = ("protoc -I" + pkg + " --cpp_out=$(GENDIR)/" + pkg + grpc_flags +
               " " + pkg + "/" + src),
        message = "protoc " + src,
    )
    native.cc_library(
        name = name + "_cc_proto",
        srcs = [base + ".pb.cc"],
        hdrs = [base + ".pb.h"],
        includes = ["."],
        copts = ["-Wno-unused-parameter"],
        deps = [d + "_cc_proto" for d in deps] + ["@system//:protobuf"],
        visibility = ["//visibility:public"],
    )
    if grpc:
        native.cc_library(
            name = name + "_cc_grpc",
            srcs = [base + ".grpc.pb.cc"],
            hdrs = [base + ".grpc.pb.h"],
            includes = ["."],
            copts = ["-Wno-unused-parameter"],
            deps = [":" + name + "_cc_proto", "@system//:grpc++", "@system//:absl"],
            visibility = ["//visibility:public"],
        )
        native.cc_library(
            name = name + "_cc_grpc_mock",
            testonly = True,
            hdrs = [base + "_mock.grpc.pb.h"],
            includes = ["."],
            deps = [":" + name + "_cc_grpc", "@system//:gmock"],
            visibility = ["//visibility:public"],
        )
