package harness

import (
	"syscall"
	"time"
)

// Usage is what an exited process cost, from its rusage.
type Usage struct {
	User, Sys time.Duration
	MaxRSSKiB int64 // peak resident set size (Linux reports KiB)
}

// CPU is user plus system time.
func (u Usage) CPU() time.Duration { return u.User + u.Sys }

// Usage returns the process's resource usage once it has exited; ok is false while it runs.
func (p *Process) Usage() (u Usage, ok bool) {
	select {
	case <-p.done:
	default:
		return Usage{}, false
	}
	st := p.cmd.ProcessState
	if st == nil {
		return Usage{}, false
	}
	u.User, u.Sys = st.UserTime(), st.SystemTime()
	if ru, isRusage := st.SysUsage().(*syscall.Rusage); isRusage {
		u.MaxRSSKiB = ru.Maxrss
	}
	return u, true
}
