// Reading a field of any message by name (protobuf reflection), for code
// that sees requests and answers of many types: the audit trail's
// interceptor, and the tests' witness of what it must record.
#ifndef HVDR_COMMON_PROTO_FIELDS_H_
#define HVDR_COMMON_PROTO_FIELDS_H_

#include <google/protobuf/message.h>

#include <string>

namespace hvdr {

// The value of `m`'s singular string field `name`; "" if `m` has no such
// field (none by that name, repeated, or not a string).
std::string StringField(const google::protobuf::Message& m, const char* name);

// `m`'s singular message field `name` if it is set; null if it is not, or
// `m` has no such field.
const google::protobuf::Message* MessageField(const google::protobuf::Message& m, const char* name);

}  // namespace hvdr

#endif  // HVDR_COMMON_PROTO_FIELDS_H_
