#include "common/executor.h"

#include <atomic>

#include "gtest/gtest.h"

namespace hvdr {
namespace {

TEST(ExecutorTest, RunsEveryTaskOffTheCallersThread) {
  std::atomic<int> ran{0};
  std::atomic<int> on_caller{0};
  const std::thread::id caller = std::this_thread::get_id();
  Executor executor(3);
  for (int i = 0; i < 1000; ++i) {
    executor.Schedule([&] {
      if (std::this_thread::get_id() == caller) ++on_caller;
      ++ran;
    });
  }
  executor.Drain();
  EXPECT_EQ(ran, 1000);
  EXPECT_EQ(on_caller, 0);
}

TEST(ExecutorTest, OneThreadKeepsSubmissionOrder) {
  std::vector<int> order;
  {
    Executor executor(1);
    for (int i = 0; i < 100; ++i) executor.Schedule([&order, i] { order.push_back(i); });
  }  // the destructor runs what was queued
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

}  // namespace
}  // namespace hvdr
