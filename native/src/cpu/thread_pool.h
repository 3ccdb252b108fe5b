// A small pool of worker threads for the CPU kernels, created once and sized to the machine.
//
// `run(count, fn)` calls fn(unit) for every unit in [0, count) on the workers and on the calling thread,
// and returns when all are done. Units are handed out one at a time from a shared counter, so which thread
// runs a unit varies; the kernels make each unit write only its own memory, so results do not.
// One job runs at a time: a caller that finds the pool busy (another thread's call, or a call from inside
// a unit) runs its units itself, so there is never more than one thread per CPU and never a deadlock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace natten {
namespace cpu {

class ThreadPool {
 public:
  // The process-wide pool.
  static ThreadPool& instance();

  // Threads taking part in a job, the caller included.
  int size();
  // Resizes the pool to n threads in all (n <= 0: the default); joins or starts workers as needed.
  void resize(int n);

  // Runs fn(unit) for unit in [0, count); rethrows the first exception a unit threw.
  void run(int64_t count, const std::function<void(int64_t)>& fn);

  // How long (microseconds) an idle worker keeps checking for the next job before it sleeps (0: it sleeps at
  // once). Default: NATTEN_POOL_SPIN_US, else 100 (thread_pool.cc).
  void set_spin_us(int64_t us);
  int64_t spin_us() const;

  ~ThreadPool();

 private:
  ThreadPool();
  void start(int n);
  void stop();
  void work(int64_t generation);
  void drain();

  std::mutex busy_;  // held by the thread whose job is running

  std::mutex mutex_;  // guards everything below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  bool quit_ = false;
  int64_t generation_ = 0;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t count_ = 0;
  int64_t next_ = 0;
  int working_ = 0;
  std::exception_ptr error_;

  // generation_ as the workers may read it without the lock (while they spin), and the spin time.
  std::atomic<int64_t> posted_{0};
  std::atomic<int64_t> spin_ns_{0};
};

// The default thread count: NATTEN_NUM_THREADS when set to a positive integer, else the CPUs this process
// may run on.
int default_thread_count();

}  // namespace cpu
}  // namespace natten
