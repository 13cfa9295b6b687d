print("iommukit-bench: see BENCHMARKS.md")
