// A scripted WmiSession for tests: answers queries, objects and method calls
// from tables the test fills, and records every call so a test can check the
// exact class, method, parameter names and paths.
#ifndef HVDR_HVAGENT_WMI_FAKE_WMI_SESSION_H_
#define HVDR_HVAGENT_WMI_FAKE_WMI_SESSION_H_

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "hvagent/wmi/wmi_session.h"

namespace hvdr {
namespace wmi {

class FakeWmiSession final : public WmiSession {
 public:
  struct Call {
    std::string kind;    // "query", "get", "method"
    std::string target;  // WQL or path
    std::string method;
    WmiProperties in;
  };

  // Answers for a WQL text. Unlisted queries return no objects.
  void SetQuery(const std::string& wql, std::vector<WmiObject> objects) {
    absl::MutexLock l(&mu_);
    queries_[wql] = std::move(objects);
  }
  void FailQuery(const std::string& wql, WmiStatus status) {
    absl::MutexLock l(&mu_);
    query_errors_[wql] = std::move(status);
  }
  // Successive GetObject calls on `path` return these in order; the last one
  // repeats. An object with an empty path means "not found".
  void SetObjects(const std::string& path, std::vector<WmiObject> sequence) {
    absl::MutexLock l(&mu_);
    objects_[path] = std::deque<WmiObject>(sequence.begin(), sequence.end());
  }
  // The out-parameters of `method` on `path`; or a failure status.
  void SetMethod(const std::string& path, const std::string& method, WmiProperties out) {
    absl::MutexLock l(&mu_);
    methods_[path + "|" + method] = std::move(out);
  }
  void FailMethod(const std::string& path, const std::string& method, WmiStatus status) {
    absl::MutexLock l(&mu_);
    method_errors_[path + "|" + method] = std::move(status);
  }
  std::vector<Call> calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  std::vector<Call> MethodCalls() {
    absl::MutexLock l(&mu_);
    std::vector<Call> out;
    for (const Call& c : calls_) {
      if (c.kind == "method") out.push_back(c);
    }
    return out;
  }

  WmiStatus ExecQuery(const std::string& wql, std::vector<WmiObject>* out) override {
    absl::MutexLock l(&mu_);
    calls_.push_back({"query", wql, "", {}});
    auto err = query_errors_.find(wql);
    if (err != query_errors_.end()) return err->second;
    auto it = queries_.find(wql);
    *out = it == queries_.end() ? std::vector<WmiObject>() : it->second;
    return WmiStatus();
  }
  WmiStatus GetObject(const std::string& path, WmiObject* out) override {
    absl::MutexLock l(&mu_);
    calls_.push_back({"get", path, "", {}});
    auto it = objects_.find(path);
    if (it == objects_.end() || it->second.empty() || it->second.front().path.empty()) {
      if (it != objects_.end() && it->second.size() > 1) it->second.pop_front();
      return StatusFromHresult(0x80041002, "GetObject " + path);
    }
    *out = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    return WmiStatus();
  }
  WmiStatus ExecMethod(const std::string& path, const std::string& method, const WmiProperties& in,
                       WmiProperties* out) override {
    absl::MutexLock l(&mu_);
    calls_.push_back({"method", path, method, in});
    auto err = method_errors_.find(path + "|" + method);
    if (err != method_errors_.end()) return err->second;
    auto it = methods_.find(path + "|" + method);
    if (it == methods_.end()) {
      return StatusFromHresult(0x80041055, "ExecMethod " + method + " (not scripted)");
    }
    *out = it->second;
    return WmiStatus();
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::vector<WmiObject>> queries_;
  std::map<std::string, WmiStatus> query_errors_;
  std::map<std::string, std::deque<WmiObject>> objects_;
  std::map<std::string, WmiProperties> methods_;
  std::map<std::string, WmiStatus> method_errors_;
  std::vector<Call> calls_;
};

}  // namespace wmi
}  // namespace hvdr

#endif  // HVDR_HVAGENT_WMI_FAKE_WMI_SESSION_H_
