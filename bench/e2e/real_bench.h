// cosyflow-bench-e2e --real: the real-shape streaming benchmark (real_bench.cpp).
#pragma once

namespace cosyflow::bench {

// argv holds --real and the options of the real-shape run; prints JSON, returns the exit code.
int RealMain(int argc, char** argv);

}  // namespace cosyflow::bench
