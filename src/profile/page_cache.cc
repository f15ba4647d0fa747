#include "profile/page_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "io/opened_files.h"

namespace omnisage {
namespace {

constexpr size_t kChunkBytes = size_t{16} << 20;

}  // namespace

PageCacheProbe::PageCacheProbe(uint64_t max_pages, int max_new_files)
    : max_pages_(std::max<uint64_t>(max_pages, 1)),
      max_new_files_(std::max(max_new_files, 1)),
      page_size_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {}

PageCacheProbe::~PageCacheProbe() {
  for (const Mapping& m : mappings_) munmap(m.addr, m.length);
}

void PageCacheProbe::MapNewFiles() {
  const std::vector<std::string> files = OpenedFiles();
  int mapped_now = 0;
  const bool root = geteuid() == 0;
  while (files_seen_ < files.size() && mapped_now < max_new_files_) {
    const std::string& path = files[files_seen_++];
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      stats_.skipped_files++;
      continue;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_size) < page_size_) {
      close(fd);
      stats_.skipped_files++;
      continue;
    }
    const size_t length = static_cast<size_t>(st.st_size);
    void* addr = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);  // the mapping keeps the file
    if (addr == MAP_FAILED) {
      stats_.skipped_files++;
      continue;
    }
    // Advise the kernel not to read ahead should anything ever touch the mapping (nothing does).
    madvise(addr, length, MADV_RANDOM);
    ++mapped_now;
    const int index = static_cast<int>(mappings_.size());
    mappings_.push_back({path, addr, length});
    stats_.files++;
    stats_.mapped_bytes += length;
    if (!root && st.st_uid != geteuid() && access(path.c_str(), W_OK) != 0) {
      stats_.restricted_files++;
    }
    const size_t pages = (length + page_size_ - 1) / page_size_;
    const size_t chunk_pages = std::max<size_t>(kChunkBytes / page_size_, 1);
    for (size_t first = 0; first < pages; first += chunk_pages) {
      chunks_.push_back({index, first, std::min(chunk_pages, pages - first), 0});
    }
  }
}

void PageCacheProbe::ScanChunk(Chunk& chunk) {
  const Mapping& m = mappings_[chunk.mapping];
  const size_t offset = chunk.first_page * page_size_;
  const size_t length = std::min(chunk.pages * page_size_, m.length - offset);
  vec_.resize(chunk.pages);
  uint64_t resident = 0;
  if (mincore(static_cast<char*>(m.addr) + offset, length, vec_.data()) == 0) {
    for (size_t i = 0; i < chunk.pages; ++i) resident += vec_[i] & 1;
  }
  resident_pages_ += resident;
  resident_pages_ -= chunk.resident_pages;
  chunk.resident_pages = resident;
}

PageCacheStats PageCacheProbe::Sample() {
  MapNewFiles();
  stats_.pages_scanned = 0;
  if (!chunks_.empty()) {
    uint64_t budget = max_pages_;
    // Whole chunks, at least one, never the same chunk twice in one call.
    for (size_t scanned = 0; scanned < chunks_.size(); ++scanned) {
      Chunk& c = chunks_[cursor_];
      if (scanned > 0 && c.pages > budget) break;
      ScanChunk(c);
      budget -= std::min<uint64_t>(budget, c.pages);
      stats_.pages_scanned += c.pages;
      cursor_ = (cursor_ + 1) % chunks_.size();
    }
  }
  // The last page of a file may be partial; never report more than the files hold.
  stats_.resident_bytes = std::min<uint64_t>(resident_pages_ * page_size_, stats_.mapped_bytes);
  return stats_;
}

}  // namespace omnisage
