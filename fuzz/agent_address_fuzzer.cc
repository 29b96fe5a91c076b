// The agent address validator (CheckAgentAddress, RegisterHostRequest's
// agent_address): a refusal names the field; an accepted address is
// host:port with a port of 1-65535, without whitespace or a scheme, and
// still validates when its host is written in another case or with a
// trailing dot (DNS names), and when the port gets leading zeros up to 5
// digits.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fuzz/properties.h"
#include "server/names.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string address(reinterpret_cast<const char*>(data), size);
  absl::Status s = hvdr::server::CheckAgentAddress("agent_address", address);
  if (!s.ok()) {
    hvdr::fuzz::CheckRefusal(s, "agent_address");
    return 0;
  }
  FUZZ_CHECK(hvdr::server::CheckAgentAddress("agent_address", address).ok());
  FUZZ_CHECK(address.find("://") == std::string::npos);
  for (char c : address) FUZZ_CHECK(!absl::ascii_isspace(c) && !absl::ascii_iscntrl(c));
  const size_t colon = address.rfind(':');
  FUZZ_CHECK(colon != std::string::npos && colon > 0);
  const std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  int port_number = 0;
  FUZZ_CHECK(absl::SimpleAtoi(port, &port_number) && port_number >= 1 && port_number <= 65535);
  FUZZ_CHECK(port.size() <= 5);
  if (host.front() == '[') {
    FUZZ_CHECK(host.back() == ']');
  } else {
    FUZZ_CHECK(host.find(':') == std::string::npos);
  }
  // The same address, spelt otherwise, is as valid.
  FUZZ_CHECK(
      hvdr::server::CheckAgentAddress("a", absl::StrCat(absl::AsciiStrToUpper(host), ":", port))
          .ok());
  FUZZ_CHECK(hvdr::server::CheckAgentAddress("a", absl::StrCat(host, ":", port_number)).ok());
  FUZZ_CHECK(hvdr::server::CheckAgentAddress(
                 "a", absl::StrCat(host, ":", std::string(5 - port.size(), '0'), port))
                 .ok());
  const bool dns =
      host.front() != '[' && host.find_first_not_of("0123456789.") != std::string::npos;
  if (dns && host.back() != '.') {
    FUZZ_CHECK(hvdr::server::CheckAgentAddress("a", absl::StrCat(host, ".:", port)).ok());
  }
  // A port out of range never is.
  FUZZ_CHECK(!hvdr::server::CheckAgentAddress("a", absl::StrCat(host, ":0")).ok());
  FUZZ_CHECK(!hvdr::server::CheckAgentAddress("a", absl::StrCat(host, ":65536")).ok());
  FUZZ_CHECK(!hvdr::server::CheckAgentAddress("a", absl::StrCat("dns:///", host, ":", port)).ok());
  return 0;
}
