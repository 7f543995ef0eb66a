//go:build !unix

package lifecycle

import "os"

var shutdownSignals = []os.Signal{os.Interrupt}

func exitCode(os.Signal) int { return 1 }
