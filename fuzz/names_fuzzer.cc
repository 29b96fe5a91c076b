// Resource names and VM GUIDs (server/names.h): every parser either refuses
// naming the field, or accepts, and what it returns is canonical: it parses
// again to itself, and the name rebuilt from it is the one parsed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "fuzz/properties.h"
#include "server/names.h"

namespace {

using hvdr::fuzz::CheckRefusal;
namespace server = hvdr::server;

void CheckGuid(const std::string& s) {
  absl::StatusOr<std::string> g = server::CanonicalVmGuid("guid", s);
  FUZZ_CHECK(g.ok() == server::IsVmGuid(s));
  if (!g.ok()) return CheckRefusal(g.status(), "guid");
  FUZZ_CHECK(g->size() == 36);
  FUZZ_CHECK(*g == absl::AsciiStrToUpper(*g));
  // Canonical is a fixed point, and every accepted spelling of it maps back.
  for (const std::string& spelling : {*g, absl::AsciiStrToLower(*g), absl::StrCat("{", *g, "}")}) {
    absl::StatusOr<std::string> again = server::CanonicalVmGuid("guid", spelling);
    FUZZ_CHECK(again.ok() && *again == *g);
  }
  FUZZ_CHECK(absl::AsciiStrToUpper(s) == *g ||
             absl::AsciiStrToUpper(s) == absl::StrCat("{", *g, "}"));
}

void CheckNames(const std::string& s) {
  if (absl::Status id = server::CheckId("id", s); id.ok()) {
    FUZZ_CHECK(!s.empty() && s.size() <= 63);
    absl::StatusOr<std::string> host = server::ParseHostName("host", server::HostName(s));
    FUZZ_CHECK(host.ok() && *host == s);
    absl::StatusOr<std::string> site = server::ParseSiteName("site", server::SiteName(s));
    FUZZ_CHECK(site.ok() && *site == s);
  } else {
    CheckRefusal(id, "id");
  }
  if (absl::Status rid = server::CheckRequestId("request_id", s); !rid.ok()) {
    CheckRefusal(rid, "request_id");
  } else {
    FUZZ_CHECK(!s.empty() && s.size() <= 128);
  }
  if (absl::StatusOr<std::string> host = server::ParseHostName("host", s); host.ok()) {
    FUZZ_CHECK(server::HostName(*host) == s);
    FUZZ_CHECK(server::CheckId("id", *host).ok());
  } else {
    CheckRefusal(host.status(), "host");
  }
  if (absl::StatusOr<std::string> site = server::ParseSiteName("site", s); site.ok()) {
    FUZZ_CHECK(server::SiteName(*site) == s);
  } else {
    CheckRefusal(site.status(), "site");
  }
  if (absl::StatusOr<server::VmName> vm = server::ParseVmName("vm", s); vm.ok()) {
    FUZZ_CHECK(server::ParseHostName("host", vm->host).ok());
    FUZZ_CHECK(server::CanonicalVmGuid("guid", vm->vm_id).value_or("") == vm->vm_id);
    absl::StatusOr<server::VmName> again = server::ParseVmName("vm", vm->name());
    FUZZ_CHECK(again.ok() && again->host == vm->host && again->vm_id == vm->vm_id);
    // Only the GUID's spelling changes.
    FUZZ_CHECK(vm->name() == s.substr(0, s.rfind('/') + 1) + vm->vm_id);
    FUZZ_CHECK(!server::IsLogicalVmName(s));
  } else {
    CheckRefusal(vm.status(), "vm");
  }
  if (absl::StatusOr<std::string> logical = server::ParseLogicalVmName("vm", s); logical.ok()) {
    FUZZ_CHECK(server::IsLogicalVmName(s));
    FUZZ_CHECK(absl::StrCat("virtualMachines/", *logical) == s);
    FUZZ_CHECK(!logical->empty() && logical->size() <= 256 &&
               logical->find('/') == std::string::npos);
  } else {
    CheckRefusal(logical.status(), "vm");
  }
  if (auto point = server::ParseRecoveryPointName("point", s); point.ok()) {
    FUZZ_CHECK(server::ParseVmName("vm", point->first).ok());
    auto again = server::ParseRecoveryPointName(
        "point", absl::StrCat(point->first, "/recoveryPoints/", point->second));
    FUZZ_CHECK(again.ok() && *again == *point);
  } else {
    CheckRefusal(point.status(), "point");
  }
  if (absl::Status job = server::CheckJobName("job", s); job.ok()) {
    FUZZ_CHECK(s.size() > 5 && s.size() <= 128 && s.compare(0, 5, "jobs/") == 0);
  } else {
    CheckRefusal(job, "job");
  }
  if (absl::Status len = server::CheckLength("text", s, 16); !len.ok()) {
    CheckRefusal(len, "text");
    FUZZ_CHECK(s.size() > 16);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s(reinterpret_cast<const char*>(data), size);
  CheckGuid(s);
  CheckNames(s);
  return 0;
}
