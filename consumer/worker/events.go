package worker

import "time"

// EventType says what happened to a lease or its processor.
type EventType string

// Events, in the order a lease usually sees them.
const (
	EventCreated          EventType = "created"           // shard sync created the lease
	EventTaken            EventType = "taken"             // this worker took it (Peer: the previous owner, if any)
	EventHandoffRequested EventType = "handoff-requested" // this worker asked Peer to hand it over (a steal)
	EventStarted          EventType = "started"           // this worker's processor started on it
	EventStopped          EventType = "stopped"           // this worker's processor returned (Err)
	EventFinished         EventType = "finished"          // the shard ended (SHARD_END written)
	EventHandedOver       EventType = "handed-over"       // given to Peer after a drain
	EventReleased         EventType = "released"          // owner cleared
	EventLost             EventType = "lost"              // another worker owns it now, or it was given up (no heartbeat)
	EventParentDeleted    EventType = "parent-deleted"    // a finished parent's lease was cleaned up
)

// Event is one lease or processor event of a worker.
type Event struct {
	Time   time.Time
	Type   EventType
	Worker string
	Shard  string
	Peer   string
	Err    error
}

// Stats are the coordinator's counters since it started.
type Stats struct {
	LeasesHeld     int
	Takes          int64 // leases taken: free, expired, adopted after a handoff
	Steals         int64 // handoffs this worker asked for
	RenewFailures  int64 // heartbeats that failed (the name is kept from the per-lease renewals they replaced)
	LeasesLost     int64
	ShardsFinished int64
}

// Stats returns the counters.
func (c *Coordinator) Stats() Stats {
	c.mu.Lock()
	held := 0
	for _, sh := range c.owned {
		if !sh.held.Lost() {
			held++
		}
	}
	c.mu.Unlock()
	return Stats{
		LeasesHeld: held, Takes: c.takes.Load(), Steals: c.steals.Load(),
		RenewFailures: c.renewFailures.Load(), LeasesLost: c.lost.Load(), ShardsFinished: c.finished.Load(),
	}
}

func (c *Coordinator) emit(t EventType, shard, peer string, err error) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(Event{Time: time.Now(), Type: t, Worker: c.cfg.WorkerID, Shard: shard, Peer: peer, Err: err})
	}
}
