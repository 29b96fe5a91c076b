// What the fuzzers assert: FUZZ_CHECK aborts (a crash libFuzzer records,
// and a failed replay test) when a property does not hold.
#ifndef HVDR_FUZZ_PROPERTIES_H_
#define HVDR_FUZZ_PROPERTIES_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/hyperv_status.h"

#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace hvdr {
namespace fuzz {

// A refusal as the API promises one: an error with a message and an
// ErrorDetail (a reason and a defined Hyper-V return code) that names
// `field` (when `field` is null, any non-empty field; "" accepts none).
inline void CheckRefusal(const absl::Status& s, const char* field = nullptr) {
  FUZZ_CHECK(!s.ok());
  FUZZ_CHECK(!s.message().empty());
  const dr::v1::ErrorDetail d = ErrorDetailOf(s);
  FUZZ_CHECK(!d.reason().empty());
  FUZZ_CHECK(IsValidReturnCode(static_cast<uint32_t>(d.return_code())));
  if (field == nullptr) {
    FUZZ_CHECK(!d.field().empty());
  } else if (*field != '\0') {
    if (d.field() != field) {
      std::fprintf(stderr, "field \"%s\", want \"%s\": %s\n", d.field().c_str(), field,
                   std::string(s.message()).c_str());
    }
    FUZZ_CHECK(d.field() == field);
  }
}

// Splits fuzz input into up to `max` pieces at each '\n' (the last piece
// takes the rest), so one input can carry several fields.
inline std::vector<std::string> SplitInput(const uint8_t* data, size_t size, size_t max) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n' && out.size() < max) {
      out.emplace_back();
    } else {
      out.back().push_back(static_cast<char>(data[i]));
    }
  }
  while (out.size() < max) out.emplace_back();
  return out;
}

}  // namespace fuzz
}  // namespace hvdr

#endif  // HVDR_FUZZ_PROPERTIES_H_
