//go:build unix

package capture

import "syscall"

// processUsage is the process's CPU time (user and system, all threads) in
// nanoseconds and its minor page faults so far.
func processUsage() (cpuNanos, minorFaults int64, ok bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), int64(ru.Minflt), true
}
