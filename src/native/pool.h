// A tiny persistent thread pool: parallel_for(n, fn) runs fn(0..n-1) on the caller plus
// n-1 long-lived workers. Workers are started once, so a call costs a wake-up (~5 us), not a
// thread creation; the machine this was tuned on has 2 cores, so n is small.
#pragma once
#include <functional>

namespace lowbit {
void parallel_for(int n, const std::function<void(int)>& fn);
int default_threads();
}  // namespace lowbit
