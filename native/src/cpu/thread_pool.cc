#include "thread_pool.h"

#include <chrono>
#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

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

namespace {

// A kernel call posts several jobs in a row (staging, transposes, the main pass); 50-100 us covers the gaps
// between them. Measured on the 2-core development VM (2d, forward+backward, addon called directly, medians per
// call; bench/RESULTS.md): 5.09 ms at 100 us against 5.28 sleeping at once; in another run 5.25 at 50 us and
// 5.23 at 1000 against 5.52.
constexpr int64_t kDefaultSpinUs = 100;

int64_t default_spin_us() {
  if (const char* env = std::getenv("NATTEN_POOL_SPIN_US")) {
    char* end = nullptr;
    const long long us = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && us >= 0 && us <= 1000000) {
      return us;
    }
  }
  return kDefaultSpinUs;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace

ThreadPool::ThreadPool() {
  spin_ns_.store(default_spin_us() * 1000);
  start(default_thread_count());
}

void ThreadPool::set_spin_us(int64_t us) { spin_ns_.store(us < 0 ? 0 : us * 1000); }

int64_t ThreadPool::spin_us() const { return spin_ns_.load() / 1000; }

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
  posted_.store(generation_);
  for (int i = 1; i < n; ++i) {
    workers_.emplace_back([this, seen] { work(seen); });
  }
}

void ThreadPool::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
    posted_.fetch_add(1);  // ends any spinning
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
    const int64_t spin = spin_ns_.load(std::memory_order_relaxed);
    if (spin > 0 && !quit_ && generation_ == seen) {
      // Keep checking for the next job a while: a sleeping worker's wake-up can take long (on a VM, an idle
      // virtual CPU may have to be scheduled again first), and a kernel call posts several jobs in a row.
      lock.unlock();
      const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(spin);
      for (int i = 1; posted_.load(std::memory_order_acquire) == seen; i++) {
        cpu_relax();
        if (i % 64 == 0 && std::chrono::steady_clock::now() >= until) {
          break;
        }
      }
      lock.lock();
    }
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
    posted_.store(generation_, std::memory_order_release);
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
