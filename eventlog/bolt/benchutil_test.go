package bolt

import (
	"runtime"
	"sync"
)

type syncGroup = sync.WaitGroup

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
