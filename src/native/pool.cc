#include "pool.h"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace lowbit {

namespace {

class Pool {
 public:
  void run(int n, const std::function<void(int)>& fn) {
    if (n <= 1) {
      if (n == 1) fn(0);
      return;
    }
    std::unique_lock<std::mutex> call(call_mutex_);  // one parallel region at a time
    grow(n - 1);
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      active_ = n - 1;
      ++generation_;
    }
    cv_.notify_all();
    fn(0);
    std::unique_lock<std::mutex> lk(m_);
    done_.wait(lk, [&] { return remaining_ == 0; });
    fn_ = nullptr;
  }

 private:
  void grow(int workers) {
    std::lock_guard<std::mutex> lk(m_);
    while (static_cast<int>(threads_.size()) < workers) {
      int id = static_cast<int>(threads_.size()) + 1;
      threads_.emplace_back([this, id] { loop(id); });
      threads_.back().detach();
    }
    remaining_ = workers;
  }

  void loop(int id) {
    unsigned long seen = 0;
    for (;;) {
      const std::function<void(int)>* fn;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return generation_ != seen; });
        seen = generation_;
        if (id > active_) continue;
        fn = fn_;
      }
      (*fn)(id);
      std::lock_guard<std::mutex> lk(m_);
      if (--remaining_ == 0) done_.notify_one();
    }
  }

  std::mutex call_mutex_, m_;
  std::condition_variable cv_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(int)>* fn_ = nullptr;
  int active_ = 0, remaining_ = 0;
  unsigned long generation_ = 0;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: detached workers outlive static destruction
  return *p;
}

}  // namespace

void parallel_for(int n, const std::function<void(int)>& fn) { pool().run(n, fn); }

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace lowbit
