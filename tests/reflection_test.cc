// A server reflection client against a real drserver process, as
// `buf curl --list-methods` or grpcurl would use it: every service the
// server lists can be described, grpc.health.v1.Health included. The
// reflection messages are encoded by hand (wire format), so this test
// depends on nothing drserver links.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace hvdr {
namespace testing {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

// grpc.reflection.v1alpha field numbers.
constexpr int kRequestFileContainingSymbol = 4;
constexpr int kRequestListServices = 7;
constexpr int kResponseFileDescriptors = 4;
constexpr int kResponseListServices = 6;
constexpr int kResponseError = 7;

std::string LengthDelimited(int field, const std::string& value) {
  std::string out(1, static_cast<char>(field << 3 | 2));
  size_t n = value.size();
  while (n >= 0x80) {
    out.push_back(static_cast<char>(n | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  return out + value;
}

// The length-delimited values of `field` in `message`.
std::vector<std::string> Fields(const std::string& message, int field) {
  UnknownFieldSet set;
  EXPECT_TRUE(set.ParseFromString(message));
  std::vector<std::string> out;
  for (int i = 0; i < set.field_count(); ++i) {
    if (set.field(i).number() == field &&
        set.field(i).type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      out.push_back(set.field(i).length_delimited());
    }
  }
  return out;
}

class Reflection {
 public:
  explicit Reflection(std::shared_ptr<grpc::Channel> channel) : stub_(std::move(channel)) {}

  // One request and its response on a ServerReflectionInfo stream.
  std::string Ask(const std::string& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::CompletionQueue cq;
    auto call = stub_.PrepareCall(
        &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
    call->StartCall(Tag(1));
    if (!Wait(&cq, 1)) return "";
    grpc::Slice slice(request);
    grpc::ByteBuffer out(&slice, 1);
    call->Write(out, Tag(2));
    if (!Wait(&cq, 2)) return "";
    grpc::ByteBuffer in;
    call->Read(&in, Tag(3));
    const bool read = Wait(&cq, 3);
    call->WritesDone(Tag(4));
    Wait(&cq, 4);
    grpc::Status status;
    call->Finish(&status, Tag(5));
    Wait(&cq, 5);
    if (!read) return "";
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(in.Dump(&slices).ok());
    std::string received;
    for (const grpc::Slice& s : slices)
      received.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return received;
  }

 private:
  static void* Tag(intptr_t i) { return reinterpret_cast<void*>(i); }
  static bool Wait(grpc::CompletionQueue* cq, intptr_t want) {
    void* tag = nullptr;
    bool ok = false;
    while (cq->Next(&tag, &ok)) {
      if (tag == Tag(want)) return ok;
    }
    return false;
  }
  grpc::GenericStub stub_;
};

TEST(ReflectionTest, EveryListedServiceCanBeDescribed) {
  const std::string dir = NewTempDir("reflection");
  Subprocess server;
  ASSERT_TRUE(
      server
          .Start({RunfilePath("server/drserver"), "--listen=127.0.0.1:0",
                  "--db=" + dir + "/drserver.db", "--port_file=" + dir + "/port", "--insecure"},
                 dir + "/drserver.log")
          .ok());
  auto port = server.WaitForPortFile(dir + "/port", absl::Seconds(30));
  ASSERT_TRUE(port.ok()) << port.status();
  Reflection reflection(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", *port), grpc::InsecureChannelCredentials()));

  const std::string listed = reflection.Ask(LengthDelimited(kRequestListServices, ""));
  std::vector<std::string> services;
  for (const std::string& list : Fields(listed, kResponseListServices)) {
    for (const std::string& service : Fields(list, 1)) {
      for (const std::string& name : Fields(service, 1)) services.push_back(name);
    }
  }
  EXPECT_THAT(services,
              ::testing::IsSupersetOf(
                  {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                   "dr.v1.TopologyService", "dr.v1.FailoverService", "dr.v1.JobService"}));
  for (const std::string& service : services) {
    SCOPED_TRACE(service);
    const std::string answer =
        reflection.Ask(LengthDelimited(kRequestFileContainingSymbol, service));
    EXPECT_THAT(Fields(answer, kResponseError), ::testing::IsEmpty());
    google::protobuf::SimpleDescriptorDatabase db;
    for (const std::string& files : Fields(answer, kResponseFileDescriptors)) {
      for (const std::string& bytes : Fields(files, 1)) {
        google::protobuf::FileDescriptorProto file;
        ASSERT_TRUE(file.ParseFromString(bytes));
        db.Add(file);
      }
    }
    google::protobuf::DescriptorPool pool(&db);
    const google::protobuf::ServiceDescriptor* descriptor = pool.FindServiceByName(service);
    ASSERT_NE(descriptor, nullptr) << "reflection cannot describe " << service;
    EXPECT_GT(descriptor->method_count(), 0);
  }
}

}  // namespace
}  // namespace testing
}  // namespace hvdr
