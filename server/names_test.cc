#include "server/names.h"

#include <string>

#include "common/hyperv_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hvdr {
namespace server {
namespace {

using ::testing::HasSubstr;

constexpr char kTestGuid[] = "0DD0C0DE-0000-4000-8000-00000000000A";

TEST(CanonicalVmGuidTest, EverySpellingUsersPasteIsTheOneCanonicalForm) {
  for (const char* spelling :
       {"0DD0C0DE-0000-4000-8000-00000000000A", "0dd0c0de-0000-4000-8000-00000000000a",
        "{0DD0C0DE-0000-4000-8000-00000000000A}", "{0dd0c0de-0000-4000-8000-00000000000a}",
        "0dD0c0De-0000-4000-8000-00000000000A"}) {
    auto guid = CanonicalVmGuid("vm", spelling);
    ASSERT_TRUE(guid.ok()) << spelling << ": " << guid.status();
    EXPECT_EQ(*guid, kTestGuid) << spelling;
    EXPECT_TRUE(IsVmGuid(spelling));
  }
}

TEST(CanonicalVmGuidTest, WhatIsNotAGuidIsRefusedNamingTheField) {
  for (const char* bad :
       {"", "----", "{}", "{", "}",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0DD0C0DE-0000-4000-8000-00000000000",    // last group short
        "0DD0C0DE-0000-4000-8000-00000000000AB",  // last group long
        "0DD0C0D-E0000-4000-8000-00000000000A",   // dash misplaced
        "0DD0C0DE00000-4000-8000-00000000000A",   // dash missing
        "0DD0C0DG-0000-4000-8000-00000000000A",   // not hex
        "{0DD0C0DE-0000-4000-8000-00000000000A",  // one brace
        "0DD0C0DE-0000-4000-8000-00000000000A}", "{{0DD0C0DE-0000-4000-8000-00000000000A}}",
        " 0DD0C0DE-0000-4000-8000-00000000000A",  // space
        "0DD0C0DE000040008000000000000000",       // no dashes
        "(0DD0C0DE-0000-4000-8000-00000000000A)"}) {
    auto guid = CanonicalVmGuid("virtual_machine", bad);
    EXPECT_EQ(guid.status().code(), absl::StatusCode::kInvalidArgument) << "\"" << bad << "\"";
    EXPECT_EQ(ErrorDetailOf(guid.status()).field(), "virtual_machine") << bad;
    EXPECT_EQ(ErrorDetailOf(guid.status()).reason(), "MALFORMED_GUID") << bad;
    EXPECT_FALSE(IsVmGuid(bad)) << bad;
  }
}

TEST(ParseVmNameTest, GuidSpellingsParseToTheCanonicalName) {
  for (const char* name :
       {"hosts/hv-dr-1/virtualMachines/0dd0c0de-0000-4000-8000-00000000000a",
        "hosts/hv-dr-1/virtualMachines/{0DD0C0DE-0000-4000-8000-00000000000A}",
        "hosts/hv-dr-1/virtualMachines/{0dd0c0de-0000-4000-8000-00000000000a}"}) {
    auto vm = ParseVmName("virtual_machine", name);
    ASSERT_TRUE(vm.ok()) << name << ": " << vm.status();
    EXPECT_EQ(vm->host, "hosts/hv-dr-1");
    EXPECT_EQ(vm->vm_id, kTestGuid);
    EXPECT_EQ(vm->name(), std::string("hosts/hv-dr-1/virtualMachines/") + kTestGuid);
  }
}

TEST(ParseVmNameTest, NamesWithoutAGuidAreRefusedNamingTheField) {
  for (const char* name : {"hosts/hv-dr-1/virtualMachines/----", "hosts/hv-dr-1/virtualMachines/{}",
                           "hosts/hv-dr-1/virtualMachines/"
                           "0000000000000000000000000000000000000000000000000000000000000000",
                           "hosts/hv-dr-1/virtualMachines/0DD0C0DE-0000-4000-8000-0000000000",
                           "hosts/hv-dr-1/virtualMachines/sql-01", "hosts/hv-dr-1/virtualMachines/",
                           "hosts/HV/virtualMachines/0DD0C0DE-0000-4000-8000-00000000000A",
                           "hosts/hv-dr-1/vms/0DD0C0DE-0000-4000-8000-00000000000A"}) {
    auto vm = ParseVmName("parent", name);
    EXPECT_EQ(vm.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(ErrorDetailOf(vm.status()).field(), "parent") << name;
    EXPECT_THAT(std::string(vm.status().message()),
                HasSubstr("hosts/{host}/virtualMachines/{vm-guid}"));
  }
}

TEST(ParseRecoveryPointNameTest, TheVmPartIsCanonical) {
  auto rp = ParseRecoveryPointName(
      "recovery_point",
      "hosts/hv-dr-1/virtualMachines/{0dd0c0de-0000-4000-8000-00000000000a}/recoveryPoints/rp-1");
  ASSERT_TRUE(rp.ok()) << rp.status();
  EXPECT_EQ(rp->first, std::string("hosts/hv-dr-1/virtualMachines/") + kTestGuid);
  EXPECT_EQ(rp->second, "rp-1");
  auto bad = ParseRecoveryPointName("recovery_point",
                                    "hosts/hv-dr-1/virtualMachines/{}/recoveryPoints/rp-1");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(bad.status()).field(), "recovery_point");
}

TEST(CheckAgentAddressTest, HostPortAddressesAreAccepted) {
  const std::string label63(63, 'a');
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(name253.size(), 253u);
  for (const std::string& address :
       {std::string("127.0.0.1:50061"), std::string("10.0.0.7:1"), std::string("0.0.0.0:65535"),
        std::string("[::1]:50061"), std::string("[fd00:10::7]:443"),
        std::string("[::ffff:10.0.0.1]:5"), std::string("hv-dr-1:50061"),
        std::string("hv-dr-1.corp.example.com:50061"),
        std::string("HV-DR-1.Corp.Example.COM:50061"),
        std::string("hv-dr-1.corp.example.com.:50061"), std::string("1host:9"),
        std::string("localhost:7"), name253 + ":50061", name253 + ".:50061"}) {
    EXPECT_TRUE(CheckAgentAddress("agent_address", address).ok()) << address;
  }
}

TEST(CheckAgentAddressTest, AnythingElseIsRefusedWithAReason) {
  const std::string label63(63, 'a');
  const std::string name254 = label63 + "." + label63 + "." + label63 + "." + std::string(62, 'b');
  struct Row {
    std::string address;
    std::string reason;
  };
  const Row rows[] = {
      {"", "MISSING"},
      {"http://hv-dr-1:50061", "ADDRESS_IS_URL"},
      {"https://hv-dr-1:50061/", "ADDRESS_IS_URL"},
      {"grpc://hv-dr-1:50061", "ADDRESS_IS_URL"},
      {"dns:///hv-dr-1:50061", "ADDRESS_IS_URL"},
      {"dns:hv-dr-1:50061", "ADDRESS_IS_GRPC_TARGET"},
      {"unix:/run/hvagent.sock", "ADDRESS_IS_GRPC_TARGET"},
      {"unix-abstract:hvagent", "ADDRESS_IS_GRPC_TARGET"},
      {"ipv4:10.0.0.1:50061", "ADDRESS_IS_GRPC_TARGET"},
      {"ipv6:[::1]:50061", "ADDRESS_IS_GRPC_TARGET"},
      {"hv-dr-1 :50061", "ADDRESS_HAS_WHITESPACE"},
      {" hv-dr-1:50061", "ADDRESS_HAS_WHITESPACE"},
      {"hv-dr-1:50061\n", "ADDRESS_HAS_WHITESPACE"},
      {"hv-dr-1:\t50061", "ADDRESS_HAS_WHITESPACE"},
      {":50061", "MISSING_HOST"},
      {"[]:50061", "MISSING_HOST"},
      {"hv-dr-1", "MISSING_PORT"},
      {"[::1]", "MISSING_PORT"},
      {"[::1]50061", "MISSING_PORT"},
      {"hv-dr-1:", "BAD_PORT"},
      {"hv-dr-1:0", "BAD_PORT"},
      {"hv-dr-1:65536", "BAD_PORT"},
      {"hv-dr-1:+80", "BAD_PORT"},
      {"hv-dr-1:-1", "BAD_PORT"},
      {"hv-dr-1:0x50", "BAD_PORT"},
      {"hv-dr-1:000050061", "BAD_PORT"},
      {"hv-dr-1:http", "BAD_PORT"},
      {"::1:50061", "UNBRACKETED_IPV6"},
      {"fd00::7:50061", "UNBRACKETED_IPV6"},
      {"[fd00::zz]:50061", "MALFORMED_IPV6"},
      {"[10.0.0.1]:50061", "MALFORMED_IPV6"},
      {"[::1:50061", "MALFORMED_IPV6"},
      {"10.0.0.256:50061", "MALFORMED_IPV4"},
      {"10.0.0:50061", "MALFORMED_IPV4"},
      {"10..0.1:50061", "MALFORMED_IPV4"},
      {name254 + ":50061", "HOST_NAME_TOO_LONG"},
      {std::string(64, 'a') + ".example.com:50061", "MALFORMED_HOST_NAME"},
      {"-hv.example.com:50061", "MALFORMED_HOST_NAME"},
      {"hv-.example.com:50061", "MALFORMED_HOST_NAME"},
      {"hv..example.com:50061", "MALFORMED_HOST_NAME"},
      {"hv_dr_1:50061", "MALFORMED_HOST_NAME"},
      {"hv-dr-1/x:50061", "MALFORMED_HOST_NAME"},
      {"user@hv-dr-1:50061", "MALFORMED_HOST_NAME"},
      {"hv-dr-1?x=1:50061", "MALFORMED_HOST_NAME"},
      {"*.example.com:50061", "MALFORMED_HOST_NAME"},
  };
  for (const Row& row : rows) {
    const absl::Status s = CheckAgentAddress("agent_address", row.address);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "\"" << row.address << "\"";
    EXPECT_EQ(ErrorDetailOf(s).field(), "agent_address") << row.address;
    EXPECT_EQ(ErrorDetailOf(s).reason(), row.reason) << row.address << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("agent_address")) << row.address;
  }
}

}  // namespace
}  // namespace server
}  // namespace hvdr
