// Mutex and MutexLock: std::mutex with clang's thread-safety annotations, so that fields marked
// OMNI_GUARDED_BY(mu_) and methods marked OMNI_REQUIRES(mu_) are checked at compile time by
// clang's -Wthread-safety (on in clang builds, e.g. the fuzz build of scripts/run-fuzz.sh). Other
// compilers see plain std::mutex code. leveldb's port::Mutex and thread_annotations.h are the
// model.
//
// Condition variables wait through the lock (MutexLock::Wait), written as a loop in the caller
// (`while (!ready) lock.Wait(&cv);`), so the analysis sees the guarded reads under the lock.
#pragma once

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define OMNI_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define OMNI_THREAD_ANNOTATION(x)
#endif

#define OMNI_CAPABILITY(x) OMNI_THREAD_ANNOTATION(capability(x))
#define OMNI_SCOPED_CAPABILITY OMNI_THREAD_ANNOTATION(scoped_lockable)
#define OMNI_GUARDED_BY(x) OMNI_THREAD_ANNOTATION(guarded_by(x))
#define OMNI_PT_GUARDED_BY(x) OMNI_THREAD_ANNOTATION(pt_guarded_by(x))
#define OMNI_REQUIRES(...) OMNI_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define OMNI_EXCLUDES(...) OMNI_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define OMNI_ACQUIRE(...) OMNI_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define OMNI_RELEASE(...) OMNI_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
// For a callback that runs while its caller holds the lock (the analysis cannot follow it).
#define OMNI_NO_THREAD_SAFETY_ANALYSIS OMNI_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace omnisage {

class OMNI_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() OMNI_ACQUIRE() { mu_.lock(); }
  void Unlock() OMNI_RELEASE() { mu_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class OMNI_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) OMNI_ACQUIRE(mu) : lock_(mu->mu_) {}
  ~MutexLock() OMNI_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // Releases the mutex, waits for a notification of `cv` (or a spurious wake-up), re-acquires.
  void Wait(std::condition_variable* cv) { cv->wait(lock_); }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace omnisage
