// Status propagation helpers. Errors travel as absl::Status / absl::StatusOr; these keep the
// early returns short and greppable.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define UTPOST_STATUS_CONCAT_INNER_(a, b) a##b
#define UTPOST_STATUS_CONCAT_(a, b) UTPOST_STATUS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define UTPOST_RETURN_IF_ERROR(expr)              \
  do {                                            \
    if (::absl::Status _st = (expr); !_st.ok()) { \
      return _st;                                 \
    }                                             \
  } while (0)

// `lhs = value of expr`, or returns its status from the enclosing function.
#define UTPOST_ASSIGN_OR_RETURN(lhs, expr) \
  UTPOST_ASSIGN_OR_RETURN_IMPL_(UTPOST_STATUS_CONCAT_(_statusor_, __LINE__), lhs, expr)

#define UTPOST_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) {                                    \
    return std::move(tmp).status();                   \
  }                                                   \
  lhs = std::move(tmp).value()
