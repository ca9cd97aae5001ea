package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Usage is the CPU time an exited process used, from its rusage.
type Usage struct {
	User, Sys time.Duration
}

// CPU is user plus system time.
func (u Usage) CPU() time.Duration { return u.User + u.Sys }

// Usage returns the process's CPU time once it has exited; ok is false while it runs.
//
// Peak memory is PeakRSSKiB, not the rusage's Maxrss: on Linux a child started by Go (vfork,
// then exec) inherits in Maxrss the high-water RSS of the parent it was forked from, so a
// test process holding hundreds of MiB makes every worker it starts look that big.
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
	return Usage{User: st.UserTime(), Sys: st.SystemTime()}, true
}

// PeakRSSKiB is the running process's peak resident set size so far (VmHWM of
// /proc/PID/status, Linux only): the high-water mark of its own address space.
func (p *Process) PeakRSSKiB() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, fmt.Errorf("harness: peak RSS of %s: %w", p.Name, err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("harness: peak RSS of %s: no VmHWM in /proc/%d/status", p.Name, p.Pid())
}

// CPUTime is the running process's user plus system time so far (/proc/PID/stat, Linux
// only, in clock ticks of 10 ms).
func (p *Process) CPUTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0, fmt.Errorf("harness: CPU time of %s: %w", p.Name, err)
	}
	// The fields after the command name, which is in parentheses and may hold spaces:
	// state is the first, utime the 12th and stime the 13th.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("harness: CPU time of %s: short /proc/%d/stat", p.Name, p.Pid())
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("harness: CPU time of %s: %w", p.Name, err)
		}
		ticks += n
	}
	// USER_HZ is 100 on every Linux ABI Go supports.
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
