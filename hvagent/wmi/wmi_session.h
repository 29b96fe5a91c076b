// The seam between the WMI translation logic (wmi_backend.h, portable, tested
// on Linux against FakeWmiSession) and COM (com_wmi_session.h, Windows only).
//
// These types deliberately avoid Abseil and gRPC: the COM side is
// cross-compiled with mingw-w64, for which Debian ships neither.
#ifndef HVDR_HVAGENT_WMI_WMI_SESSION_H_
#define HVDR_HVAGENT_WMI_WMI_SESSION_H_

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace hvdr {
namespace wmi {

// What went wrong talking to WMI, in the spirit of absl::StatusCode.
enum class WmiCode {
  kOk = 0,
  kNotFound,          // WBEM_E_NOT_FOUND: no such object (e.g. a removed job)
  kInvalidArgument,   // bad query, class, method or parameter
  kPermissionDenied,  // WBEM_E_ACCESS_DENIED, E_ACCESSDENIED
  kUnavailable,       // namespace missing (Hyper-V not installed), RPC down
  kInternal,          // anything else
};

struct WmiStatus {
  WmiCode code = WmiCode::kOk;
  uint32_t hresult = 0;  // the COM HRESULT, 0 when none
  std::string message;
  bool ok() const { return code == WmiCode::kOk; }
};

// The status for an HRESULT: a name for the well-known WBEM codes and the
// hex value, plus `what` was being done. WBEM_E_INVALID_NAMESPACE becomes
// kUnavailable "Hyper-V is not installed".
WmiStatus StatusFromHresult(uint32_t hresult, const std::string& what);

struct WmiInstance;

// A property or parameter value.
struct WmiValue {
  enum class Kind {
    kNull,
    kBool,
    kInt,  // any integer CIM type (uint16/32/64, sint32 ...)
    kString,
    kStringArray,
    kIntArray,           // any integer CIM array (e.g. OperationalStatus, uint16[])
    kReference,          // REF: an object path
    kEmbeddedObject,     // the object at an object path, passed as embedded text
    kEmbeddedInstances,  // new instances of a class, passed as embedded text[]
  };
  Kind kind = Kind::kNull;
  bool b = false;
  int64_t i = 0;
  std::string s;  // kString, kReference, kEmbeddedObject (the path)
  std::vector<std::string> strings;
  std::vector<int64_t> ints;  // kIntArray
  std::vector<WmiInstance> instances;

  static WmiValue Null() { return WmiValue(); }
  static WmiValue Bool(bool v) {
    WmiValue x;
    x.kind = Kind::kBool;
    x.b = v;
    return x;
  }
  static WmiValue Int(int64_t v) {
    WmiValue x;
    x.kind = Kind::kInt;
    x.i = v;
    return x;
  }
  static WmiValue String(std::string v) {
    WmiValue x;
    x.kind = Kind::kString;
    x.s = std::move(v);
    return x;
  }
  static WmiValue Strings(std::vector<std::string> v) {
    WmiValue x;
    x.kind = Kind::kStringArray;
    x.strings = std::move(v);
    return x;
  }
  static WmiValue Ints(std::vector<int64_t> v) {
    WmiValue x;
    x.kind = Kind::kIntArray;
    x.ints = std::move(v);
    return x;
  }
  static WmiValue Reference(std::string path) {
    WmiValue x;
    x.kind = Kind::kReference;
    x.s = std::move(path);
    return x;
  }
  static WmiValue EmbeddedObject(std::string path) {
    WmiValue x;
    x.kind = Kind::kEmbeddedObject;
    x.s = std::move(path);
    return x;
  }
  static WmiValue EmbeddedInstances(std::vector<WmiInstance> v);
  bool operator==(const WmiValue& o) const;
};

using WmiProperties = std::map<std::string, WmiValue>;

// A new instance to embed in a method call (e.g. a
// Msvm_FailoverNetworkAdapterSettingData).
struct WmiInstance {
  std::string class_name;
  WmiProperties properties;
  bool operator==(const WmiInstance& o) const {
    return class_name == o.class_name && properties == o.properties;
  }
};

// An object read from WMI: its relative path (__RELPATH) and properties.
struct WmiObject {
  std::string path;
  WmiProperties properties;
  // Convenience readers; the default when absent or of another kind.
  int64_t Int(const std::string& name, int64_t def = 0) const;
  std::string String(const std::string& name) const;
  bool Bool(const std::string& name) const;
  // An integer array's items; empty when absent or of another kind.
  std::vector<int64_t> Ints(const std::string& name) const;
};

// One connection to a WMI namespace. Not required to be thread-safe:
// WmiBackend serializes calls.
class WmiSession {
 public:
  virtual ~WmiSession() = default;
  // Runs a WQL query (SELECT or ASSOCIATORS OF).
  virtual WmiStatus ExecQuery(const std::string& wql, std::vector<WmiObject>* out) = 0;
  // Reads the object at a relative path, e.g.
  // Msvm_ConcreteJob.InstanceID="...". kNotFound when there is none.
  virtual WmiStatus GetObject(const std::string& path, WmiObject* out) = 0;
  // Calls `method` on the object at `path` with named in-parameters; `out`
  // gets the out-parameters, ReturnValue among them.
  virtual WmiStatus ExecMethod(const std::string& path, const std::string& method,
                               const WmiProperties& in, WmiProperties* out) = 0;
};

}  // namespace wmi
}  // namespace hvdr

#endif  // HVDR_HVAGENT_WMI_WMI_SESSION_H_
