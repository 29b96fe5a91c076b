// A per-process scratch file for fuzzers whose code under test reads files.
#ifndef HVDR_FUZZ_TEMP_FILE_H_
#define HVDR_FUZZ_TEMP_FILE_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace hvdr {
namespace fuzz {

// $TEST_TMPDIR (under bazel test) or /tmp, then hvdr-fuzz-<pid>-<name>.
inline std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/hvdr-fuzz-" + std::to_string(getpid()) +
         "-" + name;
}

// Replaces the file at `path` with `size` bytes of `data`; aborts when it
// cannot (the fuzzer cannot run).
inline void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::abort();
  }
}

}  // namespace fuzz
}  // namespace hvdr

#endif  // HVDR_FUZZ_TEMP_FILE_H_
