#include "io/opened_files.h"

#include <mutex>
#include <unordered_set>

namespace omnisage {
namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::string> order;
  std::unordered_set<std::string> seen;
};

Registry& Get() {
  static Registry* r = new Registry();  // never destroyed: sampler threads may outlive main
  return *r;
}

}  // namespace

void NoteOpenedFile(const std::string& path) {
  Registry& r = Get();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.seen.insert(path).second) r.order.push_back(path);
}

std::vector<std::string> OpenedFiles() {
  Registry& r = Get();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.order;
}

}  // namespace omnisage
