"""dongne's benchmark harness: a COPY-based Jeju workload generator, a loopback
load runner in its own process, SQL micro-benchmarks, and results in bench/results/."""
