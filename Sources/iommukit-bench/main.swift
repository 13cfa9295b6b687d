BenchmarkRunner.main()
