// WmiSession over COM (IWbemLocator / IWbemServices). Windows only: built
// with MSVC or mingw-w64; on other platforms this header declares nothing.
//
// Thread-compatibility: one session per thread, or external locking (the
// WmiBackend serializes its calls).
#ifndef HVDR_HVAGENT_WMI_COM_WMI_SESSION_H_
#define HVDR_HVAGENT_WMI_COM_WMI_SESSION_H_

#ifdef _WIN32

#include <memory>
#include <string>

#include "hvagent/wmi/wmi_session.h"

struct IWbemLocator;
struct IWbemServices;

namespace hvdr {
namespace wmi {

class ComWmiSession final : public WmiSession {
 public:
  // Initializes COM for the calling thread (multithreaded apartment) and
  // connects to `wmi_namespace` (e.g. "root\\virtualization\\v2") on the
  // local machine. A missing namespace is kUnavailable with
  // WBEM_E_INVALID_NAMESPACE: Hyper-V is not installed.
  static WmiStatus Connect(const std::string& wmi_namespace, std::unique_ptr<ComWmiSession>* out);
  ~ComWmiSession() override;
  ComWmiSession(const ComWmiSession&) = delete;
  ComWmiSession& operator=(const ComWmiSession&) = delete;

  WmiStatus ExecQuery(const std::string& wql, std::vector<WmiObject>* out) override;
  WmiStatus GetObject(const std::string& path, WmiObject* out) override;
  WmiStatus ExecMethod(const std::string& path, const std::string& method, const WmiProperties& in,
                       WmiProperties* out) override;

 private:
  ComWmiSession(IWbemLocator* locator, IWbemServices* services)
      : locator_(locator), services_(services) {}
  IWbemLocator* locator_;
  IWbemServices* services_;
};

}  // namespace wmi
}  // namespace hvdr

#endif  // _WIN32
#endif  // HVDR_HVAGENT_WMI_COM_WMI_SESSION_H_
