// wmi_probe: checks the COM WMI plumbing on a Windows host (or under Wine).
//   wmi_probe.exe NAMESPACE [WQL]
// Connects to NAMESPACE through ComWmiSession and runs WQL (default:
// SELECT * FROM Win32_OperatingSystem), printing each object's path and
// properties. Exit status: 0 ok; 3 the namespace is not available (for
// root\virtualization\v2: Hyper-V not installed, return code 32777);
// 2 usage; 1 any other failure.
#include <cstdio>
#include <memory>
#include <string>

#include "hvagent/wmi/com_wmi_session.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: wmi_probe NAMESPACE [WQL]\n");
    return 2;
  }
  const std::string ns = argv[1];
  const std::string wql = argc == 3 ? argv[2] : "SELECT * FROM Win32_OperatingSystem";
  std::unique_ptr<hvdr::wmi::ComWmiSession> session;
  hvdr::wmi::WmiStatus s = hvdr::wmi::ComWmiSession::Connect(ns, &session);
  if (!s.ok()) {
    std::printf("namespace %s: %s\n", ns.c_str(), s.message.c_str());
    if (s.code == hvdr::wmi::WmiCode::kUnavailable) {
      std::printf("result: 32777 System is not available\n");
      return 3;
    }
    std::printf("result: 32768 Failed\n");
    return 1;
  }
  std::vector<hvdr::wmi::WmiObject> objects;
  s = session->ExecQuery(wql, &objects);
  if (!s.ok()) {
    std::printf("query failed: %s\n", s.message.c_str());
    return 1;
  }
  for (const auto& o : objects) {
    std::printf("object %s\n", o.path.c_str());
    for (const auto& [name, value] : o.properties) {
      if (value.kind == hvdr::wmi::WmiValue::Kind::kString) {
        std::printf("  %s = %s\n", name.c_str(), value.s.c_str());
      } else if (value.kind == hvdr::wmi::WmiValue::Kind::kInt) {
        std::printf("  %s = %lld\n", name.c_str(), static_cast<long long>(value.i));
      }
    }
  }
  std::printf("objects: %zu\n", objects.size());
  return 0;
}
