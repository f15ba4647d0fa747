// Status and StatusOr: how every fallible function in OmniSage reports failure.
//
// Modelled on leveldb::Status / absl::StatusOr. A Status is either OK or carries a code and a
// human-readable message; messages name the file and the field at fault, e.g.
//   "model-00001-of-00002.safetensors: header: tensor 'x.weight': dtype: unknown dtype 'Q4'".
// No exception crosses a public function: errors travel as values. Thread-compatible (a Status is
// a plain value; distinct objects may be used from distinct threads).
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace omnisage {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // the caller's input is malformed (bad file contents, bad flag)
  kNotFound,           // a file, tensor or key that must exist does not
  kIoError,            // the operating system refused a read, write, open, mmap...
  kOutOfRange,         // a size or offset beyond a bound
  kResourceExhausted,  // a memory budget too small, or memory that cannot be had
  kUnimplemented,      // a recognised feature that this build cannot run
  kInternal,           // a broken internal invariant (a bug)
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "OK" or "<code name>: <message>".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status IoError(std::string message);
Status OutOfRange(std::string message);
Status ResourceExhausted(std::string message);
Status Unimplemented(std::string message);
Status Internal(std::string message);
// IoError whose message ends with strerror(errno_value).
Status ErrnoError(std::string message, int errno_value);

// A value or the Status explaining why there is none. Holding OK without a value is a bug.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  StatusOr(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace omnisage

#define OMNI_CONCAT_INNER_(a, b) a##b
#define OMNI_CONCAT_(a, b) OMNI_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define OMNI_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::omnisage::Status omni_status_ = (expr);    \
    if (!omni_status_.ok()) return omni_status_; \
  } while (0)

// `lhs = value of expr` (a StatusOr), or returns its Status from the enclosing function.
#define OMNI_ASSIGN_OR_RETURN(lhs, expr) \
  OMNI_ASSIGN_OR_RETURN_IMPL_(OMNI_CONCAT_(omni_statusor_, __LINE__), lhs, expr)
#define OMNI_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
