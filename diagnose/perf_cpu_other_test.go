//go:build !unix

package diagnose_test

func processCPU() (int64, bool) { return 0, false }
