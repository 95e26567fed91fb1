//go:build !unix

package capture

func processUsage() (cpuNanos, minorFaults int64, ok bool) { return 0, 0, false }
