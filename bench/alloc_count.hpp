// Heap allocation counter for the benchmark binary. alloc_count.cpp replaces every global
// operator new with a version that bumps one relaxed atomic, so the harness can prove that the
// steady-state hot path allocates nothing. Direct malloc calls (glibc, thread creation) are not seen.
#pragma once

#include <cstdint>

namespace tapewire::bench {

// Allocations made through any form of operator new since the process started.
std::uint64_t heap_allocations() noexcept;

} // namespace tapewire::bench
