#include "common/clock.h"

namespace hvdr {

Clock* RealClock::Get() {
  static Clock* const kClock = new RealClock();
  return kClock;
}

}  // namespace hvdr
