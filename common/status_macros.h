// Small status helpers: Debian's abseil (20220623) has no RETURN_IF_ERROR or
// ASSIGN_OR_RETURN, so the project keeps its own here.
#ifndef HVDR_COMMON_STATUS_MACROS_H_
#define HVDR_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HVDR_CONCAT_INNER_(a, b) a##b
#define HVDR_CONCAT_(a, b) HVDR_CONCAT_INNER_(a, b)

// Returns from the current function with `expr`'s status if it is not OK.
#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status hvdr_status_ = (expr);        \
    if (!hvdr_status_.ok()) return hvdr_status_; \
  } while (0)

// `lhs` = the value of the StatusOr `rexpr`, or returns its status.
// `lhs` may be a declaration: ASSIGN_OR_RETURN(auto x, F());
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  HVDR_ASSIGN_OR_RETURN_IMPL_(HVDR_CONCAT_(hvdr_statusor_, __LINE__), lhs, rexpr)

#define HVDR_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr)  \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // HVDR_COMMON_STATUS_MACROS_H_
