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
  for (const char* bad : {"", "----", "{}", "{", "}", "0000000000000000000000000000000000000000000000000000000000000000",
                          "0DD0C0DE-0000-4000-8000-00000000000",     // last group short
                          "0DD0C0DE-0000-4000-8000-00000000000AB",   // last group long
                          "0DD0C0D-E0000-4000-8000-00000000000A",    // dash misplaced
                          "0DD0C0DE00000-4000-8000-00000000000A",    // dash missing
                          "0DD0C0DG-0000-4000-8000-00000000000A",    // not hex
                          "{0DD0C0DE-0000-4000-8000-00000000000A",   // one brace
                          "0DD0C0DE-0000-4000-8000-00000000000A}",
                          "{{0DD0C0DE-0000-4000-8000-00000000000A}}",
                          " 0DD0C0DE-0000-4000-8000-00000000000A",   // space
                          "0DD0C0DE000040008000000000000000",        // no dashes
                          "(0DD0C0DE-0000-4000-8000-00000000000A)"}) {
    auto guid = CanonicalVmGuid("virtual_machine", bad);
    EXPECT_EQ(guid.status().code(), absl::StatusCode::kInvalidArgument) << "\"" << bad << "\"";
    EXPECT_EQ(ErrorDetailOf(guid.status()).field(), "virtual_machine") << bad;
    EXPECT_EQ(ErrorDetailOf(guid.status()).reason(), "MALFORMED_GUID") << bad;
    EXPECT_FALSE(IsVmGuid(bad)) << bad;
  }
}

TEST(ParseVmNameTest, GuidSpellingsParseToTheCanonicalName) {
  for (const char* name : {"hosts/hv-dr-1/virtualMachines/0dd0c0de-0000-4000-8000-00000000000a",
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
                           "hosts/hv-dr-1/virtualMachines/0000000000000000000000000000000000000000000000000000000000000000",
                           "hosts/hv-dr-1/virtualMachines/0DD0C0DE-0000-4000-8000-0000000000",
                           "hosts/hv-dr-1/virtualMachines/sql-01", "hosts/hv-dr-1/virtualMachines/",
                           "hosts/HV/virtualMachines/0DD0C0DE-0000-4000-8000-00000000000A",
                           "hosts/hv-dr-1/vms/0DD0C0DE-0000-4000-8000-00000000000A"}) {
    auto vm = ParseVmName("parent", name);
    EXPECT_EQ(vm.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(ErrorDetailOf(vm.status()).field(), "parent") << name;
    EXPECT_THAT(std::string(vm.status().message()), HasSubstr("hosts/{host}/virtualMachines/{vm-guid}"));
  }
}

TEST(ParseRecoveryPointNameTest, TheVmPartIsCanonical) {
  auto rp = ParseRecoveryPointName(
      "recovery_point", "hosts/hv-dr-1/virtualMachines/{0dd0c0de-0000-4000-8000-00000000000a}/recoveryPoints/rp-1");
  ASSERT_TRUE(rp.ok()) << rp.status();
  EXPECT_EQ(rp->first, std::string("hosts/hv-dr-1/virtualMachines/") + kTestGuid);
  EXPECT_EQ(rp->second, "rp-1");
  auto bad = ParseRecoveryPointName("recovery_point", "hosts/hv-dr-1/virtualMachines/{}/recoveryPoints/rp-1");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorDetailOf(bad.status()).field(), "recovery_point");
}

}  // namespace
}  // namespace server
}  // namespace hvdr
