#include "thread_pool.h"

#include <cstdlib>
#include <string>

#if defined(__linux__)
#include <sched.h>
#endif

namespace natten {
namespace cpu {

int default_thread_count() {
  if (const char* env = std::getenv("NATTEN_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= 1024) {
      return static_cast<int>(n);
    }
  }
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) {
      return n;
    }
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

ThreadPool& ThreadPool::instance() {
  // Never destroyed: joining workers during static destruction at process exit could block.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

ThreadPool::ThreadPool() { start(default_thread_count()); }

ThreadPool::~ThreadPool() { stop(); }

int ThreadPool::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(workers_.size()) + 1;
}

void ThreadPool::resize(int n) {
  std::lock_guard<std::mutex> held(busy_);  // waits for a running job
  stop();
  start(n > 0 ? n : default_thread_count());
}

void ThreadPool::start(int n) {
  std::lock_guard<std::mutex> lock(mutex_);
  quit_ = false;
  const int64_t seen = generation_;
  for (int i = 1; i < n; ++i) {
    workers_.emplace_back([this, seen] { work(seen); });
  }
}

void ThreadPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) {
    t.join();
  }
  workers_.clear();
}

void ThreadPool::work(int64_t seen) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return quit_ || generation_ != seen; });
    if (quit_) {
      return;
    }
    seen = generation_;
    ++working_;
    lock.unlock();
    drain();
    lock.lock();
    if (--working_ == 0) {
      done_.notify_all();
    }
  }
}

// Runs units until none is left. Called without holding mutex_.
void ThreadPool::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (next_ < count_) {
    const int64_t unit = next_++;
    const std::function<void(int64_t)>* fn = job_;
    lock.unlock();
    try {
      (*fn)(unit);
    } catch (...) {
      lock.lock();
      if (!error_) {
        error_ = std::current_exception();
      }
      next_ = count_;  // the job failed: skip the units left
      continue;
    }
    lock.lock();
  }
}

void ThreadPool::run(int64_t count, const std::function<void(int64_t)>& fn) {
  if (count <= 0) {
    return;
  }
  std::unique_lock<std::mutex> held(busy_, std::try_to_lock);
  bool alone;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    alone = workers_.empty();
  }
  if (!held.owns_lock() || alone || count == 1) {
    for (int64_t u = 0; u < count; ++u) {
      fn(u);
    }
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    count_ = count;
    next_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  drain();
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return working_ == 0; });
    job_ = nullptr;
    count_ = 0;
    next_ = 0;
    error = error_;
    error_ = nullptr;
  }
  if (error) {
    std::rethrow_exception(error);
  }
}

}  // namespace cpu
}  // namespace natten
