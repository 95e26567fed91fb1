//go:build unix

// Package usage reads the resources the process has used, for benchmarks:
// on a shared machine wall time swings with the other jobs, CPU time much
// less.
package usage

import "syscall"

// Process returns the process's CPU time (user and system, all threads)
// in nanoseconds and its minor page faults so far; ok is false where the
// system cannot tell.
func Process() (cpuNanos, minorFaults int64, ok bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), int64(ru.Minflt), true
}
