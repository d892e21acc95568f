#ifndef ATMAN_SERVER_ENGINE_STATUS_MACROS_H_
#define ATMAN_SERVER_ENGINE_STATUS_MACROS_H_

// Abseil 20220623 ships no status macros, so the project keeps these two.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ATMAN_STATUS_CONCAT_INNER(a, b) a##b
#define ATMAN_STATUS_CONCAT(a, b) ATMAN_STATUS_CONCAT_INNER(a, b)

// Returns the status of `expr` from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    const ::absl::Status atman_status_ = (expr);   \
    if (!atman_status_.ok()) return atman_status_; \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr), returns its status when it is not OK,
// and otherwise moves its value into `lhs`, which may be a declaration.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL(ATMAN_STATUS_CONCAT(atman_statusor_, __LINE__), lhs, rexpr)

#define ASSIGN_OR_RETURN_IMPL(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                          \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(statusor).value()

#endif  // ATMAN_SERVER_ENGINE_STATUS_MACROS_H_
