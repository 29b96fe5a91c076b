#ifdef _WIN32

#include "hvagent/wmi/com_wmi_session.h"

#define _WIN32_DCOM
#define NOGDI  // wingdi.h would rename GetObject to GetObjectA
#include <objbase.h>
#include <oleauto.h>
#include <wbemidl.h>
#include <windows.h>

#include <cstdio>

namespace hvdr {
namespace wmi {

namespace {

std::wstring Wide(const std::string& s) {
  if (s.empty()) return std::wstring();
  int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring w(n, L'\0');
  MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), &w[0], n);
  return w;
}

std::string Narrow(const wchar_t* w) {
  if (w == nullptr) return std::string();
  int len = static_cast<int>(wcslen(w));
  if (len == 0) return std::string();
  int n = WideCharToMultiByte(CP_UTF8, 0, w, len, nullptr, 0, nullptr, nullptr);
  std::string s(n, '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, len, &s[0], n, nullptr, nullptr);
  return s;
}

// An owned BSTR.
class Bstr {
 public:
  explicit Bstr(const std::string& s) : b_(SysAllocString(Wide(s).c_str())) {}
  ~Bstr() { SysFreeString(b_); }
  Bstr(const Bstr&) = delete;
  Bstr& operator=(const Bstr&) = delete;
  operator BSTR() const { return b_; }

 private:
  BSTR b_;
};

template <typename T>
void Release(T*& p) {
  if (p != nullptr) {
    p->Release();
    p = nullptr;
  }
}

WmiValue FromVariant(const VARIANT& v, CIMTYPE type) {
  const VARTYPE vt = v.vt;
  if (vt == VT_NULL || vt == VT_EMPTY) return WmiValue::Null();
  if (vt == VT_BOOL) return WmiValue::Bool(v.boolVal != VARIANT_FALSE);
  if (vt == VT_BSTR) {
    std::string s = Narrow(v.bstrVal);
    if (type == CIM_REFERENCE) return WmiValue::Reference(s);
    if (type == CIM_UINT64 || type == CIM_SINT64) {
      return WmiValue::Int(static_cast<int64_t>(_strtoui64(s.c_str(), nullptr, 10)));
    }
    return WmiValue::String(s);
  }
  VARIANT copy;
  VariantInit(&copy);
  if (vt == (VT_ARRAY | VT_BSTR)) {
    std::vector<std::string> out;
    SAFEARRAY* arr = v.parray;
    LONG lo = 0, hi = -1;
    SafeArrayGetLBound(arr, 1, &lo);
    SafeArrayGetUBound(arr, 1, &hi);
    for (LONG i = lo; i <= hi; ++i) {
      BSTR item = nullptr;
      if (SUCCEEDED(SafeArrayGetElement(arr, &i, &item))) {
        out.push_back(Narrow(item));
        SysFreeString(item);
      }
    }
    return WmiValue::Strings(std::move(out));
  }
  if ((vt & VT_ARRAY) != 0) {
    // Integer arrays (uint16[] OperationalStatus comes as VT_I4 items).
    const VARTYPE item = vt & ~VT_ARRAY;
    SAFEARRAY* arr = v.parray;
    LONG lo = 0, hi = -1;
    SafeArrayGetLBound(arr, 1, &lo);
    SafeArrayGetUBound(arr, 1, &hi);
    std::vector<int64_t> out;
    for (LONG i = lo; i <= hi; ++i) {
      LONGLONG wide = 0;
      LONG i4 = 0;
      SHORT i2 = 0;
      USHORT u2 = 0;
      BYTE u1 = 0;
      ULONG u4 = 0;
      bool ok = false;
      switch (item) {
        case VT_I8: ok = SUCCEEDED(SafeArrayGetElement(arr, &i, &wide)); break;
        case VT_I4:
          ok = SUCCEEDED(SafeArrayGetElement(arr, &i, &i4));
          wide = i4;
          break;
        case VT_UI4:
          ok = SUCCEEDED(SafeArrayGetElement(arr, &i, &u4));
          wide = u4;
          break;
        case VT_I2:
          ok = SUCCEEDED(SafeArrayGetElement(arr, &i, &i2));
          wide = i2;
          break;
        case VT_UI2:
          ok = SUCCEEDED(SafeArrayGetElement(arr, &i, &u2));
          wide = u2;
          break;
        case VT_UI1:
          ok = SUCCEEDED(SafeArrayGetElement(arr, &i, &u1));
          wide = u1;
          break;
        default: return WmiValue::Null();
      }
      if (ok) out.push_back(static_cast<int64_t>(wide));
    }
    return WmiValue::Ints(std::move(out));
  }
  if (SUCCEEDED(VariantChangeType(&copy, const_cast<VARIANT*>(&v), 0, VT_I8))) {
    return WmiValue::Int(copy.llVal);
  }
  return WmiValue::Null();
}

WmiStatus ReadObject(IWbemClassObject* obj, WmiObject* out) {
  out->properties.clear();
  VARIANT v;
  VariantInit(&v);
  if (SUCCEEDED(obj->Get(L"__RELPATH", 0, &v, nullptr, nullptr)) && v.vt == VT_BSTR) {
    out->path = Narrow(v.bstrVal);
  }
  VariantClear(&v);
  HRESULT hr = obj->BeginEnumeration(WBEM_FLAG_NONSYSTEM_ONLY);
  if (FAILED(hr)) return StatusFromHresult(static_cast<uint32_t>(hr), "BeginEnumeration");
  BSTR name = nullptr;
  CIMTYPE type = 0;
  while (obj->Next(0, &name, &v, &type, nullptr) == WBEM_S_NO_ERROR) {
    out->properties[Narrow(name)] = FromVariant(v, type);
    SysFreeString(name);
    VariantClear(&v);
  }
  obj->EndEnumeration();
  return WmiStatus();
}

SAFEARRAY* StringArray(const std::vector<std::string>& items) {
  SAFEARRAY* arr = SafeArrayCreateVector(VT_BSTR, 0, static_cast<ULONG>(items.size()));
  for (LONG i = 0; i < static_cast<LONG>(items.size()); ++i) {
    BSTR b = SysAllocString(Wide(items[i]).c_str());
    SafeArrayPutElement(arr, &i, b);
    SysFreeString(b);
  }
  return arr;
}

// Text of an object in CIM DTD 2.0, as Hyper-V expects embedded instances.
WmiStatus ObjectText(IWbemClassObject* obj, std::string* text) {
  IWbemObjectTextSrc* src = nullptr;
  HRESULT hr = CoCreateInstance(CLSID_WbemObjectTextSrc, nullptr, CLSCTX_INPROC_SERVER,
                                IID_IWbemObjectTextSrc, reinterpret_cast<void**>(&src));
  if (FAILED(hr)) return StatusFromHresult(static_cast<uint32_t>(hr), "WbemObjectTextSrc");
  BSTR out = nullptr;
  hr = src->GetText(0, obj, WMI_OBJ_TEXT_CIM_DTD_2_0, nullptr, &out);
  Release(src);
  if (FAILED(hr)) return StatusFromHresult(static_cast<uint32_t>(hr), "GetText");
  *text = Narrow(out);
  SysFreeString(out);
  return WmiStatus();
}

}  // namespace

WmiStatus ComWmiSession::Connect(const std::string& wmi_namespace,
                                 std::unique_ptr<ComWmiSession>* out) {
  HRESULT hr = CoInitializeEx(nullptr, COINIT_MULTITHREADED);
  if (FAILED(hr) && hr != RPC_E_CHANGED_MODE) {
    return StatusFromHresult(static_cast<uint32_t>(hr), "CoInitializeEx");
  }
  hr = CoInitializeSecurity(nullptr, -1, nullptr, nullptr, RPC_C_AUTHN_LEVEL_DEFAULT,
                            RPC_C_IMP_LEVEL_IMPERSONATE, nullptr, EOAC_NONE, nullptr);
  if (FAILED(hr) && hr != RPC_E_TOO_LATE) {
    return StatusFromHresult(static_cast<uint32_t>(hr), "CoInitializeSecurity");
  }
  IWbemLocator* locator = nullptr;
  hr = CoCreateInstance(CLSID_WbemLocator, nullptr, CLSCTX_INPROC_SERVER, IID_IWbemLocator,
                        reinterpret_cast<void**>(&locator));
  if (FAILED(hr))
    return StatusFromHresult(static_cast<uint32_t>(hr), "CoCreateInstance(WbemLocator)");
  IWbemServices* services = nullptr;
  Bstr ns(wmi_namespace);
  hr = locator->ConnectServer(ns, nullptr, nullptr, nullptr, 0, nullptr, nullptr, &services);
  if (FAILED(hr)) {
    Release(locator);
    return StatusFromHresult(static_cast<uint32_t>(hr), "ConnectServer " + wmi_namespace);
  }
  hr = CoSetProxyBlanket(services, RPC_C_AUTHN_WINNT, RPC_C_AUTHZ_NONE, nullptr,
                         RPC_C_AUTHN_LEVEL_CALL, RPC_C_IMP_LEVEL_IMPERSONATE, nullptr, EOAC_NONE);
  if (FAILED(hr)) {
    Release(services);
    Release(locator);
    return StatusFromHresult(static_cast<uint32_t>(hr), "CoSetProxyBlanket");
  }
  out->reset(new ComWmiSession(locator, services));
  return WmiStatus();
}

ComWmiSession::~ComWmiSession() {
  Release(services_);
  Release(locator_);
}

WmiStatus ComWmiSession::ExecQuery(const std::string& wql, std::vector<WmiObject>* out) {
  out->clear();
  IEnumWbemClassObject* it = nullptr;
  Bstr lang("WQL");
  Bstr query(wql);
  HRESULT hr = services_->ExecQuery(
      lang, query, WBEM_FLAG_FORWARD_ONLY | WBEM_FLAG_RETURN_IMMEDIATELY, nullptr, &it);
  if (FAILED(hr)) return StatusFromHresult(static_cast<uint32_t>(hr), "ExecQuery " + wql);
  while (true) {
    IWbemClassObject* obj = nullptr;
    ULONG returned = 0;
    hr = it->Next(WBEM_INFINITE, 1, &obj, &returned);
    if (FAILED(hr)) {
      Release(it);
      return StatusFromHresult(static_cast<uint32_t>(hr), "ExecQuery " + wql);
    }
    if (returned == 0) break;
    WmiObject o;
    WmiStatus s = ReadObject(obj, &o);
    Release(obj);
    if (!s.ok()) {
      Release(it);
      return s;
    }
    out->push_back(std::move(o));
  }
  Release(it);
  return WmiStatus();
}

WmiStatus ComWmiSession::GetObject(const std::string& path, WmiObject* out) {
  IWbemClassObject* obj = nullptr;
  Bstr p(path);
  HRESULT hr = services_->GetObject(p, 0, nullptr, &obj, nullptr);
  if (FAILED(hr)) return StatusFromHresult(static_cast<uint32_t>(hr), "GetObject " + path);
  WmiStatus s = ReadObject(obj, out);
  Release(obj);
  return s;
}

WmiStatus ComWmiSession::ExecMethod(const std::string& path, const std::string& method,
                                    const WmiProperties& in, WmiProperties* out) {
  const std::string cls = path.substr(0, path.find('.'));
  IWbemClassObject* class_obj = nullptr;
  IWbemClassObject* in_def = nullptr;
  IWbemClassObject* in_params = nullptr;
  IWbemClassObject* out_params = nullptr;
  auto cleanup = [&] {
    Release(out_params);
    Release(in_params);
    Release(in_def);
    Release(class_obj);
  };
  Bstr cls_b(cls);
  HRESULT hr = services_->GetObject(cls_b, 0, nullptr, &class_obj, nullptr);
  if (FAILED(hr)) return StatusFromHresult(static_cast<uint32_t>(hr), "GetObject " + cls);
  Bstr method_b(method);
  hr = class_obj->GetMethod(Wide(method).c_str(), 0, &in_def, nullptr);
  if (FAILED(hr)) {
    cleanup();
    return StatusFromHresult(static_cast<uint32_t>(hr), "GetMethod " + cls + "." + method);
  }
  if (in_def != nullptr) {
    hr = in_def->SpawnInstance(0, &in_params);
    if (FAILED(hr)) {
      cleanup();
      return StatusFromHresult(static_cast<uint32_t>(hr), "SpawnInstance " + method);
    }
  }
  for (const auto& [name, value] : in) {
    VARIANT v;
    VariantInit(&v);
    WmiStatus conv;
    switch (value.kind) {
      case WmiValue::Kind::kNull: v.vt = VT_NULL; break;
      case WmiValue::Kind::kBool:
        v.vt = VT_BOOL;
        v.boolVal = value.b ? VARIANT_TRUE : VARIANT_FALSE;
        break;
      case WmiValue::Kind::kInt:
        v.vt = VT_I4;
        v.lVal = static_cast<LONG>(value.i);
        break;
      case WmiValue::Kind::kString:
      case WmiValue::Kind::kReference:
        v.vt = VT_BSTR;
        v.bstrVal = SysAllocString(Wide(value.s).c_str());
        break;
      case WmiValue::Kind::kStringArray:
        v.vt = VT_ARRAY | VT_BSTR;
        v.parray = StringArray(value.strings);
        break;
      case WmiValue::Kind::kIntArray: {
        SAFEARRAY* arr = SafeArrayCreateVector(VT_I4, 0, static_cast<ULONG>(value.ints.size()));
        for (LONG k = 0; k < static_cast<LONG>(value.ints.size()); ++k) {
          LONG item = static_cast<LONG>(value.ints[k]);
          SafeArrayPutElement(arr, &k, &item);
        }
        v.vt = VT_ARRAY | VT_I4;
        v.parray = arr;
        break;
      }
      case WmiValue::Kind::kEmbeddedObject: {
        IWbemClassObject* obj = nullptr;
        Bstr p(value.s);
        hr = services_->GetObject(p, 0, nullptr, &obj, nullptr);
        if (FAILED(hr)) {
          conv = StatusFromHresult(static_cast<uint32_t>(hr), "GetObject " + value.s);
          break;
        }
        std::string text;
        conv = ObjectText(obj, &text);
        Release(obj);
        v.vt = VT_BSTR;
        v.bstrVal = SysAllocString(Wide(text).c_str());
        break;
      }
      case WmiValue::Kind::kEmbeddedInstances: {
        std::vector<std::string> texts;
        for (const WmiInstance& inst : value.instances) {
          IWbemClassObject* def = nullptr;
          IWbemClassObject* obj = nullptr;
          Bstr c(inst.class_name);
          hr = services_->GetObject(c, 0, nullptr, &def, nullptr);
          if (SUCCEEDED(hr)) hr = def->SpawnInstance(0, &obj);
          Release(def);
          if (FAILED(hr)) {
            conv = StatusFromHresult(static_cast<uint32_t>(hr), "SpawnInstance " + inst.class_name);
            break;
          }
          for (const auto& [pname, pvalue] : inst.properties) {
            VARIANT pv;
            VariantInit(&pv);
            if (pvalue.kind == WmiValue::Kind::kBool) {
              pv.vt = VT_BOOL;
              pv.boolVal = pvalue.b ? VARIANT_TRUE : VARIANT_FALSE;
            } else if (pvalue.kind == WmiValue::Kind::kStringArray) {
              pv.vt = VT_ARRAY | VT_BSTR;
              pv.parray = StringArray(pvalue.strings);
            } else if (pvalue.kind == WmiValue::Kind::kString) {
              pv.vt = VT_BSTR;
              pv.bstrVal = SysAllocString(Wide(pvalue.s).c_str());
            }
            obj->Put(Wide(pname).c_str(), 0, &pv, 0);
            VariantClear(&pv);
          }
          std::string text;
          conv = ObjectText(obj, &text);
          Release(obj);
          if (!conv.ok()) break;
          texts.push_back(std::move(text));
        }
        v.vt = VT_ARRAY | VT_BSTR;
        v.parray = StringArray(texts);
        break;
      }
    }
    if (!conv.ok()) {
      VariantClear(&v);
      cleanup();
      return conv;
    }
    hr = in_params != nullptr ? in_params->Put(Wide(name).c_str(), 0, &v, 0) : E_INVALIDARG;
    VariantClear(&v);
    if (FAILED(hr)) {
      cleanup();
      return StatusFromHresult(static_cast<uint32_t>(hr), "parameter " + name + " of " + method);
    }
  }
  Bstr path_b(path);
  hr = services_->ExecMethod(path_b, method_b, 0, nullptr, in_params, &out_params, nullptr);
  if (FAILED(hr)) {
    cleanup();
    return StatusFromHresult(static_cast<uint32_t>(hr), "ExecMethod " + path + " " + method);
  }
  WmiObject o;
  WmiStatus s = out_params != nullptr ? ReadObject(out_params, &o) : WmiStatus();
  *out = std::move(o.properties);
  cleanup();
  return s;
}

}  // namespace wmi
}  // namespace hvdr

#endif  // _WIN32
