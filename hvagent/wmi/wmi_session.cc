#include "hvagent/wmi/wmi_session.h"

#include <cstdio>

namespace hvdr {
namespace wmi {

namespace {

struct KnownHresult {
  uint32_t hresult;
  const char* name;
  WmiCode code;
};

constexpr KnownHresult kKnown[] = {
    {0x8004100E, "WBEM_E_INVALID_NAMESPACE", WmiCode::kUnavailable},
    {0x80041002, "WBEM_E_NOT_FOUND", WmiCode::kNotFound},
    {0x80041003, "WBEM_E_ACCESS_DENIED", WmiCode::kPermissionDenied},
    {0x80070005, "E_ACCESSDENIED", WmiCode::kPermissionDenied},
    {0x80041010, "WBEM_E_INVALID_CLASS", WmiCode::kInvalidArgument},
    {0x80041017, "WBEM_E_INVALID_QUERY", WmiCode::kInvalidArgument},
    {0x80041008, "WBEM_E_INVALID_PARAMETER", WmiCode::kInvalidArgument},
    {0x80041055, "WBEM_E_INVALID_METHOD_PARAMETERS", WmiCode::kInvalidArgument},
    {0x80041024, "WBEM_E_INVALID_OBJECT_PATH", WmiCode::kInvalidArgument},
    {0x80041013, "WBEM_E_PROVIDER_LOAD_FAILURE", WmiCode::kUnavailable},
    {0x800706BA, "RPC_S_SERVER_UNAVAILABLE", WmiCode::kUnavailable},
    {0x80041001, "WBEM_E_FAILED", WmiCode::kInternal},
};

}  // namespace

WmiStatus StatusFromHresult(uint32_t hresult, const std::string& what) {
  WmiStatus s;
  s.hresult = hresult;
  if ((hresult & 0x80000000u) == 0) return s;  // SUCCEEDED
  char hex[16];
  std::snprintf(hex, sizeof(hex), "0x%08X", hresult);
  s.code = WmiCode::kInternal;
  std::string name = "HRESULT";
  for (const KnownHresult& k : kKnown) {
    if (k.hresult == hresult) {
      s.code = k.code;
      name = k.name;
    }
  }
  s.message = what + ": " + name + " (" + hex + ")";
  if (hresult == 0x8004100E) {
    s.message += ": Hyper-V is not installed on this host (no root\\virtualization\\v2 namespace)";
  }
  return s;
}

WmiValue WmiValue::EmbeddedInstances(std::vector<WmiInstance> v) {
  WmiValue x;
  x.kind = Kind::kEmbeddedInstances;
  x.instances = std::move(v);
  return x;
}

bool WmiValue::operator==(const WmiValue& o) const {
  return kind == o.kind && b == o.b && i == o.i && s == o.s && strings == o.strings &&
         ints == o.ints && instances == o.instances;
}

int64_t WmiObject::Int(const std::string& name, int64_t def) const {
  auto it = properties.find(name);
  if (it == properties.end() || it->second.kind != WmiValue::Kind::kInt) return def;
  return it->second.i;
}

std::vector<int64_t> WmiObject::Ints(const std::string& name) const {
  auto it = properties.find(name);
  if (it == properties.end() || it->second.kind != WmiValue::Kind::kIntArray) return {};
  return it->second.ints;
}

std::string WmiObject::String(const std::string& name) const {
  auto it = properties.find(name);
  if (it == properties.end()) return "";
  const WmiValue& v = it->second;
  if (v.kind == WmiValue::Kind::kString || v.kind == WmiValue::Kind::kReference) return v.s;
  return "";
}

bool WmiObject::Bool(const std::string& name) const {
  auto it = properties.find(name);
  return it != properties.end() && it->second.kind == WmiValue::Kind::kBool && it->second.b;
}

}  // namespace wmi
}  // namespace hvdr
