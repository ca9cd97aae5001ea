package worker

import (
	"context"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// The heartbeat is this worker's only periodic write: its presence item's counter, bumped
// every RenewInterval on a goroutine of its own (independent of reading, uploading and take
// cycles). The other workers judge every lease this worker owns by it. Its safety rule: this
// worker stops every processor, by itself, before any other worker may judge it gone.
//
// Another worker X judges it gone when a strongly consistent read that started at t shows
// the counter X first saw in a read that returned at a, with t - a >= FailoverTime (both on
// X's clock). A heartbeat that read missed landed after t; one X saw landed before a, and
// was sent before it landed. So if lastSent is the send time of the last heartbeat this
// worker knows succeeded, and it landed by a, X acts at t >= lastSent + FailoverTime; and a
// later heartbeat acknowledged to this worker before its own deadline would have landed
// before t and been seen. The watchdog gives every lease up at lastSent + FailoverTime -
// RenewInterval/2 (giveUpAfter): the half interval covers a late timer and clocks that do not
// run at quite the same rate. A heartbeat whose answer was lost is not counted: if it landed,
// the others only wait longer.

// giveUpAfter is how long after sending its last successful heartbeat this worker gives its
// leases up.
func (c *Coordinator) giveUpAfter() time.Duration {
	return c.cfg.FailoverTime - c.cfg.RenewInterval/2
}

// beat writes the heartbeat once. On success it moves the watchdog's deadline, and asks for a
// read of the table when the heartbeat is back after a failure (to take back the leases given
// up, or take leases at all) or when another worker notified this one (a handoff request, a
// lease taken from it, a parent of one of its leases finished).
func (c *Coordinator) beat(ctx context.Context) {
	sent := time.Now()
	// A hung call must not hold back the next heartbeats (SDK calls have no deadline of their
	// own).
	bctx, cancel := context.WithTimeout(ctx, c.cfg.FailoverTime/3)
	me, err := c.table.Heartbeat(bctx, c.cfg.WorkerID)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			c.renewFailures.Add(1)
			c.log.Warn("heartbeat failed", "err", err)
		}
		return
	}
	c.mu.Lock()
	wasAlive, gaveUp := c.aliveLocked(), c.gaveUp
	if sent.After(c.beatSentAt) {
		c.beatSentAt = sent
	}
	c.gaveUp = false
	noticed := c.noticesSeen && me.Notices != c.notices
	c.notices, c.noticesSeen = me.Notices, true
	if !c.stopped {
		c.watchdog.Reset(time.Until(c.beatSentAt.Add(c.giveUpAfter())))
	}
	c.mu.Unlock()
	if gaveUp {
		c.log.Info("heartbeat written again: leases still named this worker's will be taken back")
	}
	if !wasAlive || noticed {
		c.poke()
	}
}

// heartbeatOverdue is the watchdog: no heartbeat succeeded for giveUpAfter, so every held
// lease is given up (its processor's context cancelled) before another worker may take it.
// The leases stay named this worker's in the table: once a heartbeat succeeds again, the
// worker takes back, by conditional writes, those nobody took meanwhile.
func (c *Coordinator) heartbeatOverdue() {
	c.mu.Lock()
	since := time.Since(c.beatSentAt)
	if c.stopped || c.beatSentAt.IsZero() || since < c.giveUpAfter() {
		c.mu.Unlock() // a heartbeat succeeded meanwhile
		return
	}
	c.gaveUp = true
	var helds []*lease.Held
	for _, sh := range c.owned {
		if !sh.held.Lost() {
			helds = append(helds, sh.held)
		}
	}
	c.mu.Unlock()
	for _, h := range helds {
		c.log.Error("no heartbeat written for nearly the failover time: giving it up", "shard", h.Key(),
			"last_heartbeat", since.Round(time.Millisecond))
		h.GiveUp()
	}
}

// alive reports whether this worker's heartbeat is recent enough for it to hold leases: it
// takes none otherwise.
func (c *Coordinator) alive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aliveLocked()
}

func (c *Coordinator) aliveLocked() bool {
	return !c.gaveUp && !c.beatSentAt.IsZero() && time.Since(c.beatSentAt) < c.giveUpAfter()
}

// stopWatchdog ends the watchdog for good (Run returns).
func (c *Coordinator) stopWatchdog() {
	c.mu.Lock()
	c.stopped = true
	c.watchdog.Stop()
	c.mu.Unlock()
}
