// Shared by the fuzz harnesses: how a harness states an invariant.
#pragma once

#include <cstdio>
#include <cstdlib>

// Aborts, naming the broken invariant, unless `condition` holds. libFuzzer (and the replay
// driver) report the abort as a crash and keep the input that caused it. For invariants of
// the code under test only: a harness never asserts on its own input.
#define UTPOST_FUZZ_CHECK(condition)                                                         \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)
