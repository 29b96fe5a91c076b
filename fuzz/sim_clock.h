// A clock for fuzzing the simulator: it moves only when told to, and a
// sleep (the scenario's inventory_delay_ms) moves it to the deadline at
// once instead of blocking.
#ifndef HVDR_FUZZ_SIM_CLOCK_H_
#define HVDR_FUZZ_SIM_CLOCK_H_

#include "common/clock.h"

namespace hvdr {
namespace fuzz {

class JumpClock final : public Clock {
 public:
  explicit JumpClock(absl::Time start) : now_(start) {}
  absl::Time Now() override { return now_; }
  void SleepUntil(absl::Time deadline) override {
    if (deadline > now_) now_ = deadline;
  }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_;  // one thread: the fuzzer's
};

}  // namespace fuzz
}  // namespace hvdr

#endif  // HVDR_FUZZ_SIM_CLOCK_H_
